//! Catalogue reads and order creation through the gateway (TLS to the
//! gateway, mutual TLS behind it), with the whole backend and the load
//! generator in one process on this machine.
//! `cargo bench -p cloudshop-backend-tests --bench throughput`

// A benchmark prints its results.
#![allow(clippy::disallowed_macros, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cloudshop_api::client::Caller;
use cloudshop_api::orders::{Line, OrderRequest};
use cloudshop_api::products::ProductQuery;
use cloudshop_backend_tests::{Backend, Options, spawn_backend_with};
use tokio::task::JoinSet;

const DURATION: Duration = Duration::from_secs(10);

struct Report {
    requests: usize,
    errors: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Report {
    fn print(mut self, what: &str, connections: usize) {
        self.latencies.sort();
        let at = |q: f64| {
            let index =
                ((self.latencies.len() as f64 * q) as usize).min(self.latencies.len().saturating_sub(1));
            self.latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        println!(
            "| {what} | {connections} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            self.requests as f64 / self.elapsed.as_secs_f64(),
            at(0.5),
            at(0.95),
            at(0.99),
            self.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            self.errors,
        );
    }
}

/// Runs `connections` closed-loop workers for `DURATION`; each call returns
/// whether the request succeeded.
async fn run<F, Fut>(connections: usize, call: F) -> Report
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..connections {
        let call = Arc::clone(&call);
        let counter = Arc::clone(&counter);
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while started.elapsed() < DURATION {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                if !call(n).await {
                    errors += 1;
                }
                latencies.push(sent.elapsed());
            }
            (latencies, errors)
        });
    }
    let mut report = Report {
        requests: 0,
        errors: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
    };
    while let Some(Ok((latencies, errors))) = workers.join_next().await {
        report.requests += latencies.len();
        report.errors += errors;
        report.latencies.extend(latencies);
    }
    report.elapsed = started.elapsed();
    report
}

async fn catalogue(shop: &Backend, connections: usize) -> Report {
    let api = shop.api.clone();
    let query = ProductQuery {
        page: Some(1),
        per_page: Some(20),
        ..ProductQuery::default()
    };
    run(connections, move |_| {
        let (api, query) = (api.clone(), query.clone());
        async move { api.products(Caller::anonymous(), &query).await.is_ok() }
    })
    .await
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        println!("| workload | connections | requests/s | p50 ms | p95 ms | p99 ms | max ms | errors |");
        println!("|---|---|---|---|---|---|---|---|");
        for cache in [false, true] {
            let shop = spawn_backend_with(Options {
                products_cache: cache,
                gateway_rate_per_minute: 100_000_000,
                capture_logs: false,
                ..Options::default()
            })
            .await;
            let label = if cache {
                "catalogue page, cached"
            } else {
                "catalogue page, no cache"
            };
            catalogue(&shop, 64).await.print(label, 64);
            if cache {
                let admin = shop.admin().await;
                let product = shop.product(&admin, 100, 1_000_000).await;
                let token = shop.customer().await;
                let api = shop.api.clone();
                let run_id = uuid::Uuid::new_v4().simple().to_string();
                let one = OrderRequest {
                    lines: vec![Line {
                        product_id: product,
                        quantity: 1,
                    }],
                };
                let report = run(32, move |n| {
                    let (api, token, one) = (api.clone(), token.clone(), one.clone());
                    let key = format!("bench-{run_id}-{n}");
                    async move {
                        api.place_order(Caller::with_token(&token), &key, &one)
                            .await
                            .is_ok()
                    }
                })
                .await;
                report.print("order creation", 32);
            }
        }
        anyhow::Ok(())
    })
}
