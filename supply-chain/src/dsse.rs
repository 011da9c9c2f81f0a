//! In-toto statements in DSSE envelopes, the one encoding both sides share:
//! the signing side (`attest`, `bundle`) builds and signs envelopes here, the
//! verifying side (`verify`, `bundle`) checks them here, so what one signs is
//! what the other verifies. Also the predicate types CloudShop attests and
//! requires. This module depends on none of those.

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sigstore::crypto::{CosignVerificationKey, Signature};

use crate::keys::KeyFiles;

/// The predicate type of a CycloneDX SBOM (cosign's `--type cyclonedx`).
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// The predicate type of SLSA provenance v1 (the predicate `provenance` makes).
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// The predicate type of a signature in the bundle format (cosign v3).
pub const COSIGN_SIGN_V1: &str = "https://sigstore.dev/cosign/sign/v1";

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
        .context("cannot sign the attestation")?;
    Ok(json!({
        "payloadType": IN_TOTO_PAYLOAD,
        "payload": STANDARD.encode(payload),
        "signatures": [{ "keyid": "", "sig": STANDARD.encode(signature) }],
    }))
}

/// The predicate type of a DSSE envelope whose signature verifies with `key`
/// and whose statement's subject is `digest`; `None` otherwise.
pub fn statement_type(envelope: &[u8], digest: &str, key: &CosignVerificationKey) -> Option<String> {
    let envelope: Value = serde_json::from_slice(envelope).ok()?;
    if envelope["payloadType"] != IN_TOTO_PAYLOAD {
        return None;
    }
    let payload = STANDARD.decode(envelope["payload"].as_str()?).ok()?;
    let message = pae(IN_TOTO_PAYLOAD, &payload);
    let signed = envelope["signatures"].as_array()?.iter().any(|s| {
        s["sig"].as_str().is_some_and(|sig| {
            key.verify_signature(Signature::Base64Encoded(sig.as_bytes()), &message)
                .is_ok()
        })
    });
    if !signed {
        return None;
    }
    let statement: Value = serde_json::from_slice(&payload).ok()?;
    let hex = digest.strip_prefix("sha256:")?;
    let about_image = statement["subject"]
        .as_array()?
        .iter()
        .any(|s| s["digest"]["sha256"] == hex);
    about_image.then(|| statement["predicateType"].as_str().map(str::to_owned))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    #[test]
    fn pae_is_the_encoding_the_dsse_spec_gives() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn what_the_signing_side_seals_the_verifying_side_opens_and_nothing_else() {
        let dir = tempfile::tempdir().expect("dir");
        let (private_key, public_key) = keys::generate(&dir.path().join("release"), None).expect("keys");
        let (_, other_public_key) = keys::generate(&dir.path().join("other"), None).expect("other keys");
        let (_, other_key) = keys::verification_key(&other_public_key).expect("other public key");
        let (_, key) = keys::verification_key(&public_key).expect("public key");
        let files = keys::KeyFiles {
            private_key,
            password_file: None,
        };
        let digest = format!("sha256:{}", "a".repeat(64));
        let signed = envelope(
            &statement("r/cloudshop/auth", &digest, CYCLONEDX, json!({})),
            &files,
        )
        .expect("envelope");
        let bytes = serde_json::to_vec(&signed).expect("json");

        assert_eq!(statement_type(&bytes, &digest, &key).as_deref(), Some(CYCLONEDX));
        let other_digest = format!("sha256:{}", "b".repeat(64));
        assert_eq!(statement_type(&bytes, &other_digest, &key), None);
        assert_eq!(statement_type(&bytes, &digest, &other_key), None);
        // The signature over one statement does not cover another.
        let swapped = statement("r/cloudshop/auth", &digest, SLSA_PROVENANCE_V1, json!({}));
        let mut tampered = signed;
        tampered["payload"] = json!(STANDARD.encode(serde_json::to_vec(&swapped).expect("json")));
        let tampered = serde_json::to_vec(&tampered).expect("json");
        assert_eq!(statement_type(&tampered, &digest, &key), None);
    }
}
