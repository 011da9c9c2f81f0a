//! Faults under load, each bounded in connections and time: a backend killed
//! and started again, slow-header and slow-body connections (slowloris)
//! against the gateway and the storefront, and a login flood.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudshop_api::auth::{Credentials, Password, Registration};
use cloudshop_api::client::Caller;
use cloudshop_api::paths;
use cloudshop_backend_tests::{Backend, Options, spawn_backend_with};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Generous bound for "not starved": an idle catalogue read takes a few ms.
const NOT_STARVED: Duration = Duration::from_secs(2);

async fn backend() -> Backend {
    spawn_backend_with(Options {
        gateway_rate_per_minute: 1_000_000,
        capture_logs: false,
        // The flood is of full argon2id verifications, not throttled refusals.
        login_throttle: false,
        ..Options::default()
    })
    .await
}

/// Catalogue reads through the gateway for `duration`, one after another;
/// each one's status and time.
async fn browse(backend: &Backend, duration: Duration) -> Vec<(u16, Duration)> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < duration {
        let sent = Instant::now();
        let status = backend
            .client
            .get(backend.url(paths::PRODUCTS))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        seen.push((status, sent.elapsed()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backend_gives_quick_503s_and_the_gateway_recovers_when_it_returns() {
    let mut backend = backend().await;
    let before = browse(&backend, Duration::from_millis(500)).await;
    assert!(before.iter().all(|(status, _)| *status == 200), "{before:?}");

    backend.stop_products();
    // Give the drain a moment, then the gateway finds nothing to talk to.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let gateway_timeout = cloudshop_api_gateway::settings::Settings::default()
        .upstream
        .timeout_ms;
    let down = browse(&backend, Duration::from_secs(2)).await;
    for (status, took) in &down {
        assert_eq!(*status, 503, "a request while products is down");
        assert!(
            *took < Duration::from_millis(gateway_timeout),
            "503 after {took:?}, beyond the gateway's timeout"
        );
    }
    // Other backends are not affected.
    let nobody = Credentials {
        email: "nobody@example.com".into(),
        password: Password::new("wrong-password-123"),
        device_token: None,
    };
    let auth = backend.api.login(Caller::anonymous(), &nobody).await;
    assert_eq!(auth.expect_err("an unknown account").status(), 401);

    let restarted = Instant::now();
    backend.start_products().await;
    loop {
        let status = backend
            .client
            .get(backend.url(paths::PRODUCTS))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == 200 {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "the gateway did not recover within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TLS client for the gateway's public port (no client certificate).
fn tls_connector(backend: &Backend) -> tokio_rustls::TlsConnector {
    let roots = cloudshop_platform::tls::read_roots("ca", &backend.env.files().ca_cert()).expect("roots");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// How a slow client misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slow {
    /// Connects and sends nothing (never starts the TLS handshake or the request).
    Idle,
    /// Sends the request line, then one header byte per second.
    Headers,
    /// Sends complete headers announcing a body, then one body byte per second.
    Body,
}

/// Trickles bytes (or, idle, none) until the server closes the connection or answers;
/// returns how long the server let it live (None: still open at `give_up`).
async fn trickle<S>(mut stream: S, slow: Slow, give_up: Duration) -> Option<Duration>
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let head = match slow {
        Slow::Idle => String::new(),
        Slow::Headers => format!("GET {} HTTP/1.1\r\nHost: localhost\r\n", paths::PRODUCTS),
        Slow::Body => format!(
            "POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
            paths::LOGIN
        ),
    };
    if stream.write_all(head.as_bytes()).await.is_err() {
        return Some(started.elapsed());
    }
    let mut buffer = [0u8; 512];
    while started.elapsed() < give_up {
        let byte: &[u8] = match slow {
            Slow::Idle => b"",
            Slow::Headers => b"X",
            Slow::Body => b"{",
        };
        if stream.write_all(byte).await.is_err() || stream.flush().await.is_err() {
            return Some(started.elapsed());
        }
        // Anything from the server (an error answer) or EOF ends it.
        if tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer))
            .await
            .is_ok()
        {
            return Some(started.elapsed());
        }
    }
    None
}

/// `count` slow clients of each kind against `addr`; how long each lived.
async fn slowloris(
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
    count: usize,
) -> JoinSet<(Slow, Option<Duration>)> {
    const GIVE_UP: Duration = Duration::from_secs(30);
    let mut clients = JoinSet::new();
    for kind in [Slow::Idle, Slow::Headers, Slow::Body] {
        for _ in 0..count {
            let tls = tls.clone();
            clients.spawn(async move {
                let Ok(tcp) = TcpStream::connect(addr).await else {
                    return (kind, Some(Duration::ZERO));
                };
                let lived = match (kind, tls) {
                    (Slow::Idle, Some(_)) => trickle(tcp, kind, GIVE_UP).await,
                    (_, Some(connector)) => {
                        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                        match connector.connect(name, tcp).await {
                            Ok(stream) => trickle(stream, kind, GIVE_UP).await,
                            Err(_) => Some(Duration::ZERO),
                        }
                    }
                    (_, None) => trickle(tcp, kind, GIVE_UP).await,
                };
                (kind, lived)
            });
        }
    }
    clients
}

fn address(url: &str) -> SocketAddr {
    let port = url.rsplit(':').next().expect("port").trim_end_matches('/');
    format!("127.0.0.1:{port}").parse().expect("address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_exhaust_the_gateway_or_the_storefront() {
    const PER_KIND: usize = 100;
    let backend = backend().await;
    let (storefront_url, storefront_stop) = backend.start_storefront().await;
    let limits = cloudshop_platform::settings::HttpSettings::default();
    // The longest a slow client may hold a connection: the handshake or the
    // header timeout, or the request timeout for a slow body; plus slack.
    let longest = Duration::from_millis(
        limits
            .handshake_timeout_ms
            .max(limits.header_read_timeout_ms)
            .max(limits.request_timeout_ms),
    ) + Duration::from_secs(5);

    let mut gateway_slow =
        slowloris(address(&backend.gateway), Some(tls_connector(&backend)), PER_KIND).await;
    let mut storefront_slow = slowloris(address(&storefront_url), None, PER_KIND).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Shoppers are served meanwhile.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let sent = Instant::now();
        let api = backend
            .client
            .get(backend.url(paths::PRODUCTS))
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(api.status(), 200);
        let page = reqwest::get(&storefront_url).await.expect("storefront answers");
        assert_eq!(page.status(), 200);
        assert!(sent.elapsed() < NOT_STARVED, "served after {:?}", sent.elapsed());
    }

    // And the server ends every slow connection itself, in bounded time.
    for (name, clients) in [
        ("gateway", &mut gateway_slow),
        ("storefront", &mut storefront_slow),
    ] {
        while let Some(result) = clients.join_next().await {
            let (kind, lived) = result.expect("slow client");
            let lived = lived.unwrap_or_else(|| panic!("{name} kept a {kind:?} connection open"));
            assert!(lived < longest, "{name} kept a {kind:?} connection {lived:?}");
        }
    }
    storefront_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_does_not_starve_other_routes() {
    const FLOODERS: usize = 24;
    let backend = Arc::new(backend().await);
    // Real accounts: each login is a full argon2id verification.
    let mut accounts = Vec::new();
    for n in 0..4 {
        let registration = Registration {
            email: format!("flood-{n}-{}@example.com", uuid::Uuid::new_v4().simple()),
            password: Password::new(cloudshop_backend_tests::PASSWORD),
        };
        let registered = backend
            .api
            .request(Caller::anonymous(), Method::POST, paths::REGISTER)
            .json(&registration)
            .send()
            .await
            .expect("register");
        assert_eq!(registered.status(), 201);
        accounts.push(Credentials {
            email: registration.email,
            password: registration.password,
            device_token: None,
        });
    }

    let flood_for = Duration::from_secs(5);
    let started = Instant::now();
    let mut flood = JoinSet::new();
    for n in 0..FLOODERS {
        let backend = Arc::clone(&backend);
        let credentials = accounts[n % accounts.len()].clone();
        flood.spawn(async move {
            let mut answered = std::collections::BTreeMap::<u16, usize>::new();
            while started.elapsed() < flood_for {
                // The raw status: no answer (0) stays apart from a 503.
                let status = backend
                    .api
                    .request(Caller::anonymous(), Method::POST, paths::LOGIN)
                    .json(&credentials)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                *answered.entry(status).or_default() += 1;
            }
            answered
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = browse(&backend, flood_for - Duration::from_secs(1)).await;
    let mut logins = std::collections::BTreeMap::<u16, usize>::new();
    while let Some(result) = flood.join_next().await {
        for (status, count) in result.expect("flooder") {
            *logins.entry(status).or_default() += count;
        }
    }

    // The flood was real: every login a full argon2id verification, for
    // seconds on end (at ~30 ms each, two cores manage ~60 per second).
    assert!(logins.get(&200).copied().unwrap_or(0) > 50, "logins: {logins:?}");
    assert!(
        logins.keys().all(|status| matches!(status, 200 | 429 | 503)),
        "logins answered {logins:?}"
    );
    assert!(!during.is_empty());
    for (status, took) in &during {
        assert_eq!(*status, 200, "catalogue during the flood");
        assert!(
            *took < NOT_STARVED,
            "catalogue read took {took:?} during the flood"
        );
    }
}
