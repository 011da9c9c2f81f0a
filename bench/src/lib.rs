//! `cloudshop bench`: the shipped binaries (`cloudshop release build`'s `dist/bin`)
//! as five processes on a private PostgreSQL, measured the way a user meets
//! them: time from start to ready (database already migrated), idle and
//! loaded memory per service, and workloads through the gateway (TLS to it,
//! mutual TLS behind it) and the storefront: the single-endpoint ones driven
//! by `wrk` ([`wrk`]), the shopper mix by the load generator's journeys.
//! Each workload also reports the shop's own cost, CPU-seconds of the
//! services and PostgreSQL per 1,000 requests ([`cpu`]), which, unlike
//! req/s, does not move with the generator's own cost. Prints one Markdown
//! table; `--json` and the SVG latency chart keep the details.
//!
//! Everything listens on 127.0.0.1; every workload runs for `--seconds` and
//! the processes and PostgreSQL stop at the end, also when a step fails, a
//! workload overruns its deadline ([`WORKLOAD_GRACE`]) or the bench gets
//! SIGINT or SIGTERM. The gateway's per-address
//! rate limit and auth's login throttles are lifted here: all of the load
//! comes from one address and a few accounts, and the login figures are to
//! measure argon2id, not the throttle.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod cpu;
mod wrk;

use anyhow::{Context, bail};
use cloudshop_host::files::ShopFiles;
use cloudshop_host::ports;
use cloudshop_host::postgres::{Cluster, Durability, Running};
use cloudshop_host::readiness;
use cloudshop_host::signals::{self, Signal};
use cloudshop_loadgen::journey::{CATALOGUE, HOME, LOGIN, ORDER, PRODUCT};
use cloudshop_loadgen::{Journey, Mix, Report, Shop, closed_loop, open_loop};
use cloudshop_platform::db::DatabaseSettings;
use cloudshop_topology::{NAMES, ServiceId};
use cloudshop_wiring::{FixedPorts, Wiring, without_login_throttle};
use secrecy::ExposeSecret;
use serde::Serialize;

const DATABASE: &str = "cloudshop";

/// The catalogue readers beside the login flood arrive at this rate, whatever
/// the latency (the load generator's open loop), and the same readers alone
/// give the idle p99 they are compared with. Closed-loop readers (wrk) would
/// take every core the flood leaves and make "logins keep most of the argon2id
/// ceiling" impossible by construction; shoppers browsing at a steady rate
/// while someone floods the login is the case the target is about.
const FLOOD_READERS_PER_S: f64 = 1000.0;

/// How much longer than `--seconds` a workload may take before the bench
/// gives up on it and fails naming it: wrk and the load generator give up on
/// a request after 10 s, and a shopper's journey is at most two requests.
const WORKLOAD_GRACE: Duration = Duration::from_secs(60);

/// How long a service has to stop after SIGTERM before it is killed (and the
/// bench says so: a service that does not stop is a defect).
const STOP_GRACE: Duration = Duration::from_secs(15);

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Where `cloudshop release build` put the binaries (`<dist>/bin/<service>`).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Seconds each workload runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Journeys per second of the open-loop shopper mix.
    #[arg(long, default_value_t = 300.0)]
    rate: f64,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where the latency chart (SVG) goes.
    #[arg(long, default_value = "target/bench/latency.svg")]
    chart: PathBuf,
}

/// One service's process figures.
#[derive(Debug, Clone, Serialize)]
struct ServiceFigures {
    service: ServiceId,
    image_mb: Option<f64>,
    ready_ms: f64,
    idle_rss_mb: f64,
    peak_rss_mb: f64,
}

