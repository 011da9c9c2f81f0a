//! CloudShop's release pipeline, run by `cloudshop release` and its steps.
//!
//! 1. [`build`]: each service with `cargo auditable build --profile dist --locked`
//!    for `x86_64-unknown-linux-musl` and `aarch64-unknown-linux-musl`
//!    ([`PLATFORMS`]), fully static and reproducible (paths remapped,
//!    `SOURCE_DATE_EPOCH` from the commit).
//! 2. [`sbom`]: one CycloneDX JSON SBOM per service and platform, read from the dependency
//!    list `cargo auditable` embedded in that very binary, with licences from
//!    `cargo metadata` and hashes from `Cargo.lock`.
//! 3. [`images`]: `FROM scratch` images from `images/<service>.Dockerfile`,
//!    one per platform, built with podman or docker, pushed to a registry by
//!    digest and listed in one OCI image index per service.
//! 4. [`sign`] and [`attest`]: cosign-format signatures made with the
//!    `sigstore` crate, and in-toto statements (the SBOM and the SLSA
//!    provenance v1 that [`provenance`] makes from the build record) in DSSE
//!    envelopes ([`dsse`]) stored where cosign stores attestations; [`bundle`]
//!    publishes the same as Sigstore bundles.
//! 5. [`verify`]: signature and required attestations of every image against a
//!    public key.
//! 6. [`gate`]: `cargo deny` and hadolint.
//!
//! [`layers`] says where two images first differ, file by file (what a failed
//! reproducibility check reports).
//!
//! [`release`] runs them in order and writes `dist/release.json`.

pub mod attest;
pub mod build;
pub mod bundle;
pub mod cli;
pub mod compose;
pub mod dsse;
pub mod elf;
pub mod gate;
pub mod images;
pub mod keys;
pub mod layers;
pub mod pin;
pub mod provenance;
pub mod registry;
pub mod release;
pub mod sbom;
pub mod scan;
pub mod sign;
pub mod verify;
pub mod vex;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The five services, from the one table (`cloudshop-topology`): each
/// service's name is its binary in `dist/bin/`, its image `cloudshop/<name>`
/// and its certificate's name; the release handles them in that order.
pub use cloudshop_topology::{SERVICES, Service};

/// Where signatures and attestations are published: cosign's legacy tags
/// (`sha256-<hex>.sig` / `.att`), Sigstore bundles (v0.3) attached as OCI
/// referrers ([`bundle`]), or both (the default: current verifiers read
/// bundles, older ones the tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Legacy,
    Bundle,
    Both,
}

impl Format {
    /// Whether the legacy tags are part of it.
    pub fn legacy(self) -> bool {
        matches!(self, Self::Legacy | Self::Both)
    }

    /// Whether the bundle referrers are part of it.
    pub fn bundle(self) -> bool {
        matches!(self, Self::Bundle | Self::Both)
    }

    /// `legacy`, `bundle`, `both`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Bundle => "bundle",
            Self::Both => "both",
        }
    }
}

/// A platform the release builds for: a Rust target and the OCI platform
/// its images declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Platform {
    /// The Rust target (`x86_64-unknown-linux-musl`).
    pub target: &'static str,
    /// OCI `platform.architecture` (`amd64`, `arm64`).
    pub architecture: &'static str,
    /// OCI `platform.variant`, where one is conventional (`v8` for arm64).
    pub variant: Option<&'static str>,
    /// The ELF `e_machine` of its binaries (62 x86-64, 183 AArch64).
    pub elf_machine: u16,
}

/// linux/amd64, the platform of this machine and of `dist/bin/`.
pub const AMD64: Platform = Platform {
    target: "x86_64-unknown-linux-musl",
    architecture: "amd64",
    variant: None,
    elf_machine: 62,
};

/// linux/arm64, cross-built with zig as the C compiler and linker
/// (`cargo zigbuild`): see [`build`].
pub const ARM64: Platform = Platform {
    target: "aarch64-unknown-linux-musl",
    architecture: "arm64",
    variant: Some("v8"),
    elf_machine: 183,
};

/// Every platform of a release, amd64 first; each service's image index
/// lists them in this order.
pub const PLATFORMS: [Platform; 2] = [AMD64, ARM64];

impl Platform {
    /// `linux/amd64`, `linux/arm64`.
    pub fn name(&self) -> String {
        format!("linux/{}", self.architecture)
    }

