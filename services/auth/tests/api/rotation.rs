use std::sync::Arc;
use std::time::Duration;

use cloudshop_host::files::ShopFiles;
use cloudshop_host::pki::LeafRequest;
use cloudshop_host::testing::env;
use cloudshop_platform::tls::TlsMaterial;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::helpers::{settings, spawn_settings};

/// The certificate the server presents to a brand-new connection.
async fn presented_certificate(port: u16, client: &Arc<rustls::ClientConfig>) -> CertificateDer<'static> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let tls = TlsConnector::from(Arc::clone(client))
        .connect(ServerName::try_from("127.0.0.1").expect("name"), stream)
        .await
        .expect("handshake");
    tls.get_ref().1.peer_certificates().expect("certificates")[0]
        .clone()
        .into_owned()
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let env = env();
    // The service reads its certificate from a folder of its own, which the
    // test rotates.
    let dir = tempfile::tempdir().expect("tempdir");
    let own = ShopFiles::new(dir.path());
    std::fs::create_dir_all(dir.path().join("pki")).expect("pki");
    let ca = env.files().ca().expect("ca");
    own.issue(&ca, &LeafRequest::local("auth"))
        .expect("first certificate");
    std::fs::copy(env.files().ca_cert(), own.ca_cert()).expect("ca copy");

    let database = env.new_database();
    let mut settings = settings(env, &database);
    settings.tls = own.tls("auth");
    let app = spawn_settings(env, settings).await;

    let client = Arc::new(
        TlsMaterial::load(&env.tls("api-gateway"))
            .and_then(|m| m.client_config())
            .expect("client config"),
    );
    let before = presented_certificate(app.port, &client).await;
    own.issue(&ca, &LeafRequest::local("auth"))
        .expect("rotated certificate");

    let mut after = presented_certificate(app.port, &client).await;
    for _ in 0..50 {
        if after != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = presented_certificate(app.port, &client).await;
    }
    assert_ne!(before, after, "the rotated certificate was never served");
    let on_disk = cloudshop_platform::tls::read_certificates("cert", &own.cert("auth")).expect("read");
    assert_eq!(after, on_disk[0]);
    // Still the same process, still serving requests.
    let jwks = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await
        .expect("jwks");
    assert_eq!(jwks.status(), 200);
}
