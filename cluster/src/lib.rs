//! `cloudshop cluster up` / `down`: a policed Kubernetes cluster on this
//! machine, as local processes on 127.0.0.1.
//!
//! Real: the OCI registry (`docker-registry`), etcd, kube-apiserver (Pod
//! Security, ServiceAccount, the admission webhooks, ValidatingAdmissionPolicy,
//! RBAC), kube-controller-manager, kube-scheduler and Kyverno's admission
//! controller, which registers its own webhooks with the API server.
//! Simulated: the nodes and the containers (kwok marks scheduled pods
//! Running; nothing is pulled or run, so there is no Service networking and no
//! NetworkPolicy enforcement).
//!
//! Everything lives in `.cloudshop/cluster/` (certificates, the admin
//! `kubeconfig`, etcd's data, the registry's storage, logs and pid files); a
//! second `up` reuses it and starts only what is not running. `down` stops
//! every process by its pid, clients before etcd.

mod admission;
pub mod chaos;
mod control_plane;
mod deploy;
pub mod gitops;
pub mod ingress;
mod kubectl;
pub mod monitoring;
pub mod node;
mod pki;
mod policies;
mod tools;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cloudshop_host::daemon::{Daemons, Stopped};
use cloudshop_host::files::absolute;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use control_plane::Ports;

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ClusterCommand {
    /// Start the registry, the control plane, the simulated nodes and Kyverno,
    /// then install CloudShop's policies.
    Up(UpArgs),
    /// Stop every process of the cluster (the data stays for the next `up`).
    Down(DirArgs),
    /// Run CloudShop's admission cases against the running cluster (this
    /// one, or any cluster given by --kubeconfig, e.g. Kind): each bad pod or
    /// Deployment must be refused by its policy's own message.
    Check(CheckArgs),
    /// Run one of the Chaos Toolkit experiments of `chaos/chaostoolkit/`
    /// against the real node's shop; its journal is kept in the cluster's
    /// folder (`chaos/EXPERIMENT.journal.json`).
    Chaos(ChaosArgs),
    /// Hand the real node's shop to Argo CD: serve this checkout's HEAD and
    /// a local release commit with `git daemon`, run Argo CD's repo server
    /// and application controller, apply `gitops/` and wait until the
    /// Application is Synced and Healthy. Run again to serve a new HEAD.
    Gitops(GitopsArgs),
}

#[derive(Debug, clap::Args)]
struct GitopsArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The CloudShop checkout (its HEAD is served; its gitops/ applied).
    #[arg(long, default_value = ".")]
    workspace: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ChaosArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The experiment.
    #[arg(value_enum)]
    experiment: chaos::Experiment,
    /// The CloudShop checkout (its experiment files).
    #[arg(long, default_value = ".")]
    workspace: PathBuf,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// Another cluster (default: the one in --dir); then --push-registry and
    /// --key are required too.
    #[arg(long, requires_all = ["push_registry", "key"])]
    kubeconfig: Option<PathBuf>,
    /// The registry as this machine pushes to it (e.g. localhost:5001).
    #[arg(long)]
    push_registry: Option<String>,
    /// The registry as pods name it (default: the push address; Kind:
    /// kind-registry:5000).
    #[arg(long)]
    pod_registry: Option<String>,
    /// The deployed release's record.
    #[arg(long, default_value = "dist/release.json")]
    release: PathBuf,
    /// The release's cosign private key (empty password).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print every case's outcome as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct DirArgs {
    /// The cluster's folder.
    #[arg(long, default_value = ".cloudshop/cluster")]
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The CloudShop checkout (its policies and manifests).
    #[arg(long, default_value = ".")]
    workspace: PathBuf,
    /// The nodes: `real` (this machine as one node: containerd, kubelet,
    /// kube-proxy, kube-router, CoreDNS; needs root, changes the host's
    /// network until `down`) or `kwok` (simulated: pods are marked Running,
    /// no container starts). Default: what the folder's cluster was made
    /// with, else `real`.
    #[arg(long, value_enum)]
    node: Option<NodeKind>,
    /// Simulated nodes (with --node kwok).
    #[arg(long, default_value_t = 2)]
    nodes: u32,
    /// Only the cluster and its policies: no release, no CloudShop.
    #[arg(long)]
    no_app: bool,
    /// Where Alertmanager POSTs every alert notification, resolutions too
    /// (its webhook receiver; the URL as pods reach it, e.g. a server on the
    /// node's address 10.244.0.1). Kept for later `up`s; `none` removes it.
    #[arg(long, value_name = "URL")]
    alert_webhook: Option<String>,
    /// The release gate's cargo deny reads the advisory database on disk
    /// instead of fetching it.
    #[arg(long)]
    offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum NodeKind {
    Kwok,
    Real,
}

pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    match args.command {
        ClusterCommand::Up(args) => up(&args).await,
        ClusterCommand::Down(args) => down(&args.dir),
        ClusterCommand::Check(args) => check(&args).await,
        ClusterCommand::Chaos(args) => run_chaos(&args),
        ClusterCommand::Gitops(args) => run_gitops(&args).await,
    }
}

/// The processes, in start order; `down` stops them in reverse.
pub const PROCESSES: [&str; 7] = [
    "registry",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kyverno",
];

/// What the folder records between runs.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    ports: Ports,
    /// The real node's ports, reserved when it first starts.
    #[serde(default)]
    node_ports: Option<node::Ports>,
    /// The nodes the cluster was made with (folders made before real nodes
    /// existed have kwok's).
    #[serde(default = "kwok")]
    node: NodeKind,
    /// Argo CD's ports, reserved when `cluster gitops` first runs.
    #[serde(default)]
    gitops_ports: Option<gitops::Ports>,
    /// Alertmanager's webhook receiver (`up --alert-webhook`).
    #[serde(default)]
    alert_webhook: Option<String>,
}

fn kwok() -> NodeKind {
    NodeKind::Kwok
}

impl NodeKind {
    /// As `--node` spells it.
    fn flag(self) -> &'static str {
        match self {
            Self::Real => "real",
            Self::Kwok => "kwok",
        }
    }
}

/// Prints numbered steps with their time to stderr, and names the step that
/// failed.
struct Progress {
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    async fn step<T>(
        &mut self,
        what: &str,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        self.done += 1;
        let (done, total) = (self.done, self.total);
        say(format_args!("[{done}/{total}] {what} ..."));
        let step = Instant::now();
        let value = work
            .await
            .with_context(|| format!("step {done}/{total} ({what}) failed"))?;
        say(format_args!(
            "[{done}/{total}] {what}: done in {:.1} s ({:.0} s in all)",
            step.elapsed().as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        ));
        Ok(value)
    }
}

