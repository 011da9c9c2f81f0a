//! In-toto attestations stored the way cosign stores them: one layer per
//! DSSE envelope ([`crate::dsse`]; `application/vnd.dsse.envelope.v1+json`,
//! annotated with its `predicateType`) in an image tagged `sha256-<hex>.att`
//! beside the image. Two predicates: the service's CycloneDX SBOM
//! (`https://cyclonedx.org/bom`, cosign's `--type cyclonedx`) and SLSA
//! provenance v1 describing the build (made by `provenance`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::dsse::{DSSE_MEDIA_TYPE, envelope, statement};
use crate::keys::KeyFiles;
use crate::registry::{Layer, Registry, cosign_tag};

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
