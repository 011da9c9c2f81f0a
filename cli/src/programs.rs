//! Where an installed program is: on `PATH`, or in the tool folders where
//! `scripts/test.sh --install` puts it (`cloudshop_topology::tools`).

use std::path::{Path, PathBuf};

pub use cloudshop_topology::tools::{go_bin, go_path};

/// The executable `name` in the first folder of `PATH` that has one.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// `name` in the tool folders, else on `PATH`.
pub fn on_path_or_go_bin(name: &str) -> Option<PathBuf> {
    cloudshop_topology::tools::find(name)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
