//! The one in-process start of the shop, used by `cloudshop up` and by the
//! backend and browser tests: each service built from [`Wiring`], in the
//! order of the topology, each told the URLs of the services it calls once
//! those listen (they may be on port 0).
//!
//! What differs between the callers (ports, settings they override, how a
//! built service runs, what they keep of it) is a [`Start`] of their own.

use anyhow::Context;
use cloudshop_platform::server::Service;
use cloudshop_platform::settings::HttpSettings;
use cloudshop_topology::ServiceId;

use crate::{Backends, Wiring, url};

/// A caller's part of a start. Each settings hook gets the settings the
/// wiring built and returns what the service starts with (default: as
/// built); an error stops the start and names the service.
pub trait Start {
    /// The listeners of `service`.
    fn http(&self, service: ServiceId) -> HttpSettings;

    /// Runs a built service in the background.
    fn launch(&mut self, service: ServiceId, built: Service);

    /// What a failed start of `service` on `listen` says it was doing.
    fn starting(&self, service: ServiceId, listen: std::net::SocketAddr) -> String {
        format!("starting {service} on {listen}")
    }

    fn auth(
        &mut self,
        settings: cloudshop_auth::settings::Settings,
    ) -> anyhow::Result<cloudshop_auth::settings::Settings> {
        Ok(settings)
    }
    fn products(
        &mut self,
        settings: cloudshop_products::settings::Settings,
    ) -> anyhow::Result<cloudshop_products::settings::Settings> {
        Ok(settings)
    }
    fn orders(
        &mut self,
        settings: cloudshop_orders::settings::Settings,
    ) -> anyhow::Result<cloudshop_orders::settings::Settings> {
        Ok(settings)
    }
    fn gateway(
        &mut self,
        settings: cloudshop_api_gateway::settings::Settings,
    ) -> anyhow::Result<cloudshop_api_gateway::settings::Settings> {
        Ok(settings)
    }
    fn storefront(
        &mut self,
        settings: cloudshop_storefront::settings::Settings,
    ) -> anyhow::Result<cloudshop_storefront::settings::Settings> {
        Ok(settings)
    }
}

/// Where the started backend answers: each API's `https://127.0.0.1:<port>`.
#[derive(Debug, Clone)]
pub struct BackendUrls {
    pub auth: String,
    pub products: String,
    pub orders: String,
    pub gateway: String,
}

/// Starts auth, products, orders and the gateway, in that order.
pub async fn backend(wiring: &Wiring<'_>, start: &mut impl Start) -> anyhow::Result<BackendUrls> {
    let settings = start.auth(wiring.auth(start.http(ServiceId::Auth)))?;
    let listen = settings.http.listen;
    let built = cloudshop_auth::startup::build(settings).await;
    let auth = url(launch(start, ServiceId::Auth, listen, built)?);

    let settings = start.products(wiring.products(start.http(ServiceId::Products)))?;
    let listen = settings.http.listen;
    let built = cloudshop_products::startup::build(settings).await;
    let products = url(launch(start, ServiceId::Products, listen, built)?);

    let settings = start.orders(wiring.orders(start.http(ServiceId::Orders), &products))?;
    let listen = settings.http.listen;
    let built = cloudshop_orders::startup::build(settings).await;
    let orders = url(launch(start, ServiceId::Orders, listen, built)?);

    let backends = Backends {
        auth: auth.clone(),
        products: products.clone(),
        orders: orders.clone(),
    };
    let settings = start.gateway(wiring.gateway(start.http(ServiceId::ApiGateway), backends))?;
    let listen = settings.http.listen;
    let built = cloudshop_api_gateway::startup::build(settings).await;
    let gateway = url(launch(start, ServiceId::ApiGateway, listen, built)?);
    Ok(BackendUrls {
        auth,
        products,
        orders,
        gateway,
    })
}

/// Starts a storefront in front of the gateway at `gateway_url`; its URL
/// (plain HTTP, `http://127.0.0.1:<port>`).
pub async fn storefront(
    wiring: &Wiring<'_>,
    start: &mut impl Start,
    gateway_url: &str,
) -> anyhow::Result<String> {
    let settings = start.storefront(wiring.storefront(start.http(ServiceId::Storefront), gateway_url))?;
    let listen = settings.http.listen;
    let built = cloudshop_storefront::startup::build(settings).await;
    let port = launch(start, ServiceId::Storefront, listen, built)?;
    Ok(format!("http://127.0.0.1:{port}"))
}

/// Hands a built service to `start`; the port of its API.
fn launch(
    start: &mut impl Start,
    id: ServiceId,
    listen: std::net::SocketAddr,
    built: anyhow::Result<Service>,
) -> anyhow::Result<u16> {
    let built = built.with_context(|| start.starting(id, listen))?;
    let port = built.port();
    start.launch(id, built);
    Ok(port)
}
