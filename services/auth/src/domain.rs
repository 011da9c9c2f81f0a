//! Parsed input: an [`Email`] is normalised and well-formed; a [`NewPassword`]
//! is long enough and not common. Parse, don't validate: handlers hold these
//! types only once the input passed.

use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("email must look like name@example.com")]
    Email,
    #[error("password must be between 12 and 128 characters")]
    PasswordLength,
    #[error("password is too common or too easy to guess; choose a longer or less predictable one")]
    PasswordWeak,
}

/// An email address, trimmed and lower-cased, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let email = raw.trim().to_lowercase();
        if email.len() < 3 || email.len() > 254 {
            return Err(InputError::Email);
        }
        let (local, domain) = email.split_once('@').ok_or(InputError::Email)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '@' | '<' | '>' | '"' | ','));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err(InputError::Email)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password acceptable for a new account: 12 to 128 characters, and not
/// guessable: zxcvbn must rate it 3 of 4 or better, which refuses everything on
/// its lists of common passwords and words (and variations such as `P@ssw0rd2024!`).
#[derive(Debug)]
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(password: SecretString, email: &Email) -> Result<Self, InputError> {
        let length = password.expose_secret().chars().count();
        if !(12..=128).contains(&length) {
            return Err(InputError::PasswordLength);
        }
        let local = email.as_str().split('@').next().unwrap_or("");
        let strength = zxcvbn::zxcvbn(password.expose_secret(), &[local, email.as_str(), "cloudshop"]);
        if strength.score() < zxcvbn::Score::Three {
            return Err(InputError::PasswordWeak);
        }
        Ok(Self(password))
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".into())
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@-x.com",
            "ada@@x.com",
        ] {
            assert_eq!(Email::parse(raw), Err(InputError::Email), "{raw:?}");
        }
        assert_eq!(
            Email::parse(&format!("{}@example.com", "a".repeat(65))),
            Err(InputError::Email)
        );
    }

    fn check(password: &str) -> Result<(), InputError> {
        let email = Email::parse("ada@example.com").map_err(|_| InputError::Email)?;
        NewPassword::parse(SecretString::from(password), &email).map(|_| ())
    }

    #[test]
    fn common_and_short_passwords_are_refused() {
        assert_eq!(check("short"), Err(InputError::PasswordLength));
        assert_eq!(check(&"x".repeat(129)), Err(InputError::PasswordLength));
        for common in [
            "password1234",
            "123456789012",
            "qwertyuiop123",
            "iloveyou1234",
            "ada@example.com1",
        ] {
            assert_eq!(check(common), Err(InputError::PasswordWeak), "{common}");
        }
    }

    #[test]
    fn strong_passwords_are_accepted() {
        assert_eq!(check("correct horse battery staple"), Ok(()));
        assert_eq!(check("tJ8#qv2!Lm9zRw"), Ok(()));
    }

    #[test]
    fn debug_output_holds_none_of_a_new_password() -> Result<(), InputError> {
        let email = Email::parse("ada@example.com")?;
        let secret = "Pw-new-distinctive-7vRq2Xk9";
        let password = NewPassword::parse(SecretString::from(secret), &email)?;
        assert_debug_hides(&password, secret.as_bytes());
        assert_eq!(password.into_secret().expose_secret(), secret);
        Ok(())
    }
}
