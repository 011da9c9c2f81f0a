//! Sigstore bundles (v0.3) as OCI referrers, beside cosign's legacy
//! `.sig`/`.att` tags: for each image, one bundle per DSSE envelope (the
//! signature as cosign v3 makes it, an in-toto statement of predicate type
//! `https://sigstore.dev/cosign/sign/v1`; the CycloneDX SBOM; the SLSA
//! provenance), each pushed as an OCI artifact whose `subject` is the image.
//!
//! Why both: Kyverno's ImageValidatingPolicy (1.19) verifies key-signed
//! attestations without a transparency log only in the bundle format (its
//! legacy-format attestation path fails offline: kyverno/kyverno#17109), and
//! current cosign (`cosign verify --new-bundle-format`) reads bundles as
//! referrers too; older verifiers read the tags.
//!
//! The registry here (distribution 2.8) has no referrers API, so the
//! referrers are listed the way the OCI distribution spec's fallback says:
//! an OCI index tagged `sha256-<hex>` that clients (go-containerregistry,
//! cosign, Kyverno) read when `/v2/<repo>/referrers/<digest>` is missing.
//! Publishing again replaces the bundles of the same predicate type, so a
//! rebuilt, identical image does not collect stale ones.
//!
//! There is no transparency log entry (no Rekor here): `verificationMaterial`
//! names the public key by a hint, and verifiers check the signature against
//! the key they are given.

use std::collections::BTreeMap;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::dsse::{envelope, statement, statement_type};
use crate::keys::KeyFiles;
use crate::registry::OCI_INDEX;
use crate::registry::{Layer, OCI_MANIFEST, Registry};

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// The referrers fallback tag of `digest`: `sha256-<hex>`.
pub fn referrers_tag(digest: &str) -> String {
    digest.replace(':', "-")
}

/// A v0.3 bundle around a signed DSSE envelope, with no transparency log entry.
pub fn bundle(envelope: &Value, key_hint: &str) -> Value {
    json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": { "publicKey": { "hint": key_hint }, "tlogEntries": [] },
        "dsseEnvelope": envelope,
    })
}

/// The key hint: base64 of the SHA-256 of the public key, from its signer.
fn key_hint(key: &KeyFiles) -> anyhow::Result<String> {
    let public = key
        .signer()?
        .to_sigstore_keypair()
        .and_then(|pair| pair.public_key_to_der())
        .context("cannot read the public key")?;
    Ok(STANDARD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &public)))
}

/// Signs each `(predicate type, predicate)` about the image into its own
/// bundle and publishes them as referrers; returns the referrers' digests.
pub async fn publish(
    registry: &Registry,
    repository: &str,
    digest: &str,
    predicates: &[(&str, Value)],
    key: &KeyFiles,
) -> anyhow::Result<Vec<String>> {
    let image = registry.by_digest(repository, digest);
    let (manifest, _) = registry
        .manifest(&image)
        .await?
        .with_context(|| format!("{image} is not in the registry"))?;
    let media_type = serde_json::from_slice::<Value>(&manifest)?["mediaType"]
        .as_str()
        .unwrap_or(OCI_MANIFEST)
        .to_owned();
    let subject = json!({ "mediaType": media_type, "size": manifest.len(), "digest": digest });
    let image_name = format!("{}/{repository}", registry.host());
    let hint = key_hint(key)?;
    let mut published = Vec::new();
    let mut descriptors = Vec::new();
    for (predicate_type, predicate) in predicates {
        let signed = envelope(
            &statement(&image_name, digest, predicate_type, predicate.clone()),
            key,
        )?;
        let layer = Layer {
            media_type: BUNDLE_MEDIA_TYPE.into(),
            data: serde_json::to_vec(&bundle(&signed, &hint))?,
            annotations: BTreeMap::new(),
        };
        let annotations = BTreeMap::from([
            (PREDICATE_ANNOTATION.to_owned(), (*predicate_type).to_owned()),
            (
                "dev.sigstore.bundle.content".to_owned(),
                "dsse-envelope".to_owned(),
            ),
        ]);
        let descriptor = push_referrer(registry, repository, &subject, &layer, &annotations).await?;
        published.push(descriptor["digest"].as_str().unwrap_or_default().to_owned());
        descriptors.push(descriptor);
    }
    add_to_index(registry, repository, digest, descriptors).await?;
    Ok(published)
}

