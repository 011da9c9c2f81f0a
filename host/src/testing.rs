//! What the integration tests share: one PostgreSQL cluster and one set of
//! certificates and secrets per test binary (created on first use, removed by a
//! watchdog when the binary exits), a fresh database per test, mutual-TLS
//! clients with any identity, and captured logs.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use anyhow::Context;
use cloudshop_platform::db::DatabaseSettings;
use cloudshop_platform::settings::TlsSettings;
use cloudshop_platform::tls::TlsMaterial;

use crate::files::ShopFiles;
use crate::ports;
use crate::postgres::Cluster;

#[derive(Debug)]
pub struct TestEnv {
    files: ShopFiles,
    cluster: Cluster,
}

static ENV: OnceLock<Result<TestEnv, String>> = OnceLock::new();

/// The shared environment of this test binary; panics (failing the test) with
/// the reason when it cannot be set up, e.g. no PostgreSQL binaries.
pub fn env() -> &'static TestEnv {
    match ENV.get_or_init(|| TestEnv::start().map_err(|e| format!("{e:#}"))) {
        Ok(env) => env,
        Err(reason) => panic!("cannot set up the test environment: {reason}"),
    }
}

impl TestEnv {
    fn start() -> anyhow::Result<Self> {
        cloudshop_platform::install_crypto_provider();
        let root = tempfile::Builder::new()
            .prefix("cloudshop-test-")
            .tempdir()
            .context("creating a temporary folder")?
            .keep();
        let files = ShopFiles::new(&root);
        files.ensure()?;
        let cluster = Cluster::new(&files, ports::reserve_one()?)?;
        cluster.init_from_template(&files)?;
        cluster.spawn_for_process(&root)?;
        cluster.provision_roles(&files)?;
        Ok(Self { files, cluster })
    }

