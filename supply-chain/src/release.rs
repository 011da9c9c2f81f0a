//! The steps in order, each recording what it made in `dist/` so the next
//! can run on its own: `build.json` (binaries and how they were built), then
//! `release.json` (per service: image by digest, SBOM digest, signature and
//! attestation references), which `push` creates and `sign`/`attest` complete.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::dsse::{COSIGN_SIGN_V1, CYCLONEDX, SLSA_PROVENANCE_V1};
use crate::images::Engine;
use crate::keys::KeyFiles;
use crate::provenance::{Binary, BuildRecord};
use crate::registry::Registry;
use crate::{Service, Workspace, build, file_digest, images, output, sbom};

/// What was released (`dist/release.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    pub commit: String,
    pub registry: String,
    pub services: Vec<Released>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Released {
    pub name: String,
    /// `<registry>/cloudshop/<name>@sha256:…`
    pub image: String,
    pub digest: String,
    pub image_size: u64,
    pub binary_digest: String,
    pub sbom_digest: String,
    pub signature: Option<String>,
    pub attestation: Option<String>,
}

fn now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, missing: &str) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("{} is missing: {missing}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value)? + "\n")?;
    Ok(())
}

fn build_record_path(workspace: &Workspace) -> PathBuf {
    workspace.dist.join("build.json")
}

pub fn release_path(workspace: &Workspace) -> PathBuf {
    workspace.dist.join("release.json")
}

/// Step `build`: the static binaries, and `dist/build.json`.
pub fn build(workspace: &Workspace, services: &[Service]) -> anyhow::Result<BuildRecord> {
    let started_on = now();
    let commit = workspace.commit()?;
    let built = build::build(workspace, services)?;
    let record = BuildRecord {
        commit: commit.id,
        dirty: commit.dirty,
        source_date_epoch: commit.epoch,
        // The toolchain rust-toolchain.toml selects in the checkout.
        rustc: output(
            Command::new("rustc")
                .current_dir(&workspace.root)
                .arg("--version"),
        )?
        .trim()
        .to_owned(),
        cargo_auditable: cargo_auditable_version(),
        cargo_lock: file_digest(&workspace.root.join("Cargo.lock"))?,
        started_on,
        finished_on: now(),
        binaries: built
            .iter()
            .map(|b| Binary {
                service: b.service.to_owned(),
                digest: b.digest.clone(),
                size: b.size,
            })
            .collect(),
    };
    write_json(&build_record_path(workspace), &record)?;
    Ok(record)
}

/// `cargo-auditable vX.Y.Z` as `cargo install --list` names it (the tool
/// answers `--version` with cargo's own version).
fn cargo_auditable_version() -> String {
    output(Command::new("cargo").args(["install", "--list"]))
        .ok()
        .and_then(|list| {
            list.lines()
                .find(|l| l.starts_with("cargo-auditable v"))
                .map(|l| l.trim_end_matches(':').to_owned())
        })
        .unwrap_or_else(|| "cargo-auditable (version unknown)".into())
}

/// Step `push`: pushes each built image, records it by digest in `release.json`.
pub async fn push(
    engine: Engine,
    workspace: &Workspace,
    registry: &Registry,
    services: &[Service],
) -> anyhow::Result<Release> {
    let record: BuildRecord = read_json(&build_record_path(workspace), "run `cloudshop build` first")?;
    let version = workspace.version()?;
    let mut released = Vec::new();
    for service in services {
        let image =
            images::inspect(engine, service, &images::local_tag(service, &version)).with_context(|| {
                format!(
                    "no local image for {}: run `cloudshop images` first",
                    service.name
                )
            })?;
        let remote = images::push(engine, &image, registry.host())?;
        let (_, tag) = remote.rsplit_once(':').context("pushed reference without tag")?;
        let digest = registry
            .digest(&registry.tagged(&service.repository(), tag))
            .await?;
        let binary = record.binaries.iter().find(|b| b.service == service.name);
        released.push(Released {
            name: service.name.to_owned(),
            image: format!("{}/{}@{digest}", registry.host(), service.repository()),
            digest,
            image_size: image.size,
            binary_digest: binary.map(|b| b.digest.clone()).unwrap_or_default(),
            sbom_digest: file_digest(&workspace.sbom(service))?,
            signature: None,
            attestation: None,
        });
    }
    let release = Release {
        version,
        commit: record.commit,
        registry: registry.host().to_owned(),
        services: released,
    };
    write_json(&release_path(workspace), &release)?;
    Ok(release)
}

