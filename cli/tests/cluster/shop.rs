//! The shop as the real node runs it: a shopper's journey through Traefik
//! (`shop.local`, `api.local`), the NetworkPolicies of `cloudshop-prod`
//! acting (and shown to be what refuses), a storefront pod deleted under
//! load, and PostgreSQL's pod deleted and back on its volume.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cloudshop_api::client::{Caller, Client};
use cloudshop_api::orders::{Line, Order, OrderQuery, OrderRequest};
use cloudshop_cluster::ingress;
use cloudshop_cluster::node::ADDRESS;

use super::shopper::shopper;
use super::*;

const SHOP: &str = "cloudshop-prod";

/// A client that resolves the shop's hosts to the node, as a user's
/// `--resolve` or `/etc/hosts` line does.
fn through_ingress() -> reqwest::Client {
    let node = SocketAddr::from((ADDRESS.parse::<IpAddr>().expect("address"), ingress::PORT));
    reqwest::Client::builder()
        .resolve(ingress::SHOP_HOST, node)
        .resolve(ingress::API_HOST, node)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
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

fn pod_ip(cluster: &Cluster, app: &str) -> String {
    let ip = cluster.kubectl_ok(&[
        "-n",
        SHOP,
        "get",
        "pods",
        "-l",
        &format!("app.kubernetes.io/name={app}"),
        "--field-selector",
        "status.phase=Running",
        "-o",
        "jsonpath={.items[0].status.podIP}",
    ]);
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

/// What a steady client saw: requests sent, answered with 200, and the
/// longest time between the sending of two answered requests.
struct Load {
    asked: usize,
    answered: usize,
    longest_gap: Duration,
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[allow(clippy::cast_precision_loss)] // counts of a few thousand
        let percent = self.answered as f64 * 100.0 / self.asked.max(1) as f64;
        write!(
            f,
            "{}/{} answered ({percent:.1} %), longest gap {} ms",
            self.answered,
            self.asked,
            self.longest_gap.as_millis()
        )
    }
}

/// Sends a GET to `url` every 50 ms until `stop` (at most 90 s), each
/// request on its own (a request that hangs does not delay the next), each
/// with a 2 s timeout.
fn steady_load(
    runtime: &tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Load> {
    runtime.spawn(async move {
        let started = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        let mut sent = Vec::new();
        while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(90) {
            ticks.tick().await;
            let (client, url) = (client.clone(), url.clone());
            let at = started.elapsed();
            sent.push(tokio::spawn(async move {
                let answered = client
                    .get(&url)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                (at, answered)
            }));
        }
        let ended = started.elapsed();
        let mut answered_at = Vec::new();
        let asked = sent.len();
        for request in sent {
            if let Ok((at, true)) = request.await {
                answered_at.push(at);
            }
        }
        let mut longest_gap = Duration::ZERO;
        let mut previous = Duration::ZERO;
        for at in answered_at.iter().copied().chain([ended]) {
            longest_gap = longest_gap.max(at.saturating_sub(previous));
            previous = at;
        }
        Load {
            asked,
            answered: answered_at.len(),
            longest_gap,
        }
    })
}

/// One storefront pod deleted while clients ask for the home page 20 times
/// a second through the storefront's Service and 20 times a second through
/// Traefik (`shop.local`): the Deployment replaces it, and the page keeps
/// answering on both. Prints each client's success ratio and longest gap.
pub fn storefront_pod_deleted(cluster: &Cluster, runtime: &tokio::runtime::Runtime, service: &str) {
    let stop = Arc::new(AtomicBool::new(false));
    let plain = reqwest::Client::builder().build().expect("a client");
    let by_service = steady_load(runtime, plain, format!("http://{service}/"), Arc::clone(&stop));
    let by_ingress = steady_load(
        runtime,
        through_ingress(),
        format!("{}/", ingress::address(ingress::SHOP_HOST)),
        Arc::clone(&stop),
    );
    std::thread::sleep(Duration::from_secs(2));
    let storefront_pods = |jsonpath: &str| {
        cluster.kubectl_ok(&[
            "-n",
            SHOP,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=storefront",
            "-o",
            jsonpath,
        ])
    };
    let victim = storefront_pods("jsonpath={.items[0].metadata.name}");
    let victim = victim.trim().to_owned();
    cluster.kubectl_ok(&["-n", SHOP, "delete", "pod", &victim, "--wait=false"]);
    let replaced = eventually(90, "the storefront back to two ready pods", || {
        let pods = storefront_pods(
            "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].ready}{\"\\n\"}{end}",
        );
        let ready: Vec<&str> = pods
            .lines()
            .filter(|l| l.ends_with(" true") && !l.starts_with(&victim))
            .collect();
        if ready.len() == 2 && !pods.contains(&victim) {
            Ok(())
        } else {
            Err(pods)
        }
    });
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let by_service = runtime.block_on(by_service).expect("the Service's client");
    let by_ingress = runtime.block_on(by_ingress).expect("shop.local's client");
    eprintln!(
        "storefront pod {victim} deleted: replaced and ready after {:.1} s; the home page through \
         its Service: {by_service}; through shop.local: {by_ingress}",
        replaced.as_secs_f64(),
    );
    // A replica stops accepting at SIGTERM; kube-proxy and Traefik each
    // learn of the endpoint's end on their own, Traefik a little later (one
    // request of 175 refused in a measured run): 97 % is the floor.
    for (path, load) in [("its Service", &by_service), ("shop.local", &by_ingress)] {
        assert!(load.asked >= 60, "only {} requests through {path}", load.asked);
        assert!(
            load.answered * 100 >= load.asked * 97,
            "the home page through {path} while a pod was replaced: {load}"
        );
        assert!(
            load.longest_gap < Duration::from_secs(2),
            "the home page through {path} while a pod was replaced: {load}"
        );
    }
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
