//! Serving a router over TLS or plain HTTP/1.1.
//!
//! The accept loop bounds concurrent connections, gives each TLS handshake and
//! each request head a deadline (hyper's timer is installed, without which its
//! header-read timeout never fires), records the peer address and verified
//! identity in the request, and on shutdown stops accepting, then lets in-flight
//! requests finish for at most the drain period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::Service as _;

use crate::settings::HttpSettings;
use crate::tls::PeerIdentity;

/// Plain TCP or TLS with the given configuration.
#[derive(Clone)]
pub enum Transport {
    Plain,
    Tls(Arc<ServerConfig>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain => "Plain",
            Self::Tls(_) => "Tls",
        })
    }
}

/// Connection-level limits, taken from [`HttpSettings`].
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_drain: Duration,
}

impl From<&HttpSettings> for ServeLimits {
    fn from(settings: &HttpSettings) -> Self {
        Self {
            header_read_timeout: settings.header_read_timeout(),
            handshake_timeout: settings.handshake_timeout(),
            max_connections: settings.max_connections.max(1),
            shutdown_drain: settings.shutdown_drain(),
        }
    }
}

/// How many connections the kernel may hold for `accept` (it caps this at
/// `net.core.somaxconn`, 4096 by default). `TcpListener::bind` asks for 128,
/// as the standard library does: a burst of more new connections than that
/// while the accept loop is busy overflows the queue, and Linux then drops the
/// client's final ACK (`tcp_abort_on_overflow` 0) and retries the SYN-ACK with
/// backoff, so a client that sends nothing first sits in a connection the
/// server sees only seconds later. The fault test's 300 slow clients found
/// one idle client still connected after 30 s in two runs of the test command.
const BACKLOG: u32 = 4096;

/// Binds `addr`; port 0 picks a free port (tests read it back).
pub async fn bind(addr: SocketAddr, setting: &str) -> anyhow::Result<TcpListener> {
    let listen = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    listen().with_context(|| format!("cannot listen on {addr} (setting `{setting}`)"))
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains.
pub async fn serve(
    listener: TcpListener,
    transport: Transport,
    router: Router,
    limits: ServeLimits,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let acceptor = match &transport {
        Transport::Plain => None,
        Transport::Tls(config) => Some(TlsAcceptor::from(Arc::clone(config))),
    };
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        let connection = async move {
            let _permit = permit;
            match acceptor {
                None => serve_connection(TokioIo::new(stream), peer, None, router, limits, watcher).await,
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(err)) => {
                                tracing::info!(%peer, error = %err, "TLS handshake refused");
                                return;
                            }
                            Err(_) => {
                                tracing::info!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let identity = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(PeerIdentity::from_certificate);
                    serve_connection(TokioIo::new(tls), peer, identity, router, limits, watcher).await;
                }
            }
        };
        // Connections keep the caller's span (the local shop names each service).
        tokio::spawn(tracing::Instrument::in_current_span(connection));
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain period over; closing the remaining connections");
    }
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    router: Router,
    limits: ServeLimits,
    watcher: Watcher,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let handler = move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(identity) = &identity {
            request.extensions_mut().insert(identity.clone());
        }
        router.clone().call(request)
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, hyper::service::service_fn(handler));
    if let Err(err) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

/// Cancels `token` on SIGINT or SIGTERM. The handlers are in place when this
/// returns, so a service that calls it before it serves cannot miss a signal
/// sent once it answers ready. Registered in the spawned task instead (as
/// they were), they could be registered only after the service had answered
/// ready, at the moment a caller stops it; a SIGTERM arriving between tokio
/// installing the handler and subscribing to it is then neither delivered to
/// the task nor fatal. The bench's storefront, stopped right after it
/// answered ready, ran on once that way (no "shutdown signal received").
pub fn cancel_on_signal(token: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = token.cancelled() => return,
        }
        tracing::info!("shutdown signal received");
        token.cancel();
    });
    Ok(())
}

/// The two listeners of a service (API over TLS, admin in plain HTTP), its TLS
/// material and its shutdown token: everything `main` and the tests share.
#[derive(Debug)]
pub struct ServiceHost {
    api: TcpListener,
    admin: TcpListener,
    tls: Arc<crate::tls::TlsMaterial>,
    client_auth: crate::tls::ClientAuth,
    plain: bool,
    limits: ServeLimits,
    shutdown: CancellationToken,
}

impl ServiceHost {
    /// Loads the TLS material and binds both listeners (port 0 picks one).
    pub async fn bind(
        http: &HttpSettings,
        tls: &crate::settings::TlsSettings,
        client_auth: crate::tls::ClientAuth,
    ) -> anyhow::Result<Self> {
        let material = crate::tls::TlsMaterial::load(tls)?;
        Ok(Self {
            api: bind(http.listen, "http.listen").await?,
            admin: bind(http.admin_listen, "http.admin_listen").await?,
            tls: material,
            client_auth,
            plain: false,
            limits: ServeLimits::from(http),
            shutdown: CancellationToken::new(),
        })
    }

    /// Serves the API listener in plain HTTP (the storefront behind a proxy
    /// or on this machine); the TLS material still serves outgoing calls.
    pub fn serve_plain(mut self, plain: bool) -> Self {
        self.plain = plain;
        self
    }

    pub fn api_port(&self) -> u16 {
        self.api.local_addr().map(|a| a.port()).unwrap_or(0)
    }
    pub fn admin_port(&self) -> u16 {
        self.admin.local_addr().map(|a| a.port()).unwrap_or(0)
    }
    pub fn tls(&self) -> &Arc<crate::tls::TlsMaterial> {
        &self.tls
    }
    /// Cancelling this token stops the service as SIGTERM would.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves both routers until SIGINT, SIGTERM or the shutdown token, with
    /// certificate reloading in the background.
    pub async fn run(self, api: Router, admin: Router) -> anyhow::Result<()> {
        cancel_on_signal(self.shutdown.clone()).context("installing the SIGINT and SIGTERM handlers")?;
        self.tls.spawn_reloader(self.shutdown.clone());
        let transport = if self.plain {
            Transport::Plain
        } else {
            Transport::Tls(self.tls.server_config(self.client_auth)?)
        };
        tracing::info!(
            api = %self.api.local_addr()?,
            admin = %self.admin.local_addr()?,
            "listening"
        );
        tokio::join!(
            serve(self.api, transport, api, self.limits, self.shutdown.clone()),
            serve(
                self.admin,
                Transport::Plain,
                admin,
                self.limits,
                self.shutdown.clone()
            ),
        );
        tracing::info!("stopped");
        Ok(())
    }
}

/// A built service, ready to run: its listeners and its two routers. Each
/// service's `startup::build` returns one.
#[derive(Debug)]
pub struct Service {
    host: ServiceHost,
    api: Router,
    admin: Router,
}

impl Service {
    pub fn new(host: ServiceHost, api: Router, admin: Router) -> Self {
        Self { host, api, admin }
    }

    /// The API port (the one bound, when the settings asked for port 0).
    pub fn port(&self) -> u16 {
        self.host.api_port()
    }
    pub fn admin_port(&self) -> u16 {
        self.host.admin_port()
    }
    /// Cancelling this token stops the service as SIGTERM would.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.host.shutdown_token()
    }

    /// Serves until SIGINT, SIGTERM or the shutdown token.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.host.run(self.api, self.admin).await
    }
}
