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
use cloudshop_wiring::{FixedPorts, Wiring, without_login_throttle};
use serde::Serialize;

const DATABASE: &str = "cloudshop";
/// Start order; each service's index into the port list.
const SERVICES: [&str; 5] = ["auth", "products", "orders", "api-gateway", "storefront"];

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
    for service in SERVICES {
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
    let ports = ports::reserve(11).context("free ports")?;
    let cluster = Cluster::new(&files, ports[10])?;
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
    let configs = write_configs(&files, &dir, &ports)?;
    let admin = |index: usize| ports[index + 5];

    // First start: migrations and the seeded catalogue.
    progress("first start (migrations, seed)");
    for (index, service) in SERVICES.iter().enumerate() {
        processes
            .children
            .push((service, spawn(&bin, service, &configs[index], &dir)?));
        wait_ready(service, admin(index), Duration::from_secs(60)).await?;
    }
    processes.stop_services();

    // Start to ready, one at a time, on a migrated database.
    progress("start to ready");
    let mut ready_ms = Vec::new();
    for (index, service) in SERVICES.iter().enumerate() {
        let started = Instant::now();
        processes
            .children
            .push((service, spawn(&bin, service, &configs[index], &dir)?));
        wait_ready(service, admin(index), Duration::from_secs(30)).await?;
        ready_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pids: Vec<u32> = processes.children.iter().map(|(_, child)| child.id()).collect();
    let idle: Vec<f64> = pids.iter().map(|pid| rss_mb(*pid)).collect();

    let gateway = format!("https://localhost:{}", ports[3]);
    let storefront = format!("http://127.0.0.1:{}", ports[4]);
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
    let sampling = Arc::new(std::sync::Mutex::new(idle.clone()));
    let sampler = tokio::spawn({
        let (pids, sampling) = (pids.clone(), Arc::clone(&sampling));
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let mut peak = sampling.lock().unwrap_or_else(|e| e.into_inner());
                for (i, pid) in pids.iter().enumerate() {
                    peak[i] = peak[i].max(rss_mb(*pid));
                }
            }
        }
    });

    let seconds = Duration::from_secs(args.seconds);
    let mut workloads = Vec::new();
    let step = |label: &str| progress(&format!("{label} ({} s)", args.seconds));
    step("catalogue, 8 users, idle baseline");
    let baseline = closed_loop(
        Arc::clone(&shop),
        Mix::only(Journey::Browse),
        8,
        seconds,
        "catalogue, 8 users",
    )
    .await;
    step("catalogue, 64 users");
    workloads.push(
        closed_loop(
            Arc::clone(&shop),
            Mix::only(Journey::Browse),
            64,
            seconds,
            "catalogue, 64 users",
        )
        .await,
    );
    step("storefront home, 64 users");
    workloads.push(
        closed_loop(
            Arc::clone(&shop),
            Mix::only(Journey::StorefrontHome),
            64,
            seconds,
            "storefront home, 64 users",
        )
        .await,
    );
    step("login, 8 users");
    workloads.push(
        closed_loop(
            Arc::clone(&shop),
            Mix::only(Journey::Login),
            8,
            seconds,
            "login, 8 users",
        )
        .await,
    );
    step("order creation, 32 users");
    workloads.push(
        closed_loop(
            Arc::clone(&shop),
            Mix::only(Journey::Order),
            32,
            seconds,
            "orders, 32 users",
        )
        .await,
    );
    step("login flood (16 users) with catalogue reads (8 users)");
    let (flood, during) = tokio::join!(
        closed_loop(
            Arc::clone(&shop),
            Mix::only(Journey::Login),
            16,
            seconds,
            "login flood, 16 users"
        ),
        closed_loop(
            Arc::clone(&shop),
            Mix::only(Journey::Browse),
            8,
            seconds,
            "catalogue during the flood, 8 users"
        ),
    );
    step(&format!("shopper mix, open loop at {}/s", args.rate));
    let label = format!("shopper mix, open loop {}/s", args.rate);
    let mix = open_loop(
        Arc::clone(&shop),
        Mix::shoppers(),
        args.rate,
        seconds,
        1024,
        &label,
    )
    .await;
    workloads.insert(0, baseline);
    workloads.push(flood);
    workloads.push(during);
    workloads.push(mix);
    sampler.abort();
    let peak = sampling.lock().unwrap_or_else(|e| e.into_inner()).clone();

    let argon2 = argon2_median_ms().await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let p99 = |report: &Report, endpoint: &str| {
        report
            .endpoints
            .iter()
            .find(|e| e.endpoint == endpoint)
            .map_or(0.0, |e| e.p99_ms)
    };
    let sizes = image_sizes();
    let services = SERVICES
        .iter()
        .enumerate()
        .map(|(i, service)| ServiceFigures {
            service,
            image_mb: sizes.get(i).copied().flatten(),
            ready_ms: ready_ms[i],
            idle_rss_mb: idle[i],
            peak_rss_mb: peak[i],
        })
        .collect();
    let results = Results {
        date: date(),
        cores,
        argon2_median_ms: argon2,
        login_ceiling_per_s: cores as f64 * 1e3 / argon2,
        catalogue_p99_idle_ms: p99(&workloads[0], CATALOGUE),
        catalogue_p99_during_login_flood_ms: p99(&workloads[workloads.len() - 2], CATALOGUE),
        services,
        workloads,
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
    let login = results
        .workloads
        .iter()
        .find(|r| r.label.starts_with("login, "))
        .and_then(|r| r.endpoints.iter().find(|e| e.endpoint == LOGIN))
        .map_or(0.0, |e| e.requests_per_second);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\nlogin: {login:.0}/s = {:.0} % of the ceiling ({cores} cores / {:.1} ms per argon2id hash = {:.0}/s); \
         catalogue p99 {:.2} ms idle, {:.2} ms during the login flood",
        100.0 * login / results.login_ceiling_per_s,
        results.argon2_median_ms,
        results.login_ceiling_per_s,
        results.catalogue_p99_idle_ms,
        results.catalogue_p99_during_login_flood_ms,
    )?;
    Ok(())
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
/// this machine, in the order of [`SERVICES`]: ports from `ports` (API 0..5,
/// admin 5..10, PostgreSQL 10).
fn write_configs(files: &ShopFiles, dir: &Path, ports: &[u16]) -> anyhow::Result<Vec<PathBuf>> {
    let wiring = Wiring::new(files, |role| DatabaseSettings {
        port: ports[10],
        name: DATABASE.into(),
        password_file: files.db_password(role),
        ca_file: files.ca_cert(),
        ..DatabaseSettings::for_service(role)
    });
    let pair = |i: usize| (ports[i], ports[i + 5]);
    let mut shop = wiring.fixed(&FixedPorts {
        auth: pair(0),
        products: pair(1),
        orders: pair(2),
        gateway: pair(3),
        storefront: pair(4),
    });
    // Logins measure argon2id, and the catalogue the gateway, not the
    // brute-force throttle or the per-address rate limit.
    without_login_throttle(&mut shop.auth);
    shop.gateway.rate_limit.per_minute = 1_000_000_000;
    shop.gateway.rate_limit.burst = 1_000_000_000;
    std::fs::create_dir_all(dir.join("config"))?;
    let mut paths = Vec::new();
    for (service, text) in shop.to_toml()? {
        debug_assert_eq!(SERVICES[paths.len()], service);
        let path = dir.join("config").join(format!("{service}.toml"));
        std::fs::write(&path, text)?;
        paths.push(path);
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

/// Each service's local image size in MB, when `cloudshop images` built it.
fn image_sizes() -> Vec<Option<f64>> {
    let version = env!("CARGO_PKG_VERSION");
    SERVICES
        .iter()
        .map(|service| {
            ["podman", "docker"].iter().find_map(|engine| {
                let output = Command::new(engine)
                    .args(["image", "inspect", "--format", "{{.Size}}"])
                    .arg(format!("cloudshop/{service}:{version}"))
                    .stderr(Stdio::null())
                    .output()
                    .ok()?;
                let bytes: f64 = String::from_utf8_lossy(&output.stdout).trim().parse().ok()?;
                Some(bytes / 1e6)
            })
        })
        .collect()
}

fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
