//! The steps in order, each recording what it made in `dist/` so the next
//! can run on its own: `build.json` (binaries and how they were built), then
//! `release.json` (per service: image by digest, SBOM digest, signature and
//! attestation references), which `push` creates and `sign`/`attest` complete.

use std::collections::BTreeSet;
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
use crate::registry::OCI_INDEX;
use crate::registry::Registry;
use crate::vex::OPENVEX;
use cloudshop_topology::ServiceId;

use crate::{Format, PLATFORMS, Platform, Service, Workspace, build, file_digest, images, output, sbom};

/// What was released (`dist/release.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    pub commit: String,
    pub registry: String,
    pub services: Vec<Released>,
    /// The formats `sign` published the signatures in (`attest` says its
    /// own); absent in a record made before signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_as: Option<Format>,
}

/// One service: its image index, and each platform's image in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Released {
    /// Which service (`name` in the record).
    #[serde(rename = "name")]
    pub id: ServiceId,
    /// `<registry>/cloudshop/<name>@sha256:…`: the image index, which
    /// compose, the Kubernetes overlays and the cluster pin.
    pub image: String,
    /// The index's digest.
    pub digest: String,
    /// The platform images the index lists, in its order (amd64, arm64).
    pub platforms: Vec<PlatformImage>,
    /// The index's cosign signature: its legacy tag (`sha256-<hex>.sig`),
    /// or with bundles only, the bundle referrer (`…@sha256:…`).
    pub signature: Option<String>,
    /// The index's attestations: the legacy tag (`sha256-<hex>.att`), or
    /// with bundles only, the first bundle referrer.
    pub attestation: Option<String>,
}

/// One platform's image of a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatformImage {
    /// `linux/amd64`, `linux/arm64`.
    pub platform: String,
    /// `<registry>/cloudshop/<name>@sha256:…`
    pub image: String,
    pub digest: String,
    pub image_size: u64,
    pub binary_digest: String,
    pub sbom_digest: String,
    pub signature: Option<String>,
    pub attestation: Option<String>,
}

impl Release {
    /// The release record at `path`. `missing` says where one comes from,
    /// for the reader who has none yet ("run `cloudshop release` first").
    pub fn read(path: &Path, missing: &str) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {} ({missing})", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a release record", path.display()))
    }
}

impl Released {
    /// The platform image for `platform` (`linux/arm64`).
    pub fn platform(&self, platform: &str) -> Option<&PlatformImage> {
        self.platforms.iter().find(|p| p.platform == platform)
    }