#[derive(Debug, Serialize)]
struct Results {
    date: String,
    cores: usize,
    argon2_median_ms: f64,
    login_ceiling_per_s: f64,
    catalogue_p99_idle_ms: f64,
    catalogue_p99_during_login_flood_ms: f64,
    /// The orders workload's product: units in CONFIRMED orders, units held
    /// by reservations (confirmed ones and orders wrk cut off, PENDING until
    /// the reconciler confirms them), and how far its stock went down. Stock
    /// taken ≠ reserved, or confirmed > reserved, is an oversell: the bench
    /// fails.
    orders_confirmed_units: i64,
    orders_reserved_units: i64,
    orders_stock_taken: i64,
    services: Vec<ServiceFigures>,
    workloads: Vec<Report>,
}

/// The shop's processes and its PostgreSQL, stopped when dropped; unless the
/// run finished, what the services warned of is printed first (a failed
/// step, an overrun, an oversell or an interruption then says why).
struct Processes {
    cluster: Cluster,
    postgres: Option<Running>,
    children: Vec<(ServiceId, Child)>,
    dir: PathBuf,
    finished: bool,
}

impl Processes {
    /// Starts `service` and waits until its admin port answers ready.
    async fn start(
        &mut self,
        bin: &Path,
        service: ServiceId,
        config: &Path,
        ports: &FixedPorts,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let (_, admin) = ports.of(service);
        self.children
            .push((service, spawn(bin, service.name(), config, &self.dir)?));
        wait_ready(service.name(), admin, timeout).await
    }

