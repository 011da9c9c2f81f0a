//! The shop as the real node runs it: a shopper's journey through Traefik
//! (`shop.local`, `api.local`), the NetworkPolicies of `cloudshop-prod`
//! acting (and shown to be what refuses), the Chaos Toolkit experiments of
//! `chaos/chaostoolkit/` (edge pods deleted under load, an orders pod
//! deleted while orders are placed), and PostgreSQL's pod deleted and back
//! on its volume.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use cloudshop_api::client::{Caller, Client};
use cloudshop_api::orders::{Line, Order, OrderQuery, OrderRequest};
use cloudshop_cluster::ingress;
use cloudshop_cluster::node::ADDRESS;

use super::shopper::shopper;
use super::*;

const SHOP: &str = "cloudshop-prod";

/// A client that resolves the shop's hosts to the node, as a user's
/// `--resolve` or `/etc/hosts` line does.
pub fn through_ingress() -> reqwest::Client {
    let node = SocketAddr::from((ADDRESS.parse::<IpAddr>().expect("address"), ingress::PORT));
    reqwest::Client::builder()
        .resolve(ingress::SHOP_HOST, node)
        .resolve(ingress::API_HOST, node)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

/// shop.local's home page answers 200 with its products.
pub fn answers(runtime: &tokio::runtime::Runtime) {
    let http = through_ingress();
    runtime.block_on(async {
        let home = http
            .get(ingress::address(ingress::SHOP_HOST))
            .send()
            .await
            .expect("shop.local answers");
        assert_eq!(home.status(), 200, "shop.local's home page");
        let home = home.text().await.expect("html");
        assert!(
            home.contains("href=\"/products/1\""),
            "no product on shop.local: {home}"
        );
    });
}

/// The shopper's token and the order placed on the journey.
pub struct Journey {
    pub token: String,
    pub order: Order,
    pub api: Client,
}

/// Browse `shop.local`, then on `api.local`: register, log in, order, see
/// the order in the history. Every hop is a real Service and DNS name:
/// Traefik → storefront / gateway (HTTPS) → auth, products, orders (mutual
/// TLS) → PostgreSQL.
pub fn journey(runtime: &tokio::runtime::Runtime) -> Journey {
    let http = through_ingress();
    runtime.block_on(async {
        let shop = ingress::address(ingress::SHOP_HOST);
        let home = http.get(&shop).send().await.expect("shop.local answers");
        assert_eq!(home.status(), 200, "shop.local's home page");
        let home = home.text().await.expect("html");
        assert!(
            home.contains("href=\"/products/1\""),
            "no product on shop.local: {home}"
        );
        let page = http
            .get(format!("{shop}/products/1"))
            .send()
            .await
            .expect("a product page");
        assert_eq!(page.status(), 200, "shop.local/products/1");

        let api = Client::new(http.clone(), &ingress::address(ingress::API_HOST));
        let email = format!("ingress-{}@example.com", std::process::id());
        let (token, product) = shopper(&api, &email).await;
        let order = api
            .place_order(
                Caller::with_token(&token),
                "ingress-journey",
                &OrderRequest {
                    lines: vec![Line {
                        product_id: product.id,
                        quantity: 1,
                    }],
                },
            )
            .await
            .expect("an order on api.local")
            .order;
        let history = api
            .orders(Caller::with_token(&token), &OrderQuery::default())
            .await
            .expect("the order history");
        assert!(
            history.items.iter().any(|o| o.id == order.id),
            "the order is not in the history: {:?}",
            history.items
        );
        Journey { token, order, api }
    })
}

/// The pid of a running pod sandbox of `app` (its network namespace is the
/// pod's).
fn sandbox_pid(cluster: &Cluster, label: &str) -> u32 {
    let ids = crictl(
        cluster,
        &[
            "pods",
            "-q",
            "--state",
            "ready",
            "--namespace",
            SHOP,
            "--label",
            label,
        ],
    );
    let id = ids
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no ready pod {label}"));
    let info: Value =
        serde_json::from_str(&crictl(cluster, &["inspectp", id])).expect("inspectp answers JSON");
    info["info"]["pid"]
        .as_u64()
        .and_then(|pid| u32::try_from(pid).ok())
        .expect("the sandbox's pid")
}

/// Whether a TCP connection from inside the network namespace of `pid`
/// to `address:port` is accepted within 3 s.
fn connects(pid: u32, address: &str, port: u16) -> bool {
    Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["timeout", "3", "bash", "-c"])
        .arg(format!("exec 3<>/dev/tcp/{address}/{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("nsenter runs")
        .success()
}

/// `kubectl get pods ARGS` for the pods of `app` in the shop's namespace.
fn app_pods(cluster: &Cluster, app: &str, args: &[&str]) -> String {
    let selector = format!("app.kubernetes.io/name={app}");
    let mut all = vec!["-n", SHOP, "get", "pods", "-l", &selector];
    all.extend_from_slice(args);
    cluster.kubectl_ok(&all)
}

fn pod_ip(cluster: &Cluster, app: &str) -> String {
    let ip = app_pods(
        cluster,
        app,
        &[
            "--field-selector",
            "status.phase=Running",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ],
    );
    assert!(!ip.trim().is_empty(), "no pod IP for {app}");
    ip.trim().to_owned()
}

/// The cases of `k8s/base/config/network-policies.yaml`, each from the
/// network namespace of a real pod; then, with the namespace's policies
/// removed, every refused case connects (so the policies refuse, not a
/// closed port), and with them back it is refused again.
pub fn network_policies(cluster: &Cluster, apiserver_port: u16) {
    // A pod no policy allows anything: admitted (signed image, restricted),
    // its container need not run; its sandbox is what connects.
    let mut intruder = compliant_pod(&signed_auth_image(cluster), false);
    intruder["metadata"]["name"] = json!("intruder");
    intruder["metadata"]["labels"] = json!({"app.kubernetes.io/name": "intruder"});
    cluster.apply(&intruder);
    let intruder_label = "app.kubernetes.io/name=intruder";
    eventually(60, "the intruder's sandbox is ready", || {
        let ids = crictl(
            cluster,
            &["pods", "-q", "--state", "ready", "--label", intruder_label],
        );
        if ids.trim().is_empty() {
            Err("not yet".into())
        } else {
            Ok(())
        }
    });
    let intruder = sandbox_pid(cluster, intruder_label);
    let storefront = sandbox_pid(cluster, "app.kubernetes.io/name=storefront");
    let gateway = sandbox_pid(cluster, "app.kubernetes.io/name=api-gateway");
    let ip = |app: &str| pod_ip(cluster, app);
    let (products, orders, auth, postgres) = (ip("products"), ip("orders"), ip("auth"), ip("postgres"));
    let refused: Vec<(&str, u32, String, u16)> = vec![
        (
            "a pod without an allow → products",
            intruder,
            products.clone(),
            8082,
        ),
        ("a pod without an allow → orders", intruder, orders.clone(), 8083),
        ("a pod without an allow → auth", intruder, auth.clone(), 8081),
        (
            "a pod without an allow → PostgreSQL",
            intruder,
            postgres.clone(),
            5432,
        ),
        ("storefront → PostgreSQL", storefront, postgres.clone(), 5432),
        (
            "storefront → outside the pods (the node's API server)",
            storefront,
            ADDRESS.into(),
            apiserver_port,
        ),
        (
            "gateway → outside the pods (the node's API server)",
            gateway,
            ADDRESS.into(),
            apiserver_port,
        ),
        (
            "a pod without an allow → outside the pods",
            intruder,
            ADDRESS.into(),
            apiserver_port,
        ),
    ];
    let allowed = ("gateway → products", gateway, products.clone(), 8082);
    let check = |policies: bool| {
        let mut wrong = Vec::new();
        for (case, pid, address, port) in &refused {
            if connects(*pid, address, *port) == policies {
                wrong.push(format!("{case} ({address}:{port})"));
            }
        }
        if !connects(allowed.1, &allowed.2, allowed.3) {
            wrong.push(allowed.0.to_owned());
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    };
    eventually(20, "every NetworkPolicy case", || check(true));
    eprintln!(
        "NetworkPolicies: {} cases refused, {} allowed",
        refused.len(),
        allowed.0
    );

    let policies = root().join("k8s/base/config/network-policies.yaml");
    let policies = policies.display().to_string();
    cluster.kubectl_ok(&["delete", "-f", &policies]);
    let opened = eventually(
        20,
        "without the NetworkPolicies, every refused case connects",
        || check(false),
    );
    eprintln!("without the NetworkPolicies every case connects ({opened:?})");
    cluster.kubectl_ok(&["apply", "-f", &policies]);
    let closed = eventually(20, "the NetworkPolicies back", || check(true));
    eprintln!("the NetworkPolicies back: refused again after {closed:?}");
    cluster.kubectl_ok(&["-n", SHOP, "delete", "pod", "intruder", "--wait=false"]);
}

/// Prometheus in `monitoring`, configured from the committed ServiceMonitors
/// and PrometheusRule: both replicas of each of the five services scraped
/// and up, by their admin ports (the NetworkPolicies admit the namespace
/// `monitoring` only), and every committed rule loaded and evaluated
/// without error.
/// Prometheus' answer to `GET path`, as JSON.
fn prometheus(runtime: &tokio::runtime::Runtime, path: &str) -> Value {
    let prometheus = cloudshop_cluster::monitoring::address();
    runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{prometheus}{path}"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Prometheus at {prometheus}: {e}"))
            .json()
            .await
            .expect("Prometheus answers JSON")
    })
}

