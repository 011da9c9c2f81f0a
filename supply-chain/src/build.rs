//! Static, auditable, reproducible release binaries.
//!
//! `cargo auditable build --profile dist --locked --target x86_64-unknown-linux-musl`
//! with:
//! - `-C target-feature=+crt-static -C relocation-model=static`: a fully
//!   static executable, no interpreter and no dynamic section (the musl
//!   target's default is static-pie, which keeps a dynamic section for
//!   self-relocation; the trade-off is that the code segment is at a fixed
//!   address, while stack, heap and mappings stay randomised);
//! - `--remap-path-prefix` (Rust) and `-ffile-prefix-map` (C code in crates,
//!   aws-lc) for the checkout and `CARGO_HOME`, so the folder a build runs in
//!   leaves no trace in the binary;
//! - `SOURCE_DATE_EPOCH` from the commit;
//! - the workspace's `dist` profile: fat LTO, one codegen unit, stripped,
//!   `panic = "abort"` (the `release` profile, which `cargo run --release`
//!   uses for the local shop and this tool, has neither LTO nor one unit).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::{Service, TARGET, Workspace, elf, file_digest};

/// The cargo profile of shipped binaries (fat LTO, one codegen unit, `panic = "abort"`).
pub const PROFILE: &str = "dist";

/// A built binary: its service, path in `dist/bin/`, digest and size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub service: &'static str,
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
}

/// The environment that makes a build reproducible from any folder.
pub fn reproducible_env(workspace: &Workspace, epoch: i64) -> anyhow::Result<Vec<(String, String)>> {
    let root = workspace.root.display().to_string();
    let cargo_home = cargo_home()?;
    let rustflags = format!(
        "-C target-feature=+crt-static -C relocation-model=static \
         --remap-path-prefix={root}=/cloudshop --remap-path-prefix={cargo_home}=/cargo"
    );
    let cflags = format!("-ffile-prefix-map={root}=/cloudshop -ffile-prefix-map={cargo_home}=/cargo");
    Ok(vec![
        (
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS".into(),
            rustflags,
        ),
        ("CFLAGS_x86_64_unknown_linux_musl".into(), cflags.clone()),
        ("CXXFLAGS_x86_64_unknown_linux_musl".into(), cflags),
        ("SOURCE_DATE_EPOCH".into(), epoch.to_string()),
        (
            "CARGO_TARGET_DIR".into(),
            workspace.root.join("target").display().to_string(),
        ),
    ])
}

fn cargo_home() -> anyhow::Result<String> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home).canonicalize()?.display().to_string());
    }
    let home = std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home)
        .join(".cargo")
        .canonicalize()?
        .display()
        .to_string())
}

/// Builds `services` and copies the binaries to `dist/bin/`.
///
/// One cargo invocation per service: cargo unifies features across the
/// packages of one invocation, so building them together would give each
/// binary the features the others need. Alone, a service's binary holds
/// exactly its own dependency closure, and is the same whichever other
/// services are built with it.
pub fn build(workspace: &Workspace, services: &[Service]) -> anyhow::Result<Vec<Built>> {
    let commit = workspace.commit()?;
    let environment = reproducible_env(workspace, commit.epoch)?;
    for service in services {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .current_dir(&workspace.root)
            .args([
                "auditable",
                "build",
                "--profile",
                PROFILE,
                "--locked",
                "--target",
                TARGET,
            ])
            .args(["-p", service.package])
            // The musl target's C compiler for crates with C code.
            .env("CC_x86_64_unknown_linux_musl", "musl-gcc")
            // RUSTFLAGS would also reach host build scripts and override the
            // target-scoped flags set below.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .envs(environment.iter().map(|(k, v)| (k, v)));
        let status = cargo.status().context(
            "cannot run cargo (is cargo-auditable installed? `cargo install --locked cargo-auditable`)",
        )?;
        if !status.success() {
            bail!("cargo auditable build of {} failed ({status})", service.package);
        }
    }
    let bin_dir = workspace.dist.join("bin");
    std::fs::create_dir_all(&bin_dir)?;
    services
        .iter()
        .map(|service| {
            let built = workspace
                .root
                .join("target")
                .join(TARGET)
                .join(PROFILE)
                .join(service.name);
            let path = workspace.binary(service);
            std::fs::copy(&built, &path)
                .with_context(|| format!("cannot copy {} to {}", built.display(), path.display()))?;
            elf::check_static(&path)?;
            Ok(Built {
                service: service.name,
                digest: file_digest(&path)?,
                size: std::fs::metadata(&path)?.len(),
                path,
            })
        })
        .collect()
}
