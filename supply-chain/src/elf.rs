//! The ELF facts the release relies on: a binary is for the platform its
//! image declares (`e_machine`), and fully static — no program interpreter
//! (`PT_INTERP`) and no dynamic section (`PT_DYNAMIC`) — so a `FROM scratch`
//! image needs nothing beside it.

use std::path::Path;

use anyhow::{Context, bail, ensure};

use crate::Platform;

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;

/// Fails unless `path` is a 64-bit little-endian ELF executable for
/// `platform` without an interpreter and without a dynamic section.
pub fn check_static(path: &Path, platform: Platform) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let machine = machine(&bytes).with_context(|| format!("{} is not an ELF executable", path.display()))?;
    if machine != platform.elf_machine {
        bail!(
            "{} is for ELF machine {machine}, not {} ({})",
            path.display(),
            platform.elf_machine,
            platform.name()
        );
    }
    let segments =
        program_headers(&bytes).with_context(|| format!("{} is not an ELF executable", path.display()))?;
    if segments.contains(&PT_INTERP) {
        bail!(
            "{} needs a program interpreter: not a static binary",
            path.display()
        );
    }
    if segments.contains(&PT_DYNAMIC) {
        bail!(
            "{} has a dynamic section: not a fully static binary",
            path.display()
        );
    }
    Ok(())
}

/// The `e_machine` of a 64-bit little-endian ELF file.
pub fn machine(bytes: &[u8]) -> anyhow::Result<u16> {
    ensure!(bytes.len() >= 64 && bytes[..4] == *b"\x7fELF", "no ELF magic");
    ensure!(
        bytes[4] == 2 && bytes[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    Ok(u16::from_le_bytes([bytes[18], bytes[19]]))
}

/// The `p_type` of every program header.
fn program_headers(bytes: &[u8]) -> anyhow::Result<Vec<u32>> {
    ensure!(bytes.len() >= 64 && bytes[..4] == *b"\x7fELF", "no ELF magic");
    ensure!(
        bytes[4] == 2 && bytes[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let phoff = usize::try_from(u64::from_le_bytes(bytes[32..40].try_into()?))?;
    let phentsize = usize::from(u16_at(54));
    let phnum = usize::from(u16_at(56));
    ensure!(phentsize >= 4, "bad program header size");
    (0..phnum)
        .map(|i| {
            let at = phoff + i * phentsize;
            let field = bytes
                .get(at..at + 4)
                .context("program header beyond the end of the file")?;
            Ok(u32::from_le_bytes(field.try_into()?))
        })
        .collect()
}
