//! Signing keys in cosign's formats: an ECDSA P-256 private key in an
//! `ENCRYPTED SIGSTORE PRIVATE KEY` PEM (scrypt + secretbox, what
//! `cosign generate-key-pair` writes and reads) and its public key as SPKI PEM.
//!
//! The key's password comes from a file (never an argument or an environment
//! variable); without one the password is empty, as with
//! `COSIGN_PASSWORD= cosign generate-key-pair`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, SigningScheme};
use zeroize::Zeroizing;

/// Where the private key is and where its password is.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub private_key: PathBuf,
    pub password_file: Option<PathBuf>,
}

impl KeyFiles {
    fn password(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let Some(path) = &self.password_file else {
            return Ok(Zeroizing::new(Vec::new()));
        };
        let mut text = Zeroizing::new(
            std::fs::read(path)
                .with_context(|| format!("cannot read the key password file {}", path.display()))?,
        );
        // A trailing newline from `echo` is not part of the password.
        while text.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            text.pop();
        }
        Ok(text)
    }

    /// The signer for this key, decrypted with its password.
    pub fn signer(&self) -> anyhow::Result<SigStoreSigner> {
        let pem = Zeroizing::new(
            std::fs::read(&self.private_key)
                .with_context(|| format!("cannot read the signing key {}", self.private_key.display()))?,
        );
        let pair = SigStoreKeyPair::from_encrypted_pem(&pem, &self.password()?).map_err(|err| {
            anyhow::anyhow!(
                "cannot decrypt the signing key {} (wrong password?): {err}",
                self.private_key.display()
            )
        })?;
        pair.to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
            .with_context(|| format!("{} is not an ECDSA P-256 key", self.private_key.display()))
    }
}

/// Writes a new key pair: `<prefix>.key` (encrypted) and `<prefix>.pub`.
/// Refuses to overwrite an existing key.
pub fn generate(prefix: &Path, password_file: Option<&Path>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let private_key = prefix.with_extension("key");
    let public_key = prefix.with_extension("pub");
    for path in [&private_key, &public_key] {
        if path.exists() {
            bail!(
                "{} exists; remove it first to make a new key pair",
                path.display()
            );
        }
    }
    let files = KeyFiles {
        private_key: private_key.clone(),
        password_file: password_file.map(Path::to_path_buf),
    };
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .context("cannot create a key")?;
    let pair = signer.to_sigstore_keypair().map_err(anyhow::Error::from)?;
    let encrypted = pair
        .private_key_to_encrypted_pem(&files.password()?)
        .context("cannot encrypt the key")?;
    let public = pair.public_key_to_pem().map_err(anyhow::Error::from)?;
    if let Some(parent) = private_key.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_private(&private_key, encrypted.as_bytes())?;
    std::fs::write(&public_key, public)?;
    Ok((private_key, public_key))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    Ok(())
}

/// A public key (PEM) to verify with.
pub fn verification_key(path: &Path) -> anyhow::Result<(Vec<u8>, CosignVerificationKey)> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read the public key {}", path.display()))?;
    let key = CosignVerificationKey::from_pem(&pem, &SigningScheme::ECDSA_P256_SHA256_ASN1)
        .with_context(|| format!("{} is not an ECDSA P-256 public key", path.display()))?;
    Ok((pem, key))
}
