//! The OCI registry as the pipeline uses it: digests of tags, manifests and
//! blobs, and pushing cosign's signature and attestation artifacts (tags
//! `sha256-<hex>.sig` and `sha256-<hex>.att` beside the image).
//!
//! Access is anonymous; plain HTTP only for a registry on the loopback
//! interface (the tests' `docker-registry`), HTTPS everywhere else.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use serde_json::{Value, json};

use crate::sha256_digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// True for `127.0.0.1:5000`, `localhost:5001`, `[::1]:5000`.
pub fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(host, _)| host);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The cosign tag for an image digest: `sha256-<hex>.<suffix>`.
pub fn cosign_tag(digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", digest.replace(':', "-"))
}

/// A blob to push as one layer of an artifact.
#[derive(Debug, Clone)]
pub struct Layer {
    pub media_type: String,
    pub data: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// A registry host and a client for it.
#[derive(Clone)]
pub struct Registry {
    host: String,
    client: oci_client::Client,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("host", &self.host).finish()
    }
}

impl Registry {
    pub fn new(host: &str) -> Self {
        let protocol = if is_loopback(host) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = oci_client::Client::new(ClientConfig {
            protocol,
            ..Default::default()
        });
        Self {
            host: host.to_owned(),
            client,
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Client settings for the `sigstore` crate's cosign client.
    pub fn sigstore_config(&self) -> sigstore::registry::ClientConfig {
        let protocol = if is_loopback(&self.host) {
            sigstore::registry::ClientProtocol::Http
        } else {
            sigstore::registry::ClientProtocol::Https
        };
        sigstore::registry::ClientConfig {
            protocol,
            ..Default::default()
        }
    }

    /// `<host>/<repository>:<tag>`.
    pub fn tagged(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repository.to_owned(), tag.to_owned())
    }

    /// `<host>/<repository>@<digest>`.
    pub fn by_digest(&self, repository: &str, digest: &str) -> Reference {
        Reference::with_digest(self.host.clone(), repository.to_owned(), digest.to_owned())
    }

    /// The manifest digest a reference points at.
    pub async fn digest(&self, reference: &Reference) -> anyhow::Result<String> {
        self.client
            .fetch_manifest_digest(reference, &RegistryAuth::Anonymous)
            .await
            .with_context(|| format!("cannot resolve {reference} in the registry"))
    }

    /// A manifest's (an image's or an image index's) bytes and digest, or
    /// `None` when the registry has none.
    pub async fn manifest(&self, reference: &Reference) -> anyhow::Result<Option<(Vec<u8>, String)>> {
        self.manifest_of(reference, &[OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX])
            .await
    }

    /// A manifest of one of the `accepted` media types (e.g. an OCI index),
    /// or `None` when the registry has none.
    pub async fn manifest_of(
        &self,
        reference: &Reference,
        accepted: &[&str],
    ) -> anyhow::Result<Option<(Vec<u8>, String)>> {
        match self
            .client
            .pull_manifest_raw(reference, &RegistryAuth::Anonymous, accepted)
            .await
        {
            Ok((bytes, digest)) => Ok(Some((bytes.to_vec(), digest))),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("cannot fetch the manifest of {reference}")),
        }
    }

    /// One blob of a repository, checked against its digest.
    pub async fn blob(&self, reference: &Reference, digest: &str) -> anyhow::Result<Vec<u8>> {
        let mut data = Vec::new();
        self.client
            .pull_blob(reference, digest, &mut data)
            .await
            .with_context(|| format!("cannot fetch blob {digest} of {reference}"))?;
        if sha256_digest(&data) != digest {
            bail!("blob {digest} of {reference} does not match its digest");
        }
        Ok(data)
    }

    /// Pushes `layers` as an artifact in cosign's layout (an OCI image whose
    /// config lists the layers) under `reference`; returns the manifest digest.
    pub async fn push_artifact(&self, reference: &Reference, layers: &[Layer]) -> anyhow::Result<String> {
        let descriptors: Vec<Value> = layers
            .iter()
            .map(|layer| {
                let mut descriptor = json!({
                    "mediaType": layer.media_type,
                    "size": layer.data.len(),
                    "digest": sha256_digest(&layer.data),
                });
                if !layer.annotations.is_empty() {
                    descriptor["annotations"] = json!(layer.annotations);
                }
                descriptor
            })
            .collect();
        let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(&l.data)).collect();
        let config = serde_json::to_vec(&json!({
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{ "created": "0001-01-01T00:00:00Z" }],
            "os": "",
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "config": {},
        }))?;
        for layer in layers {
            self.push_blob(reference, layer.data.clone()).await?;
        }
        let config_digest = self.push_blob(reference, config.clone()).await?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "size": config.len(), "digest": config_digest },
            "layers": descriptors,
        }))?;
        self.client
            .push_manifest_raw(
                reference,
                manifest.clone(),
                http::HeaderValue::from_static(OCI_MANIFEST),
            )
            .await
            .with_context(|| format!("cannot push {reference}"))?;
        Ok(sha256_digest(&manifest))
    }

    /// Pushes one blob (skipped when the registry has it); returns its digest.
    pub async fn push_blob(&self, reference: &Reference, data: Vec<u8>) -> anyhow::Result<String> {
        let digest = sha256_digest(&data);
        if !self.client.blob_exists(reference, &digest).await.unwrap_or(false) {
            self.client
                .push_blob(reference, data, &digest)
                .await
                .with_context(|| format!("cannot push a blob to {reference}"))?;
        }
        Ok(digest)
    }

    /// Pushes a raw manifest of `media_type` under `reference`.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        manifest: Vec<u8>,
        media_type: &str,
    ) -> anyhow::Result<()> {
        let content_type = http::HeaderValue::from_str(media_type)?;
        self.client
            .push_manifest_raw(reference, manifest, content_type)
            .await
            .with_context(|| format!("cannot push {reference}"))?;
        Ok(())
    }
}

fn is_not_found(err: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match err {
        E::ImageManifestNotFoundError(_) => true,
        E::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, oci_client::errors::OciErrorCode::ManifestUnknown)),
        E::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}