    /// SIGTERM to every service; one still running [`STOP_GRACE`] later is
    /// killed, with a warning naming it.
    fn stop_services(&mut self) {
        for (_, child) in &mut self.children {
            signals::send(child.id(), Signal::Terminate);
        }
        let deadline = Instant::now() + STOP_GRACE;
        for (service, mut child) in self.children.drain(..) {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                progress(&format!(
                    "warning: {service} did not stop within {STOP_GRACE:?} of SIGTERM; killed"
                ));
                signals::send(child.id(), Signal::Kill);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        if !self.finished {
            for line in complaints(&self.dir) {
                progress(&line);
            }
        }
        self.stop_services();
        if let Some(postgres) = self.postgres.take() {
            let _ = self.cluster.stop(postgres);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the bench; SIGINT or SIGTERM stops it (and, as any failure does,
/// the shop's processes and PostgreSQL).
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let interrupted = tokio_util::sync::CancellationToken::new();
    cloudshop_platform::server::cancel_on_signal(interrupted.clone())
        .context("installing the SIGINT and SIGTERM handlers")?;
    tokio::select! {
        result = measure(args) => result,
        _ = interrupted.cancelled() => {
            bail!("interrupted by SIGINT or SIGTERM; the shop's processes and PostgreSQL were stopped")
        }
    }
}

async fn measure(args: &BenchArgs) -> anyhow::Result<()> {
    let bin = args.dist.join("bin");
    for service in NAMES {
        if !bin.join(service).is_file() {
            bail!(
                "{} is missing: run `cloudshop release build` first (or pass --dist)",
                bin.join(service).display()
            );
        }
    }
    let dir = std::env::temp_dir().join(format!("cloudshop-bench-{}", std::process::id()));
    let files = ShopFiles::new(&dir);
    files.ensure()?;
    let ports = FixedPorts::reserve().context("free ports")?;
    let cluster = Cluster::new(&files, ports::reserve_one().context("a free port")?)?;
    cluster.init_from_template(&files)?;
    let postgres = cluster.spawn(Durability::Ephemeral)?;
    let mut processes = Processes {
        cluster: cluster.clone(),
        postgres: Some(postgres),
        children: Vec::new(),
        dir: dir.clone(),
        finished: false,
    };
    cluster.provision_roles(&files)?;
    cluster.create_database(DATABASE)?;
    let configs = write_configs(&files, &dir, &ports, cluster.port())?;

    // First start: migrations and the seeded catalogue.
    progress("first start (migrations, seed)");
    for (service, config) in &configs {
        processes
            .start(&bin, *service, config, &ports, Duration::from_secs(60))
            .await?;
    }
    processes.stop_services();

    // Start to ready, one at a time, on a migrated database.
    progress("start to ready");
    let mut figures = Vec::new();
    for (service, config) in &configs {
        let started = Instant::now();
        processes
            .start(&bin, *service, config, &ports, Duration::from_secs(30))
            .await?;
        figures.push(ServiceFigures {
            service: *service,
            image_mb: image_mb(service.name()),
            ready_ms: started.elapsed().as_secs_f64() * 1e3,
            idle_rss_mb: 0.0,
            peak_rss_mb: 0.0,
        });
    }
    // Idle memory once the start-up allocations have settled.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pids: Vec<u32> = processes.children.iter().map(|(_, child)| child.id()).collect();
    for (figure, pid) in figures.iter_mut().zip(&pids) {
        figure.idle_rss_mb = rss_mb(*pid);
        figure.peak_rss_mb = figure.idle_rss_mb;
    }

    let gateway = format!("https://localhost:{}", ports.gateway.0);
    let storefront = format!("http://127.0.0.1:{}", ports.storefront.0);
    let admin_email = std::fs::read_to_string(files.admin_email().path())?;
    let admin_password = std::fs::read_to_string(files.admin_password().path())?;
    progress("preparing shoppers");
    let ca = files.ca_cert();
    let prepare = Shop::prepare(
        &gateway,
        &storefront,
        &ca,
        (admin_email.trim(), admin_password.trim()),
        32,
    );
    let shop = Arc::new(
        tokio::time::timeout(WORKLOAD_GRACE, prepare)
            .await
            .map_err(|_| anyhow::anyhow!("preparing shoppers did not finish within {WORKLOAD_GRACE:?}"))??,
    );

    // Peak memory while the workloads run.
    let peaks = Arc::new(std::sync::Mutex::new(vec![0.0_f64; pids.len()]));
    let sampler = tokio::spawn({
        let (pids, peaks) = (pids.clone(), Arc::clone(&peaks));
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let mut peak = peaks.lock().unwrap_or_else(|e| e.into_inner());
                for (peak, pid) in peak.iter_mut().zip(&pids) {
                    *peak = peak.max(rss_mb(*pid));
                }
            }
        }
    });
    let postmaster: u32 = processes
        .postgres
        .as_ref()
        .and_then(|running| running.pid().parse().ok())
        .context("PostgreSQL's pid")?;
    let workloads = Workloads {
        shop,
        seconds: Duration::from_secs(args.seconds),
        cpu: cpu::ShopCpu::new(pids.clone(), postmaster),
        dir: dir.clone(),
        gateway: gateway.clone(),
        storefront: storefront.clone(),
        cluster: cluster.clone(),
        current: std::sync::Mutex::new(String::new()),
    };
    let measured = workloads.run_all(args.rate).await?;
    sampler.abort();
    for (figure, peak) in figures
        .iter_mut()
        .zip(peaks.lock().unwrap_or_else(|e| e.into_inner()).iter())
    {
        figure.peak_rss_mb = figure.peak_rss_mb.max(*peak);
    }

    let argon2 = argon2_median_ms().await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let login_per_s = measured
        .login
        .endpoint(LOGIN)
        .map_or(0.0, |e| e.requests_per_second);
    let results = Results {
        date: date(),
        cores,
        argon2_median_ms: argon2,
        login_ceiling_per_s: cores as f64 * 1e3 / argon2,
        catalogue_p99_idle_ms: measured
            .catalogue_paced
            .endpoint(CATALOGUE)
            .map_or(0.0, |e| e.p99_ms),
        catalogue_p99_during_login_flood_ms: measured
            .catalogue_during_flood
            .endpoint(CATALOGUE)
            .map_or(0.0, |e| e.p99_ms),
        orders_confirmed_units: measured.orders_confirmed_units,
        orders_reserved_units: measured.orders_reserved_units,
        orders_stock_taken: measured.orders_stock_taken,
        services: figures,
        workloads: measured.into_reports(),
    };
    // A run with errors also shows what the services logged about them
    // (read before the folder goes with the processes).
    let errors: u64 = results
        .workloads
        .iter()
        .flat_map(|report| &report.endpoints)
        .map(|endpoint| endpoint.errors)
        .sum();
    let complaints = if errors > 0 { complaints(&dir) } else { Vec::new() };
    processes.finished = true;
    drop(processes);

    print_results(&results)?;
    for line in &complaints {
        progress(line);
    }
    if let Some(parent) = args.chart.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        &args.chart,
        cloudshop_loadgen::chart::svg("cloudshop bench: latency per workload", &results.workloads),
    )?;
    progress(&format!("chart: {}", args.chart.display()));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
        progress(&format!("JSON: {}", path.display()));
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\nlogin: {login_per_s:.0}/s = {:.0} % of the ceiling ({cores} cores / {:.1} ms per argon2id hash = {:.0}/s); \
         catalogue p99 {:.2} ms idle, {:.2} ms during the login flood",
        100.0 * login_per_s / results.login_ceiling_per_s,
        results.argon2_median_ms,
        results.login_ceiling_per_s,
        results.catalogue_p99_idle_ms,
        results.catalogue_p99_during_login_flood_ms,
    )?;
    writeln!(
        out,
        "orders: the product's stock went down by {}, reservations hold {} ({} confirmed, the rest pending \
         after wrk cut them off): no oversell",
        results.orders_stock_taken, results.orders_reserved_units, results.orders_confirmed_units
    )?;
    Ok(())
}

