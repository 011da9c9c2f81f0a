//! Where `scripts/test.sh --install` puts the pinned tools, so that
//! `cloudshop` finds them from any shell, whatever its `PATH`:
//! - [`tools_dir`]`/bin`: the Python virtual environment of the pip tools
//!   (cargo-zigbuild and zig, hadolint, syft, podman-compose, schemathesis);
//! - [`go_bin`]: what `go install` builds (trivy, cosign, the cluster's
//!   programs, Prometheus).
//!
//! [`search_path`] puts both before the caller's `PATH`, as the test command
//! does, and Go's own toolchain folder after it ([`GO_ROOT_BIN`], where Go's
//! installer puts it: `cloudshop-trivy-db` runs `go`); a command made by
//! [`command`] searches it for its program and passes it on to its children
//! (cargo finds `cargo-zigbuild`, which finds zig as `python3 -m ziglang`
//! through the environment's `python3`).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from)
}

/// `$CLOUDSHOP_TOOLS`, else `~/.cache/cloudshop-tools` (scripts/test.sh
/// uses the same rule).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("CLOUDSHOP_TOOLS")
        .filter(|v| !v.is_empty())
        .map_or_else(|| home().join(".cache/cloudshop-tools"), PathBuf::from)
}

/// `$GOBIN`, else the first `$GOPATH` entry's `bin`, else `~/go/bin`, as
/// `go install` does.
pub fn go_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GOBIN").filter(|v| !v.is_empty()) {
        return bin.into();
    }
    go_path().join("bin")
}

/// The first `$GOPATH` entry, else `~/go`.
pub fn go_path() -> PathBuf {
    std::env::var_os("GOPATH")
        .filter(|v| !v.is_empty())
        .map(|v| std::env::split_paths(&v).next().unwrap_or_default())
        .unwrap_or_else(|| home().join("go"))
}

/// Where Go's installer puts the `go` command, searched last.
pub const GO_ROOT_BIN: &str = "/usr/local/go/bin";

/// The tool folders, then the caller's `PATH`, then [`GO_ROOT_BIN`] (without
/// repeating a folder).
pub fn search_path() -> OsString {
    let mut folders = vec![tools_dir().join("bin"), go_bin()];
    if let Some(path) = std::env::var_os("PATH") {
        folders.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    folders.push(PathBuf::from(GO_ROOT_BIN));
    let mut seen = Vec::new();
    folders.retain(|folder| {
        let new = !seen.contains(folder);
        seen.push(folder.clone());
        new
    });
    std::env::join_paths(folders).unwrap_or_else(|_| std::env::var_os("PATH").unwrap_or_default())
}

/// The executable `name` in the first folder of [`search_path`] that has one.
pub fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&search_path())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// A command for `program` that searches the tool folders first, and whose
/// children do too.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let path = search_path();
    let program = program.as_ref();
    // std searches the child's PATH only on some platforms: resolve here.
    let resolved = if Path::new(program).components().count() == 1 {
        program.to_str().and_then(find).map(OsString::from)
    } else {
        None
    };
    let mut command = Command::new(resolved.as_deref().unwrap_or(program));
    command.env("PATH", path);
    command
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_folders_come_first_and_once() {
        let path = search_path();
        let folders: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert_eq!(folders[0], tools_dir().join("bin"));
        assert_eq!(folders[1], go_bin());
        let mut unique = folders.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), folders.len(), "{folders:?}");
    }

    #[test]
    fn a_command_finds_a_system_program_and_passes_the_path_on() {
        let output = command("sh")
            .args(["-c", "echo \"$PATH\""])
            .output()
            .expect("sh runs");
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.starts_with(&tools_dir().join("bin").display().to_string()),
            "{printed}"
        );
    }
}
