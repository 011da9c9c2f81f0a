//! `cloudshop bench`: the shipped binaries (`cloudshop build`'s `dist/bin`)
//! as five processes on a private PostgreSQL, measured the way a user meets
//! them: time from start to ready (database already migrated), idle and
//! loaded memory per service, and the load generator's workloads through the
//! gateway (TLS to it, mutual TLS behind it) and the storefront. Prints one
//! Markdown table; `--json` and the SVG latency chart keep the details.
//!
//! Everything listens on 127.0.0.1; every workload runs for `--seconds` and
//! the processes and PostgreSQL stop at the end. The gateway's per-address
//! rate limit and auth's login throttles are lifted here: all of the load
//! comes from one address and a few accounts, and the login figures are to
//! measure argon2id, not the throttle.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cloudshop_devkit::files::ShopFiles;
use cloudshop_devkit::ports;
use cloudshop_devkit::postgres::{Cluster, Durability, Running};
use cloudshop_loadgen::journey::{CATALOGUE, LOGIN};
use cloudshop_loadgen::{Journey, Mix, Report, Shop, closed_loop, open_loop};
use cloudshop_platform::db::DatabaseSettings;
use cloudshop_topology::NAMES;
use cloudshop_wiring::{FixedPorts, Wiring, without_login_throttle};
use serde::Serialize;

const DATABASE: &str = "cloudshop";

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Where `cloudshop build` put the binaries (`<dist>/bin/<service>`).
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
    service: &'static str,
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
    services: Vec<ServiceFigures>,
    workloads: Vec<Report>,
}

/// The shop's processes and its PostgreSQL, stopped when dropped.
struct Processes {
    cluster: Cluster,
    postgres: Option<Running>,
    children: Vec<(&'static str, Child)>,
    dir: PathBuf,
}

impl Processes {
    /// Starts `service` and waits until its admin port answers ready.
    async fn start(
        &mut self,
        bin: &Path,
        service: &'static str,
        config: &Path,
        ports: &FixedPorts,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let (_, admin) = ports.of(service)?;
        self.children
            .push((service, spawn(bin, service, config, &self.dir)?));
        wait_ready(service, admin, timeout).await
    }