/// Returns when the two unhealthy pods were made ([`pod_alerts`] checks
/// their alerts later: the kubelet reports CrashLoopBackOff only once the
/// back-off has grown, minutes in, so the chaos experiments run meanwhile).
pub fn monitoring(cluster: &Cluster, runtime: &tokio::runtime::Runtime) -> Instant {
    let get = |path: &str| prometheus(runtime, path);
    let targets = get("/api/v1/targets?state=active");
    let mut up = BTreeMap::new();
    for target in targets["data"]["activeTargets"].as_array().into_iter().flatten() {
        assert_eq!(target["health"], "up", "{target:#}");
        if target["labels"]["job"] != "kube-state-metrics" {
            assert_eq!(target["labels"]["namespace"], SHOP, "{target:#}");
        }
        assert!(
            target["scrapeUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with("/metrics")),
            "{target:#}"
        );
        *up.entry(target["labels"]["job"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
    let mut expected: BTreeMap<String, i32> = ["api-gateway", "auth", "orders", "products", "storefront"]
        .iter()
        .map(|job| ((*job).to_owned(), 2))
        .collect();
    expected.insert("kube-state-metrics".into(), 1);
    assert_eq!(up, expected, "targets up by job");

    let committed = std::fs::read_to_string(root().join("monitoring/rules.yml")).expect("rules.yml");
    let wanted: BTreeSet<String> = committed
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("- alert: ")
                .or_else(|| l.strip_prefix("- record: "))
        })
        .map(|name| name.trim().to_owned())
        .collect();
    assert!(wanted.len() > 5, "{wanted:?}");
    eventually(90, "every committed rule evaluated without error", || {
        let rules = get("/api/v1/rules");
        let mut pending = wanted.clone();
        for group in rules["data"]["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                let name = rule["name"].as_str().unwrap_or_default();
                if rule["health"] == "ok" {
                    pending.remove(name);
                } else if rule["health"] == "err" {
                    panic!("the rule {name} fails: {rule:#}");
                }
            }
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("not evaluated yet: {pending:?}"))
        }
    });
    eprintln!(
        "Prometheus: 10 targets up (5 jobs × 2) and kube-state-metrics, every committed rule evaluated"
    );

    // A pod that crash-loops (the signed auth image without its settings)
    // and one that runs but never passes its readiness probe (a storefront
    // replica's spec, probed on a path that answers 404): kube-state-metrics
    // reports both, and the committed alerts become pending for them (their
    // `for:` of 5 and 10 minutes is promtool's to check:
    // monitoring/tests/).
    let mut crash_looper = compliant_pod(&signed_auth_image(cluster), false);
    crash_looper["metadata"]["name"] = json!("crash-looper");
    crash_looper["metadata"]["labels"] = json!({"app.kubernetes.io/name": "crash-looper"});
    cluster.apply(&crash_looper);
    let storefront: Value =
        serde_json::from_str(&app_pods(cluster, "storefront", &["-o", "json"])).expect("pods as JSON");
    let mut spec = storefront["items"][0]["spec"].clone();
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("nodeName");
    }
    spec["containers"][0]["readinessProbe"]["httpGet"]["path"] = json!("/never-ready");
    let never_ready = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "never-ready", "namespace": SHOP,
                     "labels": {"app.kubernetes.io/name": "never-ready"}},
        "spec": spec,
    });
    cluster.apply(&never_ready);
    Instant::now()
}

