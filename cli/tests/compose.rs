//! `compose.yaml` as a user with podman runs it: `cloudshop release build`,
//! `cloudshop release images`, `cloudshop compose`, `podman-compose up -d`; then
//! shopping through the published ports, `down` and `up` again with the
//! orders still there, and `down -v`.
//!
//! The one difference from a user's run: PostgreSQL comes from this
//! machine's own binaries (`cli/tests/compose-postgres/postgres-image.sh`,
//! through the override `compose.test.yaml`), because the official image
//! cannot be pulled here. Everything else is `compose.yaml` as it is.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cloudshop_api::auth::{Credentials, Password, Registration, Role};
use cloudshop_api::client::{Caller, Client};
use cloudshop_api::orders::{Line, OrderQuery, OrderRequest, OrderStatus};
use cloudshop_api::paths;
use cloudshop_api::products::ProductQuery;
use serde_json::Value;

use cloudshop_topology::NAMES as SERVICES;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn checked(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// podman here runs with runc and lower ulimits (the test command points
/// CONTAINERS_CONF at that file; a bare `cargo test` gets it here).
fn podman_env(mut command: Command) -> Command {
    if std::env::var_os("CONTAINERS_CONF").is_none() {
        command.env(
            "CONTAINERS_CONF",
            root().join("supply-chain/podman/containers.conf"),
        );
    }
    command
}

fn podman(args: &[&str]) -> Command {
    let mut command = podman_env(Command::new("podman"));
    command.args(args);
    command
}

fn cloudshop(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloudshop"));
    command.args(args);
    command
}

/// A compose project of this test: its folder, name and published ports;
/// `down -v` when dropped, whatever happened.
struct Stack {
    dir: PathBuf,
    project: String,
    postgres_image: String,
    storefront_port: u16,
    gateway_port: u16,
}

impl Stack {
    fn compose(&self, args: &[&str]) -> Output {
        podman_env(Command::new("podman-compose"))
            .current_dir(&self.dir)
            .args(["--project-name", &self.project])
            .args(["--file", "compose.yaml", "--file"])
            .arg(root().join("cli/tests/compose-postgres/compose.test.yaml"))
            .args(args)
            .env("CLOUDSHOP_TEST_POSTGRES_IMAGE", &self.postgres_image)
            .env("CLOUDSHOP_STOREFRONT_PORT", self.storefront_port.to_string())
            .env("CLOUDSHOP_GATEWAY_PORT", self.gateway_port.to_string())
            .output()
            .expect("podman-compose (pip install podman-compose)")
    }

    /// `up --detach`, then waits until every container is healthy and the
    /// paths the test uses answer: a container's healthcheck sees only that
    /// container, not the chain behind it.
    ///
    /// podman before 5.6 cannot start a container whose dependency is not
    /// running while that dependency's own dependencies are
    /// (containers/podman#26193, "depends on container … not found in input
    /// list"); podman 4.3 ignores `service_healthy`, so `up` starts each
    /// container right after the one before. When `up` fails that way, the
    /// containers exist and a second `up` starts the rest, as a user would
    /// run it again. Whatever the cause, no service may have stopped with an
    /// error: that is checked once the stack serves.
    fn up(&self, runtime: &tokio::runtime::Runtime, api: &reqwest::Client) {
        let mut output = self.compose(&["up", "--detach"]);
        let text = |output: &Output| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        };
        if !output.status.success() && text(&output).contains("not found in input list") {
            eprintln!(
                "podman-compose up met podman's dependency-graph bug (containers/podman#26193); \
                 running it again. Containers:\n{}",
                self.states()
            );
            output = self.compose(&["up", "--detach"]);
        }
        assert!(
            output.status.success(),
            "podman-compose up failed:\n{}\ncontainers:\n{}\n{}",
            text(&output),
            self.states(),
            self.all_logs()
        );
        for service in SERVICES.iter().chain(&["postgres"]) {
            self.wait_healthy(service);
        }
        runtime.block_on(self.wait_serving(api));
        let logs = self.all_logs();
        assert!(
            !logs.contains("stopped with an error") && !logs.contains("cannot start"),
            "a service stopped with an error:\n{}\n{logs}",
            self.states()
        );
    }

    /// Every container of the project: name, state, exit code, restarts.
    fn states(&self) -> String {
        let output = podman(&[
            "ps",
            "--all",
            "--filter",
            &format!("label=io.podman.compose.project={}", self.project),
            "--format",
            "{{.Names}} {{.Status}} exit={{.ExitCode}} restarts={{.Restarts}}",
        ])
        .output()
        .expect("podman ps");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn storefront(&self) -> String {
        format!("http://localhost:{}", self.storefront_port)
    }

    fn gateway(&self) -> String {
        format!("https://localhost:{}", self.gateway_port)
    }

    /// Waits until the storefront's catalogue page (storefront → gateway →
    /// products → PostgreSQL) and the gateway's catalogue answer 200; past
    /// the deadline, fails with the last answers and every container's log.
    async fn wait_serving(&self, api: &reqwest::Client) {
        let urls = [
            self.storefront(),
            format!("{}{}", self.gateway(), paths::PRODUCTS),
        ];
        let deadline = Instant::now() + Duration::from_secs(120);
        for url in urls {
            loop {
                let answer = match api.get(&url).send().await {
                    Ok(response) if response.status() == 200 => break,
                    Ok(response) => format!(
                        "{}: {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    ),
                    Err(err) => format!("{err:#}"),
                };
                if Instant::now() > deadline {
                    panic!(
                        "{url} does not answer 200 after every container is healthy; last answer: {answer}\n{}",
                        self.all_logs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    fn logs(&self, service: &str) -> String {
        let logs = podman(&["logs", &self.container(service)])
            .output()
            .expect("logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        )
    }

    fn all_logs(&self) -> String {
        SERVICES
            .iter()
            .chain(&["postgres"])
            .map(|service| format!("--- {service}\n{}", self.logs(service)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.project)
    }

    /// Runs the container's own healthcheck until it passes: podman 4.3
    /// without systemd does not run healthchecks on a timer.
    fn wait_healthy(&self, service: &str) {
        let name = self.container(service);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = podman(&["healthcheck", "run", &name])
                .output()
                .expect("podman healthcheck");
            if status.status.success() {
                return;
            }
            if Instant::now() > deadline {
                panic!("{name} never became healthy:\n{}", self.logs(service));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn inspect(&self, service: &str) -> Value {
        let text = checked(&mut podman(&["inspect", &self.container(service)]));
        let mut all: Value = serde_json::from_str(&text).expect("inspect json");
        all[0].take()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "--volumes"]);
        let _ = podman(&["rmi", &self.postgres_image]).output();
    }
}

#[test]
fn compose_runs_the_hardened_shop_from_its_images_and_keeps_its_data() {
    let scratch = tempfile::tempdir().expect("scratch");
    let dist = scratch.path().join("dist");
    let root = root();
    let root_arg = root.display().to_string();
    let dist_arg = dist.display().to_string();

    // The user's steps (README): binaries and images for this machine's
    // platform, compose secrets.
    for step in ["build", "images"] {
        checked(&mut podman_env(cloudshop(&[
            "release",
            step,
            "--platform",
            "linux/amd64",
            "--workspace",
            &root_arg,
            "--dist",
            &dist_arg,
        ])));
    }
    let project_dir = scratch.path().join("project");
    std::fs::create_dir_all(&project_dir).expect("project");
    std::fs::copy(root.join("compose.yaml"), project_dir.join("compose.yaml")).expect("compose.yaml");
    checked(
        Command::new("cp")
            .arg("-R")
            .arg(root.join("compose"))
            .arg(&project_dir),
    );
    let secrets = project_dir.join(".cloudshop/compose");
    let printed = checked(&mut cloudshop(&[
        "compose",
        "--dir",
        &secrets.display().to_string(),
    ]));
    assert!(printed.contains("podman-compose up -d"), "{printed}");

    let ports = cloudshop_host::ports::reserve(2).expect("free ports");
    let stack = Stack {
        dir: project_dir.clone(),
        project: format!("cloudshop-test-{}", std::process::id()),
        postgres_image: format!("localhost/cloudshop-test/postgres:{}", std::process::id()),
        storefront_port: ports[0],
        gateway_port: ports[1],
    };
    let mut image = podman_env(Command::new("sh"));
    image
        .arg(root.join("cli/tests/compose-postgres/postgres-image.sh"))
        .arg(&stack.postgres_image);
    checked(&mut image);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let api = cloudshop_host::testing::client_trusting(&secrets.join("pki/ca.pem"));
    stack.up(&runtime, &api);

    // Every container as compose.yaml promises.
    let secret_values: Vec<String> = ["pki", "secrets"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(secrets.join(sub)).expect("secrets").flatten())
        .filter(|entry| !entry.file_name().to_string_lossy().ends_with(".pem"))
        .map(|entry| std::fs::read_to_string(entry.path()).expect("secret"))
        .collect();
    for service in SERVICES.iter().chain(&["postgres"]) {
        let inspect = stack.inspect(service);
        let user = if *service == "postgres" {
            "70:70"
        } else {
            "65532:65532"
        };
        assert_eq!(inspect["Config"]["User"], user, "{service}");
        assert_eq!(inspect["HostConfig"]["ReadonlyRootfs"], true, "{service}");
        let effective = inspect["EffectiveCaps"].as_array().map_or(0, Vec::len);
        assert_eq!(effective, 0, "{service} keeps capabilities");
        let options = inspect["HostConfig"]["SecurityOpt"].to_string();
        assert!(options.contains("no-new-privileges"), "{service}: {options}");
        assert!(
            inspect["HostConfig"]["Memory"].as_u64().unwrap_or(0) > 0,
            "{service}: no memory limit"
        );
        assert!(
            inspect["HostConfig"]["NanoCpus"].as_u64().unwrap_or(0) > 0,
            "{service}: no CPU limit"
        );
        let env = inspect["Config"]["Env"].to_string();
        for value in &secret_values {
            assert!(
                !env.contains(value.trim()),
                "{service} has a secret in its environment"
            );
        }
    }

    let storefront = stack.storefront();
    let gateway = stack.gateway();
    let shop = Client::new(api.clone(), &gateway);
    let credentials = Credentials {
        email: format!("compose-{}@example.com", std::process::id()),
        password: Password::new("tJ8#qv2!Lm9zRw-compose"),
        device_token: None,
    };
    let order_id = runtime.block_on(async {
        // The seed's two checks.
        let home = api.get(&storefront).send().await.expect("storefront");
        assert_eq!(home.status(), 200);
        assert!(
            home.text()
                .await
                .expect("html")
                .contains("Single-origin espresso beans")
        );
        let health = api
            .get(format!("{gateway}{}", paths::HEALTH))
            .send()
            .await
            .expect("health");
        assert_eq!(health.status(), 200);

        let registration = Registration {
            email: credentials.email.clone(),
            password: credentials.password.clone(),
        };
        let account = shop
            .register(Caller::anonymous(), &registration)
            .await
            .unwrap_or_else(|err| panic!("register: {err:?}\n{}", stack.all_logs()));
        assert_eq!(account.email, registration.email);
        assert_eq!(account.role, Role::Customer);
        let token = login(&shop, &credentials).await;
        let catalogue = shop
            .products(Caller::anonymous(), &ProductQuery::default())
            .await
            .unwrap_or_else(|err| panic!("catalogue: {err:?}\n{}", stack.all_logs()));
        let product = catalogue.items.first().expect("a product").id;
        let order = OrderRequest {
            lines: vec![Line {
                product_id: product,
                quantity: 1,
            }],
        };
        let key = format!("compose-{}", std::process::id());
        let placed = shop
            .place_order(Caller::with_token(&token), &key, &order)
            .await
            .unwrap_or_else(|err| panic!("order: {err:?}\n{}", stack.all_logs()));
        assert!(!placed.replayed, "a new order");
        assert_eq!(placed.order.status, OrderStatus::Confirmed, "{:?}", placed.order);
        placed.order.id
    });

    // Down and up again: the account and the order are in the volume.
    let down = stack.compose(&["down"]);
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    stack.up(&runtime, &api);
    runtime.block_on(async {
        let token = login(&shop, &credentials).await;
        let orders = shop
            .orders(Caller::with_token(&token), &OrderQuery::default())
            .await
            .expect("orders");
        let ids: Vec<_> = orders.items.iter().map(|order| order.id).collect();
        assert_eq!(ids, vec![order_id], "{orders:?}");
    });
}

async fn login(shop: &Client, credentials: &Credentials) -> String {
    let token = shop.login(Caller::anonymous(), credentials).await;
    token
        .unwrap_or_else(|err| panic!("login of {}: {err}", credentials.email))
        .access_token
}

/// compose.yaml's default images are the ones `cloudshop release images` tags: this
/// workspace's version, one per service, each overridable by digest.
#[test]
fn compose_yaml_names_this_version_s_images() {
    let text = std::fs::read_to_string(root().join("compose.yaml")).expect("compose.yaml");
    for service in SERVICES {
        let variable = service.to_uppercase().replace('-', "_");
        let expected = format!(
            "image: ${{CLOUDSHOP_{variable}_IMAGE:-cloudshop/{service}:{}}}",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&expected), "compose.yaml lacks `{expected}`");
    }
}
