//! The `orders` binary's `healthcheck` subcommand, as an image's HEALTHCHECK
//! runs it: a non-zero exit with the reason when the admin port does not
//! answer. (Also makes `cargo test` build this binary, which `cloudshop
//! bench`'s test runs.)

use std::process::Command;

#[test]
fn healthcheck_fails_with_the_reason_when_nothing_answers() {
    let config = std::env::temp_dir().join(format!("orders-healthcheck-{}.toml", std::process::id()));
    std::fs::write(&config, "[http]\nadmin_listen = \"127.0.0.1:1\"\n").expect("config");
    let output = Command::new(env!("CARGO_BIN_EXE_orders"))
        .arg("healthcheck")
        .env("CLOUDSHOP_CONFIG", &config)
        .output()
        .expect("orders runs");
    let _ = std::fs::remove_file(&config);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("orders unhealthy: 127.0.0.1:1"), "{stderr}");
}
