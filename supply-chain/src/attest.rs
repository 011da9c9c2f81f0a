//! In-toto attestations in DSSE envelopes, stored the way cosign stores them:
//! one layer per envelope (`application/vnd.dsse.envelope.v1+json`, annotated
//! with its `predicateType`) in an image tagged `sha256-<hex>.att` beside the
//! image. Two predicates: the service's CycloneDX SBOM
//! (`https://cyclonedx.org/bom`, cosign's `--type cyclonedx`) and SLSA
//! provenance v1 describing the build.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::keys::KeyFiles;
use crate::registry::{Layer, Registry, cosign_tag};

pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
pub const IN_TOTO_STATEMENT: &str = "https://in-toto.io/Statement/v1";
pub const IN_TOTO_PAYLOAD: &str = "application/vnd.in-toto+json";
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// An in-toto statement about one image.
pub fn statement(image_name: &str, digest: &str, predicate_type: &str, predicate: Value) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    json!({
        "_type": IN_TOTO_STATEMENT,
        "subject": [{ "name": image_name, "digest": { "sha256": hex } }],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// DSSE's pre-authentication encoding: what the signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A signed DSSE envelope around a statement.
pub fn envelope(statement: &Value, key: &KeyFiles) -> anyhow::Result<Value> {
    let payload = serde_json::to_vec(statement)?;
    let signature = key
        .signer()?
        .sign(&pae(IN_TOTO_PAYLOAD, &payload))
        .map_err(|err| anyhow::anyhow!("cannot sign the attestation: {err}"))?;
    Ok(json!({
        "payloadType": IN_TOTO_PAYLOAD,
        "payload": STANDARD.encode(payload),
        "signatures": [{ "keyid": "", "sig": STANDARD.encode(signature) }],
    }))
}

/// Signs each `(predicate type, predicate)` for the image and pushes them all
/// as its `.att` artifact; returns the artifact's reference.
pub async fn attest(
    registry: &Registry,
    repository: &str,
    digest: &str,
    predicates: &[(&str, Value)],
    key: &KeyFiles,
) -> anyhow::Result<String> {
    let image_name = format!("{}/{repository}", registry.host());
    let layers = predicates
        .iter()
        .map(|(predicate_type, predicate)| {
            let envelope = envelope(
                &statement(&image_name, digest, predicate_type, predicate.clone()),
                key,
            )?;
            Ok(Layer {
                media_type: DSSE_MEDIA_TYPE.into(),
                data: serde_json::to_vec(&envelope)?,
                annotations: BTreeMap::from([
                    ("dev.cosignproject.cosign/signature".to_owned(), String::new()),
                    ("predicateType".to_owned(), (*predicate_type).to_owned()),
                ]),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tag = cosign_tag(digest, "att");
    registry
        .push_artifact(&registry.tagged(repository, &tag), &layers)
        .await?;
    Ok(format!("{image_name}:{tag}"))
}

/// SLSA provenance v1 for one service's image.
pub fn provenance(
    build: &crate::release::BuildRecord,
    service: &str,
    repository_url: &str,
    builder_id: &str,
) -> Value {
    let binary = build.binaries.iter().find(|b| b.service == service);
    json!({
        "buildDefinition": {
            "buildType": "https://github.com/cloudshop/cloudshop/blob/main/supply-chain/README.md#build-v1",
            "externalParameters": {
                "source": { "uri": format!("git+{repository_url}"), "digest": { "gitCommit": build.commit } },
                "package": crate::Service::named(service).map(|s| s.package).unwrap_or_default(),
                "target": crate::TARGET,
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
            "byproducts": binary.map(|b| vec![json!({
                "name": format!("bin/{}", b.service),
                "digest": { "sha256": b.digest.trim_start_matches("sha256:") },
            })]).unwrap_or_default(),
        },
    })
}
