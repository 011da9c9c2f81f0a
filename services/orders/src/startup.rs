//! Builds the orders service: listeners first (port 0 works in tests), the
//! database migrated, the products client, and the reconciler, which runs
//! once at start and then periodically.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cloudshop_platform::admin;
use cloudshop_platform::db;
use cloudshop_platform::http::api_stack;
use cloudshop_platform::jwt::JwtVerifier;
use cloudshop_platform::metrics::Metrics;
use cloudshop_platform::server::ServiceHost;
use cloudshop_platform::tls::ClientAuth;
use tokio_util::sync::CancellationToken;

use crate::controllers::{AppState, OrdersMetrics};
use crate::router;
use crate::settings::Settings;
use crate::stock::StockClient;
use crate::workflow;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug)]
pub struct Application {
    host: ServiceHost,
    api: Router,
    admin: Router,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let host = ServiceHost::bind(&settings.http, &settings.tls, ClientAuth::Required).await?;
        let verifier = Arc::new(JwtVerifier::from_settings(&settings.jwt)?);
        let pool = db::pool(&settings.database, "orders")?;
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
        Ok(Self { host, api, admin })
    }

    pub fn port(&self) -> u16 {
        self.host.api_port()
    }
    pub fn admin_port(&self) -> u16 {
        self.host.admin_port()
    }
    pub fn shutdown_token(&self) -> CancellationToken {
        self.host.shutdown_token()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.host.run(self.api, self.admin).await
    }
}