    /// Every digest this service released: the index's, then each platform's.
    pub fn digests(&self) -> Vec<&str> {
        std::iter::once(self.digest.as_str())
            .chain(self.platforms.iter().map(|p| p.digest.as_str()))
            .collect()
    }
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
pub fn build(
    workspace: &Workspace,
    services: &[Service],
    platforms: &[Platform],
) -> anyhow::Result<BuildRecord> {
    let started_on = now();
    let commit = workspace.commit()?;
    let built = build::build(workspace, services, platforms)?;
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
                service: b.service,
                platform: b.platform.clone(),
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
    output(cloudshop_topology::tools::command("cargo").args(["install", "--list"]))
        .ok()
        .and_then(|list| {
            list.lines()
                .find(|l| l.starts_with("cargo-auditable v"))
                .map(|l| l.trim_end_matches(':').to_owned())
        })
        .unwrap_or_else(|| "cargo-auditable (version unknown)".into())
}

/// Step `push`: pushes each service's platform images (tags
/// `<version>-amd64`, `<version>-arm64`) and then its image index (tag
/// `<version>`), and records them by digest in `release.json`.
pub async fn push(
    engine: Engine,
    workspace: &Workspace,
    registry: &Registry,
    services: &[Service],
) -> anyhow::Result<Release> {
    let record: BuildRecord = read_json(
        &build_record_path(workspace),
        "run `cloudshop release build` first",
    )?;
    let version = workspace.version()?;
    let mut released = Vec::new();
    for service in services {
        let repository = service.repository();
        let mut platforms = Vec::new();
        let mut manifests = Vec::new();
        for platform in PLATFORMS {
            let local = images::local_tag(service, &version, platform);
            let image = images::inspect(engine, service, platform, &local).with_context(|| {
                format!(
                    "no local {} image for {}: run `cloudshop release images` first",
                    platform.name(),
                    service.name
                )
            })?;
            let tag = format!("{version}-{}", platform.architecture);
            images::push(engine, &image, registry.host(), &tag)?;
            let (manifest, digest) = registry
                .manifest(&registry.tagged(&repository, &tag))
                .await?
                .with_context(|| format!("{repository}:{tag} is not in the registry after the push"))?;
            manifests.push((platform, digest.clone(), manifest.len() as u64));
            let binary = record
                .binaries
                .iter()
                .find(|b| b.service == service.id && b.platform == platform.name())
                .with_context(|| {
                    format!(
                        "dist/build.json has no {} binary of {}: run `cloudshop release build` first",
                        platform.name(),
                        service.name
                    )
                })?;
            platforms.push(PlatformImage {
                platform: platform.name(),
                image: format!("{}/{repository}@{digest}", registry.host()),
                digest,
                image_size: image.size,
                binary_digest: binary.digest.clone(),
                sbom_digest: file_digest(&workspace.sbom(service, platform))?,
                signature: None,
                attestation: None,
            });
        }
        let index = images::index(&manifests)?;
        let digest = crate::sha256_digest(&index);
        registry
            .push_manifest(&registry.tagged(&repository, &version), index, OCI_INDEX)
            .await?;
        released.push(Released {
            id: service.id,
            image: format!("{}/{repository}@{digest}", registry.host()),
            digest,
            platforms,
            signature: None,
            attestation: None,
        });
    }
    let release = Release {
        version,
        commit: record.commit,
        registry: registry.host().to_owned(),
        services: released,
        signed_as: None,
    };
    write_json(&release_path(workspace), &release)?;
    Ok(release)
}

/// The release as `push` recorded it, checked against the registry in use.
pub fn load_release(workspace: &Workspace, registry: &Registry) -> anyhow::Result<Release> {
    let release = Release::read(&release_path(workspace), "run `cloudshop release push` first")?;
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

/// Step `sign`: a cosign signature for each pushed image index and each
/// platform image in it, in `format`.
pub async fn sign(
    workspace: &Workspace,
    registry: &Registry,
    key: &KeyFiles,
    format: Format,
) -> anyhow::Result<Release> {
    let mut release = load_release(workspace, registry)?;
    for service in &mut release.services {
        let repository = service.id.service().repository();
        service.signature = Some(sign_image(registry, &repository, &service.digest, key, format).await?);
        for platform in &mut service.platforms {
            platform.signature =
                Some(sign_image(registry, &repository, &platform.digest, key, format).await?);
        }
    }
    release.signed_as = Some(format);
    write_json(&release_path(workspace), &release)?;
    Ok(release)
}

/// Signs one image in `format`: the legacy `.sig` tag, the same signature
/// as a bundle referrer (an in-toto statement of type
/// `https://sigstore.dev/cosign/sign/v1` in DSSE, as cosign v3 signs), or
/// both. Returns the legacy tag, or with bundles only the referrer.
pub async fn sign_image(
    registry: &Registry,
    repository: &str,
    digest: &str,
    key: &KeyFiles,
    format: Format,
) -> anyhow::Result<String> {
    let legacy = if format.legacy() {
        Some(crate::sign::sign(registry, repository, digest, key).await?)
    } else {
        None
    };
    let bundles = if format.bundle() {
        crate::bundle::publish(
            registry,
            repository,
            digest,
            &[(COSIGN_SIGN_V1, serde_json::json!({}))],
            key,
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(legacy.unwrap_or_else(|| referrer(registry, repository, &bundles)))
}

/// Copies the signatures and attestations of `from` in `format` to `to`
/// in the same repository, as an attacker with push access would: the
/// legacy `.sig`/`.att` tags under `to`'s tags, and `from`'s referrers index
/// under `to`'s fallback tag. Verifiers must refuse `to`: every statement
/// names `from`'s digest. (The tests and `cloudshop cluster check` use it.)
pub async fn copy_signatures(
    registry: &Registry,
    repository: &str,
    from: &str,
    to: &str,
    format: Format,
) -> anyhow::Result<()> {
    let mut tags = Vec::new();
    if format.legacy() {
        tags.extend(["sig", "att"].map(|suffix| {
            (
                crate::registry::cosign_tag(from, suffix),
                crate::registry::cosign_tag(to, suffix),
            )
        }));
    }
    if format.bundle() {
        tags.push((
            crate::bundle::referrers_tag(from),
            crate::bundle::referrers_tag(to),
        ));
    }
    for (from_tag, to_tag) in tags {
        let (manifest, _) = registry
            .manifest(&registry.tagged(repository, &from_tag))
            .await?
            .with_context(|| format!("{repository}:{from_tag} is not in the registry"))?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)?["mediaType"]
            .as_str()
            .unwrap_or(crate::registry::OCI_MANIFEST)
            .to_owned();
        registry
            .push_manifest(&registry.tagged(repository, &to_tag), manifest, &media_type)
            .await?;
    }
    Ok(())
}

/// `<registry>/<repository>@<first referrer's digest>`.
fn referrer(registry: &Registry, repository: &str, referrers: &[String]) -> String {
    format!(
        "{}/{repository}@{}",
        registry.host(),
        referrers.first().map(String::as_str).unwrap_or_default()
    )
}

/// Where the source lives and who built it, for the provenance.
#[derive(Debug, Clone)]
pub struct Builder {
    pub repository_url: String,
    pub id: String,
    /// The RustSec advisory database the VEX documents are made from (the
    /// folder `cargo deny` reads).
    pub advisory_db: PathBuf,
}

/// `(name, version)` of crates.
type Crates = BTreeSet<(String, String)>;

/// What every image's VEX document is made from: the advisories that affect
/// a crate version of `Cargo.lock`, and the reasons `deny.toml` accepts some.
struct VexInputs {
    findings: Vec<(crate::vex::Advisory, Vec<String>)>,
    ignored: std::collections::BTreeMap<String, String>,
    timestamp: String,
}

impl VexInputs {
    fn load(workspace: &Workspace, advisory_db: &Path, timestamp: &str) -> anyhow::Result<Self> {
        let lock =
            std::fs::read_to_string(workspace.root.join("Cargo.lock")).context("reading Cargo.lock")?;
        let lock = crate::vex::lock_crates(&lock)?;
        let packages = lock.iter().map(|(name, _)| name.clone()).collect();
        let advisories = crate::vex::load(advisory_db, &packages)?;
        let deny = std::fs::read_to_string(workspace.root.join("deny.toml")).context("reading deny.toml")?;
        Ok(Self {
            findings: crate::vex::findings(&advisories, &lock),
            ignored: crate::vex::ignored(&deny)?,
            timestamp: timestamp.to_owned(),
        })
    }

    fn document(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &str,
        (listed, compiled): &(Crates, Crates),
    ) -> serde_json::Value {
        let repository = format!("{}/{repository}", registry.host());
        crate::vex::document(
            &crate::vex::Product {
                repository: &repository,
                digest,
                listed,
                compiled,
            },
            &self.findings,
            &self.ignored,
            &self.timestamp,
        )
    }
}

/// Step `attest`: the SBOM, the SLSA provenance and the OpenVEX document
/// of each pushed image: a platform image gets its own SBOM, a provenance
/// naming its binary and a VEX from its binary's crates; the index gets
/// every platform's SBOM, a provenance naming every binary and a VEX from
/// all their crates. The provenance and VEX predicates are also written to
/// `dist/predicates/` (`<service>.provenance.json` / `<service>.vex.json` for
/// the index, `<service>-<arch>.provenance.json` / `<service>-<arch>.vex.json`
/// for a platform; for `cosign attest --predicate`, which signs keyless in
/// GitHub Actions); without a key (`None`) that is all it does.
pub async fn attest(
    workspace: &Workspace,
    registry: &Registry,
    key: Option<&KeyFiles>,
    builder: &Builder,
    format: Format,
) -> anyhow::Result<Release> {
    let record: BuildRecord = read_json(
        &build_record_path(workspace),
        "run `cloudshop release build` first",
    )?;
    let mut release = load_release(workspace, registry)?;
    let vex = VexInputs::load(workspace, &builder.advisory_db, &record.finished_on)?;
    let predicates_dir = workspace.dist.join("predicates");
    for service in &mut release.services {
        let named = service.id.service();
        let repository = named.repository();
        let mut sboms = Vec::new();
        let mut sbom_files = Vec::new();
        let mut all_crates = (BTreeSet::new(), BTreeSet::new());
        for image in &mut service.platforms {
            let platform = Platform::named(&image.platform)?;
            let sbom_path = workspace.sbom(named, platform);
            let sbom: serde_json::Value = read_json(&sbom_path, "run `cloudshop release sbom` first")?;
            if file_digest(&sbom_path)? != image.sbom_digest {
                bail!("{} changed since the image was pushed", sbom_path.display());
            }
            let sbom_file = crate::provenance::SbomFile {
                path: sbom_path
                    .strip_prefix(&workspace.root)
                    .unwrap_or(&sbom_path)
                    .display()
                    .to_string(),
                digest: image.sbom_digest.clone(),
            };
            let provenance = crate::provenance::predicate(
                &record,
                service.id,
                &[platform],
                std::slice::from_ref(&sbom_file),
                &builder.repository_url,
                &builder.id,
            );
            sbom_files.push(sbom_file);
            write_json(
                &predicates_dir.join(format!(
                    "{}-{}.provenance.json",
                    service.id, platform.architecture
                )),
                &provenance,
            )?;
            sboms.push(sbom.clone());
            let crates = (
                sbom::runtime_crates(&sbom::audit_info(&workspace.binary(named, platform))?),
                crate::vex::compiled_crates(&workspace.root, named.package, platform.target)?,
            );
            let document = vex.document(registry, &repository, &image.digest, &crates);
            write_json(
                &predicates_dir.join(format!("{}-{}.vex.json", service.id, platform.architecture)),
                &document,
            )?;
            all_crates.0.extend(crates.0);
            all_crates.1.extend(crates.1);
            if let Some(key) = key {
                let predicates = [
                    (CYCLONEDX, sbom),
                    (SLSA_PROVENANCE_V1, provenance),
                    (OPENVEX, document),
                ];
                image.attestation =
                    Some(attest_image(registry, &repository, &image.digest, &predicates, key, format).await?);
            }
        }
        let platforms: Vec<Platform> = service
            .platforms
            .iter()
            .map(|p| Platform::named(&p.platform))
            .collect::<anyhow::Result<_>>()?;
        let provenance = crate::provenance::predicate(
            &record,
            service.id,
            &platforms,
            &sbom_files,
            &builder.repository_url,
            &builder.id,
        );
        write_json(
            &predicates_dir.join(format!("{}.provenance.json", service.id)),
            &provenance,
        )?;
        let document = vex.document(registry, &repository, &service.digest, &all_crates);
        write_json(
            &predicates_dir.join(format!("{}.vex.json", service.id)),
            &document,
        )?;
        let Some(key) = key else { continue };
        let mut predicates: Vec<(&str, serde_json::Value)> =
            sboms.into_iter().map(|sbom| (CYCLONEDX, sbom)).collect();
        predicates.push((SLSA_PROVENANCE_V1, provenance));
        predicates.push((OPENVEX, document));
        service.attestation =
            Some(attest_image(registry, &repository, &service.digest, &predicates, key, format).await?);
    }
    write_json(&release_path(workspace), &release)?;
    Ok(release)
}

/// Scans every platform image of the release in its registry with Trivy
/// and that image's VEX (`dist/predicates/<service>-<arch>.vex.json`, which
/// `attest` writes); the reports in release order, also written to
/// `dist/scan.json`. The gate is [`crate::scan::gate`].
pub fn scan(
    workspace: &Workspace,
    registry: &Registry,
    scanner: &crate::scan::Scanner,
) -> anyhow::Result<Vec<crate::scan::ImageReport>> {
    let release = load_release(workspace, registry)?;
    let predicates_dir = workspace.dist.join("predicates");
    let mut reports = Vec::new();
    for service in &release.services {
        for image in &service.platforms {
            let platform = Platform::named(&image.platform)?;
            let vex = predicates_dir.join(format!("{}-{}.vex.json", service.id, platform.architecture));
            if !vex.is_file() {
                bail!(
                    "{} is missing: run `cloudshop release attest` first",
                    vex.display()
                );
            }
            reports.push(scanner.scan(&image.image, Some(&vex))?);
        }
    }
    write_json(&scan_path(workspace), &reports)?;
    Ok(reports)
}

/// `dist/scan.json`: what Trivy found in each platform image of the release.
pub fn scan_path(workspace: &Workspace) -> PathBuf {
    workspace.dist.join("scan.json")
}

/// Attests one image in `format`: the legacy `.att` tag, the same
/// attestations as bundle referrers (one per predicate), or both. Returns
/// the legacy tag, or with bundles only the first referrer.
pub async fn attest_image(
    registry: &Registry,
    repository: &str,
    digest: &str,
    predicates: &[(&str, serde_json::Value)],
    key: &KeyFiles,
    format: Format,
) -> anyhow::Result<String> {
    let legacy = if format.legacy() {
        Some(crate::attest::attest(registry, repository, digest, predicates, key).await?)
    } else {
        None
    };
    let bundles = if format.bundle() {
        crate::bundle::publish(registry, repository, digest, predicates, key).await?
    } else {
        Vec::new()
    };
    Ok(legacy.unwrap_or_else(|| referrer(registry, repository, &bundles)))
}

/// Step `verify`: every released image index and every platform image in
/// it: the index lists exactly the released platform images, and each has
/// a valid signature and both attestations in `format` (`None`: in at
/// least one format).
pub async fn verify(
    workspace: &Workspace,
    registry: &Registry,
    public_key: &Path,
    format: Option<Format>,
) -> anyhow::Result<Vec<crate::verify::Verified>> {
    let release = load_release(workspace, registry)?;
    let mut verified = Vec::new();
    for service in &release.services {
        let repository = service.id.service().repository();
        check_index(registry, &repository, service).await?;
        for digest in service.digests() {
            verified.push(
                crate::verify::verify(
                    registry,
                    &repository,
                    digest,
                    public_key,
                    &[CYCLONEDX, SLSA_PROVENANCE_V1, OPENVEX],
                    format,
                )
                .await?,
            );
        }
    }
    Ok(verified)
}

/// Fails unless the registry's index of `service` lists exactly its
/// released platform images, in order, each for the platform recorded.
async fn check_index(registry: &Registry, repository: &str, service: &Released) -> anyhow::Result<()> {
    let reference = registry.by_digest(repository, &service.digest);
    let (bytes, _) = registry
        .manifest_of(&reference, &[OCI_INDEX])
        .await?
        .with_context(|| format!("{reference}: no image index in the registry"))?;
    let index: serde_json::Value = serde_json::from_slice(&bytes).context("the image index is not JSON")?;
    let listed: Vec<(String, String)> = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap_or_default(),
                    m["platform"]["architecture"].as_str().unwrap_or_default()
                ),
                m["digest"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let released: Vec<(String, String)> = service
        .platforms
        .iter()
        .map(|p| (p.platform.clone(), p.digest.clone()))
        .collect();
    if listed != released {
        bail!("{reference}: the index lists {listed:?}, the release recorded {released:?}");
    }
    Ok(())
}

/// Step `sbom`: writes `sbom/` from the built binaries (or, with `check`,
/// fails when it differs).
pub fn sboms(
    workspace: &Workspace,
    services: &[Service],
    platforms: &[Platform],
    check: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    if check {
        sbom::check(workspace, services, platforms)?;
        Ok(platforms
            .iter()
            .flat_map(|&p| services.iter().map(move |s| workspace.sbom(s, p)))
            .collect())
    } else {
        sbom::write(workspace, services, platforms)
    }
}
