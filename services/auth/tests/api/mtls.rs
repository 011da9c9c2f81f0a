use std::io::{Read, Write};

use cloudshop_host::files::ShopFiles;
use cloudshop_host::pki::LeafRequest;
use cloudshop_host::testing::{client_with, public_client};
use cloudshop_platform::settings::TlsSettings;
use serde_json::json;

use crate::helpers::{PASSWORD, error_code, spawn_app, unique_email};

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let app = spawn_app().await;
    let client = public_client();
    let result = client
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await;
    assert!(result.is_err(), "served without a client certificate: {result:?}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let app = spawn_app().await;
    let stranger = tempfile::tempdir().expect("tempdir");
    let files = ShopFiles::new(stranger.path());
    files.ensure().expect("another CA");
    // Trusts our CA (so the server is accepted) but presents a foreign certificate.
    let tls = TlsSettings {
        ca_file: app.env.files().ca_cert(),
        ..files.tls("api-gateway")
    };
    let result = client_with(&tls)
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await;
    assert!(
        result.is_err(),
        "served a certificate from another CA: {result:?}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let expired = ShopFiles::new(dir.path());
    let ca = app.env.files().ca().expect("ca");
    std::fs::create_dir_all(dir.path().join("pki")).expect("pki dir");
    expired
        .issue(&ca, &LeafRequest::local("api-gateway").expired())
        .expect("issue");
    let tls = TlsSettings {
        ca_file: app.env.files().ca_cert(),
        ..expired.tls("api-gateway")
    };
    let result = client_with(&tls)
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await;
    assert!(result.is_err(), "served an expired certificate: {result:?}");
}

#[tokio::test]
async fn a_valid_identity_the_route_does_not_allow_gets_403() {
    let app = spawn_app().await;
    let storefront = app.env.client_as("storefront");
    let response = storefront
        .post(format!("{}/register", app.base))
        .json(&json!({"email": unique_email("sneaky"), "password": PASSWORD}))
        .send()
        .await
        .expect("served");
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "forbidden");
    // The same identity may read the public keys.
    let keys = storefront
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await
        .expect("jwks");
    assert_eq!(keys.status(), 200);
}

#[tokio::test]
async fn plaintext_http_to_the_tls_port_is_refused() {
    let app = spawn_app().await;
    let port = app.port;
    let reply = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        stream
            .write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: auth\r\n\r\n")
            .expect("write");
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        reply
    })
    .await
    .expect("join");
    assert!(
        !String::from_utf8_lossy(&reply).contains("HTTP/1.1"),
        "answered plaintext: {reply:?}"
    );
}
