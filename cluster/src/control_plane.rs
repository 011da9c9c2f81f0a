//! The cluster's processes: how each starts (flags, files, ports) and when
//! it counts as ready. A process that already runs is kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use cloudshop_host::daemon::Daemons;
use cloudshop_host::readiness::{self, Probe};
use serde::{Deserialize, Serialize};

use super::kubectl::Kubectl;
use super::pki;
use super::tools::Tools;

/// The ports on 127.0.0.1, reserved on the first `up` and kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ports {
    pub registry: u16,
    pub etcd: u16,
    pub etcd_peer: u16,
    pub apiserver: u16,
    pub controller_manager: u16,
    pub scheduler: u16,
    pub kwok: u16,
    pub kyverno_webhook: u16,
    pub kyverno_metrics: u16,
}

impl Ports {
    /// The registry on the loopback interface, as pushes, Kyverno and the
    /// pods' image names reach it.
    pub fn registry_address(&self) -> String {
        format!("127.0.0.1:{}", self.registry)
    }

    pub fn reserve() -> anyhow::Result<Self> {
        let p = cloudshop_host::ports::reserve(9).context("ports for the cluster")?;
        Ok(Self {
            registry: p[0],
            etcd: p[1],
            etcd_peer: p[2],
            apiserver: p[3],
            controller_manager: p[4],
            scheduler: p[5],
            kwok: p[6],
            kyverno_webhook: p[7],
            kyverno_metrics: p[8],
        })
    }
}

/// The Kyverno install's names: its namespace, service accounts and the
/// ConfigMaps its flags name.
pub const KYVERNO_NAMESPACE: &str = "kyverno";
const KYVERNO_SERVICE_ACCOUNT: &str = "kyverno-admission-controller";
const KYVERNO_REPORTS_ACCOUNT: &str = "kyverno-reports-controller";
const KYVERNO_BACKGROUND_ACCOUNT: &str = "kyverno-background-controller";
const KYVERNO_CA_SECRET: &str = "kyverno-svc.kyverno.svc.kyverno-tls-ca";

#[derive(Debug)]
pub struct ControlPlane {
    pub dir: PathBuf,
    pub ports: Ports,
    pub tools: Tools,
    pub daemons: Daemons,
    /// Where the API server listens: 127.0.0.1, or with a real node the
    /// node's address on its bridge (its pods reach the API server through
    /// the `kubernetes` Service, whose endpoint this is; pods cannot reach
    /// the machine's loopback).
    pub apiserver_host: String,
    /// The address the API server advertises (the `kubernetes` Service's
    /// endpoint): an address of this machine other than loopback.
    pub advertise: String,
}

impl ControlPlane {
    /// The registry as pushes and Kyverno (and so the pods' image names) reach it.
    pub fn registry_address(&self) -> String {
        self.ports.registry_address()
    }

