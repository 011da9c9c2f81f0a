//! Image signatures in cosign's format, made with the `sigstore` crate: a
//! simple-signing payload naming the image digest, signed with the private
//! key, pushed as `sha256-<hex>.sig` beside the image. No transparency log
//! (there is none here); GitHub Actions signs keyless with cosign instead.

use anyhow::Context;
use sigstore::cosign::constraint::PrivateKeySigner;
use sigstore::cosign::{ClientBuilder, Constraint, CosignCapabilities, SignatureLayer};
use sigstore::registry::{Auth, OciReference};

use crate::keys::KeyFiles;
use crate::registry::{Registry, cosign_tag};

/// Signs `<registry>/<repository>@<digest>`; returns the signature's reference.
pub async fn sign(
    registry: &Registry,
    repository: &str,
    digest: &str,
    key: &KeyFiles,
) -> anyhow::Result<String> {
    let mut client = ClientBuilder::default()
        .with_oci_client_config(registry.sigstore_config())
        .build()
        .context("cannot create the cosign client")?;
    let image: OciReference = format!("{}/{repository}@{digest}", registry.host())
        .parse()
        .context("bad image reference")?;
    let (signature_image, source_digest) = client
        .triangulate(&image, &Auth::Anonymous)
        .await
        .with_context(|| format!("cannot find {} in the registry", image.whole()))?;
    let mut layer =
        SignatureLayer::new_unsigned(&image, &source_digest).context("cannot build the signature payload")?;
    PrivateKeySigner::new_with_signer(key.signer()?)
        .add_constraint(&mut layer)
        .context("cannot sign")?;
    client
        .push_signature(None, &Auth::Anonymous, &signature_image, vec![layer])
        .await
        .with_context(|| format!("cannot push the signature to {}", signature_image.whole()))?;
    Ok(format!(
        "{}/{repository}:{}",
        registry.host(),
        cosign_tag(digest, "sig")
    ))
}