/// The workloads against one shop, each for `seconds`, one after another
/// (the login flood and its catalogue readers together).
struct Workloads {
    shop: Arc<Shop>,
    seconds: Duration,
    cpu: cpu::ShopCpu,
    /// The bench's private folder (wrk's scripts).
    dir: PathBuf,
    gateway: String,
    storefront: String,
    cluster: Cluster,
    /// The workload running (its progress line), for the error when it
    /// overruns.
    current: std::sync::Mutex<String>,
}

/// Every workload's report, by name.
struct Measured {
    catalogue_idle: Report,
    catalogue: Report,
    catalogue_loadgen: Report,
    product: Report,
    storefront_home: Report,
    login: Report,
    orders: Report,
    catalogue_paced: Report,
    login_flood: Report,
    catalogue_during_flood: Report,
    shopper_mix: Report,
    orders_confirmed_units: i64,
    orders_reserved_units: i64,
    orders_stock_taken: i64,
}

impl Measured {
    /// The reports in the order the table, the chart and the JSON list them.
    fn into_reports(self) -> Vec<Report> {
        vec![
            self.catalogue_idle,
            self.catalogue,
            self.catalogue_loadgen,
            self.product,
            self.storefront_home,
            self.login,
            self.orders,
            self.catalogue_paced,
            self.login_flood,
            self.catalogue_during_flood,
            self.shopper_mix,
        ]
    }
}

/// One product's stock and the units orders hold of it, from one snapshot.
struct StockUnits {
    stock: i64,
    reserved: i64,
    confirmed: i64,
}

/// The requests of all of a report's endpoints.
fn requests(report: &Report) -> u64 {
    report.endpoints.iter().map(|e| e.requests).sum()
}