async fn up(args: &UpArgs) -> anyhow::Result<()> {
    let dir = absolute(&args.dir.dir)?;
    let workspace = absolute(&args.workspace)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tools = tools::Tools::find()?;
    let existing = read_state(&dir)?;
    let kind = args
        .node
        .or(existing.as_ref().map(|state| state.node))
        .unwrap_or(NodeKind::Real);
    // Before anything is made: a folder keeps the kind it was made with.
    anyhow::ensure!(
        kind == NodeKind::Kwok || rustix::process::geteuid().is_root(),
        "a real node needs root (containerd, kubelet, iptables); run as root, or use --node kwok"
    );
    let mut state = match existing {
        Some(state) => state,
        None => create_state(&dir, kind)?,
    };
    if let Some(asked) = args.node
        && asked != state.node
    {
        anyhow::bail!(
            "the cluster in {} was made with --node {}; run `cloudshop cluster down --dir {0}` \
             and remove the folder to make one with --node {}",
            dir.display(),
            state.node.flag(),
            asked.flag()
        );
    }
    let real = state.node == NodeKind::Real;
    let node_tools = if real {
        Some(tools::NodeTools::find()?)
    } else {
        None
    };
    if real {
        node::claim(&dir)?;
    }
    if real && state.node_ports.is_none() {
        state.node_ports = Some(node::Ports::reserve()?);
        write_state(&dir, &state)?;
    }
    if let Some(webhook) = &args.alert_webhook {
        state.alert_webhook = (webhook != "none").then(|| webhook.clone());
        monitoring::alertmanager_config(state.alert_webhook.as_deref())?;
        write_state(&dir, &state)?;
    }
    // With a real node, everything that pods must reach listens on the
    // node's bridge; nothing listens on the machine's other interfaces.
    let address = if real {
        node::ADDRESS.to_owned()
    } else {
        control_plane::advertise_address()?
    };
    let daemons = Daemons::new(&dir);
    let plane = control_plane::ControlPlane {
        dir: dir.clone(),
        ports: state.ports.clone(),
        tools: tools.clone(),
        daemons: daemons.clone(),
        apiserver_host: if real { address.clone() } else { "127.0.0.1".into() },
        advertise: address.clone(),
    };
    let node_steps = match (real, args.no_app) {
        (false, _) => 1,
        (true, true) => 5,
        (true, false) => 8,
    };
    let mut progress = Progress {
        total: node_steps + if args.no_app { 7 } else { 10 },
        done: 0,
        started: Instant::now(),
    };
    progress
        .step(
            if real {
                "certificates, keys and the node's bridge"
            } else {
                "certificates and keys"
            },
            async {
                if real {
                    node::bridge()?;
                }
                pki::ensure(
                    &dir,
                    &plane.apiserver_address(),
                    address.parse().context("the advertised address")?,
                )
            },
        )
        .await?;
    progress.step("OCI registry", plane.registry()).await?;
    progress.step("etcd", plane.etcd()).await?;
    progress.step("kube-apiserver", plane.apiserver()).await?;
    progress
        .step("kube-controller-manager and kube-scheduler", plane.controllers())
        .await?;
    let node = match (node_tools, state.node_ports.clone()) {
        (Some(tools), Some(ports)) => Some(node::Node {
            plane: &plane,
            tools,
            ports,
            address: address.clone(),
        }),
        _ => None,
    };
    if let Some(node) = &node {
        let images = progress
            .step("the node's certificates and images (pause, CoreDNS)", async {
                node.certificates(&plane.apiserver_address())?;
                node.images(&workspace)
            })
            .await?;
        progress.step("containerd", node.containerd(&images)).await?;
        progress
            .step(&format!("kubelet: node {} Ready", node::NAME), node.kubelet())
            .await?;
        progress
            .step("kube-proxy and kube-router (NetworkPolicy)", node.network())
            .await?;
        progress.step("CoreDNS", node.coredns(&images.coredns)).await?;
    } else {
        progress
            .step(
                &format!("{} simulated nodes (kwok)", args.nodes),
                plane.nodes(args.nodes),
            )
            .await?;
    }
    progress
        .step("Kyverno admission controller", plane.kyverno())
        .await?;
    progress
        .step(
            "CloudShop's policies (READY)",
            policies::install(&plane, &workspace),
        )
        .await?;
    if !args.no_app {
        let release = progress
            .step(
                "release the tree into the registry (build, SBOM, images, gate, push, sign, attest, scan, verify)",
                deploy::release(&plane, &workspace, args.offline),
            )
            .await?;
        progress
            .step("CloudShop's Secrets", async {
                deploy::secrets(&plane, &workspace)
            })
            .await?;
        let postgres = match &node {
            Some(node) => Some(
                progress
                    .step("PostgreSQL's image (built here) and volume", async {
                        node.postgres(&workspace, deploy::NAMESPACE)
                    })
                    .await?,
            ),
            None => None,
        };
        progress
            .step(
                "CloudShop by digest (k8s/overlays/local): every workload ready",
                deploy::apply(&plane, &workspace, &release, postgres.as_deref()),
            )
            .await?;
        if let Some(node) = &node {
            progress
                .step("Traefik (Ingress): shop.local and api.local", async {
                    let image = node.traefik_image()?;
                    node.ingress(&image, &deploy::ca_cert(&dir)).await
                })
                .await?;
            let targets = progress
                .step(
                    "Prometheus, kube-state-metrics and Alertmanager (monitoring/): every ServiceMonitor's targets up",
                    async {
                        let images = monitoring::Images {
                            prometheus: node.prometheus_image()?,
                            kube_state_metrics: node.kube_state_metrics_image()?,
                            alertmanager: node.alertmanager_image()?,
                        };
                        let webhook = state.alert_webhook.as_deref();
                        node.monitoring(&images, &workspace, &node.tools.monitoring_crds, webhook)
                            .await
                    },
                )
                .await?;
            say(format_args!(
                "Prometheus scrapes {targets} targets: {}",
                monitoring::address()
            ));
        }
    }

    let kubeconfig = dir.join("kubeconfig");
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(out, "CloudShop's policed cluster is running.")?;
    writeln!(out, "  kubeconfig   {}", kubeconfig.display())?;
    writeln!(out, "  API server   https://{}", plane.apiserver_address())?;
    writeln!(
        out,
        "  registry     127.0.0.1:{} (plain HTTP, loopback only)",
        state.ports.registry
    )?;
    writeln!(out, "  release key  {}", dir.join("cosign.pub").display())?;
    if !args.no_app {
        writeln!(
            out,
            "  CloudShop    namespace {}, images by digest from {}",
            deploy::NAMESPACE,
            deploy::release_record(&dir).display()
        )?;
        if real {
            writeln!(
                out,
                "  storefront   {} and API {} (Traefik; both names at {}): {}",
                ingress::address(ingress::SHOP_HOST),
                ingress::address(ingress::API_HOST),
                node::ADDRESS,
                ingress::curl_hint()
            )?;
            writeln!(
                out,
                "  Prometheus   {} (the shop's ServiceMonitors and rules)",
                monitoring::address()
            )?;
            writeln!(
                out,
                "  Alertmanager {} (alerts to {})",
                monitoring::alertmanager_address(),
                state
                    .alert_webhook
                    .as_deref()
                    .unwrap_or("no receiver: --alert-webhook URL")
            )?;
        }
    }
    if real {
        writeln!(
            out,
            "  real: API server, Pod Security and Kyverno admission, controllers, scheduling, \
             node {} (containerd, kubelet, kube-proxy, kube-router, CoreDNS, Traefik)",
            node::NAME
        )?;
    } else {
        writeln!(
            out,
            "  real: API server, Pod Security and Kyverno admission, controllers, scheduling; \
             simulated: {} nodes and their containers (kwok)",
            args.nodes
        )?;
    }
    writeln!(
        out,
        "  stop         cloudshop cluster down --dir {}",
        dir.display()
    )?;
    Ok(())
}

async fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let target = match (&args.kubeconfig, &args.push_registry, &args.key) {
        (Some(kubeconfig), Some(push), Some(key)) => admission::Target {
            kubectl: kubectl::Kubectl::new(Path::new("kubectl"), kubeconfig),
            push_registry: push.clone(),
            pod_registry: args.pod_registry.clone().unwrap_or_else(|| push.clone()),
            release: args.release.clone(),
            key: cloudshop_supply_chain::keys::KeyFiles {
                private_key: key.clone(),
                password_file: None,
            },
        },
        _ => {
            let dir = absolute(&args.dir.dir)?;
            let state = existing_state(&dir)?;
            let tools = tools::Tools::find()?;
            admission::local_target(&dir, &tools.kubectl, &state.ports.registry_address())
        }
    };
    admission::check(&target, args.json).await.map(drop)
}

fn run_chaos(args: &ChaosArgs) -> anyhow::Result<()> {
    let dir = absolute(&args.dir.dir)?;
    let state = existing_state(&dir)?;
    anyhow::ensure!(
        state.node == NodeKind::Real,
        "the cluster in {} has simulated nodes (kwok): no pod runs there to delete",
        dir.display()
    );
    let tools = tools::Tools::find()?;
    let kubeconfig = dir.join("kubeconfig");
    let kubectl = kubectl::Kubectl::new(&tools.kubectl, &kubeconfig);
    let name = args.experiment.name();
    let journal = dir.join("chaos").join(format!("{name}.journal.json"));
    let journal_value = chaos::run(
        args.experiment,
        &absolute(&args.workspace)?,
        &dir,
        &kubectl,
        &kubeconfig,
        &journal,
    )?;
    let outcome = chaos::outcome(&journal_value);
    let (Ok(summary) | Err(summary)) = &outcome;
    std::io::stdout().lock().write_all(summary.as_bytes())?;
    if outcome.is_err() {
        bail!("the experiment {name} failed (journal: {})", journal.display());
    }
    Ok(())
}

