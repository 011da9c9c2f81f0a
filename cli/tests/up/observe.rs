//! `cloudshop up --observe`: a real Prometheus scrapes the running shop and
//! evaluates `monitoring/rules.yml`; real traffic, then a real outage (the
//! shop's PostgreSQL frozen with SIGSTOP: every query hangs, as on a stuck
//! disk), then recovery. Through Prometheus's HTTP API: the error-rate and
//! the SLO fast-burn alerts become pending (or firing) during the outage
//! and resolve after it (with enough good traffic to bring the ratios back
//! under their thresholds), the SLO recording rules have values, and every
//! query of every dashboard under `monitoring/dashboards` parses and, unless
//! it reads a cluster-only metric, returns data.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cloudshop_api::auth::{Credentials, Password};
use cloudshop_api::client::{Caller, Client};
use cloudshop_api::orders::{Line, OrderRequest};
use cloudshop_api::products::ProductQuery;
use cloudshop_host::signals::{self, Signal};
use serde_json::Value;

use super::{postmaster_pid, reserved_ports, shopper, stop, up_with};

/// Metrics that only a cluster has (kube-state-metrics); a dashboard panel
/// reading them parses here but shows nothing.
const CLUSTER_ONLY: &[&str] = &["kube_"];
/// The alerts a database outage must raise at the edge: (alert, job; empty
/// for the SLO's, which sum the edges).
const OUTAGE_ALERTS: [(&str, &str); 2] = [
    ("CloudShopHighErrorRate", "api-gateway"),
    ("CloudShopErrorBudgetBurnFast", ""),
];

/// Whether `active` holds every alert of [`OUTAGE_ALERTS`] / any of them.
fn outage_alerts(active: &BTreeSet<(String, String, String)>) -> (bool, bool) {
    let raised = |(name, job): &(&str, &str)| active.iter().any(|(a, j, _)| a == name && j == job);
    (OUTAGE_ALERTS.iter().all(raised), OUTAGE_ALERTS.iter().any(raised))
}

/// Prometheus's HTTP API.
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    /// The result of an instant query; an error when it does not parse.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let reply = self
            .http
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = reply.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// `alertname` (and the alert's `job`, where it has one) of every alert
    /// pending or firing.
    async fn active_alerts(&self) -> BTreeSet<(String, String, String)> {
        let reply = self
            .http
            .get(format!("{}/api/v1/alerts", self.url))
            .send()
            .await
            .expect("alerts");
        let body: Value = reply.json().await.expect("json");
        body["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|alert| {
                let label = |name: &str| alert["labels"][name].as_str().unwrap_or("").to_owned();
                let state = alert["state"].as_str().unwrap_or("").to_owned();
                (label("alertname"), label("job"), state)
            })
            .collect()
    }

    /// Polls `check` every 250 ms until it holds, at most `within`.
    async fn wait_for<F, T>(&self, what: &str, within: Duration, mut check: F) -> Duration
    where
        F: AsyncFnMut(&Self) -> Option<T>,
    {
        let started = Instant::now();
        loop {
            if check(self).await.is_some() {
                return started.elapsed();
            }
            assert!(started.elapsed() < within, "{what}: not within {within:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The shop's PostgreSQL, frozen: the postmaster and every backend stopped
/// (SIGSTOP). Thawed (SIGCONT) by [`Frozen::thaw`] or when dropped, also
/// when the test fails, so `up` can stop it. As root, `up` runs the
/// postmaster under `runuser`, which stops itself when its child stops:
/// it is continued too.
struct Frozen(Vec<String>);

/// The parent's pid from `/proc/<pid>/stat` (the fields after the last `)`:
/// state, ppid, ...).
fn parent_of(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(1).map(str::to_owned)
}

impl Frozen {
    fn freeze(shop_dir: &Path) -> Self {
        let postmaster = postmaster_pid(shop_dir).expect("postmaster.pid");
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if parent_of(&pid).as_deref() == Some(postmaster.as_str()) {
                pids.push(pid);
            }
        }
        for pid in &pids {
            let id = pid.parse().expect("a pid");
            assert!(signals::send(id, Signal::Stop), "SIGSTOP to {pid} of {pids:?}");
        }
        if let Some(parent) = parent_of(&postmaster)
            && std::fs::read_to_string(format!("/proc/{parent}/comm")).is_ok_and(|c| c.trim() == "runuser")
        {
            pids.push(parent);
        }
        Self(pids)
    }

    fn thaw(&mut self) {
        if !self.0.is_empty() {
            for pid in &self.0 {
                if let Ok(id) = pid.parse() {
                    signals::send(id, Signal::Continue);
                }
            }
            self.0.clear();
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.thaw();
    }
}

/// Every PromQL expression of every panel of every dashboard: (dashboard
/// file, panel title, expression).
fn dashboard_queries() -> Vec<(String, String, String)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../monitoring/dashboards");
    let mut queries = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("monitoring/dashboards")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("dashboard");
        let name = file.file_name().expect("name").to_string_lossy().into_owned();
        for document in yaml_rust2::YamlLoader::load_from_str(&text).expect("YAML") {
            let data = document["data"].as_hash().expect("a ConfigMap with data");
            for (key, json) in data {
                let key = key.as_str().expect("key");
                let dashboard: Value = serde_json::from_str(json.as_str().expect("text"))
                    .unwrap_or_else(|err| panic!("{name}: {key} is not JSON: {err}"));
                for panel in dashboard["panels"].as_array().expect("panels") {
                    let title = panel["title"].as_str().unwrap_or("(untitled)").to_owned();
                    for target in panel["targets"].as_array().into_iter().flatten() {
                        if let Some(expr) = target["expr"].as_str() {
                            queries.push((name.clone(), title.clone(), expr.to_owned()));
                        }
                    }
                }
            }
        }
    }
    queries
}

/// Requests whose answers need PostgreSQL, from `loops` clients at once,
/// until `running` is cleared; how many were answered with a 5xx.
async fn hammer(client: Client, token: String, loops: usize, running: Arc<AtomicBool>) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..loops {
        let (client, token, running) = (client.clone(), token.clone(), Arc::clone(&running));
        tasks.spawn(async move {
            let mut failed = 0;
            while running.load(Ordering::SeqCst) {
                let listed = client
                    .orders(Caller::with_token(&token), &Default::default())
                    .await;
                if listed.is_err_and(|err| err.status().is_server_error()) {
                    failed += 1;
                }
            }
            failed
        });
    }
    tasks.join_all().await.into_iter().sum()
}

