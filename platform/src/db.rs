//! PostgreSQL over TLS with the server certificate verified (`verify-full`;
//! sqlx's default `prefer` silently falls back to plaintext and is never used).
//!
//! Each service logs in with its own role and works in the schema of the same
//! name (its `search_path`), where it runs its own migrations at start. A role
//! has no rights on another service's schema.

use std::path::PathBuf;
use std::time::Duration;

use cloudshop_topology::ServiceId;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Executor, PgPool};

use crate::secret::{SecretError, SecretFile};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub host: String,
    pub port: u16,
    pub name: String,
    /// Login role; also the schema the service owns.
    pub user: String,
    pub password_file: SecretFile,
    /// CA that signed the PostgreSQL server certificate.
    pub ca_file: PathBuf,
    pub max_connections: u32,
    /// Longest wait for a connection. While PostgreSQL is away every query
    /// waits this long and then answers 503, and an order touches the
    /// database up to three times (orders, products, orders), so it is kept
    /// well under a third of the gateway's backend timeout (5 s).
    pub acquire_timeout_ms: u64,
    /// How long start-up waits for the database before giving up.
    pub startup_wait_ms: u64,
}

impl DatabaseSettings {
    /// The settings of `service`, whose role and schema share its name.
    pub fn for_service(service: ServiceId) -> Self {
        Self::for_user(service.name())
    }

    fn for_user(user: &str) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 5432,
            name: "cloudshop".into(),
            user: user.into(),
            password_file: SecretFile::new(format!("/etc/cloudshop/secrets/db-password-{user}")),
            ca_file: PathBuf::from("/etc/cloudshop/tls/ca.crt"),
            max_connections: 16,
            acquire_timeout_ms: 1_000,
            startup_wait_ms: 60_000,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self::for_user("cloudshop")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("database setting `database.ca_file`: {0} is not a readable file")]
    MissingCa(String),
    #[error("database not reachable within {waited:?}: {source}")]
    Unreachable { waited: Duration, source: sqlx::Error },
    /// The server's certificate is not signed by the CA we trust: waiting
    /// would not help, so start-up stops at once.
    #[error(
        "database setting `database.ca_file`: the PostgreSQL server's certificate is not signed by the CA in {ca_file}: {source}"
    )]
    UntrustedServer { ca_file: String, source: sqlx::Error },
    /// The server's certificate does not name the host we connect to.
    #[error(
        "database setting `database.host`: the PostgreSQL server's certificate is not valid for {host}: {source}"
    )]
    WrongServerName { host: String, source: sqlx::Error },
    /// Any other failure of the TLS handshake (an expired certificate, a
    /// server without TLS, ...).
    #[error(
        "database settings `database.host` ({host}) and `database.ca_file` ({ca_file}): the TLS handshake with PostgreSQL failed: {source}"
    )]
    Handshake {
        host: String,
        ca_file: String,
        source: sqlx::Error,
    },
    #[error("migrations failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// A lazily connecting pool: the service starts even when the database is down
/// (readiness reports it) and reconnects when it returns.
pub fn pool(settings: &DatabaseSettings, application: ServiceId) -> Result<PgPool, DbError> {
    if !settings.ca_file.is_file() {
        return Err(DbError::MissingCa(settings.ca_file.display().to_string()));
    }
    let password = settings.password_file.read("database.password_file")?;
    let options = PgConnectOptions::new()
        .host(&settings.host)
        .port(settings.port)
        .database(&settings.name)
        .username(&settings.user)
        .password(password.expose_secret())
        .ssl_mode(PgSslMode::VerifyFull)
        .ssl_root_cert(&settings.ca_file)
        .application_name(application.name())
        .options([("search_path", settings.user.as_str())]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(options))
}