async fn run_gitops(args: &GitopsArgs) -> anyhow::Result<()> {
    let dir = absolute(&args.dir.dir)?;
    let workspace = absolute(&args.workspace)?;
    let mut state = existing_state(&dir)?;
    anyhow::ensure!(
        state.node == NodeKind::Real,
        "the cluster in {} has simulated nodes (kwok): Argo CD would sync pods that never run",
        dir.display()
    );
    let deployed = std::fs::read_to_string(dir.join("deploy/kustomization.yaml")).with_context(|| {
        format!(
            "no deployed shop in {} (run `cloudshop cluster up` without --no-app first)",
            dir.display()
        )
    })?;
    let tools = tools::Tools::find()?;
    let gitops_tools = tools::GitopsTools::find()?;
    let kubectl = kubectl::Kubectl::new(&tools.kubectl, &dir.join("kubeconfig"));
    kubectl.run(&["get", "--raw", "/readyz"]).with_context(|| {
        format!(
            "the cluster in {} is not running (run `cloudshop cluster up` first)",
            dir.display()
        )
    })?;
    let ports = match &state.gitops_ports {
        Some(ports) => ports.clone(),
        None => {
            let ports = gitops::Ports::reserve(&recorded_ports(&state)?)?;
            state.gitops_ports = Some(ports.clone());
            write_state(&dir, &state)?;
            ports
        }
    };
    let plane = control_plane::ControlPlane {
        dir: dir.clone(),
        ports: state.ports.clone(),
        tools,
        daemons: Daemons::new(&dir),
        apiserver_host: node::ADDRESS.into(),
        advertise: node::ADDRESS.into(),
    };
    let argo = gitops::Gitops {
        plane: &plane,
        ports,
        tools: gitops_tools,
    };
    let mut progress = Progress {
        total: 5,
        done: 0,
        started: Instant::now(),
    };
    let commit = progress
        .step(
            "the served branch: this checkout's HEAD and the local release commit",
            async {
                let policies = policies::render(&plane, &workspace)?;
                gitops::prepare(&dir, &workspace, &deployed, &policies)
            },
        )
        .await?;
    progress
        .step(&format!("git daemon: {}", gitops::url(&argo.ports)), argo.serve())
        .await?;
    progress
        .step("Redis and Argo CD's repo server", argo.repo_server())
        .await?;
    progress
        .step(
            "Argo CD's CRDs, settings and application controller",
            argo.controller(),
        )
        .await?;
    let took = progress
        .step(
            &format!("gitops/: Synced and Healthy at {}", &commit[..12]),
            async {
                argo.application(&workspace)?;
                gitops::wait_settled(&kubectl, &commit, Duration::from_secs(300)).await
            },
        )
        .await?;
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(
        out,
        "Argo CD syncs CloudShop ({:.1} s to Synced and Healthy).",
        took.as_secs_f64()
    )?;
    writeln!(
        out,
        "  repository   {} (branch {})",
        gitops::url(&argo.ports),
        gitops::BRANCH
    )?;
    writeln!(
        out,
        "  work tree    {} (commit there; Argo CD compares every 15 s)",
        gitops::repository(&dir).display()
    )?;
    writeln!(
        out,
        "  status       kubectl --kubeconfig {} -n {} get application {}",
        dir.join("kubeconfig").display(),
        gitops::NAMESPACE,
        gitops::APPLICATION
    )?;
    Ok(())
}

