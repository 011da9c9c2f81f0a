//! Builds the auth service: listeners bound first (port 0 works in tests), the
//! database migrated, the admin account ensured, then [`Service::run_until_stopped`].

use std::sync::Arc;

use anyhow::Context;
use cloudshop_platform::admin;
use cloudshop_platform::db;
use cloudshop_platform::http::api_stack;
use cloudshop_platform::jwt::Role;
use cloudshop_platform::metrics::Metrics;
use cloudshop_platform::server::{Service, ServiceHost};
use cloudshop_platform::tls::ClientAuth;
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::controllers::{AppState, AuthMetrics};
use crate::domain::Email;
use crate::passwords::PasswordHasher;
use crate::settings::{AdminAccount, Settings};
use crate::throttle::LoginThrottle;
use crate::tokens::TokenIssuer;
use crate::{router, users};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Builds the service from its settings; [`Service::run_until_stopped`] runs it.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let host = ServiceHost::bind(&settings.http, &settings.tls, ClientAuth::Required).await?;
    let tokens = Arc::new(TokenIssuer::from_settings(&settings.tokens)?);
    let metrics = Arc::new(Metrics::new()?);
    let auth_metrics = AuthMetrics::register(&metrics)?;
    let hasher = PasswordHasher::new(&settings.passwords, auth_metrics.password_checks.clone())?;
    let pool = db::pool(&settings.database, cloudshop_platform::ServiceId::Auth)?;
    db::migrate(&pool, &MIGRATOR, &settings.database).await?;
    ensure_admin(&pool, &hasher, &settings.admin, &settings.database).await?;

    let state = AppState {
        pool: pool.clone(),
        hasher,
        verifier: Arc::new(tokens.verifier()),
        tokens,
        throttle: LoginThrottle::new(&settings.throttle, &host.shutdown_token()),
        device_token_lifetime: std::time::Duration::from_secs(
            u64::from(settings.throttle.device_token_days) * 86_400,
        ),
        metrics: auth_metrics,
        trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
    };
    let api = api_stack(router::router(state), metrics.http(), &settings.http);
    let admin = admin::router(metrics, db::readiness(pool));
    Ok(Service::new(host, api, admin))
}

/// Creates the admin account from its secret files when it does not exist.
async fn ensure_admin(
    pool: &PgPool,
    hasher: &Arc<PasswordHasher>,
    admin: &AdminAccount,
    database: &db::DatabaseSettings,
) -> anyhow::Result<()> {
    let (Some(email_file), Some(password_file)) = (&admin.email_file, &admin.password_file) else {
        return Ok(());
    };
    let email = email_file.read("admin.email_file")?;
    let email =
        Email::parse(email.expose_secret()).context("setting `admin.email_file`: not a valid email")?;
    let existing = db::at_startup(database, "find the admin account", || {
        users::find_by_email(pool, email.as_str())
    })
    .await?;
    if existing.is_some() {
        return Ok(());
    }
    let password = password_file.read("admin.password_file")?;
    anyhow::ensure!(
        password.expose_secret().chars().count() >= 12,
        "setting `admin.password_file`: the admin password must have at least 12 characters"
    );
    let hash = hasher.hash(password).await?;
    let created = db::at_startup(database, "create the admin account", || {
        users::create(pool, &email, &hash, Role::Admin)
    })
    .await;
    match created {
        Ok(user) => tracing::info!(user_id = %user.id, "admin account created"),
        // Another replica created it first.
        Err(users::CreateError::Taken) => {}
        Err(users::CreateError::Db(err)) => return Err(err.into()),
    }
    Ok(())
}
