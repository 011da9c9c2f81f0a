//! The local shop: everything in one process, data under `.cloudshop/`;
//! its settings overridable from a file ([`config`]), its PostgreSQL
//! restarted when it dies ([`postgres_watch`]).

mod config;
pub mod observe;
mod postgres_watch;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use cloudshop_host::files::ShopFiles;
use cloudshop_host::postgres::{Cluster, Durability};
use cloudshop_host::readiness;
use cloudshop_platform::db::DatabaseSettings;
use cloudshop_platform::server::Service;
use cloudshop_platform::settings::HttpSettings;
use cloudshop_topology::ServiceId;
use cloudshop_wiring::Wiring;
use cloudshop_wiring::start::{self, Start};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::config::UpConfig;

const DATABASE: &str = "cloudshop";

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The local shop's folder.
    #[arg(long, default_value = ".cloudshop")]
    dir: PathBuf,
    /// Port of the storefront (HTTP).
    #[arg(long, default_value_t = 3000)]
    storefront_port: u16,
    /// Port of the API gateway (HTTPS).
    #[arg(long, default_value_t = 8080)]
    gateway_port: u16,
    /// Port of the private PostgreSQL (127.0.0.1 only, TLS only).
    #[arg(long, default_value_t = 54320)]
    postgres_port: u16,
    /// TOML file overriding the services' settings: one table per service
    /// (`[api-gateway.rate_limit]`, ...) with that service's own settings
    /// keys, and `log`, the log filter. Ports and files stay `up`'s.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    observe: observe::ObserveArgs,
}

/// Internal services listen on free ports; only the storefront and the
/// gateway have fixed ones.
fn loopback(port: u16) -> HttpSettings {
    HttpSettings::with_ports(port, 0)
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    // A bad file stops `up` here, before it creates or starts anything.
    let config = match &args.config {
        Some(path) => UpConfig::load(path)?,
        None => UpConfig::default(),
    };
    let files = ShopFiles::new(&args.dir);
    config.check(&wiring(&files, args.postgres_port))?;
    let default_filter = config
        .log
        .as_deref()
        .unwrap_or(cloudshop_platform::telemetry::DEFAULT_FILTER);
    tracing_subscriber::fmt()
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    files.ensure().context("preparing certificates and secrets")?;
    let cluster = Cluster::new(&files, args.postgres_port)?;
    cluster.init(&files).context("preparing PostgreSQL")?;
    // Cancelled on SIGINT/SIGTERM (the services stop on those by themselves)
    // or when the services have stopped; ends the watch over PostgreSQL.
    let stopping = CancellationToken::new();
    cloudshop_platform::server::cancel_on_signal(stopping.clone())
        .context("installing the SIGINT and SIGTERM handlers")?;
    let postgres = cluster
        .spawn(Durability::Durable)
        .context("starting PostgreSQL")?;
    let mut watch = tokio::spawn(postgres_watch::keep_running(
        cluster.clone(),
        postgres,
        stopping.clone(),
    ));
    let run = run(&args, &files, &cluster, &config, &stopping);
    tokio::pin!(run);
    let (result, postgres) = tokio::select! {
        result = &mut run => {
            stopping.cancel();
            match (&mut watch).await? {
                Ok(postgres) => (result, postgres),
                Err(gave_up) => (Err(gave_up), None),
            }
        }
        // On a signal, or when the watch gave up on PostgreSQL: the services
        // stop (drain) either way.
        watched = &mut watch => {
            stopping.cancel();
            let result = (&mut run).await;
            match watched? {
                Ok(postgres) => (result, postgres),
                Err(gave_up) => (Err(gave_up), None),
            }
        }
    };
    if let Some(postgres) = postgres {
        tracing::info!("stopping PostgreSQL");
        cluster.stop(postgres)?;
    }
    result
}

/// How `up` wires the services on `files` and its PostgreSQL on `port`.
fn wiring(files: &ShopFiles, port: u16) -> Wiring<'_> {
    Wiring::new(files, move |role| DatabaseSettings {
        port,
        name: DATABASE.into(),
        password_file: files.db_password(role),
        ca_file: files.ca_cert(),
        ..DatabaseSettings::for_service(role)
    })
}

