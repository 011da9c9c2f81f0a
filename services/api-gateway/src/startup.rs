//! Builds the gateway: listeners first (port 0 works in tests), the JWT keys,
//! the mutual-TLS client pool, then [`Application::run_until_stopped`].

use std::sync::Arc;

use axum::Router;
use cloudshop_platform::admin;
use cloudshop_platform::http::api_stack;
use cloudshop_platform::jwt::JwtVerifier;
use cloudshop_platform::metrics::Metrics;
use cloudshop_platform::rate_limit::KeyedLimiter;
use cloudshop_platform::server::ServiceHost;
use cloudshop_platform::tls::ClientAuth;
use tokio_util::sync::CancellationToken;

use crate::edge::EdgeState;
use crate::proxy::Upstreams;
use crate::router::{Gateway, router};
use crate::settings::Settings;

#[derive(Debug)]
pub struct Application {
    host: ServiceHost,
    api: Router,
    admin: Router,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Browsers and API clients connect without a certificate; the
        // storefront presents one, which is then verified.
        let host = ServiceHost::bind(&settings.http, &settings.tls, ClientAuth::Optional).await?;
        let verifier = Arc::new(JwtVerifier::from_settings(&settings.jwt)?);
        let upstreams = Upstreams::new(host.tls(), &settings.backends, &settings.upstream)?;
        let trusted_proxies = Arc::new(settings.trusted_proxies.clone());
        let limiter = KeyedLimiter::new(settings.rate_limit);
        limiter.spawn_cleanup(host.shutdown_token());
        let gateway = Gateway {
            upstreams,
            verifier,
            body_limit: settings.http.body_limit_bytes,
            trusted_proxies: Arc::clone(&trusted_proxies),
        };
        let edge = EdgeState {
            limiter,
            trusted_proxies,
        };
        let metrics = Arc::new(Metrics::new()?);
        let api = api_stack(router(gateway, edge), metrics.http(), &settings.http);
        let admin = admin::router(metrics, admin::always_ready());
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
