//! `verify-full` against PostgreSQL, proven: a database whose certificate
//! comes from another CA, and one whose certificate does not name the host,
//! stop the service's start-up at once with an error naming the setting to
//! look at. (Waiting would not help: the handshake fails the same each time.)

use std::time::{Duration, Instant};

use cloudshop_backend_tests::wiring;
use cloudshop_host::files::ShopFiles;
use cloudshop_host::pki::{CertificateAuthority, LeafRequest};
use cloudshop_host::postgres::Cluster;
use cloudshop_host::{ports, testing};
use cloudshop_platform::db::DatabaseSettings;
use cloudshop_platform::settings::HttpSettings;

/// Starts the products service on `database`; the error it stops with.
async fn start_products(database: DatabaseSettings) -> String {
    let env = testing::env();
    let mut settings = wiring(env, "unused").products(HttpSettings::default());
    settings.database = database;
    let started = Instant::now();
    let err = match cloudshop_products::startup::build(settings).await {
        Ok(_) => panic!("products started on a database it cannot verify"),
        Err(err) => format!("{err:#}"),
    };
    // Shorter than the start-up wait (10 s in tests): it did not retry.
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    err
}

#[tokio::test]
async fn a_database_certificate_from_another_ca_stops_start_up_naming_the_ca_setting() {
    let env = testing::env();
    let other = CertificateAuthority::generate("Some other CA").expect("a CA");
    let ca_file = env.files().root().join("pki/some-other-ca.pem");
    std::fs::write(&ca_file, other.cert_pem()).expect("written");
    let database = DatabaseSettings {
        ca_file: ca_file.clone(),
        ..env.database("products", &env.new_database())
    };
    let err = start_products(database).await;
    assert!(err.contains("`database.ca_file`"), "{err}");
    assert!(err.contains(&ca_file.display().to_string()), "{err}");
    assert!(err.contains("not signed by the CA"), "{err}");
}

#[tokio::test]
async fn a_database_certificate_for_another_name_stops_start_up_naming_the_host_setting() {
    // A second, real PostgreSQL whose certificate, from its own CA, names
    // only `db.elsewhere.example`: reached as 127.0.0.1 it is the wrong host.
    let env = testing::env();
    let root = env
        .files()
        .root()
        .join(format!("wrong-name-{}", uuid::Uuid::new_v4()));
    let files = ShopFiles::new(&root);
    files.ensure().expect("files");
    let mut leaf = LeafRequest::local("postgres");
    leaf.dns_names = vec!["db.elsewhere.example".into()];
    leaf.ips.clear();
    files.issue(&files.ca().expect("CA"), &leaf).expect("issued");
    let cluster = Cluster::new(&files, ports::reserve_one().expect("a port")).expect("cluster");
    cluster.init_from_template(&files).expect("initialised");
    // Stopped (by its pid) and removed when this test binary exits.
    cluster.spawn_for_process(&root).expect("started");

    let database = DatabaseSettings {
        port: cluster.port(),
        ca_file: files.ca_cert(),
        ..env.database("products", "cloudshop")
    };
    let err = start_products(database).await;
    assert!(err.contains("`database.host`"), "{err}");
    assert!(err.contains("not valid for 127.0.0.1"), "{err}");
}
