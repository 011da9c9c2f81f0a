//! Builds the storefront: listeners first (port 0 works in tests), the
//! cookie key, the gateway client, then [`Service::run_until_stopped`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum_extra::extract::cookie::Key;
use cloudshop_platform::admin;
use cloudshop_platform::http::page_stack;
use cloudshop_platform::jwt::JwtVerifier;
use cloudshop_platform::metrics::Metrics;
use cloudshop_platform::server::{Service, ServiceHost};
use cloudshop_platform::tls::ClientAuth;
use secrecy::ExposeSecret;

use crate::controllers::AppState;
use crate::router;
use crate::session::CookiePolicy;
use crate::settings::Settings;

/// Builds the service from its settings; [`Service::run_until_stopped`] runs it.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let host = ServiceHost::bind(&settings.http, &settings.tls, ClientAuth::Optional)
        .await?
        .serve_plain(!settings.serve_tls);
    let key = settings.cookie_key_file.read("cookie_key_file")?;
    anyhow::ensure!(
        key.expose_secret().len() >= 64,
        "setting `cookie_key_file`: the cookie key needs at least 64 bytes"
    );
    let key = Key::try_from(key.expose_secret().as_bytes()).context("setting `cookie_key_file`")?;
    let https = settings.serve_tls || settings.public_https;
    let state = AppState {
        gateway: crate::gateway::connect(
            host.tls(),
            &settings.gateway_url,
            Duration::from_millis(settings.gateway_timeout_ms),
        )?,
        verifier: Arc::new(JwtVerifier::from_settings(&settings.jwt)?),
        key,
        policy: CookiePolicy { secure: https },
    };
    let metrics = Arc::new(Metrics::new()?);
    // Outermost, so every reply carries them, whichever layer made it.
    let api = router::with_security_headers(
        page_stack(router::router(state), metrics.http(), &settings.http),
        https,
    );
    let admin = admin::router(metrics, admin::always_ready());
    Ok(Service::new(host, api, admin))
}