    /// The API server as its clients name it: host and port.
    pub fn apiserver_address(&self) -> String {
        format!("{}:{}", self.apiserver_host, self.ports.apiserver)
    }

    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(&self.tools.kubectl, &pki::kubeconfig(&self.dir, "admin"))
    }

    /// Starts `name` unless it runs; whether it was started.
    pub fn start(&self, name: &str, command: Command) -> anyhow::Result<bool> {
        if self.daemons.pid(name).is_some() {
            return Ok(false);
        }
        self.daemons.start(name, command)?;
        Ok(true)
    }

    /// Polls `check` until it succeeds; past `timeout`, fails with its last
    /// error and the end of `name`'s log.
    pub async fn wait_ready<F, Fut>(&self, name: &str, timeout: Duration, mut check: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let log_file = self.daemons.log_file(name);
        readiness::poll(
            timeout,
            Duration::from_millis(200),
            async || {
                let error = match check().await {
                    Ok(()) => return Ok(Probe::Ready),
                    Err(error) => error,
                };
                if self.daemons.pid(name).is_none() {
                    bail!(
                        "{name} exited; the end of {}:\n{}",
                        log_file.display(),
                        log_tail(&log_file)
                    );
                }
                Ok(Probe::NotYet(Some(error)))
            },
            |error| {
                let error = error.map(|error| format!("{error:#}")).unwrap_or_default();
                anyhow::anyhow!(
                    "{name} is not ready after {} s ({error}); the end of {}:\n{}",
                    timeout.as_secs(),
                    log_file.display(),
                    log_tail(&log_file)
                )
            },
        )
        .await
    }

    pub async fn registry(&self) -> anyhow::Result<()> {
        let storage = self.dir.join("registry");
        std::fs::create_dir_all(&storage)?;
        let config = self.dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{}\n",
                storage.display(),
                self.ports.registry
            ),
        )?;
        let mut command = Command::new(&self.tools.registry);
        command.arg("serve").arg(&config);
        self.start("registry", command)?;
        let url = format!("http://127.0.0.1:{}/v2/", self.ports.registry);
        let client = plain_client()?;
        self.wait_ready("registry", Duration::from_secs(30), || http_ok(&client, &url))
            .await
    }

    pub async fn etcd(&self) -> anyhow::Result<()> {
        let client_url = format!("http://127.0.0.1:{}", self.ports.etcd);
        let peer_url = format!("http://127.0.0.1:{}", self.ports.etcd_peer);
        let mut command = Command::new(&self.tools.etcd);
        command
            .args(["--name", "cloudshop"])
            .arg("--data-dir")
            .arg(self.dir.join("etcd"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("cloudshop={peer_url}")])
            .args(["--log-level", "warn"]);
        self.start("etcd", command)?;
        let url = format!("{client_url}/health");
        let client = plain_client()?;
        self.wait_ready("etcd", Duration::from_secs(30), || http_ok(&client, &url))
            .await
    }

    pub async fn apiserver(&self) -> anyhow::Result<()> {
        let pki = pki::dir(&self.dir);
        let file = |name: &str| pki.join(name).display().to_string();
        let mut command = Command::new(&self.tools.apiserver);
        command
            .args(["--etcd-servers", &format!("http://127.0.0.1:{}", self.ports.etcd)])
            .args(["--bind-address", &self.apiserver_host])
            .args(["--secure-port", &self.ports.apiserver.to_string()])
            .args(["--advertise-address", &self.advertise])
            .args(["--tls-cert-file", &file("kube-apiserver.pem")])
            .args(["--tls-private-key-file", &file("kube-apiserver-key.pem")])
            .args(["--client-ca-file", &file("ca.pem")])
            .args(["--service-account-key-file", &file("service-account.pem")])
            .args([
                "--service-account-signing-key-file",
                &file("service-account-key.pem"),
            ])
            .args([
                "--service-account-issuer",
                "https://kubernetes.default.svc.cluster.local",
            ])
            .args(["--service-cluster-ip-range", "10.96.0.0/16"])
            // A node's kubelet may read and write only its own Node and the
            // pods bound to it (the Node authoriser, NodeRestriction).
            .args(["--authorization-mode", "Node,RBAC"])
            .args([
                "--enable-admission-plugins",
                "NamespaceLifecycle,LimitRanger,ServiceAccount,PodSecurity,NodeRestriction,\
                 MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,\
                 ResourceQuota,DefaultTolerationSeconds,DefaultStorageClass",
            ])
            // Logs, exec and port-forward: the API server calls the kubelet
            // at the node's InternalIP with a client certificate.
            .args([
                "--kubelet-client-certificate",
                &file("apiserver-kubelet-client.pem"),
            ])
            .args(["--kubelet-client-key", &file("apiserver-kubelet-client-key.pem")])
            .args(["--kubelet-certificate-authority", &file("ca.pem")])
            .args(["--kubelet-preferred-address-types", "InternalIP"])
            // Privileged pods are allowed by the API server itself, so that a
            // refusal in cloudshop-prod comes from Pod Security or Kyverno.
            .arg("--allow-privileged=true")
            .arg("--profiling=false")
            .args(["--v", "1"]);
        self.start("kube-apiserver", command)?;
        let kubectl = self.kubectl();
        self.wait_ready("kube-apiserver", Duration::from_secs(90), || {
            let kubectl = kubectl.clone();
            async move {
                let body = kubectl.run(&["get", "--raw", "/readyz"])?;
                anyhow::ensure!(body.trim() == "ok", "readyz: {body}");
                Ok(())
            }
        })
        .await
    }

    pub async fn controllers(&self) -> anyhow::Result<()> {
        let pki = pki::dir(&self.dir);
        let file = |name: &str| pki.join(name).display().to_string();
        for (name, binary, port) in [
            (
                "kube-controller-manager",
                &self.tools.controller_manager,
                self.ports.controller_manager,
            ),
            ("kube-scheduler", &self.tools.scheduler, self.ports.scheduler),
        ] {
            let kubeconfig = pki::kubeconfig(&self.dir, name).display().to_string();
            let mut command = Command::new(binary);
            command
                .args(["--kubeconfig", &kubeconfig])
                .args(["--authentication-kubeconfig", &kubeconfig])
                .args(["--authorization-kubeconfig", &kubeconfig])
                .args(["--bind-address", "127.0.0.1"])
                .args(["--secure-port", &port.to_string()])
                .args(["--tls-cert-file", &file(&format!("{name}.pem"))])
                .args(["--tls-private-key-file", &file(&format!("{name}-key.pem"))])
                .arg("--leader-elect=false");
            if name == "kube-controller-manager" {
                command
                    .args([
                        "--service-account-private-key-file",
                        &file("service-account-key.pem"),
                    ])
                    .args(["--root-ca-file", &file("ca.pem")])
                    .arg("--use-service-account-credentials=true")
                    // Each node gets a /24 of the pods' range (kube-router
                    // and kube-proxy read it from the Node).
                    .arg("--allocate-node-cidrs=true")
                    .args(["--cluster-cidr", crate::node::CLUSTER_CIDR])
                    .args(["--node-cidr-mask-size", "24"])
                    .args(["--service-cluster-ip-range", crate::node::SERVICE_RANGE]);
            }
            self.start(name, command)?;
        }
        let client = cloudshop_host::testing::client_trusting(&pki::ca(&self.dir));
        for (name, port) in [
            ("kube-controller-manager", self.ports.controller_manager),
            ("kube-scheduler", self.ports.scheduler),
        ] {
            let url = format!("https://127.0.0.1:{port}/healthz");
            self.wait_ready(name, Duration::from_secs(60), || http_ok(&client, &url))
                .await?;
        }
        // Pods need their namespace's `default` service account.
        let kubectl = self.kubectl();
        self.wait_ready("kube-controller-manager", Duration::from_secs(60), || {
            let kubectl = kubectl.clone();
            async move {
                kubectl
                    .run(&["-n", "default", "get", "serviceaccount", "default"])
                    .map(drop)
            }
        })
        .await
    }

    /// kwok, and `count` nodes it manages (they report Ready; pods scheduled
    /// on them are marked Running).
    ///
    /// kwok v0.8.0 can die as it starts with "fatal error: concurrent map
    /// writes" (its node workers build CEL environments at once, and
    /// `easycel`'s type registry is a plain map; seen once in a run of the
    /// test command, 2026-12-05): then it is started once more, saying so.
    pub async fn nodes(&self, count: u32) -> anyhow::Result<()> {
        let mut restarted = false;
        loop {
            let log_start = std::fs::metadata(self.daemons.log_file("kwok")).map_or(0, |m| m.len());
            match self.nodes_once(count).await {
                Ok(()) => return Ok(()),
                Err(_)
                    if !restarted
                        && self.daemons.pid("kwok").is_none()
                        && log_since(&self.daemons.log_file("kwok"), log_start)
                            .contains("fatal error: concurrent map writes") =>
                {
                    cloudshop_host::progress::line(
                        "kwok died of its concurrent map writes race as it started; starting it again",
                    );
                    restarted = true;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn nodes_once(&self, count: u32) -> anyhow::Result<()> {
        let mut command = Command::new(&self.tools.kwok);
        command
            .arg("--kubeconfig")
            .arg(pki::kubeconfig(&self.dir, "admin"))
            .arg("--manage-all-nodes=false")
            .arg("--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake")
            .args(["--server-address", &format!("127.0.0.1:{}", self.ports.kwok)]);
        for stage in &self.tools.kwok_stages {
            command.arg("--config").arg(stage);
        }
        self.start("kwok", command)?;
        let nodes: String = (1..=count)
            .map(|n| {
                format!(
                    "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: kwok-node-{n}\n  annotations:\n    kwok.x-k8s.io/node: fake\n    node.alpha.kubernetes.io/ttl: \"0\"\n  labels:\n    type: kwok\n    kubernetes.io/hostname: kwok-node-{n}\n    kubernetes.io/os: linux\n    kubernetes.io/arch: amd64\nstatus:\n  allocatable: {{cpu: \"16\", memory: 64Gi, pods: \"110\"}}\n  capacity: {{cpu: \"16\", memory: 64Gi, pods: \"110\"}}\n"
                )
            })
            .collect();
        let kubectl = self.kubectl();
        kubectl.apply(&nodes).context("creating the simulated nodes")?;
        kubectl
            .run(&[
                "apply",
                "-f",
                &self.tools.kwok_storage_class.display().to_string(),
            ])
            .context("kwok's default StorageClass")?;
        self.wait_ready("kwok", Duration::from_secs(60), || {
            let kubectl = kubectl.clone();
            async move {
                let ready = kubectl.run(&[
                    "get",
                    "nodes",
                    "-l",
                    "type=kwok",
                    "-o",
                    "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
                ])?;
                let ready = ready.lines().filter(|line| *line == "True").count();
                anyhow::ensure!(ready as u32 >= count, "{ready} of {count} nodes Ready");
                Ok(())
            }
        })
        .await
    }

    /// Kyverno's CRDs, namespace, ConfigMaps and the RBAC its controllers'
    /// service accounts need, then its admission controller, out of cluster:
    /// it serves its webhooks on 127.0.0.1 and registers them with the API
    /// server under that address.
    pub async fn kyverno(&self) -> anyhow::Result<()> {
        let kubectl = self.kubectl();
        kubectl
            .run(&[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-R",
                "-f",
                &self.tools.kyverno_crds.display().to_string(),
            ])
            .context("installing Kyverno's CRDs")?;
        let ns = KYVERNO_NAMESPACE;
        let mut rbac = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kyverno\n  namespace: {ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kyverno-metrics\n  namespace: {ns}\n"
        );
        // The controllers' identities, as the policies' readiness checks ask
        // the API server about them (SubjectAccessReview). Kyverno's Helm
        // chart grants narrower roles; this cluster is a local test bed.
        for account in [
            KYVERNO_SERVICE_ACCOUNT,
            KYVERNO_REPORTS_ACCOUNT,
            KYVERNO_BACKGROUND_ACCOUNT,
        ] {
            rbac.push_str(&format!(
                "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {account}\n  namespace: {ns}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: cloudshop-local-{account}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n  name: {account}\n  namespace: {ns}\n"
            ));
        }
        kubectl
            .apply(&rbac)
            .context("Kyverno's namespace, ConfigMaps and RBAC")?;

        let webhook = format!("127.0.0.1:{}", self.ports.kyverno_webhook);
        let mut command = Command::new(&self.tools.kyverno);
        command
            .env("KYVERNO_NAMESPACE", ns)
            .env("KYVERNO_SERVICEACCOUNT_NAME", KYVERNO_SERVICE_ACCOUNT)
            .env("KYVERNO_DEPLOYMENT", KYVERNO_SERVICE_ACCOUNT)
            .env("KYVERNO_POD_NAME", format!("{KYVERNO_SERVICE_ACCOUNT}-local"))
            .env("INIT_CONFIG", "kyverno")
            .env("METRICS_CONFIG", "kyverno-metrics")
            .arg("--kubeconfig")
            .arg(pki::kubeconfig(&self.dir, "admin"))
            .args(["--serverIP", &webhook])
            .args(["--webhookServerHost", "127.0.0.1"])
            .args(["--webhookServerPort", &self.ports.kyverno_webhook.to_string()])
            .args(["--metricsHost", "127.0.0.1"])
            .args(["--metricsPort", &self.ports.kyverno_metrics.to_string()])
            .args(["--controllerRuntimeMetricsAddress", "0"])
            .args(["--caSecretName", KYVERNO_CA_SECRET])
            .args(["--tlsSecretName", "kyverno-svc.kyverno.svc.kyverno-tls-pair"])
            .args([
                "--reportsServiceAccountName",
                &format!("system:serviceaccount:{ns}:{KYVERNO_REPORTS_ACCOUNT}"),
            ])
            .args([
                "--backgroundServiceAccountName",
                &format!("system:serviceaccount:{ns}:{KYVERNO_BACKGROUND_ACCOUNT}"),
            ])
            // The local registry speaks plain HTTP on the loopback interface.
            .arg("--allowInsecureRegistry=true");
        self.start("kyverno", command)?;

        // Ready: its webhook server answers over the TLS it made itself,
        // whose CA it keeps in a Secret (read once, when it is there).
        let ca_file = pki::dir(&self.dir).join("kyverno-ca.pem");
        self.wait_ready("kyverno", Duration::from_secs(60), || {
            let kubectl = kubectl.clone();
            let ca_file = ca_file.clone();
            async move {
                let ca = kubectl.run(&[
                    "-n",
                    KYVERNO_NAMESPACE,
                    "get",
                    "secret",
                    KYVERNO_CA_SECRET,
                    "-o",
                    "jsonpath={.data.tls\\.crt}",
                ])?;
                use base64::Engine;
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(ca.trim())
                    .context("Kyverno's CA secret")?;
                std::fs::write(&ca_file, pem)?;
                Ok(())
            }
        })
        .await?;
        let client = cloudshop_host::testing::client_trusting(&ca_file);
        let url = format!("https://{webhook}/health/readiness");
        self.wait_ready("kyverno", Duration::from_secs(60), || http_ok(&client, &url))
            .await?;
        // And its webhooks are registered.
        self.wait_ready("kyverno", Duration::from_secs(60), || {
            let kubectl = kubectl.clone();
            async move {
                let names = kubectl.run(&["get", "validatingwebhookconfigurations", "-o", "name"])?;
                anyhow::ensure!(
                    names.contains("kyverno-resource-validating-webhook-cfg"),
                    "no resource webhook yet: {names}"
                );
                Ok(())
            }
        })
        .await
    }
}

pub(crate) fn plain_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?)
}

pub(crate) async fn http_ok(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let response = client.get(url).send().await?;
    anyhow::ensure!(response.status().is_success(), "{url}: {}", response.status());
    Ok(())
}

/// The first global IPv4 address of this machine (`ip -4 -o addr show scope global`).
pub fn advertise_address() -> anyhow::Result<String> {
    let output = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .context("running `ip` (iproute2)")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            fields.find(|field| *field == "inet")?;
            Some(fields.next()?.split('/').next()?.to_owned())
        })
        .context("this machine has no global IPv4 address for the API server to advertise")
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// What `path` holds from byte `from` on (empty when it cannot be read).
fn log_since(path: &Path, from: u64) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(bytes.get(from as usize..).unwrap_or_default()).into_owned())
        .unwrap_or_default()
}
