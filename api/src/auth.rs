//! Accounts and tokens: `/api/auth/...`.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

/// A password in a request body: a secret (zeroized, redacted in `Debug`),
/// written out only when the client sends it.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Self(SecretString::from(password.into()))
    }
    pub fn into_secret(self) -> SecretString {
        self.0
    }
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl From<SecretString> for Password {
    fn from(secret: SecretString) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

impl Serialize for Password {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose_secret())
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SecretString::deserialize(deserializer).map(Self)
    }
}

/// `POST /api/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// At least 12 characters, not guessable (zxcvbn score 3 or more).
    #[schema(value_type = String, min_length = 12, max_length = 128, write_only)]
    pub password: Password,
}

/// `POST /api/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    #[schema(value_type = String, write_only)]
    pub password: Password,
    /// The `device_token` an earlier successful login of this account gave
    /// this client. With it, the client is let through when the account's
    /// budget of failed logins (from every address together) is spent, so a
    /// stranger's guesses cannot lock the owner out. A token of another
    /// account, expired or forged, counts as none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, write_only)]
    pub device_token: Option<DeviceToken>,
}

impl Credentials {
    /// A login without a device token.
    pub fn new(email: impl Into<String>, password: impl Into<Password>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            device_token: None,
        }
    }

    pub fn with_device_token(mut self, token: Option<DeviceToken>) -> Self {
        self.device_token = token;
        self
    }
}

impl From<&str> for Password {
    fn from(password: &str) -> Self {
        Self::new(password)
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self::new(password)
    }
}

/// The proof a client keeps after a successful login: signed by auth, for one
/// account, expiring (redacted in `Debug`). It grants no access by itself;
/// it only lets its holder through the account's login lockout.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceToken(String);

impl DeviceToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceToken([REDACTED])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

/// An account, as register and `/api/auth/me` return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
}

/// What login returns: a short-lived EdDSA-signed JWT (redacted in `Debug`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessToken {
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(pattern = "^Bearer$")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(minimum = 1)]
    pub expires_in: u64,
    /// This client's proof of an earlier successful login to the account, to
    /// send back as `device_token` in later logins (it expires after 30 days
    /// by default). Keep it like a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub device_token: Option<DeviceToken>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("device_token", &self.device_token)
            .finish()
    }
}

/// `GET /api/auth/.well-known/jwks.json`: the public keys that verify tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// An Ed25519 public key (RFC 8037): `kty` `OKP`, `crv` `Ed25519`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    #[schema(pattern = "^OKP$")]
    pub kty: String,
    #[schema(pattern = "^Ed25519$")]
    pub crv: String,
    #[schema(pattern = "^EdDSA$")]
    pub alg: String,
    #[serde(rename = "use")]
    #[schema(pattern = "^sig$")]
    pub use_: String,
    /// The `kid` header of the tokens this key verifies.
    pub kid: String,
    /// The public key, base64url without padding.
    pub x: String,
}

impl Jwk {
    pub fn ed25519(kid: impl Into<String>, x: impl Into<String>) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
            kid: kid.into(),
            x: x.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    const PASSWORD: &str = "Pw-distinctive-9vQk2LmX7rTz";
    const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJkZWJ1Zy10ZXN0In0.Sig-Q7vLx2mN9pRk4tW";
    const DEVICE: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJkZXZpY2UifQ.Dev-8sKq2LmZ4xWp";

    #[test]
    fn debug_output_holds_none_of_the_password() {
        let password = Password::new(PASSWORD);
        assert_debug_hides(&password, PASSWORD.as_bytes());
        let credentials = Credentials {
            email: "ada@example.com".into(),
            password: password.clone(),
            device_token: None,
        };
        assert_debug_hides(&credentials, PASSWORD.as_bytes());
        let registration = Registration {
            email: "ada@example.com".into(),
            password,
        };
        assert_debug_hides(&registration, PASSWORD.as_bytes());
    }

    #[test]
    fn debug_output_holds_none_of_the_access_token() {
        let token = AccessToken {
            access_token: TOKEN.into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            device_token: Some(DeviceToken::new(DEVICE)),
        };
        assert_debug_hides(&token, TOKEN.as_bytes());
        assert_debug_hides(&token, DEVICE.as_bytes());
        let login =
            Credentials::new("ada@example.com", "pw").with_device_token(Some(DeviceToken::new(DEVICE)));
        assert_debug_hides(&login, DEVICE.as_bytes());
        assert!(format!("{token:?}").contains("expires_in: 900"));
    }

    #[test]
    fn passwords_stay_out_of_debug_and_travel_in_bodies() {
        let login = Credentials {
            email: "a@example.com".into(),
            password: Password::new("correct horse battery"),
            device_token: None,
        };
        assert!(!format!("{login:?}").contains("horse"));
        let json = serde_json::to_value(&login).expect("json");
        assert_eq!(json["password"], "correct horse battery");
        let back: Credentials = serde_json::from_value(json).expect("parse");
        assert_eq!(back.password.secret().expose_secret(), "correct horse battery");
    }
}