/// Successful requests at every service (catalogue, orders, JWKS), `count`
/// of each, 16 at a time.
async fn healthy_traffic(client: &Client, token: &str, count: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, token) = (client.clone(), token.to_owned());
        tasks.spawn(async move {
            for _ in 0..count.div_ceil(16) {
                client
                    .products(Caller::anonymous(), &ProductQuery::default())
                    .await
                    .expect("catalogue");
                client
                    .orders(Caller::with_token(&token), &Default::default())
                    .await
                    .expect("orders");
                client.jwks(Caller::anonymous()).await.expect("jwks");
            }
        });
    }
    tasks.join_all().await;
}

#[test]
fn the_alerts_fire_on_a_real_outage_resolve_after_it_and_every_dashboard_query_works() {
    let dir = tempfile::tempdir().expect("dir");
    let shop_dir = dir.path().join(".cloudshop");
    // The rate limit lifted for the traffic below, and a hung backend
    // answered with 504 after one second: settings, not rule edits.
    let config = dir.path().join("up.toml");
    std::fs::write(
        &config,
        "[api-gateway.rate_limit]\nper_minute = 100000000\nburst = 1000000\n\n\
         [api-gateway.upstream]\ntimeout_ms = 1000\n",
    )
    .expect("config");
    let ports = reserved_ports();
    let prometheus_port = cloudshop_host::ports::reserve_one().expect("a port");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    cloudshop_platform::install_crypto_provider();
    let shop = up_with(
        &shop_dir,
        ports,
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--observe".as_ref(),
            "--observe-interval".as_ref(),
            "1".as_ref(),
            "--prometheus-port".as_ref(),
            prometheus_port.to_string().as_ref(),
        ],
    );
    let printed = shop.printed.join("\n");
    let prometheus_url = format!("http://127.0.0.1:{prometheus_port}");
    assert!(
        printed.contains(&format!("Prometheus   {prometheus_url}")),
        "{printed}"
    );
    let prometheus = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        url: prometheus_url,
    };
    let api = cloudshop_host::testing::client_trusting(&shop_dir.join("pki/ca.pem"));
    let client = Client::new(api, &shop.gateway);

    runtime.block_on(async {
        // Every service is a target, up, with the cluster's labels.
        prometheus
            .wait_for("all five targets up", Duration::from_secs(30), async |p| {
                let up = p.query("sum(up{namespace=\"cloudshop-prod\"})").await.ok()?;
                (up.first()?["value"][1] == "5").then_some(())
            })
            .await;

        // A shopper: registers, logs in (and once fails to), orders.
        let email = format!("observed-{}@example.com", std::process::id());
        let (token, product) = shopper(&client, &email).await;
        let wrong = Credentials {
            email,
            password: Password::new("not the password at all"),
            device_token: None,
        };
        assert!(client.login(Caller::anonymous(), &wrong).await.is_err());
        for n in 0..3 {
            let order = OrderRequest {
                lines: vec![Line {
                    product_id: product.id,
                    quantity: 1,
                }],
            };
            client
                .place_order(Caller::with_token(&token), &format!("observed-{n}"), &order)
                .await
                .expect("order");
        }
        for _ in 0..20 {
            let home = reqwest::get(&shop.storefront).await.expect("storefront");
            assert_eq!(home.status(), 200);
        }
        // A rate needs the counter to grow between two scrapes: traffic
        // goes on until Prometheus has seen it.
        prometheus
            .wait_for("traffic seen at the gateway", Duration::from_secs(30), async |p| {
                healthy_traffic(&client, &token, 100).await;
                let rate = "sum(rate(http_requests_total{namespace=\"cloudshop-prod\",job=\"api-gateway\"}[5m])) > 0";
                p.query(rate).await.ok()?.first().cloned()
            })
            .await;
        assert!(prometheus.active_alerts().await.is_empty(), "alerts before the outage");

        // The outage: PostgreSQL frozen; what needs it times out at the gateway.
        let mut frozen = Frozen::freeze(&shop_dir);
        let running = Arc::new(AtomicBool::new(true));
        let errors = tokio::spawn(hammer(client.clone(), token.clone(), 4, Arc::clone(&running)));
        let raised = prometheus
            .wait_for("the outage alerts pending or firing", Duration::from_secs(90), async |p| {
                outage_alerts(&p.active_alerts().await).0.then_some(())
            })
            .await;
        let active = prometheus.active_alerts().await;
        running.store(false, Ordering::SeqCst);
        frozen.thaw();
        let failed = errors.await.expect("joined");
        eprintln!("outage: {failed} requests answered 5xx; alerts pending {raised:?} after it began: {active:?}");
        // The SLO's recording rules have values, the budget is being spent.
        for rule in [
            "cloudshop:slo_errors_per_request:ratio_rate5m",
            "cloudshop:slo_errors_per_request:ratio_rate1h",
            "cloudshop:slo_errors_per_request:ratio_rate30d",
            "cloudshop:slo_error_budget_remaining:ratio30d",
        ] {
            prometheus
                .wait_for(rule, Duration::from_secs(10), async |p| {
                    p.query(rule).await.ok()?.first().cloned()
                })
                .await;
        }
        let budget = prometheus
            .query("cloudshop:slo_error_budget_remaining:ratio30d")
            .await
            .expect("budget");
        let left: f64 = budget[0]["value"][1].as_str().expect("value").parse().expect("number");
        assert!(left < 1.0, "the outage spent none of the budget: {left}");

        // Recovery: the same requests succeed again, and enough healthy
        // traffic brings every error ratio under its threshold.
        prometheus
            .wait_for("orders answer again", Duration::from_secs(30), async |_| {
                client
                    .orders(Caller::with_token(&token), &Default::default())
                    .await
                    .ok()
            })
            .await;
        // The slow-burn alert (1 % of the budget over 3 days) may stay
        // pending: by design it needs hours, or a thousand good requests
        // per failed one, to clear.
        let resolved = prometheus
            .wait_for("the outage alerts resolved", Duration::from_secs(120), async |p| {
                healthy_traffic(&client, &token, 400).await;
                (!outage_alerts(&p.active_alerts().await).1).then_some(())
            })
            .await;
        let left = prometheus.active_alerts().await;
        eprintln!("outage alerts resolved {resolved:?} after recovery; still active: {left:?}");

        // With the traffic over, nothing is in flight: requests the gateway
        // gave up on during the outage were not left counted.
        prometheus
            .wait_for("no request in flight", Duration::from_secs(15), async |p| {
                let flying = p.query("sum(http_requests_in_flight{namespace=\"cloudshop-prod\"})").await.ok()?;
                (flying.first()?["value"][1] == "0").then_some(())
            })
            .await;

        // Every dashboard query, on these live series.
        let queries = dashboard_queries();
        assert!(queries.len() > 20, "{} dashboard queries", queries.len());
        let mut problems = Vec::new();
        for (file, panel, expr) in &queries {
            match prometheus.query(expr).await {
                Err(err) => problems.push(format!("{file} / {panel}: does not parse: {err}: {expr}")),
                Ok(result) if result.is_empty() && !CLUSTER_ONLY.iter().any(|m| expr.contains(m)) => {
                    problems.push(format!("{file} / {panel}: no data (a metric no service exports?): {expr}"));
                }
                Ok(_) => {}
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    });
    stop(shop);
    let closed = std::net::TcpStream::connect(("127.0.0.1", prometheus_port)).is_err();
    assert!(closed, "Prometheus still listens after `up` stopped");
}
