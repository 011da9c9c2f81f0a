//! Where an installed program is: on `PATH`, or in Go's bin folder, where
//! `go install` puts it (the cluster's programs, `prometheus`).

use std::path::{Path, PathBuf};

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from)
}

/// `go env GOBIN`, else `$GOPATH/bin`, else `~/go/bin`, as `go install` does.
pub fn go_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GOBIN").filter(|v| !v.is_empty()) {
        return bin.into();
    }
    go_path().join("bin")
}

pub fn go_path() -> PathBuf {
    std::env::var_os("GOPATH")
        .filter(|v| !v.is_empty())
        .map(|v| std::env::split_paths(&v).next().unwrap_or_default())
        .unwrap_or_else(|| home().join("go"))
}

/// The executable `name` in the first folder of `PATH` that has one.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// `name` on `PATH`, else in Go's bin folder.
pub fn on_path_or_go_bin(name: &str) -> Option<PathBuf> {
    on_path(name).or_else(|| Some(go_bin().join(name)).filter(|candidate| is_executable(candidate)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
