//! `cloudshop up` as a newcomer runs it: the real binary, a fresh folder,
//! then Ctrl-C (SIGINT), then `up` again on the same data, then `reset`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cloudshop_api::auth::{Credentials, Password, Registration};
use cloudshop_api::client::{Caller, Client};
use cloudshop_api::paths;
use serde_json::Value;

struct Shop {
    child: Option<Child>,
    storefront: String,
    gateway: String,
}

/// Stops the shop as Ctrl-C would, even when an assertion failed.
impl Drop for Shop {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

fn up(dir: &std::path::Path, ports: (u16, u16, u16)) -> Shop {
    let child = Command::new(env!("CARGO_BIN_EXE_cloudshop"))
        .args(["up", "--dir"])
        .arg(dir)
        .args(["--storefront-port", &ports.0.to_string()])
        .args(["--gateway-port", &ports.1.to_string()])
        .args(["--postgres-port", &ports.2.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cloudshop up starts");
    let mut child = child;
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut printed = Vec::new();
    while let Ok(line) = received.recv_timeout(Duration::from_secs(120)) {
        let done = line.starts_with("Press Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(text.contains("CloudShop is running."), "{text}");
    let url = |label: &str| {
        printed
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(label)
                    .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
            })
            .expect(label)
    };
    Shop {
        storefront: url("storefront"),
        gateway: url("API gateway"),
        child: Some(child),
    }
}

fn stop(mut shop: Shop) {
    let mut child = shop.child.take().expect("running");
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().expect("kill");
    assert!(sent.success());
    let status = child.wait().expect("exit");
    assert!(status.success(), "cloudshop up exited with {status}");
}

/// Three ports reserved for this test (storefront, gateway, PostgreSQL):
/// `up` binds its internal services to port 0 itself.
fn reserved_ports() -> (u16, u16, u16) {
    let ports = cloudshop_devkit::ports::reserve(3).expect("free ports");
    (ports[0], ports[1], ports[2])
}

#[test]
fn up_serves_the_shop_stops_on_ctrl_c_and_keeps_the_data() {
    let dir = tempfile::tempdir().expect("dir");
    let shop_dir = dir.path().join(".cloudshop");
    let ports = reserved_ports();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    cloudshop_platform::install_crypto_provider();

    let shop = up(&shop_dir, ports);
    assert_eq!(shop.storefront, format!("http://127.0.0.1:{}", ports.0));
    let email = format!("up-{}@example.com", std::process::id());
    let password = "tJ8#qv2!Lm9zRw-bright";
    runtime.block_on(async {
        let home = reqwest::get(&shop.storefront).await.expect("storefront");
        assert_eq!(home.status(), 200);
        assert!(
            home.text()
                .await
                .expect("html")
                .contains("Single-origin espresso beans")
        );
        let api = cloudshop_devkit::testing::client_trusting(&shop_dir.join("pki/ca.pem"));
        let health: Value = api
            .get(format!("{}{}", shop.gateway, paths::HEALTH))
            .send()
            .await
            .expect("health")
            .json()
            .await
            .expect("json");
        assert_eq!(health["status"], "ok");
        let registration = Registration {
            email: email.clone(),
            password: Password::new(password),
        };
        let account = Client::new(api, &shop.gateway)
            .register(Caller::anonymous(), &registration)
            .await
            .expect("register");
        assert_eq!(account.email, email);
    });
    stop(shop);

    // The second run finds the account the first one made.
    let shop = up(&shop_dir, ports);
    runtime.block_on(async {
        let api = cloudshop_devkit::testing::client_trusting(&shop_dir.join("pki/ca.pem"));
        let login = Credentials {
            email: email.clone(),
            password: Password::new(password),
        };
        let token = Client::new(api, &shop.gateway)
            .login(Caller::anonymous(), &login)
            .await
            .expect("login");
        assert!(!token.access_token.is_empty());
    });
    stop(shop);

    let reset = Command::new(env!("CARGO_BIN_EXE_cloudshop"))
        .args(["reset", "--dir"])
        .arg(&shop_dir)
        .output()
        .expect("reset");
    assert!(reset.status.success());
    assert!(!shop_dir.exists());
}

/// schemathesis (PyPI) against the gateway's served OpenAPI document on a
/// running local shop, as the admin (every operation is allowed): no 5xx and
/// no response outside the documented schema, in every phase (examples,
/// coverage, fuzzing, stateful sequences), bounded by examples and time.
#[test]
fn the_gateway_answers_schemathesis_within_its_openapi_document() {
    let dir = tempfile::tempdir().expect("dir");
    let shop_dir = dir.path().join(".cloudshop");
    let ports = reserved_ports();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let shop = up(&shop_dir, ports);
    let email = std::fs::read_to_string(shop_dir.join("secrets/admin-email")).expect("email");
    let password = std::fs::read_to_string(shop_dir.join("secrets/admin-password")).expect("password");
    let token = runtime.block_on(async {
        let api = cloudshop_devkit::testing::client_trusting(&shop_dir.join("pki/ca.pem"));
        let login = Credentials {
            email: email.trim().to_owned(),
            password: Password::new(password.trim()),
        };
        let token = Client::new(api, &shop.gateway)
            .login(Caller::anonymous(), &login)
            .await
            .expect("login");
        token.access_token
    });
    let output = Command::new("schemathesis")
        .current_dir(dir.path())
        .arg("run")
        .arg(format!("{}{}", shop.gateway, paths::OPENAPI))
        .args(["--url", &shop.gateway])
        .arg("--tls-verify")
        .arg(shop_dir.join("pki/ca.pem"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args([
            "--max-examples",
            "25",
            "--max-time",
            "120",
            "--seed",
            "1",
            "--workers",
            "2",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis (pip install schemathesis)");
    stop(shop);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    // It really tested the API: every operation, many cases.
    assert!(report.contains("Tested: 18"), "{report}");
    assert!(report.contains("generated"), "{report}");
}
