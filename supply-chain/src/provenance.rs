//! SLSA provenance v1: the build record `cloudshop release build` writes
//! (`dist/build.json`) and the provenance predicate made from it for each
//! service's image. The build type it names is defined in the crate's
//! README (`#build-v1`), which lists every field.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The build type every CloudShop provenance names: a section of this
/// repository's `supply-chain/README.md` that defines it.
pub const BUILD_TYPE: &str =
    "https://github.com/cloudshop/cloudshop/blob/main/supply-chain/README.md#build-v1";

/// CloudShop's source repository, the provenance's default source.
pub const REPOSITORY: &str = "https://github.com/cloudshop/cloudshop";

/// `runDetails.builder.id` of a release made with `cloudshop release` on
/// someone's machine (the local cluster's, a developer's): the signing key
/// sits with the build, SLSA Build L1 (SECURITY.md).
pub const LOCAL_BUILDER: &str = "https://github.com/cloudshop/cloudshop/supply-chain/local-builder";

/// The `source.uri` of a repository URL: `git+<url>`.
pub fn source_uri(repository_url: &str) -> String {
    format!("git+{repository_url}")
}

/// An SBOM a provenance names as a byproduct: its path and SHA-256.
#[derive(Debug, Clone)]
pub struct SbomFile {
    /// Below the checkout: `sbom/<service>.cdx.json`, `sbom/arm64/…`.
    pub path: String,
    /// `sha256:<hex>`.
    pub digest: String,
}

/// How the binaries were built (`dist/build.json`), for the provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildRecord {
    pub commit: String,
    pub dirty: bool,
    pub source_date_epoch: i64,
    pub rustc: String,
    pub cargo_auditable: String,
    pub cargo_lock: String,
    pub started_on: String,
    pub finished_on: String,
    pub binaries: Vec<Binary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binary {
    pub service: cloudshop_topology::ServiceId,
    /// `linux/amd64`, `linux/arm64`.
    pub platform: String,
    pub digest: String,
    pub size: u64,
}

impl Binary {
    /// Its path below `dist/`: `bin/<service>`, `arm64/bin/<service>`.
    pub fn dist_path(&self) -> String {
        match self.platform.as_str() {
            "linux/amd64" => format!("bin/{}", self.service),
            other => format!("{}/bin/{}", other.trim_start_matches("linux/"), self.service),
        }
    }
}

/// SLSA provenance v1 for one service's image built for `platforms`: one
/// platform's image, or (both) the image index, whose SBOMs are `sboms`.
pub fn predicate(
    build: &BuildRecord,
    service: cloudshop_topology::ServiceId,
    platforms: &[crate::Platform],
    sboms: &[SbomFile],
    repository_url: &str,
    builder_id: &str,
) -> Value {
    let binaries: Vec<&Binary> = platforms
        .iter()
        .filter_map(|p| {
            build
                .binaries
                .iter()
                .find(|b| b.service == service && b.platform == p.name())
        })
        .collect();
    let mut byproducts: Vec<Value> = binaries
        .iter()
        .map(|b| {
            json!({
                "name": b.dist_path(),
                "digest": { "sha256": b.digest.trim_start_matches("sha256:") },
            })
        })
        .collect();
    byproducts.extend(sboms.iter().map(|sbom| {
        json!({
            "name": sbom.path,
            "digest": { "sha256": sbom.digest.trim_start_matches("sha256:") },
            "mediaType": "application/vnd.cyclonedx+json",
        })
    }));
    json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "source": { "uri": source_uri(repository_url), "digest": { "gitCommit": build.commit } },
                "services": [service],
                "package": service.service().package,
                "targets": platforms.iter().map(|p| p.target).collect::<Vec<_>>(),
                "profile": crate::build::PROFILE,
            },
            "internalParameters": {
                "rustc": build.rustc,
                "cargoAuditable": build.cargo_auditable,
                "sourceDateEpoch": build.source_date_epoch,
                "dirtyTree": build.dirty,
            },
            "resolvedDependencies": [
                { "uri": format!("{}@{}", source_uri(repository_url), build.commit), "digest": { "gitCommit": build.commit } },
                { "name": "Cargo.lock", "digest": { "sha256": build.cargo_lock.trim_start_matches("sha256:") } },
                { "name": "rustc", "uri": format!("pkg:generic/rustc@{}", version_of(&build.rustc)), "annotations": { "version": build.rustc } },
                { "name": "cargo-auditable", "uri": format!("pkg:cargo/cargo-auditable@{}", version_of(&build.cargo_auditable).trim_start_matches('v')), "annotations": { "version": build.cargo_auditable } },
            ],
        },
        "runDetails": {
            "builder": { "id": builder_id },
            "metadata": { "startedOn": build.started_on, "finishedOn": build.finished_on },
            "byproducts": byproducts,
        },
    })
}

/// The version word of a tool's version line: `1.95.0` of `rustc 1.95.0
/// (59807616e 2026-03-24)`, `v0.7.4` of `cargo-auditable v0.7.4`.
fn version_of(line: &str) -> &str {
    line.split_whitespace().nth(1).unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_versions_are_the_second_word() {
        assert_eq!(version_of("rustc 1.95.0 (59807616e 2026-03-24)"), "1.95.0");
        assert_eq!(version_of("cargo-auditable v0.7.4"), "v0.7.4");
        assert_eq!(version_of("cargo-auditable"), "unknown");
    }
}