/// The alerts for the pods [`monitoring`] made at `started`: pending (or
/// firing) for exactly those pods; then the pods are deleted.
pub fn pod_alerts(cluster: &Cluster, runtime: &tokio::runtime::Runtime, started: Instant) {
    let get = |path: &str| prometheus(runtime, path);
    eventually(
        240,
        "CloudShopPodCrashLooping and CloudShopPodNotReady for the two pods",
        || {
            let alerts = get("/api/v1/alerts");
            let active: BTreeSet<(String, String)> = alerts["data"]["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["state"] == "pending" || a["state"] == "firing")
                .map(|a| {
                    (
                        a["labels"]["alertname"].as_str().unwrap_or_default().to_owned(),
                        a["labels"]["pod"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let wanted = [
                ("CloudShopPodCrashLooping", "crash-looper"),
                ("CloudShopPodNotReady", "never-ready"),
            ];
            if wanted
                .iter()
                .all(|(alert, pod)| active.contains(&((*alert).to_owned(), (*pod).to_owned())))
            {
                Ok(())
            } else {
                Err(format!("active alerts: {active:?}"))
            }
        },
    );
    eprintln!(
        "CloudShopPodCrashLooping and CloudShopPodNotReady pending {:.0} s after the pods were made",
        started.elapsed().as_secs_f64()
    );
    let phase = cluster.kubectl_ok(&[
        "-n",
        SHOP,
        "get",
        "pod",
        "never-ready",
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert_eq!(
        phase.trim(),
        "Running",
        "never-ready runs, only its readiness fails"
    );
    cluster.kubectl_ok(&[
        "-n",
        SHOP,
        "delete",
        "pod",
        "crash-looper",
        "never-ready",
        "--wait=false",
    ]);
}

/// `cloudshop cluster chaos EXPERIMENT`: passed, its journal read back.
fn chaos(cluster: &Cluster, experiment: &str) -> Value {
    let output = cloudshop(&[
        "cluster",
        "chaos",
        experiment,
        "--dir",
        &cluster.dir.display().to_string(),
        "--workspace",
        &root().display().to_string(),
    ])
    .output()
    .expect("cluster chaos runs");
    let printed = text(&output);
    eprintln!("{printed}");
    assert!(
        output.status.success(),
        "cluster chaos {experiment} failed:\n{printed}"
    );
    let journal = cluster.dir.join(format!("chaos/{experiment}.journal.json"));
    let journal: Value = serde_json::from_str(
        &std::fs::read_to_string(&journal).unwrap_or_else(|e| panic!("{}: {e}", journal.display())),
    )
    .expect("the journal is JSON");
    assert_eq!(journal["status"], "completed", "{journal:#}");
    assert_eq!(journal["deviated"], false, "{journal:#}");
    for (when, hypothesis) in [("before", "steady_states"), ("after", "steady_states")] {
        assert_eq!(
            journal[hypothesis][when]["steady_state_met"], true,
            "the steady state {when}: {journal:#}"
        );
    }
    journal
}

/// The method's activity `name` in a journal: succeeded, its output.
fn activity<'a>(journal: &'a Value, name: &str) -> &'a Value {
    let run = journal["run"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["activity"]["name"] == name))
        .unwrap_or_else(|| panic!("no activity {name} in the journal"));
    assert_eq!(run["status"], "succeeded", "{name}: {run:#}");
    &run["output"]
}

/// The Chaos Toolkit form of `chaos/pod-delete.yaml`: half of the
/// storefront's and of the gateway's pods deleted every 15 s for 60 s
/// (four rounds) while the home page is asked through the storefront's
/// Service and through Traefik, and the gateway's /health through its
/// Service, four times a second each; every address answers at least 97 %
/// (the experiment's floor, asserted again here) and the Deployments are
/// whole again after.
pub fn pod_delete_experiment(cluster: &Cluster) {
    let pods = |app: &str| -> BTreeSet<String> {
        app_pods(cluster, app, &["-o", "jsonpath={.items[*].metadata.name}"])
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let before = [pods("storefront"), pods("api-gateway")];
    let journal = chaos(cluster, "pod-delete");
    let mut deleted = BTreeSet::new();
    for app in ["storefront", "api-gateway"] {
        for round in 1..=4 {
            let names = activity(&journal, &format!("delete-half-of-{app}-round-{round}"));
            let names = names.as_array().expect("the deleted pods");
            assert_eq!(names.len(), 1, "half of two pods is one: {names:?}");
            deleted.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    assert_eq!(deleted.len(), 8, "a pod deleted twice: {deleted:?}");
    for probe in [
        "storefront-home-page-while-pods-are-deleted",
        "gateway-health-while-pods-are-deleted",
        "shop-home-page-through-the-ingress-while-pods-are-deleted",
    ] {
        let load = activity(&journal, probe);
        let asked = load["asked"].as_u64().expect("asked");
        let percent = load["percent"].as_f64().expect("percent");
        assert!(asked >= 200, "{probe}: only {asked} requests: {load}");
        assert!(percent >= 97.0, "{probe}: {load}");
    }
    let now = [pods("storefront"), pods("api-gateway")];
    for (before, now) in before.iter().zip(&now) {
        assert_eq!(now.len(), 2, "{now:?}");
        assert_ne!(now, before, "no pod replaced");
    }
}

/// An orders pod killed (grace period 0) while a shopper places an order every 0.5 s for
/// 30 s through api.local: every acknowledged order is in the history, none
/// stays PENDING, and the product's stock fell by exactly the units
/// confirmed.
pub fn orders_pod_delete_experiment(cluster: &Cluster) {
    let journal = chaos(cluster, "orders-pod-delete");
    let deleted = activity(&journal, "kill-one-orders-pod");
    assert_eq!(deleted.as_array().map(Vec::len), Some(1), "{deleted}");
    let orders = activity(&journal, "orders-placed-while-orders-pods-are-deleted");
    let acknowledged = orders["acknowledged"].as_u64().expect("acknowledged");
    assert!(acknowledged >= 40, "only {acknowledged} orders: {orders}");
    assert_eq!(orders["lost"], json!([]), "{orders}");
    assert_eq!(orders["pending"], json!([]), "{orders}");
    assert_eq!(orders["in_history"], orders["acknowledged"], "{orders}");
    let (before, after, confirmed) = (
        orders["stock_before"].as_i64().expect("stock"),
        orders["stock_after"].as_i64().expect("stock"),
        orders["units_confirmed"].as_i64().expect("units"),
    );
    assert_eq!(before - after, confirmed, "{orders}");
    assert!(confirmed > 0, "{orders}");
}

/// PostgreSQL's pod deleted: the StatefulSet brings it back on the same
/// volume (its claim still bound to the node's volume), and the order
/// placed before is read back from it.
pub fn postgres_pod_deleted(cluster: &Cluster, runtime: &tokio::runtime::Runtime, journey: &Journey) {
    let deleted = Instant::now();
    cluster.kubectl_ok(&[
        "-n",
        SHOP,
        "delete",
        "pod",
        "postgres-0",
        "--wait=true",
        "--timeout=60s",
    ]);
    eventually(
        120,
        "the order placed before, read after PostgreSQL's pod is back",
        || {
            runtime
                .block_on(
                    journey
                        .api
                        .order(Caller::with_token(&journey.token), journey.order.id),
                )
                .map_err(|e| e.to_string())
                .and_then(|order| {
                    (order.id == journey.order.id && order.lines == journey.order.lines)
                        .then_some(())
                        .ok_or_else(|| format!("another order: {order:?}"))
                })
        },
    );
    let back = deleted.elapsed();
    let claim = cluster.kubectl_ok(&[
        "-n",
        SHOP,
        "get",
        "pvc",
        "data-postgres-0",
        "-o",
        "jsonpath={.spec.volumeName}",
    ]);
    assert_eq!(claim.trim(), "cloudshop-postgres-data", "the claim's volume");
    eprintln!(
        "postgres-0 deleted: a new pod on the same volume, the earlier order read back {:.1} s after the delete began",
        back.as_secs_f64()
    );
}
