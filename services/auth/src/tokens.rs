//! Access tokens: EdDSA (Ed25519) JWTs with `kid`, `iss`, `aud`, `sub`, `exp`,
//! `nbf` and `iat`, and the JWKS that publishes the verifying key.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudshop_platform::jwt::{Claims, JwtSettings, JwtVerifier, Role, key_id};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;

use crate::settings::TokenSettings;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Secret(#[from] cloudshop_platform::secret::SecretError),
    #[error("setting `tokens.signing_key_file`: not an Ed25519 PKCS#8 PEM key")]
    BadKey,
    #[error("cannot sign token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

pub struct TokenIssuer {
    key: EncodingKey,
    kid: String,
    public_key: Vec<u8>,
    settings: TokenSettings,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What `POST /login` returns.
pub use cloudshop_api::auth::AccessToken;
use cloudshop_api::auth::{Jwk, Jwks};

impl TokenIssuer {
    pub fn from_settings(settings: &TokenSettings) -> Result<Self, TokenError> {
        let pem = settings.signing_key_file.read_bytes("tokens.signing_key_file")?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.expose()).map_err(|_| TokenError::BadKey)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
            .map_err(|_| TokenError::BadKey)?;
        let public_key = pair.public_key().as_ref().to_vec();
        let key = EncodingKey::from_ed_der(der.secret_pkcs8_der());
        Ok(Self {
            key,
            kid: key_id(&public_key),
            public_key,
            settings: settings.clone(),
        })
    }

    /// Signs a token for the account.
    pub fn issue(&self, user_id: &str, email: &str, role: Role) -> Result<AccessToken, TokenError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let lifetime = self.settings.lifetime_secs;
        let claims = Claims {
            sub: user_id.to_owned(),
            email: email.to_owned(),
            role,
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + lifetime as i64,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(AccessToken {
            access_token: jsonwebtoken::encode(&header, &claims, &self.key)?,
            token_type: "Bearer".into(),
            expires_in: lifetime,
        })
    }

    /// The JSON Web Key Set with the verifying key.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![Jwk::ed25519(
                self.kid.clone(),
                URL_SAFE_NO_PAD.encode(&self.public_key),
            )],
        }
    }

    /// A verifier for the tokens this issuer signs (for `/me`).
    pub fn verifier(&self) -> JwtVerifier {
        let settings = JwtSettings {
            issuer: self.settings.issuer.clone(),
            audience: self.settings.audience.clone(),
            ..JwtSettings::default()
        };
        JwtVerifier::new(std::slice::from_ref(&self.public_key), &settings)
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_devkit::redaction::assert_debug_hides;
    use cloudshop_platform::secret::SecretFile;

    use super::*;

    #[test]
    fn debug_output_holds_none_of_the_signing_key() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (private_pem, _) = cloudshop_devkit::pki::jwt_signing_key()?;
        let path = dir.path().join("jwt-signing-key.pem");
        std::fs::write(&path, &private_pem)?;
        let settings = TokenSettings {
            signing_key_file: SecretFile::new(&path),
            ..TokenSettings::default()
        };
        let issuer = TokenIssuer::from_settings(&settings)?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(private_pem.as_bytes())?;

        // The DER, and with it the PEM body (its base64) and the 32-byte seed.
        assert_debug_hides(&issuer, der.secret_pkcs8_der());
        assert!(format!("{issuer:?}").contains(&issuer.kid));
        Ok(())
    }
}
