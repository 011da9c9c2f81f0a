//! SLSA provenance v1: the build record `cloudshop build` writes
//! (`dist/build.json`) and the provenance predicate made from it for each
//! service's image. The build type it names is defined in the crate's
//! README (`#build-v1`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
    pub service: String,
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
/// platform's image, or (both) the image index.
pub fn predicate(
    build: &BuildRecord,
    service: &str,
    platforms: &[crate::Platform],
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
    json!({
        "buildDefinition": {
            "buildType": "https://github.com/cloudshop/cloudshop/blob/main/supply-chain/README.md#build-v1",
            "externalParameters": {
                "source": { "uri": format!("git+{repository_url}"), "digest": { "gitCommit": build.commit } },
                "package": crate::Service::named(service).map(|s| s.package).unwrap_or_default(),
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
                { "uri": format!("git+{repository_url}@{}", build.commit), "digest": { "gitCommit": build.commit } },
                { "name": "Cargo.lock", "digest": { "sha256": build.cargo_lock.trim_start_matches("sha256:") } },
            ],
        },
        "runDetails": {
            "builder": { "id": builder_id },
            "metadata": { "startedOn": build.started_on, "finishedOn": build.finished_on },
            "byproducts": binaries.iter().map(|b| json!({
                "name": b.dist_path(),
                "digest": { "sha256": b.digest.trim_start_matches("sha256:") },
            })).collect::<Vec<_>>(),
        },
    })
}