    /// Looks a platform up by its OCI name (`linux/arm64`) or architecture (`arm64`).
    pub fn named(name: &str) -> anyhow::Result<Platform> {
        PLATFORMS
            .iter()
            .find(|p| p.name() == name || p.architecture == name)
            .copied()
            .with_context(|| {
                format!(
                    "unknown platform `{name}` (known: {})",
                    PLATFORMS.map(|p| p.name()).join(", ")
                )
            })
    }

    /// The `CARGO_TARGET_<TRIPLE>_…` / `CC_<triple>` spelling of the target.
    fn env_suffix(&self) -> String {
        self.target.replace('-', "_")
    }

    /// Where this platform's artefacts go below `dist/` and `sbom/`: nowhere
    /// extra for amd64 (the layout before arm64 existed), `arm64/` otherwise.
    fn subfolder(&self) -> &'static str {
        if *self == AMD64 { "" } else { self.architecture }
    }
}

/// Where the pipeline reads sources and writes what it makes.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root (the folder holding `Cargo.lock`).
    pub root: PathBuf,
    /// Output folder: binaries, release.json (`dist/` by default).
    pub dist: PathBuf,
}

impl Workspace {
    pub fn new(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root: PathBuf = root.into();
        let root = root
            .canonicalize()
            .with_context(|| format!("workspace folder {} does not exist", root.display()))?;
        if !root.join("Cargo.lock").is_file() {
            bail!(
                "{} holds no Cargo.lock: not the CloudShop workspace",
                root.display()
            );
        }
        let dist = root.join("dist");
        Ok(Self { root, dist })
    }

    pub fn with_dist(mut self, dist: impl Into<PathBuf>) -> Self {
        self.dist = dist.into();
        self
    }

    /// `dist/bin/<service>` (amd64), `dist/arm64/bin/<service>`.
    pub fn binary(&self, service: &Service, platform: Platform) -> PathBuf {
        self.dist
            .join(platform.subfolder())
            .join("bin")
            .join(service.name)
    }

    /// `sbom/` (amd64), `sbom/arm64/`.
    pub fn sbom_dir(&self, platform: Platform) -> PathBuf {
        self.root.join("sbom").join(platform.subfolder())
    }

    pub fn sbom(&self, service: &Service, platform: Platform) -> PathBuf {
        self.sbom_dir(platform).join(format!("{}.cdx.json", service.name))
    }

    pub fn dockerfile(&self, service: &Service) -> PathBuf {
        self.root
            .join("images")
            .join(format!("{}.Dockerfile", service.name))
    }

    /// The workspace version (`[workspace.package] version`).
    pub fn version(&self) -> anyhow::Result<String> {
        let manifest = std::fs::read_to_string(self.root.join("Cargo.toml"))?;
        let manifest: toml::Value = toml::from_str(&manifest).context("Cargo.toml")?;
        manifest
            .get("workspace")
            .and_then(|w| w.get("package"))
            .and_then(|p| p.get("version"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .context("Cargo.toml has no [workspace.package] version")
    }

    /// The commit being built, and its time (for `SOURCE_DATE_EPOCH`).
    /// A tree with uncommitted changes is marked `-dirty`.
    pub fn commit(&self) -> anyhow::Result<Commit> {
        let head = output(
            Command::new("git")
                .current_dir(&self.root)
                .args(["log", "-1", "--format=%H %ct"]),
        )
        .context("git log (the pipeline builds a git checkout)")?;
        let (id, time) = head.trim().split_once(' ').context("unexpected git log output")?;
        let dirty = !output(Command::new("git").current_dir(&self.root).args([
            "status",
            "--porcelain",
            "--untracked-files=no",
        ]))?
        .trim()
        .is_empty();
        Ok(Commit {
            id: id.to_owned(),
            epoch: time.parse()?,
            dirty,
        })
    }
}

/// A git commit: its id, its committer time, whether the tree differs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub epoch: i64,
    pub dirty: bool,
}

/// Runs a command, returns its standard output; a failure carries its stderr.
pub fn output(command: &mut Command) -> anyhow::Result<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Runs a command with its output passed through; fails on a non-zero exit.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    if !status.success() {
        bail!("{program} failed ({status})");
    }
    Ok(())
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
    )
}

/// `sha256:<hex>` of a file.
pub fn file_digest(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(sha256_digest(&bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
