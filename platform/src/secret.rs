//! Secrets come from files (Kubernetes Secret volumes, compose secrets, the local
//! shop's `.cloudshop/secrets/`), never from environment variables, and live in
//! `secrecy` types that are zeroized on drop and print as `[REDACTED]`.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The path of a file that holds a secret. Settings carry only the path, so a
/// secret value can never arrive through an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretFile(PathBuf);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{setting}`: cannot read {path}: {source}")]
    Unreadable {
        setting: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret `{setting}`: {path} is not UTF-8 text")]
    NotText { setting: String, path: PathBuf },
    #[error("secret `{setting}`: {path} is empty")]
    Empty { setting: String, path: PathBuf },
}

impl SecretFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Reads the secret, trimming one trailing newline (files written by `echo`
    /// or `kubectl create secret --from-file` often end with one).
    /// `setting` names the setting in the error, so a missing file is obvious.
    pub fn read(&self, setting: &str) -> Result<SecretString, SecretError> {
        let bytes = self.read_bytes(setting)?;
        let text = std::str::from_utf8(bytes.expose()).map_err(|_| SecretError::NotText {
            setting: setting.to_owned(),
            path: self.0.clone(),
        })?;
        let value = text.strip_suffix('\n').unwrap_or(text);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if value.is_empty() {
            return Err(SecretError::Empty {
                setting: setting.to_owned(),
                path: self.0.clone(),
            });
        }
        Ok(SecretString::from(value.to_owned()))
    }

    /// Reads the raw bytes (PEM keys), zeroized when dropped.
    pub fn read_bytes(&self, setting: &str) -> Result<zeroizing::Bytes, SecretError> {
        let bytes = std::fs::read(&self.0).map_err(|source| SecretError::Unreadable {
            setting: setting.to_owned(),
            path: self.0.clone(),
            source,
        })?;
        if bytes.is_empty() {
            return Err(SecretError::Empty {
                setting: setting.to_owned(),
                path: self.0.clone(),
            });
        }
        Ok(zeroizing::Bytes::new(bytes))
    }
}

pub mod zeroizing {
    //! Owned secret bytes that are wiped on drop and never printed.
    use secrecy::{ExposeSecret, SecretSlice};

    pub struct Bytes(SecretSlice<u8>);

    impl Bytes {
        pub fn new(bytes: Vec<u8>) -> Self {
            Self(SecretSlice::from(bytes))
        }
        pub fn expose(&self) -> &[u8] {
            self.0.expose_secret()
        }
    }

    impl std::fmt::Debug for Bytes {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("[REDACTED]")
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;
    use secrecy::ExposeSecret;

    use super::*;

    const SECRET: &str = "secret-file-value-Hq4vN8zT2wLpX7";

    #[test]
    fn debug_output_of_a_read_secret_holds_none_of_it() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = SecretFile::new(dir.path().join("secret"));
        std::fs::write(file.path(), format!("{SECRET}\n"))?;

        let text = file.read("test.secret_file")?;
        assert_eq!(text.expose_secret(), SECRET);
        assert_debug_hides(&text, SECRET.as_bytes());

        let bytes = file.read_bytes("test.secret_file")?;
        assert!(bytes.expose().starts_with(SECRET.as_bytes()));
        assert_debug_hides(&bytes, SECRET.as_bytes());
        Ok(())
    }
}