impl Workloads {
    async fn run_all(&self, rate: f64) -> anyhow::Result<Measured> {
        let catalogue_idle = self.bounded(self.catalogue(8, "catalogue, 8 users")).await?;
        let catalogue = self.bounded(self.catalogue(64, "catalogue, 64 users")).await?;
        let catalogue_loadgen = self.bounded(async { Ok(self.catalogue_loadgen().await) }).await?;
        let product = self.bounded(self.product()).await?;
        let storefront_home = self.bounded(self.storefront_home()).await?;
        let login = self.bounded(self.login()).await?;
        let before = self.ordered_units(self.shop.stocked())?;
        let orders = self.bounded(self.orders()).await?;
        // wrk stops with requests in flight: an order cut off after its
        // reservation stays PENDING until the reconciler confirms it, and
        // orders still arrive while the check reads. So the check is the
        // databases', read in one snapshot: every unit the stock lost is
        // reserved, and confirmed orders hold no more than that.
        let after = self.ordered_units(self.shop.stocked())?;
        let taken = before.stock - after.stock;
        let reserved = after.reserved - before.reserved;
        let confirmed = after.confirmed - before.confirmed;
        if taken != reserved || confirmed > reserved {
            bail!(
                "oversold: the stock of product {} went down by {taken}, reservations hold {reserved}, \
                 confirmed orders {confirmed}",
                self.shop.stocked()
            );
        }
        let paced_label = format!("catalogue, open loop {FLOOD_READERS_PER_S}/s");
        let catalogue_paced = self
            .bounded(async { Ok(self.paced_catalogue(&paced_label).await) })
            .await?;
        let (login_flood, catalogue_during_flood) = self.bounded(self.login_flood()).await?;
        let shopper_mix = self.bounded(async { Ok(self.shopper_mix(rate).await) }).await?;
        Ok(Measured {
            catalogue_idle,
            catalogue,
            catalogue_loadgen,
            product,
            storefront_home,
            login,
            orders,
            catalogue_paced,
            login_flood,
            catalogue_during_flood,
            shopper_mix,
            orders_confirmed_units: confirmed,
            orders_reserved_units: reserved,
            orders_stock_taken: taken,
        })
    }

    fn step(&self, what: &str) {
        progress(&format!("{what} ({} s)", self.seconds.as_secs()));
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = what.to_owned();
    }

    /// `workload`, given `--seconds` and [`WORKLOAD_GRACE`] to finish; past
    /// that it is dropped (wrk is killed with it) and the bench fails
    /// naming it.
    async fn bounded<T>(
        &self,
        workload: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let limit = self.seconds + WORKLOAD_GRACE;
        match tokio::time::timeout(limit, workload).await {
            Ok(result) => result,
            Err(_) => bail!(
                "the workload \"{}\" did not finish within {limit:?}",
                self.current.lock().unwrap_or_else(|e| e.into_inner())
            ),
        }
    }

    /// The stock of `product`, and its units in CONFIRMED orders and in
    /// held reservations, read in one statement and so one snapshot: an
    /// order committing between two reads cannot be counted in one and not
    /// the other.
    fn ordered_units(&self, product: i64) -> anyhow::Result<StockUnits> {
        let sql = format!(
            "SELECT (SELECT stock FROM products.products WHERE id = {product}) || ' ' || \
             (SELECT COALESCE(sum(l.quantity), 0) FROM products.reservation_lines l \
              JOIN products.reservations r ON r.order_id = l.order_id \
              WHERE l.product_id = {product} AND r.state = 'reserved') || ' ' || \
             (SELECT COALESCE(sum(l.quantity), 0) FROM orders.order_lines l \
              JOIN orders.orders o ON o.id = l.order_id \
              WHERE l.product_id = {product} AND o.status = 'CONFIRMED')"
        );
        let text = self.cluster.psql(DATABASE, &sql)?;
        let parse = |field: Option<&str>| -> anyhow::Result<i64> {
            field
                .context("fewer than three numbers")?
                .parse()
                .with_context(|| format!("{sql}: {text}"))
        };
        let mut fields = text.split_whitespace();
        Ok(StockUnits {
            stock: parse(fields.next())?,
            reserved: parse(fields.next())?,
            confirmed: parse(fields.next())?,
        })
    }

    fn run(
        &self,
        label: &str,
        endpoint: &'static str,
        url: String,
        connections: usize,
        script: wrk::Script,
    ) -> wrk::Run {
        wrk::Run {
            label: label.to_owned(),
            endpoint,
            url,
            threads: 2.min(connections),
            connections,
            script,
        }
    }