fn down(dir: &Path) -> anyhow::Result<()> {
    let dir = absolute(dir)?;
    let daemons = Daemons::new(&dir);
    // Argo CD first: nothing may put back what the node's stop removes.
    stop(&daemons, &gitops::PROCESSES)?;
    // The node first: its kubelet must stop before its pods are removed,
    // and nothing of it needs the control plane to be undone.
    let node_result = if node::dir(&dir).exists() {
        let ports = read_state(&dir)?.and_then(|state| state.node_ports);
        tools::NodeTools::find().and_then(|tools| node::down(&dir, &daemons, &tools, ports.as_ref()))
    } else {
        Ok(())
    };
    stop(&daemons, &PROCESSES)?;
    node_result
}

/// Every port the folder records for the cluster and its node.
fn recorded_ports(state: &State) -> anyhow::Result<Vec<u16>> {
    let recorded = serde_json::to_value((&state.ports, &state.node_ports))?;
    Ok(recorded
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|ports| ports.values())
        .filter_map(|port| port.as_u64().and_then(|port| u16::try_from(port).ok()))
        .collect())
}

/// Stops `names` in reverse order, each by its pid.
fn stop(daemons: &Daemons, names: &[&str]) -> anyhow::Result<()> {
    for name in names.iter().rev() {
        match daemons.stop(name, Duration::from_secs(20))? {
            Stopped::NotRunning => {}
            Stopped::Terminated => say(format_args!("stopped {name}")),
            Stopped::Killed => say(format_args!("killed {name} (it did not stop within 20 s)")),
        }
    }
    Ok(())
}

fn say(line: std::fmt::Arguments<'_>) {
    cloudshop_host::progress::line(line);
}

/// The folder's recorded state, or `None` when no cluster was made there.
fn read_state(dir: &Path) -> anyhow::Result<Option<State>> {
    let path = dir.join("state.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// The folder's recorded state; an error naming `cluster up` when no
/// cluster was made there.
fn existing_state(dir: &Path) -> anyhow::Result<State> {
    read_state(dir)?.with_context(|| {
        format!(
            "no cluster in {} (run `cloudshop cluster up` first)",
            dir.display()
        )
    })
}

/// A new cluster's state, written: its ports reserved, its kind of node.
fn create_state(dir: &Path, node: NodeKind) -> anyhow::Result<State> {
    let state = State {
        ports: Ports::reserve()?,
        node_ports: None,
        node,
        gitops_ports: None,
        alert_webhook: None,
    };
    write_state(dir, &state)?;
    Ok(state)
}

fn write_state(dir: &Path, state: &State) -> anyhow::Result<()> {
    std::fs::write(dir.join("state.json"), serde_json::to_string_pretty(state)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recorded_port_is_taken_for_argo_cd() {
        let state: State = serde_json::from_value(serde_json::json!({
            "ports": {"registry": 20000, "etcd": 20001, "etcd_peer": 20002, "apiserver": 20003,
                      "controller_manager": 20004, "scheduler": 20005, "kwok": 20006,
                      "kyverno_webhook": 20007, "kyverno_metrics": 20008},
            "node_ports": {"kubelet": 20009, "kubelet_healthz": 20010, "proxy_healthz": 20011, "proxy_metrics": 20012},
            "node": "real"
        }))
        .expect("a state");
        let mut ports = recorded_ports(&state).expect("ports");
        ports.sort_unstable();
        assert_eq!(ports, (20000..=20012).collect::<Vec<u16>>());
        let ours = gitops::Ports::reserve(&ports).expect("reserved");
        for port in [
            ours.git,
            ours.redis,
            ours.repo_server,
            ours.repo_server_metrics,
            ours.controller_metrics,
        ] {
            assert!(!ports.contains(&port), "{port} is the cluster's");
        }
    }
}