    pub fn files(&self) -> &ShopFiles {
        &self.files
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A new, empty database with the services' schemas.
    pub fn new_database(&self) -> String {
        let name = format!("t_{}", uuid_like());
        if let Err(err) = self.cluster.create_database(&name) {
            panic!("cannot create test database {name}: {err:#}");
        }
        name
    }

    /// How `role` connects to `database` (TLS, verify-full, its own password).
    pub fn database(&self, role: impl AsRef<str>, database: &str) -> DatabaseSettings {
        let role = role.as_ref();
        DatabaseSettings {
            host: "127.0.0.1".into(),
            port: self.cluster.port(),
            name: database.into(),
            user: role.into(),
            password_file: self.files.db_password(role),
            ca_file: self.files.ca_cert(),
            max_connections: 20,
            acquire_timeout_ms: 5_000,
            startup_wait_ms: 10_000,
        }
    }

    pub fn tls(&self, service: &str) -> TlsSettings {
        self.files.tls(service)
    }

    /// An HTTPS client presenting `service`'s certificate and trusting the CA.
    pub fn client_as(&self, service: &str) -> reqwest::Client {
        client_with(&self.tls(service))
    }
}

/// An HTTPS client presenting the certificate in `tls` and trusting its CA.
pub fn client_with(tls: &TlsSettings) -> reqwest::Client {
    let built = TlsMaterial::load(tls)
        .and_then(|material| material.client_config())
        .map_err(anyhow::Error::from)
        .and_then(|config| {
            reqwest::Client::builder()
                .use_preconfigured_tls(config)
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(anyhow::Error::from)
        });
    match built {
        Ok(client) => client,
        Err(err) => panic!("cannot build a test client: {err:#}"),
    }
}

fn uuid_like() -> String {
    crate::random_secret(12)
        .unwrap_or_default()
        .to_lowercase()
        .replace(['-', '_'], "x")
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct CapturedWriter;

impl Write for CapturedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends this process's logs (JSON, debug level and up) to a buffer.
pub fn capture_logs() {
    cloudshop_platform::telemetry::init_with_writer(
        || CapturedWriter,
        "debug,hyper=info,rustls=info,h2=info",
    );
}

/// Everything logged so far.
pub fn captured_logs() -> String {
    LOGS.lock()
        .map(|logs| String::from_utf8_lossy(&logs).into_owned())
        .unwrap_or_default()
}

/// An HTTPS client that trusts the test CA and presents no certificate, as a
/// browser or a script on the internet would.
pub fn public_client() -> reqwest::Client {
    client_trusting(&env().files().ca_cert())
}

/// An HTTPS client that trusts the CA in `ca` (PEM) and presents no
/// certificate: a shop's own CA, as its printed hint says to trust.
pub fn client_trusting(ca: &std::path::Path) -> reqwest::Client {
    let built = cloudshop_platform::tls::read_roots("ca", ca)
        .map_err(anyhow::Error::from)
        .and_then(|roots| {
            let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Ok(reqwest::Client::builder()
                .use_preconfigured_tls(config)
                .timeout(std::time::Duration::from_secs(30))
                .build()?)
        });
    match built {
        Ok(client) => client,
        Err(err) => panic!("cannot build a test client: {err:#}"),
    }
}

/// What curl, a real client, saw when it uploaded a body.
#[derive(Debug)]
pub struct Upload {
    /// The final status (0 when curl read no answer).
    pub status: u16,
    /// The answer's body.
    pub body: String,
    /// Whether the server said `100 Continue`.
    pub continued: bool,
    /// curl's exit code and what it wrote to stderr, for messages.
    pub report: String,
}

/// How [`curl_upload`] sends its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// `Content-Length`, and `Expect: 100-continue` (waiting up to 10 s).
    ExpectContinue,
    /// `Content-Length`, the body sent at once.
    Immediate,
    /// `Transfer-Encoding: chunked`, no length announced.
    Chunked,
}

/// POSTs `size` bytes of `content_type` to `url` with curl, trusting `ca`
/// when given, and says what came back. Bounded: 60 s at most.
pub fn curl_upload(
    url: &str,
    size: usize,
    content_type: &str,
    mode: UploadMode,
    ca: Option<&std::path::Path>,
) -> anyhow::Result<Upload> {
    let dir = tempfile::tempdir()?;
    let payload = dir.path().join("payload");
    std::fs::write(&payload, vec![b'a'; size])?;
    let answer = dir.path().join("answer");
    let mut curl = std::process::Command::new("curl");
    curl.args(["--silent", "--show-error", "--verbose", "--max-time", "60"])
        .args(["--expect100-timeout", "10", "--request", "POST"])
        .args(["--header", &format!("Content-Type: {content_type}")])
        .arg("--data-binary")
        .arg(format!("@{}", payload.display()))
        .arg("--output")
        .arg(&answer)
        .args(["--write-out", "%{http_code}"]);
    match mode {
        UploadMode::ExpectContinue => curl.args(["--header", "Expect: 100-continue"]),
        UploadMode::Immediate => curl.args(["--header", "Expect:"]),
        UploadMode::Chunked => curl.args(["--header", "Expect:", "--header", "Transfer-Encoding: chunked"]),
    };
    if let Some(ca) = ca {
        curl.arg("--cacert").arg(ca);
    }
    let output = curl.arg(url).output().context("running curl")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    Ok(Upload {
        status: String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
        body: std::fs::read_to_string(&answer).unwrap_or_default(),
        continued: stderr.lines().any(|l| l.starts_with("< HTTP/1.1 100")),
        report: format!(
            "curl exit {:?}: {}",
            output.status.code(),
            stderr
                .lines()
                .filter(|l| !l.starts_with("> ") && !l.starts_with("* "))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    })
}

/// Uploads 3 MB of `content_type` to `url` in each [`UploadMode`] and
/// asserts what every client must see of an oversized body: a 413 it reads
/// (curl got an answer), never `100 Continue`. Each mode's answer body, for
/// the caller's checks of the page or envelope.
pub fn assert_oversized_uploads_refused(
    url: &str,
    content_type: &str,
    ca: Option<&std::path::Path>,
) -> Vec<(UploadMode, String)> {
    [
        UploadMode::ExpectContinue,
        UploadMode::Immediate,
        UploadMode::Chunked,
    ]
    .into_iter()
    .map(|mode| {
        let upload = curl_upload(url, 3 << 20, content_type, mode, ca)
            .unwrap_or_else(|err| panic!("curl did not run: {err:#}"));
        assert_eq!(upload.status, 413, "{mode:?}: {}", upload.report);
        assert!(
            !upload.continued,
            "{mode:?}: 100 Continue was sent: {}",
            upload.report
        );
        (mode, upload.body)
    })
    .collect()
}