    /// Runs `runs` (one, or two at once); their reports, each with the
    /// shop's CPU cost of the whole interval per 1,000 of all their requests.
    async fn measured(&self, runs: &[wrk::Run]) -> anyhow::Result<Vec<Report>> {
        let before = self.cpu.seconds();
        let (_, wrk_before) = self.cpu.this_process();
        let all = match runs {
            [one] => vec![wrk::run(one, self.seconds, &self.dir).await],
            [a, b] => {
                let (a, b) = tokio::join!(
                    wrk::run(a, self.seconds, &self.dir),
                    wrk::run(b, self.seconds, &self.dir)
                );
                vec![a, b]
            }
            _ => bail!("one or two wrk runs at once, not {}", runs.len()),
        };
        let spent = self.cpu.seconds() - before;
        let generator = self.cpu.this_process().1 - wrk_before;
        let mut reports = all.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        let total: u64 = reports.iter().map(requests).sum();
        for report in &mut reports {
            report.shop_cpu_s_per_1k = cpu::per_thousand(spent, total);
            report.generator_cpu_s_per_1k = cpu::per_thousand(generator, total);
        }
        Ok(reports)
    }

    async fn one(&self, run: wrk::Run) -> anyhow::Result<Report> {
        let mut reports = self.measured(&[run]).await?;
        Ok(reports.remove(0))
    }

    async fn catalogue(&self, users: usize, label: &str) -> anyhow::Result<Report> {
        self.step(label);
        let url = format!("{}{}", self.gateway, cloudshop_api::paths::PRODUCTS);
        self.one(self.run(label, CATALOGUE, url, users, wrk::Script::Get))
            .await
    }

    /// The same catalogue workload driven by the load generator (this
    /// process), as the bench did before wrk: beside the wrk row, how much
    /// of the figure was the generator's.
    async fn catalogue_loadgen(&self) -> Report {
        let label = "catalogue, 64 users, load generator";
        self.step(label);
        self.in_process(closed_loop(
            Arc::clone(&self.shop),
            Mix::only(Journey::Browse),
            64,
            self.seconds,
            label,
        ))
        .await
    }

    /// A workload the load generator runs in this process, with the shop's
    /// CPU cost and this process's own.
    async fn in_process(&self, workload: impl std::future::Future<Output = Report>) -> Report {
        let before = self.cpu.seconds();
        let (own_before, _) = self.cpu.this_process();
        let mut report = workload.await;
        let total = requests(&report);
        report.shop_cpu_s_per_1k = cpu::per_thousand(self.cpu.seconds() - before, total);
        // The whole command's CPU: the generator and its bookkeeping.
        report.generator_cpu_s_per_1k = cpu::per_thousand(self.cpu.this_process().0 - own_before, total);
        report
    }

    async fn product(&self) -> anyhow::Result<Report> {
        let label = "product page, 64 users";
        self.step(label);
        let script = wrk::Script::GetEach {
            prefix: format!("{}/", cloudshop_api::paths::PRODUCTS),
            ids: self.shop.products().to_vec(),
        };
        self.one(self.run(label, PRODUCT, self.gateway.clone(), 64, script))
            .await
    }

    async fn storefront_home(&self) -> anyhow::Result<Report> {
        let label = "storefront home, 64 users";
        self.step(label);
        let url = format!("{}/", self.storefront);
        self.one(self.run(label, HOME, url, 64, wrk::Script::Get)).await
    }

    fn logins(&self, label: &str, users: usize) -> wrk::Run {
        let bodies = self
            .shop
            .accounts()
            .iter()
            .map(|account| {
                serde_json::json!({
                    "email": account.email,
                    "password": account.password.secret().expose_secret(),
                })
                .to_string()
            })
            .collect();
        let script = wrk::Script::PostEach {
            path: cloudshop_api::paths::LOGIN.to_owned(),
            bodies,
        };
        self.run(label, LOGIN, self.gateway.clone(), users, script)
    }

    /// Full argon2id verifications: bound by the cores.
    async fn login(&self) -> anyhow::Result<Report> {
        let label = "login, 8 users";
        self.step(label);
        self.one(self.logins(label, 8)).await
    }

