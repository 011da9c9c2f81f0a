//! Alertmanager on the real node: the test's own webhook receiver (on the
//! node's address, where Alertmanager's pod reaches it), and the SLO's fast
//! burn alert during a real outage delivered through Alertmanager's routing,
//! then its resolution once the shop answers again.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cloudshop_cluster::{ingress, node::ADDRESS};

use super::*;

const SHOP: &str = "cloudshop-prod";
const SLO_ALERT: &str = "CloudShopErrorBudgetBurnFast";

/// An HTTP server on the node's address that keeps every JSON body POSTed
/// to it; stopped (its thread joined) when dropped.
pub struct Receiver {
    received: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// A port free on the loopback, for `cluster up --alert-webhook` before
    /// the node's address exists.
    pub fn port() -> u16 {
        cloudshop_host::ports::reserve_one().expect("a port")
    }

    pub fn url(port: u16) -> String {
        format!("http://{ADDRESS}:{port}/alerts")
    }

    pub fn start(port: u16) -> Self {
        let listener = TcpListener::bind((ADDRESS, port)).expect("the receiver binds on the node's address");
        listener.set_nonblocking(true).expect("non-blocking");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if let Some(body) = serve(stream) {
                                received.lock().expect("the list").push(body);
                            }
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })
        };
        Self {
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// The notifications received so far.
    pub fn notifications(&self) -> Vec<Value> {
        self.received.lock().expect("the list").clone()
    }

    /// The first notification for `alert` with `status` (firing,
    /// resolved), waiting up to `seconds`.
    fn wait_for(&self, alert: &str, status: &str, seconds: u64) -> Value {
        let mut found = None;
        eventually(seconds, &format!("{alert} {status} at the receiver"), || {
            let all = self.notifications();
            found = all
                .iter()
                .find(|n| n["status"] == status && n["groupLabels"]["alertname"] == alert)
                .cloned();
            found.as_ref().map(drop).ok_or_else(|| {
                let seen: Vec<String> = all
                    .iter()
                    .map(|n| format!("{} {}", n["groupLabels"]["alertname"], n["status"]))
                    .collect();
                format!("received: {seen:?}")
            })
        });
        found.expect("found")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request, answers 200, returns its body as JSON.
fn serve(mut stream: std::net::TcpStream) -> Option<Value> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()?;
    serde_json::from_slice(&body).ok()
}

/// A real outage under way: products scaled to 0, so the gateway answers
/// its catalogue with 5xx, while a client asks for it twice a second.
pub struct Outage {
    started: Instant,
    failing: Arc<AtomicBool>,
    statuses: Arc<Mutex<BTreeMap<u16, u32>>>,
    asking: tokio::task::JoinHandle<()>,
}

/// Starts the outage; [`slo_alert`] waits for its alert and ends it.
pub fn begin_outage(cluster: &Cluster, runtime: &tokio::runtime::Runtime) -> Outage {
    cluster.kubectl_ok(&["scale", "deployment/products", "-n", SHOP, "--replicas=0"]);
    let failing = Arc::new(AtomicBool::new(true));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u32>::new()));
    let asking = {
        let url = format!("{}/api/products", ingress::address(ingress::API_HOST));
        let (failing, statuses) = (failing.clone(), statuses.clone());
        let http = super::shop::through_ingress();
        runtime.spawn(async move {
            while failing.load(Ordering::Relaxed) {
                if let Ok(response) = http.get(&url).send().await {
                    *statuses
                        .lock()
                        .expect("counts")
                        .entry(response.status().as_u16())
                        .or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    Outage {
        started: Instant::now(),
        failing,
        statuses,
        asking,
    }
}

/// The fast-burn alert (`for: 2m`) of `outage` must reach the receiver;
/// then products is back, the shop is asked for its health until the error
/// ratios fall under the thresholds, and the resolution must reach the
/// receiver too.
pub fn slo_alert(cluster: &Cluster, runtime: &tokio::runtime::Runtime, receiver: &Receiver, outage: Outage) {
    let Outage {
        started,
        failing,
        statuses,
        asking,
    } = outage;
    let fired = receiver.wait_for(SLO_ALERT, "firing", 420);
    let fired_after = started.elapsed();
    assert_eq!(fired["receiver"], "webhook", "{fired:#}");
    let alert = fired["alerts"]
        .as_array()
        .and_then(|alerts| alerts.iter().find(|a| a["labels"]["alertname"] == SLO_ALERT))
        .unwrap_or_else(|| panic!("no {SLO_ALERT} in {fired:#}"));
    assert_eq!(alert["labels"]["severity"], "critical", "{alert:#}");
    assert_eq!(alert["labels"]["slo"], "availability-99.9", "{alert:#}");

    cluster.kubectl_ok(&["scale", "deployment/products", "-n", SHOP, "--replicas=2"]);
    cluster.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/products",
        "-n",
        SHOP,
        "--timeout=120s",
    ]);
    failing.store(false, Ordering::Relaxed);
    runtime.block_on(asking).expect("the client ends");
    let statuses = statuses.lock().expect("counts").clone();
    let failed: u32 = statuses.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum();
    assert!(failed > 0, "the outage answered no 5xx: {statuses:?}");
    let restored = Instant::now();

    // Answered requests at both edges (the gateway's and the storefront's
    // health, through Traefik) until the ratios fall under the thresholds.
    let mut answered = 0u64;
    let resolved = {
        let mut resolved = None;
        while resolved.is_none() {
            assert!(
                restored.elapsed() < Duration::from_secs(300),
                "{SLO_ALERT} not resolved 300 s after the outage ended ({answered} requests answered); received: {:?}",
                receiver.notifications()
            );
            for host in [ingress::API_HOST, ingress::SHOP_HOST] {
                answered += wrk(host, "/health", 10);
            }
            resolved = receiver
                .notifications()
                .into_iter()
                .find(|n| n["status"] == "resolved" && n["groupLabels"]["alertname"] == SLO_ALERT);
        }
        resolved.expect("resolved")
    };
    assert_eq!(resolved["receiver"], "webhook", "{resolved:#}");
    eprintln!(
        "SLO alert: {SLO_ALERT} delivered firing {:.0} s after products was scaled to 0 (the client's answers: {statuses:?}), \
         resolved {:.0} s after it was back ({answered} requests answered by wrk in between)",
        fired_after.as_secs_f64(),
        restored.elapsed().as_secs_f64(),
    );
}

/// `wrk` for `seconds` against `path` on `host` through Traefik; the
/// requests it counted.
fn wrk(host: &str, path: &str, seconds: u32) -> u64 {
    let output = Command::new("wrk")
        .args([
            "-t2",
            "-c16",
            &format!("-d{seconds}s"),
            "-H",
            &format!("Host: {host}"),
        ])
        .arg(format!("http://{ADDRESS}:{}{path}", ingress::PORT))
        .output()
        .expect("wrk runs");
    let printed = text(&output);
    assert!(output.status.success(), "wrk: {printed}");
    assert!(!printed.contains("Non-2xx"), "wrk saw failures: {printed}");
    printed
        .lines()
        .find_map(|line| {
            line.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.trim().parse().ok())
        })
        .flatten()
        .unwrap_or_else(|| panic!("no request count in: {printed}"))
}