/// The release as `push` recorded it, checked against the registry in use.
pub fn load_release(workspace: &Workspace, registry: &Registry) -> anyhow::Result<Release> {
    let release: Release = read_json(&release_path(workspace), "run `cloudshop push` first")?;
    if release.registry != registry.host() {
        bail!(
            "{} records images in {}, not {}",
            release_path(workspace).display(),
            release.registry,
            registry.host()
        );
    }
    Ok(release)
}

/// Step `sign`: a cosign signature for each pushed image.
pub async fn sign(workspace: &Workspace, registry: &Registry, key: &KeyFiles) -> anyhow::Result<Release> {
    let mut release = load_release(workspace, registry)?;
    for service in &mut release.services {
        let repository = Service::named(&service.name)?.repository();
        service.signature = Some(crate::sign::sign(registry, &repository, &service.digest, key).await?);
        // The same signature in the bundle format, as a referrer.
        crate::bundle::publish(
            registry,
            &repository,
            &service.digest,
            &[(COSIGN_SIGN_V1, serde_json::json!({}))],
            key,
        )
        .await?;
    }
    write_json(&release_path(workspace), &release)?;
    Ok(release)
}

/// Where the source lives and who built it, for the provenance.
#[derive(Debug, Clone)]
pub struct Builder {
    pub repository_url: String,
    pub id: String,
}

/// Step `attest`: the SBOM and the SLSA provenance of each pushed image.
/// The provenance predicates are also written to `dist/predicates/` (for
/// `cosign attest --predicate`, which signs keyless in GitHub Actions);
/// without a key (`None`) that is all it does.
pub async fn attest(
    workspace: &Workspace,
    registry: &Registry,
    key: Option<&KeyFiles>,
    builder: &Builder,
) -> anyhow::Result<Release> {
    let record: BuildRecord = read_json(&build_record_path(workspace), "run `cloudshop build` first")?;
    let mut release = load_release(workspace, registry)?;
    for service in &mut release.services {
        let named = Service::named(&service.name)?;
        let sbom_path = workspace.sbom(named);
        let sbom: serde_json::Value = read_json(&sbom_path, "run `cloudshop sbom` first")?;
        if file_digest(&sbom_path)? != service.sbom_digest {
            bail!("{} changed since the image was pushed", sbom_path.display());
        }
        let provenance =
            crate::provenance::predicate(&record, &service.name, &builder.repository_url, &builder.id);
        write_json(
            &workspace
                .dist
                .join("predicates")
                .join(format!("{}.provenance.json", service.name)),
            &provenance,
        )?;
        let Some(key) = key else { continue };
        let predicates = [(CYCLONEDX, sbom), (SLSA_PROVENANCE_V1, provenance)];
        service.attestation = Some(
            crate::attest::attest(registry, &named.repository(), &service.digest, &predicates, key).await?,
        );
        // The same attestations as Sigstore bundles, as referrers.
        crate::bundle::publish(registry, &named.repository(), &service.digest, &predicates, key).await?;
    }
    write_json(&release_path(workspace), &release)?;
    Ok(release)
}

/// Step `verify`: every released image's signature and both attestations.
pub async fn verify(
    workspace: &Workspace,
    registry: &Registry,
    public_key: &Path,
) -> anyhow::Result<Vec<crate::verify::Verified>> {
    let release = load_release(workspace, registry)?;
    let (_, key) = crate::keys::verification_key(public_key)?;
    let mut verified = Vec::new();
    for service in &release.services {
        let repository = Service::named(&service.name)?.repository();
        // The bundle referrers: the signature and both attestations.
        let bundles = crate::bundle::verified_types(registry, &repository, &service.digest, &key).await?;
        let missing: Vec<&str> = [COSIGN_SIGN_V1, CYCLONEDX, SLSA_PROVENANCE_V1]
            .into_iter()
            .filter(|t| !bundles.iter().any(|b| b == t))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{}@{}: no Sigstore bundle referrer verifies for {}",
                repository,
                service.digest,
                missing.join(", ")
            );
        }
        verified.push(
            crate::verify::verify(
                registry,
                &repository,
                &service.digest,
                public_key,
                &[CYCLONEDX, SLSA_PROVENANCE_V1],
            )
            .await?,
        );
    }
    Ok(verified)
}

/// Step `sbom`: writes `sbom/` from the built binaries (or, with `check`,
/// fails when it differs).
pub fn sboms(workspace: &Workspace, services: &[Service], check: bool) -> anyhow::Result<Vec<PathBuf>> {
    if check {
        sbom::check(workspace, services)?;
        Ok(services.iter().map(|s| workspace.sbom(s)).collect())
    } else {
        sbom::write(workspace, services)
    }
}