    async fn orders(&self) -> anyhow::Result<Report> {
        let label = "orders, 32 users";
        self.step(label);
        let script = wrk::Script::Order {
            path: cloudshop_api::paths::ORDERS.to_owned(),
            body: serde_json::json!({"lines": [{"product_id": self.shop.stocked(), "quantity": 1}]})
                .to_string(),
            tokens: self.shop.tokens().to_vec(),
            run: format!("{}-{}", std::process::id(), date().replace([' ', ':'], "-")),
        };
        self.one(self.run(label, ORDER, self.gateway.clone(), 32, script))
            .await
    }

    /// Logins saturating auth while shoppers read the catalogue: whether
    /// the hashing starves the rest of the shop.
    /// Catalogue reads arriving at [`FLOOD_READERS_PER_S`]: alone, the idle
    /// figure the login flood's readers are compared with.
    async fn paced_catalogue(&self, label: &str) -> Report {
        self.step(label);
        self.in_process(self.catalogue_readers(label)).await
    }

    async fn catalogue_readers(&self, label: &str) -> Report {
        open_loop(
            Arc::clone(&self.shop),
            Mix::only(Journey::Browse),
            FLOOD_READERS_PER_S,
            self.seconds,
            1024,
            label,
        )
        .await
    }

    /// Logins as fast as 16 connections can send them (wrk) while the paced
    /// catalogue readers keep arriving; both rows carry the interval's shop
    /// CPU over both workloads' requests, and the generators' (wrk and this
    /// process) likewise.
    async fn login_flood(&self) -> anyhow::Result<(Report, Report)> {
        let readers_label = format!("catalogue during the flood, open loop {FLOOD_READERS_PER_S}/s");
        self.step(&format!("login flood (16 users) with {readers_label}"));
        let mut flood = self.logins("login flood, 16 users", 16);
        flood.threads = 1;
        let before = self.cpu.seconds();
        let (own_before, wrk_before) = self.cpu.this_process();
        let (flood, mut readers) = tokio::join!(
            wrk::run(&flood, self.seconds, &self.dir),
            self.catalogue_readers(&readers_label)
        );
        let mut flood = flood?;
        let spent = self.cpu.seconds() - before;
        let (own, wrk) = self.cpu.this_process();
        let generator = (own - own_before) + (wrk - wrk_before);
        let total = requests(&flood) + requests(&readers);
        for report in [&mut flood, &mut readers] {
            report.shop_cpu_s_per_1k = cpu::per_thousand(spent, total);
            report.generator_cpu_s_per_1k = cpu::per_thousand(generator, total);
        }
        Ok((flood, readers))
    }

    /// Shoppers arriving at `rate` journeys per second, whatever the latency:
    /// the load generator's journeys, every body checked.
    async fn shopper_mix(&self, rate: f64) -> Report {
        self.step(&format!("shopper mix, open loop at {rate}/s"));
        let label = format!("shopper mix, open loop {rate}/s");
        self.in_process(open_loop(
            Arc::clone(&self.shop),
            Mix::shoppers(),
            rate,
            self.seconds,
            1024,
            &label,
        ))
        .await
    }
}

/// The last warnings and errors each service logged (its JSON lines at WARN
/// or ERROR), at most [`COMPLAINTS_PER_SERVICE`] each, prefixed by its name.
fn complaints(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for service in NAMES {
        let Ok(log) = std::fs::read_to_string(dir.join(format!("{service}.log"))) else {
            continue;
        };
        let logged: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#))
            .collect();
        let skip = logged.len().saturating_sub(COMPLAINTS_PER_SERVICE);
        lines.extend(
            logged[skip..]
                .iter()
                .map(|line| format!("{service} logged: {line}")),
        );
    }
    lines
}

const COMPLAINTS_PER_SERVICE: usize = 10;

fn progress(message: &str) {
    cloudshop_host::progress::stage("bench", message);
}