/// Pushes one artifact (empty config, one layer) with `subject`; its descriptor.
async fn push_referrer(
    registry: &Registry,
    repository: &str,
    subject: &Value,
    layer: &Layer,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<Value> {
    let target = registry.tagged(repository, "referrer");
    let layer_digest = registry.push_blob(&target, layer.data.clone()).await?;
    let config_digest = registry.push_blob(&target, b"{}".to_vec()).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": { "mediaType": OCI_EMPTY, "size": 2, "digest": config_digest },
        "layers": [{ "mediaType": layer.media_type, "size": layer.data.len(), "digest": layer_digest }],
        "subject": subject,
        "annotations": annotations,
    }))?;
    let digest = crate::sha256_digest(&manifest);
    registry
        .push_manifest(
            &registry.by_digest(repository, &digest),
            manifest.clone(),
            OCI_MANIFEST,
        )
        .await?;
    Ok(json!({
        "mediaType": OCI_MANIFEST,
        "size": manifest.len(),
        "digest": digest,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "annotations": annotations,
    }))
}

/// The referrer descriptors listed for `digest` (empty when none).
pub async fn referrers(registry: &Registry, repository: &str, digest: &str) -> anyhow::Result<Vec<Value>> {
    let tag = registry.tagged(repository, &referrers_tag(digest));
    Ok(match registry.manifest_of(&tag, &[OCI_INDEX]).await? {
        Some((bytes, _)) => serde_json::from_slice::<Value>(&bytes)
            .with_context(|| format!("the referrers index {tag} is not JSON"))?["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        None => Vec::new(),
    })
}

/// Adds `descriptors` to the fallback index (one read, one write), replacing
/// the bundles of the same predicate types.
async fn add_to_index(
    registry: &Registry,
    repository: &str,
    digest: &str,
    descriptors: Vec<Value>,
) -> anyhow::Result<()> {
    let replaced = |d: &Value| {
        d["artifactType"] == BUNDLE_MEDIA_TYPE
            && descriptors
                .iter()
                .any(|new| new["annotations"][PREDICATE_ANNOTATION] == d["annotations"][PREDICATE_ANNOTATION])
    };
    let mut manifests: Vec<Value> = referrers(registry, repository, digest)
        .await?
        .into_iter()
        .filter(|d| !replaced(d))
        .collect();
    manifests.extend(descriptors);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))?;
    registry
        .push_manifest(
            &registry.tagged(repository, &referrers_tag(digest)),
            index,
            OCI_INDEX,
        )
        .await
}

/// The predicate types of the image's bundle referrers whose DSSE signature
/// verifies with `key` and whose statement is about `digest`.
pub async fn verified_types(
    registry: &Registry,
    repository: &str,
    digest: &str,
    key: &sigstore::crypto::CosignVerificationKey,
) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for descriptor in referrers(registry, repository, digest).await? {
        if descriptor["artifactType"] != BUNDLE_MEDIA_TYPE {
            continue;
        }
        let reference = registry.by_digest(repository, descriptor["digest"].as_str().unwrap_or_default());
        let Some((manifest, _)) = registry.manifest(&reference).await? else {
            continue;
        };
        let manifest: Value = serde_json::from_slice(&manifest)?;
        if manifest["subject"]["digest"] != digest {
            continue;
        }
        let Some(layer) = manifest["layers"][0]["digest"].as_str() else {
            continue;
        };
        let bundle: Value = serde_json::from_slice(&registry.blob(&reference, layer).await?)?;
        if bundle["mediaType"] != BUNDLE_MEDIA_TYPE {
            continue;
        }
        let envelope = serde_json::to_vec(&bundle["dsseEnvelope"])?;
        if let Some(predicate_type) = statement_type(&envelope, digest, key) {
            found.push(predicate_type);
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_carries_the_envelope_and_the_key_hint_without_a_log_entry() {
        let envelope = json!({"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": [{"keyid": "", "sig": "c2ln"}]});
        let bundle = bundle(&envelope, "aGludA==");
        assert_eq!(bundle["mediaType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(bundle["verificationMaterial"]["publicKey"]["hint"], "aGludA==");
        assert_eq!(bundle["verificationMaterial"]["tlogEntries"], json!([]));
        assert_eq!(bundle["dsseEnvelope"], envelope);
        assert_eq!(referrers_tag("sha256:abc"), "sha256-abc");
    }
}
