//! Access tokens: EdDSA (Ed25519) JWTs issued by the auth service and checked at
//! the gateway and again in every service, for algorithm, signature, `kid`,
//! expiry, not-before, issuer and audience.
//!
//! Keys are identified by their RFC 7638 JWK thumbprint, so the `kid` a token
//! carries, the JWKS the auth service serves and the public-key file the other
//! services read all agree without configuration.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    /// PEM file with one or more Ed25519 public keys (`PUBLIC KEY` blocks).
    pub public_keys_file: PathBuf,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            issuer: "https://auth.cloudshop.local".into(),
            audience: "cloudshop".into(),
            public_keys_file: PathBuf::from("/etc/cloudshop/jwt/public-keys.pem"),
            leeway_secs: 5,
        }
    }
}

pub use cloudshop_api::auth::Role;

/// The claims of a valid access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
}

impl Claims {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("administrators only"))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("jwt setting `jwt.public_keys_file` ({path}): {reason}")]
    KeyFile { path: String, reason: String },
    #[error("token has no `kid`")]
    MissingKid,
    #[error("token signed by an unknown key")]
    UnknownKid,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// The RFC 7638 thumbprint of an Ed25519 public key, used as its `kid`.
pub fn key_id(public_key: &[u8]) -> String {
    let x = URL_SAFE_NO_PAD.encode(public_key);
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}

/// The raw 32-byte key of an Ed25519 SubjectPublicKeyInfo.
pub fn ed25519_raw_key(spki: &[u8]) -> Option<&[u8]> {
    spki.strip_prefix(&ED25519_SPKI_PREFIX[..])
        .filter(|raw| raw.len() == 32)
}

pub struct JwtVerifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Reads the public keys named by the settings.
    pub fn from_settings(settings: &JwtSettings) -> Result<Self, JwtError> {
        let path = &settings.public_keys_file;
        let key_error = |reason: String| JwtError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| key_error(e.to_string()))?;
        let mut raw_keys = Vec::new();
        for spki in SubjectPublicKeyInfoDer::pem_slice_iter(&pem) {
            let spki = spki.map_err(|e| key_error(e.to_string()))?;
            let raw = ed25519_raw_key(spki.as_ref())
                .ok_or_else(|| key_error("not an Ed25519 public key".into()))?;
            raw_keys.push(raw.to_vec());
        }
        if raw_keys.is_empty() {
            return Err(key_error("no PUBLIC KEY block".into()));
        }
        Ok(Self::new(&raw_keys, settings))
    }

    /// A verifier trusting the given raw Ed25519 public keys.
    pub fn new(raw_keys: &[Vec<u8>], settings: &JwtSettings) -> Self {
        let keys = raw_keys
            .iter()
            .map(|raw| {
                (
                    key_id(raw),
                    DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(raw)),
                )
            })
            .filter_map(|(kid, key)| key.ok().map(|key| (kid, key)))
            .collect();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = settings.leeway_secs;
        Self { keys, validation }
    }

    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let header = jsonwebtoken::decode_header(token)?;
        let kid = header.kid.ok_or(JwtError::MissingKid)?;
        let key = self.keys.get(&kid).ok_or(JwtError::UnknownKid)?;
        Ok(jsonwebtoken::decode::<Claims>(token, key, &self.validation)?.claims)
    }

    /// Verifies the bearer token of an `Authorization` header value.
    pub fn verify_bearer(&self, authorization: Option<&http::HeaderValue>) -> Result<Claims, ApiError> {
        let value = authorization
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        self.verify(token.trim()).map_err(|err| {
            tracing::info!(error = %err, "token refused");
            ApiError::unauthorized("invalid or expired token")
        })
    }
}

impl<S> FromRequestParts<S> for Claims
where
    S: Send + Sync,
    Arc<JwtVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<JwtVerifier>::from_ref(state);
        verifier.verify_bearer(parts.headers.get(http::header::AUTHORIZATION))
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_host::files::ShopFiles;
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    #[test]
    fn debug_output_names_the_keys_by_their_kid_only() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let files = ShopFiles::new(dir.path());
        files.ensure()?;
        let settings = JwtSettings {
            public_keys_file: files.jwt_public_keys(),
            ..JwtSettings::default()
        };
        let verifier = JwtVerifier::from_settings(&settings)?;
        let pem = std::fs::read(&settings.public_keys_file)?;
        let spki = SubjectPublicKeyInfoDer::from_pem_slice(&pem)?;
        let raw = ed25519_raw_key(spki.as_ref()).ok_or("not an Ed25519 key")?;

        assert_debug_hides(&verifier, raw);
        assert!(format!("{verifier:?}").contains(&key_id(raw)));
        Ok(())
    }
}