/// Starts the five services and serves until they stop: on SIGINT/SIGTERM,
/// each by itself, or when `stopping` is cancelled.
async fn run(
    args: &UpArgs,
    files: &ShopFiles,
    cluster: &Cluster,
    config: &UpConfig,
    stopping: &CancellationToken,
) -> anyhow::Result<()> {
    cluster.provision_roles(files)?;
    cluster.create_database(DATABASE)?;
    let pg = cluster.port();
    let wiring = wiring(files, pg);
    let mut services = Services {
        config,
        gateway_port: args.gateway_port,
        storefront_port: args.storefront_port,
        running: JoinSet::new(),
        admin_ports: Vec::new(),
        shutdown: Vec::new(),
    };
    let gateway_url = start::backend(&wiring, &mut services).await?.gateway;
    let storefront_url = start::storefront(&wiring, &mut services, &gateway_url).await?;

    wait_ready(&services.admin_ports).await?;
    let mut prometheus = if args.observe.observe {
        let started = observe::Prometheus::start(&args.dir, &args.observe, &services.admin_ports).await;
        Some(started.context("starting Prometheus (--observe)")?)
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(out, "CloudShop is running.")?;
    writeln!(out, "  storefront   {storefront_url}")?;
    writeln!(
        out,
        "  API gateway  {gateway_url}  (trust {})",
        shown(&files.ca_cert()).display()
    )?;
    writeln!(
        out,
        "  admin        admin@cloudshop.local, password in {}",
        shown(files.admin_password().path()).display()
    )?;
    writeln!(
        out,
        "  PostgreSQL   127.0.0.1:{pg} (TLS only), log in {}",
        shown(&cluster.log_file()).display()
    )?;
    if let Some(prometheus) = &prometheus {
        writeln!(
            out,
            "  Prometheus   {}  (every {} s, the rules of monitoring/rules.yml)",
            prometheus.url, args.observe.observe_interval
        )?;
    }
    writeln!(
        out,
        "Press Ctrl-C to stop; the data stays in {} for the next `up`.",
        shown(&args.dir).display()
    )?;
    drop(out);

    // Each service stops on SIGINT/SIGTERM by itself; `stopping` also
    // covers a signal that came while they were starting, and giving up on
    // PostgreSQL. Wait for all of them.
    let mut failure = None;
    let mut stopped = false;
    loop {
        tokio::select! {
            joined = services.running.join_next() => match joined {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(err))) => failure = Some(err),
                Some(Err(err)) => failure = Some(err.into()),
            },
            () = stopping.cancelled(), if !stopped => {
                stopped = true;
                services.shutdown.iter().for_each(CancellationToken::cancel);
            }
        }
    }
    if let Some(prometheus) = &mut prometheus {
        tracing::info!("stopping Prometheus");
        prometheus.stop().await;
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// The services started so far, and where to ask whether they are ready.
struct Services<'a> {
    config: &'a UpConfig,
    gateway_port: u16,
    storefront_port: u16,
    running: JoinSet<anyhow::Result<()>>,
    admin_ports: Vec<(&'static str, u16)>,
    shutdown: Vec<CancellationToken>,
}

/// `up`'s part of the shop's start: internal services on free ports, the
/// gateway and the storefront on theirs, `--config`'s overrides applied,
/// each service's logs in a span named after it.
impl Start for Services<'_> {
    fn http(&self, service: ServiceId) -> HttpSettings {
        match service {
            ServiceId::ApiGateway => loopback(self.gateway_port),
            ServiceId::Storefront => loopback(self.storefront_port),
            ServiceId::Auth | ServiceId::Products | ServiceId::Orders => loopback(0),
        }
    }

    fn starting(&self, service: ServiceId, listen: SocketAddr) -> String {
        match service {
            ServiceId::ApiGateway => {
                format!("starting the gateway on port {} (--gateway-port)", listen.port())
            }
            ServiceId::Storefront => format!(
                "starting the storefront on port {} (--storefront-port)",
                listen.port()
            ),
            ServiceId::Auth | ServiceId::Products | ServiceId::Orders => format!("starting {service}"),
        }
    }

    fn launch(&mut self, id: ServiceId, built: Service) {
        let span = match id {
            ServiceId::Auth => tracing::info_span!("auth"),
            ServiceId::Products => tracing::info_span!("products"),
            ServiceId::Orders => tracing::info_span!("orders"),
            ServiceId::ApiGateway => tracing::info_span!("api-gateway"),
            ServiceId::Storefront => tracing::info_span!("storefront"),
        };
        self.admin_ports.push((id.name(), built.admin_port()));
        self.shutdown.push(built.shutdown_token());
        self.running.spawn(built.run_until_stopped().instrument(span));
    }

    fn auth(
        &mut self,
        settings: cloudshop_auth::settings::Settings,
    ) -> anyhow::Result<cloudshop_auth::settings::Settings> {
        self.config.apply(ServiceId::Auth, settings)
    }
    fn products(
        &mut self,
        settings: cloudshop_products::settings::Settings,
    ) -> anyhow::Result<cloudshop_products::settings::Settings> {
        self.config.apply(ServiceId::Products, settings)
    }
    fn orders(
        &mut self,
        settings: cloudshop_orders::settings::Settings,
    ) -> anyhow::Result<cloudshop_orders::settings::Settings> {
        self.config.apply(ServiceId::Orders, settings)
    }
    fn gateway(
        &mut self,
        settings: cloudshop_api_gateway::settings::Settings,
    ) -> anyhow::Result<cloudshop_api_gateway::settings::Settings> {
        self.config.apply(ServiceId::ApiGateway, settings)
    }
    fn storefront(
        &mut self,
        settings: cloudshop_storefront::settings::Settings,
    ) -> anyhow::Result<cloudshop_storefront::settings::Settings> {
        self.config.apply(ServiceId::Storefront, settings)
    }
}

async fn wait_ready(admin_ports: &[(&str, u16)]) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    for (service, port) in admin_ports {
        let url = format!("http://{}/readyz", SocketAddr::from(([127, 0, 0, 1], *port)));
        readiness::poll(
            Duration::from_secs(10),
            Duration::from_millis(100),
            async || Ok(readiness::http_ok(&client, &url).await),
            |_| anyhow::anyhow!("{service} did not become ready"),
        )
        .await?;
    }
    Ok(())
}

/// Where `path` is, for the user to open; as given when the current folder
/// is gone, since the shop is already running by then.
fn shown(path: &Path) -> PathBuf {
    cloudshop_host::files::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Deletes the local shop's folder, unless its PostgreSQL is still running.
pub fn reset(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let pid_file = dir.join("postgres/data/postmaster.pid");
    if let Ok(pid) = std::fs::read_to_string(&pid_file)
        && let Some(pid) = pid.lines().next()
        && pid.trim().parse().is_ok_and(cloudshop_host::signals::exists)
    {
        bail!(
            "the shop in {} is still running; stop it (Ctrl-C) first",
            dir.display()
        );
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("deleting {}", dir.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "deleted {}", dir.display())?;
    Ok(())
}
