//! Builds the orders service: listeners first (port 0 works in tests), the
//! database migrated, the products client, and the reconciler, which runs
//! once at start and then periodically.

use std::sync::Arc;
use std::time::Duration;

use cloudshop_platform::admin;
use cloudshop_platform::db;
use cloudshop_platform::http::api_stack;
use cloudshop_platform::jwt::JwtVerifier;
use cloudshop_platform::metrics::Metrics;
use cloudshop_platform::server::{Service, ServiceHost};
use cloudshop_platform::tls::ClientAuth;

use crate::controllers::{AppState, OrdersMetrics};
use crate::router;
use crate::settings::Settings;
use crate::stock::StockClient;
use crate::workflow;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Builds the service from its settings; [`Service::run_until_stopped`] runs it.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let host = ServiceHost::bind(&settings.http, &settings.tls, ClientAuth::Required).await?;
    let verifier = Arc::new(JwtVerifier::from_settings(&settings.jwt)?);
    let pool = db::pool(&settings.database, cloudshop_platform::ServiceId::Orders)?;
    db::migrate(&pool, &MIGRATOR, &settings.database).await?;
    let stock = StockClient::new(
        host.tls(),
        &settings.products_url,
        Duration::from_millis(settings.products_timeout_ms),
    )?;
    workflow::spawn_reconciler(
        pool.clone(),
        stock.clone(),
        settings.reconciler.clone(),
        host.shutdown_token(),
    );
    let metrics = Arc::new(Metrics::new()?);
    let state = AppState {
        pool: pool.clone(),
        stock,
        verifier,
        metrics: OrdersMetrics::register(&metrics)?,
    };
    let api = api_stack(router::router(state), metrics.http(), &settings.http);
    let admin = admin::router(metrics, db::readiness(pool));
    Ok(Service::new(host, api, admin))
}
