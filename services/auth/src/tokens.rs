//! Access tokens: EdDSA (Ed25519) JWTs with `kid`, `iss`, `aud`, `sub`, `exp`,
//! `nbf` and `iat`, and the JWKS that publishes the verifying key.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudshop_platform::jwt::{Claims, JwtSettings, JwtVerifier, Role, key_id};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
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
    device_key: DecodingKey,
    device_validation: Validation,
    settings: TokenSettings,
}

/// The audience of device tokens: no service accepts them as access tokens
/// (those carry the access audience), and login accepts nothing else.
const DEVICE_AUDIENCE: &str = "cloudshop-login-device";

/// What a device token says: which account logged in, and until when it
/// vouches for the client.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DeviceClaims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
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
use cloudshop_api::auth::{DeviceToken, Jwk, Jwks};

impl TokenIssuer {
    pub fn from_settings(settings: &TokenSettings) -> Result<Self, TokenError> {
        let pem = settings.signing_key_file.read_bytes("tokens.signing_key_file")?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.expose()).map_err(|_| TokenError::BadKey)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
            .map_err(|_| TokenError::BadKey)?;
        let public_key = pair.public_key().as_ref().to_vec();
        let key = EncodingKey::from_ed_der(der.secret_pkcs8_der());
        let device_key = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(&public_key))
            .map_err(|_| TokenError::BadKey)?;
        let mut device_validation = Validation::new(Algorithm::EdDSA);
        device_validation.set_issuer(&[&settings.issuer]);
        device_validation.set_audience(&[DEVICE_AUDIENCE]);
        device_validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        device_validation.validate_nbf = true;
        device_validation.leeway = 0;
        Ok(Self {
            key,
            kid: key_id(&public_key),
            public_key,
            device_key,
            device_validation,
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
            device_token: None,
        })
    }

    /// Signs a device token for the account: the client that logged in keeps
    /// it and shows it at later logins.
    pub fn issue_device(
        &self,
        user_id: &str,
        lifetime: std::time::Duration,
    ) -> Result<DeviceToken, TokenError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = DeviceClaims {
            sub: user_id.to_owned(),
            iss: self.settings.issuer.clone(),
            aud: DEVICE_AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(DeviceToken::new(jsonwebtoken::encode(
            &header, &claims, &self.key,
        )?))
    }

    /// Whether `token` is a valid, unexpired device token of this issuer for
    /// the account `user_id`.
    pub fn vouches_for(&self, token: &DeviceToken, user_id: &str) -> bool {
        jsonwebtoken::decode::<DeviceClaims>(token.as_str(), &self.device_key, &self.device_validation)
            .is_ok_and(|data| data.claims.sub == user_id)
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
    use cloudshop_host::redaction::assert_debug_hides;
    use cloudshop_platform::secret::SecretFile;

    use super::*;

    type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

    /// An issuer with a fresh key; the folder holding the key, and its PEM.
    fn new_issuer() -> TestResult<(tempfile::TempDir, TokenIssuer, String)> {
        let dir = tempfile::tempdir()?;
        let (private_pem, _) = cloudshop_host::pki::jwt_signing_key()?;
        let path = dir.path().join("jwt-signing-key.pem");
        std::fs::write(&path, &private_pem)?;
        let settings = TokenSettings {
            signing_key_file: SecretFile::new(&path),
            ..TokenSettings::default()
        };
        Ok((dir, TokenIssuer::from_settings(&settings)?, private_pem))
    }

    #[test]
    fn debug_output_holds_none_of_the_signing_key() -> TestResult {
        let (_dir, issuer, private_pem) = new_issuer()?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(private_pem.as_bytes())?;

        // The DER, and with it the PEM body (its base64) and the 32-byte seed.
        assert_debug_hides(&issuer, der.secret_pkcs8_der());
        assert!(format!("{issuer:?}").contains(&issuer.kid));
        Ok(())
    }

    #[test]
    fn a_device_token_vouches_for_its_own_account_only() -> TestResult {
        let (_dir, issuer, _) = new_issuer()?;
        let (_other_dir, other_issuer, _) = new_issuer()?;
        let day = std::time::Duration::from_secs(86_400);
        let token = issuer.issue_device("account-a", day)?;
        assert!(issuer.vouches_for(&token, "account-a"));
        assert!(
            !issuer.vouches_for(&token, "account-b"),
            "another account's token"
        );
        assert!(
            !other_issuer.vouches_for(&token, "account-a"),
            "another key's token"
        );
        let expired = issuer.issue_device("account-a", std::time::Duration::ZERO)?;
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(!issuer.vouches_for(&expired, "account-a"), "expired");
        let mut forged = token.as_str().to_owned();
        forged.pop();
        assert!(!issuer.vouches_for(&DeviceToken::new(forged), "account-a"));
        // An access token is no device token, whatever its subject.
        let access = issuer.issue("account-a", "a@example.com", Role::Customer)?;
        assert!(!issuer.vouches_for(&DeviceToken::new(access.access_token), "account-a"));
        // And a device token is no access token.
        assert!(issuer.verifier().verify(token.as_str()).is_err());
        Ok(())
    }
}
