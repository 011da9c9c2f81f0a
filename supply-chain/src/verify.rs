//! Verification of one image against a public key, in each format it is
//! published in ([`Format`]):
//! - legacy: its cosign signature (`.sig`) must be valid and name this very
//!   digest, and its `.att` artifact must hold a validly signed statement
//!   about this digest for every required predicate type;
//! - bundle: its Sigstore bundle referrers must hold a valid signature
//!   statement (`https://sigstore.dev/cosign/sign/v1`, as cosign v3 signs)
//!   and a statement of every required type, each about this digest.
//!
//! Which formats must pass is the caller's: one, both, or (`None`) either,
//! whichever the image carries. Any failure is an error that says which
//! format failed and why.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::crypto::{CosignVerificationKey, SigningScheme};
use sigstore::registry::{Auth, OciReference};

use crate::Format;
use crate::dsse::{COSIGN_SIGN_V1, DSSE_MEDIA_TYPE, statement_type};
use crate::registry::{Registry, cosign_tag};

/// What was verified for one image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub image: String,
    /// The formats whose signature and required attestations all verified
    /// (`legacy`, `bundle`).
    pub formats: Vec<&'static str>,
    /// The legacy signature's tag, when that format verified.
    pub signature: Option<String>,
    /// The attestations' predicate types found valid (in any format).
    pub attestations: Vec<String>,
}

/// Verifies `<registry>/<repository>@<digest>` with the public key at
/// `public_key`, requiring a signature and an attestation of each of
/// `required` types in `format` (`None`: in at least one format).
pub async fn verify(
    registry: &Registry,
    repository: &str,
    digest: &str,
    public_key: &Path,
    required: &[&str],
    format: Option<Format>,
) -> anyhow::Result<Verified> {
    let (pem, key) = crate::keys::verification_key(public_key)?;
    let image = format!("{}/{repository}@{digest}", registry.host());
    let actual = registry.digest(&registry.by_digest(repository, digest)).await?;
    if actual != digest {
        bail!("{image}: the registry serves {actual} for this digest");
    }
    let legacy = legacy(registry, &image, repository, digest, &pem, &key, required).await;
    let bundle = bundle(registry, &image, repository, digest, &key, required).await;
    let (need_legacy, need_bundle) = match format {
        Some(format) => (format.legacy(), format.bundle()),
        None => (false, false),
    };
    let mut attestations = BTreeSet::new();
    let mut formats = Vec::new();
    let mut failures = Vec::new();
    for (name, outcome, needed) in [("legacy", &legacy, need_legacy), ("bundle", &bundle, need_bundle)] {
        match outcome {
            Ok(found) => {
                formats.push(name);
                attestations.extend(found.iter().cloned());
            }
            Err(err) if needed => bail!("{err:#}"),
            Err(err) => failures.push(format!("{err:#}")),
        }
    }
    if formats.is_empty() {
        bail!("{image}: verified in no format: {}", failures.join("; "));
    }
    Ok(Verified {
        signature: legacy
            .is_ok()
            .then(|| format!("{}/{repository}:{}", registry.host(), cosign_tag(digest, "sig"))),
        formats,
        attestations: attestations.into_iter().collect(),
        image,
    })
}

/// The legacy format: the `.sig` tag, then the `.att` tag; the predicate
/// types found.
async fn legacy(
    registry: &Registry,
    image: &str,
    repository: &str,
    digest: &str,
    pem: &[u8],
    key: &CosignVerificationKey,
    required: &[&str],
) -> anyhow::Result<BTreeSet<String>> {
    verify_signature(registry, image, digest, pem)
        .await
        .context("legacy format")?;
    let found = verify_attestations(registry, repository, digest, key).await?;
    let missing: Vec<&str> = required.iter().copied().filter(|t| !found.contains(*t)).collect();
    if !missing.is_empty() {
        bail!(
            "legacy format: {image}: no valid attestation of type {}",
            missing.join(", ")
        );
    }
    Ok(found)
}

/// The bundle format: the referrers' bundles; the predicate types found
/// (the signature statement's type left out).
async fn bundle(
    registry: &Registry,
    image: &str,
    repository: &str,
    digest: &str,
    key: &CosignVerificationKey,
    required: &[&str],
) -> anyhow::Result<BTreeSet<String>> {
    let found = crate::bundle::verified_types(registry, repository, digest, key).await?;
    if !found.iter().any(|t| t == COSIGN_SIGN_V1) {
        bail!(
            "bundle format: {image}: not signed (no bundle referrer with a signature this key made names this digest)"
        );
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|t| !found.iter().any(|f| f == t))
        .collect();
    if !missing.is_empty() {
        bail!(
            "bundle format: {image}: no bundle referrer verifies for {}",
            missing.join(", ")
        );
    }
    Ok(found.into_iter().filter(|t| t != COSIGN_SIGN_V1).collect())
}

async fn verify_signature(registry: &Registry, image: &str, digest: &str, pem: &[u8]) -> anyhow::Result<()> {
    let mut client = ClientBuilder::default()
        .with_oci_client_config(registry.sigstore_config())
        .build()
        .context("cannot create the cosign client")?;
    let reference: OciReference = image.parse().context("bad image reference")?;
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
    let verifier =
        PublicKeyVerifier::new(pem, &SigningScheme::ECDSA_P256_SHA256_ASN1).context("bad public key")?;
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
