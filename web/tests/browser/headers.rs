//! The security headers on every reply of the storefront, whichever layer
//! made it: a page, the fallback 404, the 405 of a wrong method, the 413 of a
//! body too large, an outage page, the stack's own timeout 503, `/health`.
//! Plain HTTP requests, no browser needed.

use cloudshop_backend_tests::{run, wiring};
use cloudshop_platform::settings::HttpSettings;
use cloudshop_storefront::router::CONTENT_SECURITY_POLICY;
use tokio_util::sync::DropGuard;

use crate::browser::spawn_shop;

const HSTS: &str = "max-age=63072000; includeSubDomains";

async fn assert_reply(request: reqwest::RequestBuilder, status: u16, https: bool, what: &str) {
    let response = request.send().await.expect(what);
    assert_eq!(response.status().as_u16(), status, "{what}");
    let headers = response.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(header(name), Some(value), "{what}: {name}");
    }
    let hsts = https.then_some(HSTS);
    assert_eq!(header("strict-transport-security"), hsts, "{what}: HSTS");
}

/// A gateway that accepts connections and never answers, as a hung process
/// would: its URL. The connections stay open until the test's runtime ends.
async fn silent_gateway() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    url
}

/// A storefront, reached over HTTPS as far as it knows (behind a proxy),
/// in front of the gateway at `gateway_url`; its URL, and a guard that stops
/// it.
async fn storefront_before(
    shop: &crate::browser::Shop,
    gateway_url: &str,
    http: HttpSettings,
) -> (String, DropGuard) {
    let mut settings = wiring(shop.backend.env, &shop.backend.database).storefront(http, gateway_url);
    settings.public_https = true;
    let service = cloudshop_storefront::startup::build(settings)
        .await
        .expect("storefront starts");
    let port = service.port();
    let (_, shutdown) = run(service);
    (format!("http://127.0.0.1:{port}"), shutdown.drop_guard())
}

#[tokio::test]
async fn every_reply_carries_the_security_headers_whichever_layer_made_it() {
    let shop = spawn_shop().await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", shop.url);
    let oversized = format!("email={}&password=x&csrf=x", "a".repeat(100_000));
    let cases = [
        ("health", client.get(url("/health")), 200),
        ("the catalogue", client.get(url("/")), 200),
        ("the stylesheet", client.get(url("/static/style.css")), 200),
        ("the fallback 404", client.get(url("/nothing-here")), 404),
        ("a handler's 404", client.get(url("/products/999999999")), 404),
        ("405 for a wrong method", client.delete(url("/health")), 405),
        (
            "413 for a body too large",
            client
                .post(url("/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(oversized),
            413,
        ),
        (
            "403 for a form without its token",
            client
                .post(url("/login"))
                .form(&[("email", "a@example.com"), ("password", "x")]),
            403,
        ),
    ];
    for (what, request, status) in cases {
        assert_reply(request, status, false, what).await;
    }

    // Over HTTPS (as the storefront knows it), HSTS joins them.
    let (down, _down) = storefront_before(&shop, "https://127.0.0.1:1", HttpSettings::default()).await;
    let request = client.get(format!("{down}/"));
    assert_reply(request, 503, true, "the outage page").await;
    let request = client.delete(format!("{down}/health"));
    assert_reply(request, 405, true, "405 over HTTPS").await;

    let stalled = HttpSettings {
        request_timeout_ms: 300,
        ..HttpSettings::default()
    };
    let (slow, _slow) = storefront_before(&shop, &silent_gateway().await, stalled).await;
    let request = client.get(format!("{slow}/"));
    assert_reply(request, 503, true, "503 for a request over its time").await;
}