fn print_results(results: &Results) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", Report::HEADER)?;
    for report in &results.workloads {
        writeln!(out, "{}", report.rows())?;
    }
    writeln!(out)?;
    // What the errors were, so a run with any says why.
    for report in &results.workloads {
        for endpoint in &report.endpoints {
            for (kind, count) in &endpoint.error_kinds {
                writeln!(
                    out,
                    "errors of {} {}: {count} × {kind}",
                    report.label, endpoint.endpoint
                )?;
            }
        }
    }
    writeln!(
        out,
        "| service | image MB | start to ready ms | idle RSS MB | peak RSS under load MB |"
    )?;
    writeln!(out, "|---|---|---|---|---|")?;
    for s in &results.services {
        let image = s.image_mb.map_or("not built".to_owned(), |mb| format!("{mb:.2}"));
        writeln!(
            out,
            "| {} | {image} | {:.0} | {:.1} | {:.1} |",
            s.service, s.ready_ms, s.idle_rss_mb, s.peak_rss_mb
        )?;
    }
    Ok(())
}

/// Writes each service's settings (TOML, what CLOUDSHOP_CONFIG names) for
/// this machine, on `ports` and PostgreSQL at `postgres`: each service's
/// name and file, in the order of [`SERVICES`](cloudshop_topology::SERVICES).
fn write_configs(
    files: &ShopFiles,
    dir: &Path,
    ports: &FixedPorts,
    postgres: u16,
) -> anyhow::Result<Vec<(ServiceId, PathBuf)>> {
    let wiring = Wiring::new(files, |role| DatabaseSettings {
        port: postgres,
        name: DATABASE.into(),
        password_file: files.db_password(role),
        ca_file: files.ca_cert(),
        ..DatabaseSettings::for_service(role)
    });
    let mut shop = wiring.fixed(ports);
    // Logins measure argon2id, and the catalogue the gateway, not the
    // brute-force throttle or the per-address rate limit.
    without_login_throttle(&mut shop.auth);
    shop.gateway.rate_limit.per_minute = 1_000_000_000;
    shop.gateway.rate_limit.burst = 1_000_000_000;
    std::fs::create_dir_all(dir.join("config"))?;
    let mut paths = Vec::new();
    for (service, text) in shop.to_toml()? {
        let path = dir.join("config").join(format!("{service}.toml"));
        std::fs::write(&path, text)?;
        paths.push((service, path));
    }
    Ok(paths)
}

fn spawn(bin: &Path, service: &str, config: &Path, dir: &Path) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{service}.log")))?;
    Command::new(bin.join(service))
        .env("CLOUDSHOP_CONFIG", config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {service}"))
}

async fn wait_ready(service: &str, admin_port: u16, timeout: Duration) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{admin_port}/readyz");
    let client = reqwest::Client::new();
    readiness::poll(
        timeout,
        Duration::from_millis(2),
        async || Ok(readiness::http_ok(&client, &url).await),
        |_| anyhow::anyhow!("{service} was not ready within {timeout:?}"),
    )
    .await
}

/// Resident memory of a process, in MB (from /proc; 0 when it is gone).
fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The median time of one argon2id verification at the shipped parameters.
async fn argon2_median_ms() -> anyhow::Result<f64> {
    use cloudshop_auth::passwords::PasswordHasher;
    use secrecy::SecretString;
    let settings = cloudshop_auth::settings::PasswordSettings::default();
    let hasher = PasswordHasher::new(&settings, prometheus::IntCounter::new("checks", "checks")?)?;
    let stored = hasher.hash(SecretString::from("bench password 123!")).await?;
    let mut samples = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        hasher
            .verify(Some(stored.clone()), SecretString::from("bench password 123!"))
            .await;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// A service's local image size in MB, when `cloudshop release images` built it.
fn image_mb(service: &str) -> Option<f64> {
    let image = format!("cloudshop/{service}:{}", env!("CARGO_PKG_VERSION"));
    ["podman", "docker"].iter().find_map(|engine| {
        let output = Command::new(engine)
            .args(["image", "inspect", "--format", "{{.Size}}"])
            .arg(&image)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let bytes: f64 = String::from_utf8_lossy(&output.stdout).trim().parse().ok()?;
        Some(bytes / 1e6)
    })
}

fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