    fn stop_services(&mut self) {
        for (_, child) in &mut self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for (_, mut child) in self.children.drain(..) {
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop_services();
        if let Some(postgres) = self.postgres.take() {
            let _ = self.cluster.stop(postgres);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let bin = args.dist.join("bin");
    for service in NAMES {
        if !bin.join(service).is_file() {
            bail!(
                "{} is missing: run `cloudshop build` first (or pass --dist)",
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
    };
    cluster.provision_roles(&files)?;
    cluster.create_database(DATABASE)?;
    let configs = write_configs(&files, &dir, &ports, cluster.port())?;

    // First start: migrations and the seeded catalogue.
    progress("first start (migrations, seed)");
    for (service, config) in &configs {
        processes
            .start(&bin, service, config, &ports, Duration::from_secs(60))
            .await?;
    }
    processes.stop_services();

    // Start to ready, one at a time, on a migrated database.
    progress("start to ready");
    let mut figures = Vec::new();
    for (service, config) in &configs {
        let started = Instant::now();
        processes
            .start(&bin, service, config, &ports, Duration::from_secs(30))
            .await?;
        figures.push(ServiceFigures {
            service,
            image_mb: image_mb(service),
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
    let shop = Arc::new(
        Shop::prepare(
            &gateway,
            &storefront,
            &files.ca_cert(),
            (admin_email.trim(), admin_password.trim()),
            32,
        )
        .await?,
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
    let workloads = Workloads {
        shop,
        seconds: Duration::from_secs(args.seconds),
    };
    let measured = workloads.run_all(args.rate).await;
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
            .catalogue_idle
            .endpoint(CATALOGUE)
            .map_or(0.0, |e| e.p99_ms),
        catalogue_p99_during_login_flood_ms: measured
            .catalogue_during_flood
            .endpoint(CATALOGUE)
            .map_or(0.0, |e| e.p99_ms),
        services: figures,
        workloads: measured.into_reports(),
    };
    drop(processes);

    print_results(&results)?;
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
    Ok(())
}

/// The load generator's workloads against one shop, each for `seconds`, one
/// after another (the login flood and its catalogue readers together).
struct Workloads {
    shop: Arc<Shop>,
    seconds: Duration,
}

/// Every workload's report, by name.
struct Measured {
    catalogue_idle: Report,
    catalogue: Report,
    storefront_home: Report,
    login: Report,
    orders: Report,
    login_flood: Report,
    catalogue_during_flood: Report,
    shopper_mix: Report,
}

impl Measured {
    /// The reports in the order the table, the chart and the JSON list them.
    fn into_reports(self) -> Vec<Report> {
        vec![
            self.catalogue_idle,
            self.catalogue,
            self.storefront_home,
            self.login,
            self.orders,
            self.login_flood,
            self.catalogue_during_flood,
            self.shopper_mix,
        ]
    }
}

impl Workloads {
    async fn run_all(&self, rate: f64) -> Measured {
        let catalogue_idle = self.catalogue_idle().await;
        let catalogue = self.catalogue().await;
        let storefront_home = self.storefront_home().await;
        let login = self.login().await;
        let orders = self.orders().await;
        let (login_flood, catalogue_during_flood) = self.login_flood().await;
        let shopper_mix = self.shopper_mix(rate).await;
        Measured {
            catalogue_idle,
            catalogue,
            storefront_home,
            login,
            orders,
            login_flood,
            catalogue_during_flood,
            shopper_mix,
        }
    }

    fn step(&self, what: &str) {
        progress(&format!("{what} ({} s)", self.seconds.as_secs()));
    }

    async fn closed(&self, journey: Journey, users: usize, label: &str) -> Report {
        closed_loop(
            Arc::clone(&self.shop),
            Mix::only(journey),
            users,
            self.seconds,
            label,
        )
        .await
    }

    /// The catalogue's latency with little else going on: the baseline.
    async fn catalogue_idle(&self) -> Report {
        self.step("catalogue, 8 users, idle baseline");
        self.closed(Journey::Browse, 8, "catalogue, 8 users").await
    }

    async fn catalogue(&self) -> Report {
        self.step("catalogue, 64 users");
        self.closed(Journey::Browse, 64, "catalogue, 64 users").await
    }

    async fn storefront_home(&self) -> Report {
        self.step("storefront home, 64 users");
        self.closed(Journey::StorefrontHome, 64, "storefront home, 64 users")
            .await
    }

    /// Full argon2id verifications: bound by the cores.
    async fn login(&self) -> Report {
        self.step("login, 8 users");
        self.closed(Journey::Login, 8, "login, 8 users").await
    }

    async fn orders(&self) -> Report {
        self.step("order creation, 32 users");
        self.closed(Journey::Order, 32, "orders, 32 users").await
    }

    /// Logins saturating auth while shoppers read the catalogue: whether
    /// the hashing starves the rest of the shop.
    async fn login_flood(&self) -> (Report, Report) {
        self.step("login flood (16 users) with catalogue reads (8 users)");
        tokio::join!(
            self.closed(Journey::Login, 16, "login flood, 16 users"),
            self.closed(Journey::Browse, 8, "catalogue during the flood, 8 users"),
        )
    }

    /// Shoppers arriving at `rate` journeys per second, whatever the latency.
    async fn shopper_mix(&self, rate: f64) -> Report {
        self.step(&format!("shopper mix, open loop at {rate}/s"));
        let label = format!("shopper mix, open loop {rate}/s");
        open_loop(
            Arc::clone(&self.shop),
            Mix::shoppers(),
            rate,
            self.seconds,
            1024,
            &label,
        )
        .await
    }
}

fn progress(message: &str) {
    let _ = writeln!(std::io::stderr(), "==> bench: {message}");
}

fn print_results(results: &Results) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", Report::HEADER)?;
    for report in &results.workloads {
        writeln!(out, "{}", report.rows())?;
    }
    writeln!(out)?;
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
) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
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
    let deadline = Instant::now() + timeout;
    loop {
        if client.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{service} was not ready within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
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

/// A service's local image size in MB, when `cloudshop images` built it.
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
