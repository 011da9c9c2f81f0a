//! Builds the gateway: listeners first (port 0 works in tests), the JWT keys,
//! the mutual-TLS client pool, then [`Service::run_until_stopped`].

use std::sync::Arc;

use cloudshop_platform::admin;
use cloudshop_platform::http::api_stack;
use cloudshop_platform::jwt::JwtVerifier;
use cloudshop_platform::metrics::Metrics;
use cloudshop_platform::rate_limit::KeyedLimiter;
use cloudshop_platform::server::{Service, ServiceHost};
use cloudshop_platform::tls::ClientAuth;

use crate::edge::{EdgeState, with_security_headers};
use crate::proxy::Upstreams;
use crate::router::{Gateway, router};
use crate::settings::Settings;

/// Builds the service from its settings; [`Service::run_until_stopped`] runs it.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
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
    // Outermost, so every reply carries them, whichever layer made it.
    let api = with_security_headers(api_stack(router(gateway, edge), metrics.http(), &settings.http));
    let admin = admin::router(metrics, admin::always_ready());
    Ok(Service::new(host, api, admin))
}
