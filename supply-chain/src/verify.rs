//! Verification of one image against a public key: its cosign signature must
//! be valid and name this very digest, and its `.att` artifact must hold a
//! validly signed statement about this digest for every required predicate
//! type. Any failure is an error that says which.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::crypto::{CosignVerificationKey, SigningScheme};
use sigstore::registry::{Auth, OciReference};

use crate::dsse::{DSSE_MEDIA_TYPE, statement_type};
use crate::registry::{Registry, cosign_tag};

/// What was verified for one image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub image: String,
    pub signature: String,
    pub attestations: Vec<String>,
}

/// Verifies `<registry>/<repository>@<digest>` with the public key at
/// `public_key`, requiring an attestation of each of `required` types.
pub async fn verify(
    registry: &Registry,
    repository: &str,
    digest: &str,
    public_key: &Path,
    required: &[&str],
) -> anyhow::Result<Verified> {
    let (pem, key) = crate::keys::verification_key(public_key)?;
    let image = format!("{}/{repository}@{digest}", registry.host());
    let actual = registry.digest(&registry.by_digest(repository, digest)).await?;
    if actual != digest {
        bail!("{image}: the registry serves {actual} for this digest");
    }
    verify_signature(registry, &image, digest, &pem).await?;
    let found = verify_attestations(registry, repository, digest, &key).await?;
    let missing: Vec<&str> = required.iter().copied().filter(|t| !found.contains(*t)).collect();
    if !missing.is_empty() {
        bail!("{image}: no valid attestation of type {}", missing.join(", "));
    }
    Ok(Verified {
        signature: format!("{}/{repository}:{}", registry.host(), cosign_tag(digest, "sig")),
        attestations: found.into_iter().collect(),
        image,
    })
}

async fn verify_signature(registry: &Registry, image: &str, digest: &str, pem: &[u8]) -> anyhow::Result<()> {
    let mut client = ClientBuilder::default()
        .with_oci_client_config(registry.sigstore_config())
        .build()
        .map_err(|err| anyhow::anyhow!("cannot create the cosign client: {err}"))?;
    let reference: OciReference = image
        .parse()
        .map_err(|err| anyhow::anyhow!("bad image reference: {err}"))?;
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &reference)
        .await
        .with_context(|| format!("{image}: cannot read its signatures"))?;
    // A signature copied from another image still verifies as a signature;
    // only those that name this digest count.
    let layers: Vec<_> = layers
        .into_iter()
        .filter(|layer| layer.simple_signing.critical.image.docker_manifest_digest == digest)
        .collect();
    if layers.is_empty() {
        bail!("{image}: not signed (no cosign signature names this digest)");
    }
    let verifier = PublicKeyVerifier::new(pem, &SigningScheme::ECDSA_P256_SHA256_ASN1)
        .map_err(|err| anyhow::anyhow!("bad public key: {err}"))?;
    let constraints: VerificationConstraintVec = vec![Box::new(verifier)];
    verify_constraints(&layers, constraints.iter())
        .map_err(|_| anyhow::anyhow!("{image}: no signature made with this public key"))?;
    Ok(())
}

/// The predicate types of the valid statements about `digest`.
async fn verify_attestations(
    registry: &Registry,
    repository: &str,
    digest: &str,
    key: &CosignVerificationKey,
) -> anyhow::Result<BTreeSet<String>> {
    let reference = registry.tagged(repository, &cosign_tag(digest, "att"));
    let Some((manifest, _)) = registry.manifest(&reference).await? else {
        return Ok(BTreeSet::new());
    };
    let manifest: Value = serde_json::from_slice(&manifest).context("attestation manifest")?;
    let mut found = BTreeSet::new();
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        if layer["mediaType"] != DSSE_MEDIA_TYPE {
            continue;
        }
        let blob = registry
            .blob(&reference, layer["digest"].as_str().unwrap_or_default())
            .await?;
        if let Some(predicate_type) = statement_type(&blob, digest, key) {
            found.insert(predicate_type);
        }
    }
    Ok(found)
}