/// Runs `migrator` once the database answers, waiting up to `startup_wait_ms`.
/// Migrations cut short because the database went away or its name did not
/// resolve (a compose network's DNS in its first second does that) are run
/// again within the same wait: each migration is one PostgreSQL
/// transaction and the applied ones are skipped, so nothing runs twice.
pub async fn migrate(pool: &PgPool, migrator: &Migrator, settings: &DatabaseSettings) -> Result<(), DbError> {
    let waited = Duration::from_millis(settings.startup_wait_ms);
    let deadline = tokio::time::Instant::now() + waited;
    loop {
        match pool.acquire().await {
            Ok(connection) => {
                drop(connection);
                match migrator.run(pool).await {
                    Ok(()) => return Ok(()),
                    Err(err) if interrupted(&err) && tokio::time::Instant::now() < deadline => {
                        tracing::info!(error = %err, "migrations interrupted, waiting for the database");
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            Err(source) if is_handshake_failure(&source) => {
                return Err(handshake_error(settings, source));
            }
            Err(source) if tokio::time::Instant::now() >= deadline => {
                return Err(DbError::Unreachable { waited, source });
            }
            Err(err) => {
                tracing::info!(error = %err, "waiting for the database");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs a start-up step that needs the database after [`migrate`] (seeding
/// the catalogue, creating the admin account) again while the database is
/// away, until `startup_wait_ms` has passed: a compose network's DNS can fail
/// a later connection after the migrations' one resolved. Only a lost
/// database is retried (never a TLS setting or a query's error). The step must be safe to
/// run twice: one transaction, or an insert whose conflict it handles.
pub async fn at_startup<T, E, F, Fut>(settings: &DatabaseSettings, what: &str, mut step: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: DatabaseCause + std::fmt::Display,
{
    let deadline = tokio::time::Instant::now() + Duration::from_millis(settings.startup_wait_ms);
    loop {
        match step().await {
            Err(err)
                if err.database_cause().is_some_and(transient) && tokio::time::Instant::now() < deadline =>
            {
                tracing::info!(error = %err, step = what, "waiting for the database");
            }
            result => return result,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The sqlx error inside a step's own error type, if the step failed in the
/// database.
pub trait DatabaseCause {
    fn database_cause(&self) -> Option<&sqlx::Error>;
}

impl DatabaseCause for sqlx::Error {
    fn database_cause(&self) -> Option<&sqlx::Error> {
        Some(self)
    }
}

/// A lost database (worth waiting for), not a TLS setting that waiting
/// does not cure.
fn transient(err: &sqlx::Error) -> bool {
    crate::error::database_unavailable(err) && !is_handshake_failure(err)
}

/// Whether migrations stopped because the database was away (worth running
/// again), not because of the migrations or a TLS setting.
fn interrupted(err: &sqlx::migrate::MigrateError) -> bool {
    use sqlx::migrate::MigrateError;
    match err {
        MigrateError::Execute(source) | MigrateError::ExecuteMigration(source, _) => transient(source),
        _ => false,
    }
}

/// Names the setting a failed TLS handshake points at (verify-full checks
/// both the CA and the host name), from the rustls error inside sqlx's.
fn handshake_error(settings: &DatabaseSettings, source: sqlx::Error) -> DbError {
    use rustls::CertificateError;
    let certificate = rustls_error(&source).and_then(|err| match err {
        rustls::Error::InvalidCertificate(reason) => Some(reason.clone()),
        _ => None,
    });
    let ca_file = settings.ca_file.display().to_string();
    match certificate {
        Some(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            DbError::UntrustedServer { ca_file, source }
        }
        Some(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => {
            DbError::WrongServerName {
                host: settings.host.clone(),
                source,
            }
        }
        _ => DbError::Handshake {
            host: settings.host.clone(),
            ca_file,
            source,
        },
    }
}

/// A failed TLS handshake, which waiting does not cure: sqlx reports it as
/// `Error::Tls` or as an `Error::Io` wrapping the rustls error.
fn is_handshake_failure(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Tls(_)) || rustls_error(err).is_some()
}

/// The rustls error in `err` or in its chain of sources (sqlx wraps it in an
/// `io::Error`).
fn rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(found) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// The readiness probe: a round trip within one second.
pub async fn ping(pool: &PgPool) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(1), pool.execute("SELECT 1")).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("database: {err}")),
        Err(_) => Err("database: no answer within 1s".into()),
    }
}

/// The admin listener's readiness check for a service that needs its database.
pub fn readiness(pool: PgPool) -> crate::admin::ReadinessCheck {
    std::sync::Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { ping(&pool).await })
    })
}

#[cfg(test)]
mod tests {
    use cloudshop_host::files::ShopFiles;
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    #[test]
    fn migrations_cut_short_by_a_lost_database_are_run_again_and_nothing_else_is() {
        use sqlx::migrate::MigrateError;
        let lookup = || {
            sqlx::Error::Io(std::io::Error::other(
                "failed to lookup address information: Name does not resolve",
            ))
        };
        assert!(interrupted(&MigrateError::Execute(lookup())));
        assert!(interrupted(&MigrateError::ExecuteMigration(lookup(), 1)));
        assert!(interrupted(&MigrateError::Execute(sqlx::Error::PoolTimedOut)));
        let untrusted = sqlx::Error::Io(std::io::Error::other(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        )));
        assert!(
            !interrupted(&MigrateError::Execute(untrusted)),
            "a TLS setting stops at once"
        );
        assert!(!interrupted(&MigrateError::VersionMismatch(1)));
        assert!(!interrupted(&MigrateError::Execute(sqlx::Error::RowNotFound)));
    }

    #[tokio::test]
    async fn a_startup_step_is_run_again_while_the_database_is_away_and_only_then() {
        let settings = DatabaseSettings {
            startup_wait_ms: 10_000,
            ..DatabaseSettings::for_service(ServiceId::Auth)
        };
        let lookup = || {
            sqlx::Error::Io(std::io::Error::other(
                "failed to lookup address information: Name does not resolve",
            ))
        };
        let runs = std::cell::Cell::new(0);
        let answer = at_startup(&settings, "test", || {
            runs.set(runs.get() + 1);
            let run = runs.get();
            async move { if run < 3 { Err(lookup()) } else { Ok(run) } }
        })
        .await;
        assert_eq!(answer.ok(), Some(3), "two lost connections, then the answer");

        runs.set(0);
        let answer: Result<(), _> = at_startup(&settings, "test", || {
            runs.set(runs.get() + 1);
            async { Err(sqlx::Error::RowNotFound) }
        })
        .await;
        assert!(matches!(answer, Err(sqlx::Error::RowNotFound)));
        assert_eq!(runs.get(), 1, "a query's own error is not retried");

        let settings = DatabaseSettings {
            startup_wait_ms: 0,
            ..settings
        };
        runs.set(0);
        let answer: Result<(), _> = at_startup(&settings, "test", || {
            runs.set(runs.get() + 1);
            async { Err(sqlx::Error::PoolTimedOut) }
        })
        .await;
        assert!(matches!(answer, Err(sqlx::Error::PoolTimedOut)));
        assert_eq!(runs.get(), 1, "past the wait, the error is returned");
    }

    // sqlx's `PgConnectOptions` derives `Debug` and prints the password;
    // `Pool`'s `Debug` shows only the pool's own options. So a pool may sit in
    // a state type that derives `Debug`, and `pool.connect_options()` must
    // never be printed.
    #[tokio::test]
    async fn a_pool_shows_none_of_the_database_password() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let files = ShopFiles::new(dir.path());
        files.ensure()?;
        let settings = DatabaseSettings {
            password_file: SecretFile::new(files.db_password("orders").path()),
            ca_file: files.ca_cert(),
            ..DatabaseSettings::for_service(ServiceId::Orders)
        };
        let password = std::fs::read_to_string(settings.password_file.path())?;
        let password = password.trim_end().as_bytes();

        let pool = pool(&settings, ServiceId::Orders)?;
        assert_debug_hides(&pool, password);
        assert_debug_hides(&settings, password);
        Ok(())
    }
}
