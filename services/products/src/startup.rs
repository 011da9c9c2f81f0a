//! Builds the products service: listeners first (port 0 works in tests), the
//! database migrated and seeded, the cache listening for changes.

use std::sync::Arc;

use cloudshop_platform::admin;
use cloudshop_platform::db;
use cloudshop_platform::http::api_stack;
use cloudshop_platform::jwt::JwtVerifier;
use cloudshop_platform::metrics::Metrics;
use cloudshop_platform::server::{Service, ServiceHost};
use cloudshop_platform::tls::ClientAuth;

use crate::cache::CatalogueCache;
use crate::controllers::{AppState, ProductsMetrics};
use crate::settings::Settings;
use crate::{router, seed};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Builds the service from its settings; [`Service::run_until_stopped`] runs it.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let host = ServiceHost::bind(&settings.http, &settings.tls, ClientAuth::Required).await?;
    let verifier = Arc::new(JwtVerifier::from_settings(&settings.jwt)?);
    let pool = db::pool(&settings.database, cloudshop_platform::ServiceId::Products)?;
    db::migrate(&pool, &MIGRATOR, &settings.database).await?;
    let seeded = settings.seed
        && db::at_startup(&settings.database, "seed the catalogue", || {
            seed::seed_if_empty(&pool)
        })
        .await?;
    if seeded {
        tracing::info!("seeded the catalogue");
    }
    let cache = CatalogueCache::new();
    if settings.cache {
        cache.spawn_listener(pool.clone(), host.shutdown_token());
    }
    let metrics = Arc::new(Metrics::new()?);
    let state = AppState {
        pool: pool.clone(),
        cache,
        verifier,
        metrics: ProductsMetrics::register(&metrics)?,
    };
    let api = api_stack(router::router(state), metrics.http(), &settings.http);
    let admin = admin::router(metrics, db::readiness(pool));
    Ok(Service::new(host, api, admin))
}
