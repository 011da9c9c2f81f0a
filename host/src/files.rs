//! The files a CloudShop installation reads, laid out under one folder (the
//! local shop's `.cloudshop/`, or a test's temporary folder):
//!
//! ```text
//! pki/ca.pem  pki/ca-key.pem           development CA
//! pki/<service>.pem  pki/<service>-key.pem
//! secrets/db-password-<role>           one per database role
//! secrets/jwt-signing-key.pem          Ed25519, PKCS#8
//! secrets/jwt-public-keys.pem          what the verifiers trust
//! secrets/admin-email  secrets/admin-password
//! secrets/cookie-key                   signs the storefront's cookies
//! postgres/                            the PostgreSQL cluster
//! ```
//!
//! [`ShopFiles::ensure`] creates what is missing and keeps what exists, so a
//! second run reuses the CA, the secrets and the data.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use cloudshop_platform::secret::SecretFile;
use cloudshop_platform::settings::TlsSettings;
use cloudshop_topology::{NAMES, database_roles};

use crate::pki::{CertificateAuthority, LeafRequest};
use crate::random_secret;

/// The local admin account's email.
pub const ADMIN_EMAIL: &str = "admin@cloudshop.local";

#[derive(Debug, Clone)]
pub struct ShopFiles {
    root: PathBuf,
}

impl ShopFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("pki/ca.pem")
    }
    fn ca_key(&self) -> PathBuf {
        self.root.join("pki/ca-key.pem")
    }
    pub fn cert(&self, service: impl AsRef<str>) -> PathBuf {
        self.root.join(format!("pki/{}.pem", service.as_ref()))
    }
    pub fn key(&self, service: impl AsRef<str>) -> PathBuf {
        self.root.join(format!("pki/{}-key.pem", service.as_ref()))
    }
    /// TLS settings for `service` (reloaded every 200 ms: rotation is quick here).
    pub fn tls(&self, service: impl AsRef<str> + Copy) -> TlsSettings {
        TlsSettings {
            cert_file: self.cert(service),
            key_file: self.key(service),
            ca_file: self.ca_cert(),
            reload_interval_ms: 200,
        }
    }
    pub fn db_password(&self, role: impl AsRef<str>) -> SecretFile {
        SecretFile::new(self.root.join(format!("secrets/db-password-{}", role.as_ref())))
    }
    pub fn jwt_signing_key(&self) -> SecretFile {
        SecretFile::new(self.root.join("secrets/jwt-signing-key.pem"))
    }
    pub fn jwt_public_keys(&self) -> PathBuf {
        self.root.join("secrets/jwt-public-keys.pem")
    }
    pub fn admin_email(&self) -> SecretFile {
        SecretFile::new(self.root.join("secrets/admin-email"))
    }
    pub fn admin_password(&self) -> SecretFile {
        SecretFile::new(self.root.join("secrets/admin-password"))
    }
    /// Signs the storefront's cookies.
    pub fn cookie_key(&self) -> SecretFile {
        SecretFile::new(self.root.join("secrets/cookie-key"))
    }
    /// PostgreSQL's superuser password, for a deployment that makes its own
    /// PostgreSQL (compose, the local cluster); created when missing, kept
    /// after. The local shop's PostgreSQL does not use one.
    pub fn ensure_postgres_password(&self) -> anyhow::Result<SecretFile> {
        let path = self.root.join("secrets/db-password-postgres");
        write_new_secret(&path, &random_secret(24)?)?;
        Ok(SecretFile::new(path))
    }
    pub fn postgres_dir(&self) -> PathBuf {
        self.root.join("postgres")
    }

    /// Creates every missing file: the CA, a certificate per service and one for
    /// PostgreSQL, database passwords, the JWT key and the admin account.
    pub fn ensure(&self) -> anyhow::Result<()> {
        for dir in ["pki", "secrets"] {
            let path = self.root.join(dir);
            fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
        let ca = if self.ca_cert().exists() && self.ca_key().exists() {
            CertificateAuthority::load(
                &fs::read_to_string(self.ca_cert())?,
                &fs::read_to_string(self.ca_key())?,
            )
            .context("loading the development CA")?
        } else {
            let ca = CertificateAuthority::generate("CloudShop development CA")?;
            write_public(&self.ca_cert(), ca.cert_pem())?;
            write_private(&self.ca_key(), ca.key_pem())?;
            ca
        };
        for service in NAMES.iter().chain(&["postgres"]) {
            if !self.cert(service).exists() || !self.key(service).exists() {
                self.issue(&ca, &LeafRequest::local(service))?;
            }
        }
        for role in database_roles() {
            write_new_secret(self.db_password(role).path(), &random_secret(24)?)?;
        }
        if !self.jwt_signing_key().path().exists() {
            let (private, public) = crate::pki::jwt_signing_key()?;
            write_private(self.jwt_signing_key().path(), &private)?;
            write_public(&self.jwt_public_keys(), &public)?;
        }
        write_new_secret(self.cookie_key().path(), &random_secret(64)?)?;
        write_new_secret(self.admin_email().path(), ADMIN_EMAIL)?;
        write_new_secret(self.admin_password().path(), &random_secret(18)?)?;
        Ok(())
    }

    /// Writes a certificate for `request.service`, replacing any earlier one.
    pub fn issue(&self, ca: &CertificateAuthority, request: &LeafRequest) -> anyhow::Result<()> {
        let issued = ca.issue(request)?;
        write_private(&self.key(&request.service), &issued.key_pem)?;
        write_public(&self.cert(&request.service), &issued.cert_pem)?;
        Ok(())
    }

    /// The development CA, for issuing further certificates (rotation, tests).
    pub fn ca(&self) -> anyhow::Result<CertificateAuthority> {
        CertificateAuthority::load(
            &fs::read_to_string(self.ca_cert())?,
            &fs::read_to_string(self.ca_key())?,
        )
    }
}

fn write_public(path: &Path, contents: &str) -> anyhow::Result<()> {
    write_with_mode(path, contents, 0o644)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    write_with_mode(path, contents, 0o600)
}

fn write_new_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    write_private(path, contents)
}

/// Writes atomically (a rename), so a reader never sees half a file.
fn write_with_mode(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().context("file without a folder")?;
    let temp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .with_context(|| format!("writing {}", temp.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    fs::set_permissions(&temp, fs::Permissions::from_mode(mode))?;
    fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `path` from the current folder, as given otherwise (`..` kept, links not
/// followed): what the user named, made independent of where later commands
/// and daemons run.
pub fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()?.join(path)
    })
}
