//! The real node (`cloudshop cluster up --node real`): containerd with runc
//! (seccomp), the bridge CNI, kubelet with its own `system:node:` identity,
//! kube-proxy (iptables), kube-router's NetworkPolicy firewall and CoreDNS,
//! all as local processes of this machine; the sandbox (pause) and CoreDNS
//! images are built here and pushed to the cluster's registry.
//!
//! The node's address is its bridge's (`cloudshop0`, 10.244.0.1): the API
//! server and the kubelet listen there, everything else on 127.0.0.1.
//!
//! A real node changes the host: the bridge and veth pairs, iptables chains
//! (KUBE-*, CNI-*), kube-router's ipsets, mounts and cgroups, the shims'
//! socket folder in /run, and three sysctls the kubelet sets
//! (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops). `cloudshop
//! cluster down` undoes each (see [`down`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use cloudshop_host::daemon::{Daemons, Stopped};
use cloudshop_host::pki::KubernetesLeaf;
use serde::{Deserialize, Serialize};

use super::control_plane::ControlPlane;
use super::pki;
use super::tools::NodeTools;

/// The node's name, as its certificate and the API server know it.
pub const NAME: &str = "cloudshop-node";
/// The pods' addresses (the node's share of the cluster's 10.244.0.0/16).
pub const POD_CIDR: &str = "10.244.0.0/24";
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
pub const SERVICE_RANGE: &str = "10.96.0.0/16";
/// The `kube-dns` Service's address, which every pod's resolv.conf names.
pub const DNS_ADDRESS: &str = "10.96.0.10";
/// The node's bridge, made before the API server starts; the CNI plugin
/// plugs each pod into it.
pub const BRIDGE: &str = "cloudshop0";
/// The node's address: the bridge's, the pods' gateway. The API server and
/// the kubelet listen on it (pods reach them there), so nothing of the
/// cluster listens on the machine's other interfaces.
pub const ADDRESS: &str = "10.244.0.1";
const CNI_NETWORK: &str = "cloudshop";
/// The sysctls the kubelet sets when they differ (its
/// `protectKernelDefaults: false`), restored by `down`.
const KUBELET_SYSCTLS: [&str; 3] = ["vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops"];

/// The node's processes, in start order (`down` stops them in reverse).
pub const PROCESSES: [&str; 4] = ["containerd", "kubelet", "kube-proxy", "kube-router"];

/// The node's ports, reserved on its first `up` and kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ports {
    pub kubelet: u16,
    pub kubelet_healthz: u16,
    pub proxy_healthz: u16,
    pub proxy_metrics: u16,
}

impl Ports {
    pub fn reserve() -> anyhow::Result<Self> {
        let p = cloudshop_host::ports::reserve(4).context("ports for the node")?;
        Ok(Self {
            kubelet: p[0],
            kubelet_healthz: p[1],
            proxy_healthz: p[2],
            proxy_metrics: p[3],
        })
    }
}

#[derive(Debug)]
pub struct Node<'a> {
    pub plane: &'a ControlPlane,
    pub tools: NodeTools,
    pub ports: Ports,
    /// The node's InternalIP ([`ADDRESS`]), where the API server reaches
    /// the kubelet and pods reach the API server.
    pub address: String,
}

/// The node's folder.
pub fn dir(cluster: &Path) -> PathBuf {
    cluster.join("node")
}

/// containerd's socket (crictl's runtime endpoint).
pub fn containerd_socket(cluster: &Path) -> PathBuf {
    dir(cluster).join("containerd/containerd.sock")
}

/// The images the node needs, as pods name them in the cluster's registry.
#[derive(Debug)]
pub struct Images {
    pub pause: String,
    pub coredns: String,
}

impl Node<'_> {
    fn dir(&self) -> PathBuf {
        dir(&self.plane.dir)
    }

    fn start(&self, name: &str, command: Command) -> anyhow::Result<()> {
        self.plane.start(name, command).map(drop)
    }

    /// The node's certificates: its kubelet's client (`system:node:NAME` in
    /// `system:nodes`, which the Node authoriser and NodeRestriction act on)
    /// and serving certificate, kube-proxy's (`system:kube-proxy`, bound to
    /// `system:node-proxier` by default) and kube-router's; a kubeconfig each.
    pub fn certificates(&self, apiserver: &str) -> anyhow::Result<()> {
        let ca = pki::load_ca(&self.plane.dir)?;
        let address: std::net::IpAddr = self.address.parse().context("the node's address")?;
        for (name, common_name, organization) in [
            ("kubelet", format!("system:node:{NAME}"), Some("system:nodes")),
            ("kube-proxy", "system:kube-proxy".to_owned(), None),
            ("kube-router", "cloudshop:kube-router".to_owned(), None),
        ] {
            pki::issue(
                &self.plane.dir,
                &ca,
                name,
                &KubernetesLeaf {
                    common_name,
                    organization: organization.map(str::to_owned),
                    dns_names: vec![NAME.into()],
                    ips: vec![address],
                },
            )?;
            pki::write_kubeconfig(&self.plane.dir, name, apiserver)?;
        }
        pki::issue(
            &self.plane.dir,
            &ca,
            "kubelet-serving",
            &KubernetesLeaf {
                common_name: format!("system:node:{NAME}"),
                organization: Some("system:nodes".into()),
                dns_names: vec![NAME.into(), "localhost".into()],
                ips: vec![address, std::net::IpAddr::from([127, 0, 0, 1])],
            },
        )
    }

    /// Builds the pause image from `cluster/node/pause.c` (musl, static) and
    /// CoreDNS's from the installed binary, each `FROM scratch`, and pushes
    /// both to the cluster's registry.
    pub fn images(&self, workspace: &Path) -> anyhow::Result<Images> {
        let coredns = &self.tools.coredns;
        let registry = self.plane.registry_address();
        let build = self.dir().join("images");
        std::fs::create_dir_all(&build)?;
        let pause = build.join("pause.out");
        let source = workspace.join("cluster/node/pause.c");
        run(
            Command::new("musl-gcc")
                .args(["-static", "-Os", "-Wall", "-Wextra", "-Werror", "-o"])
                .arg(&pause)
                .arg(&source),
            "compiling the pause container (musl-gcc)",
        )?;
        let version = cloudshop_topology::versions::version(cloudshop_topology::versions::COREDNS);
        let images = Images {
            pause: format!("{registry}/cloudshop/pause:local"),
            coredns: format!("{registry}/cloudshop/coredns:{version}"),
        };
        scratch_image(&build.join("pause"), "pause", &pause, 65535, &images.pause)?;
        scratch_image(&build.join("coredns"), "coredns", coredns, 65532, &images.coredns)?;
        Ok(images)
    }

    /// containerd with its CRI plugin: runc as the runtime (the cgroupfs
    /// driver: this machine has no systemd), the bridge network for pods, the
    /// cluster's registry over plain HTTP, and our pause image as the sandbox.
    pub async fn containerd(&self, images: &Images) -> anyhow::Result<()> {
        let tools = &self.tools;
        let node = self.dir();
        let c = node.join("containerd");
        let registry = self.plane.registry_address();
        // Pulls from the cluster's registry over plain HTTP; and docker.io
        // mirrored by it: the PostgreSQL stand-in (see [`Node::postgres`]) is
        // pulled by the official image's name, by its own digest.
        for (host, server) in [
            (registry.as_str(), format!("http://{registry}")),
            ("docker.io", "https://registry-1.docker.io".to_owned()),
        ] {
            let folder = c.join("certs.d").join(host);
            std::fs::create_dir_all(&folder)?;
            std::fs::write(
                folder.join("hosts.toml"),
                format!(
                    "server = \"{server}\"\n\n[host.\"http://{registry}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
                ),
            )?;
        }
        let cni = node.join("cni");
        std::fs::create_dir_all(cni.join("net.d"))?;
        std::fs::write(
            cni.join("net.d/10-cloudshop.conflist"),
            format!(
                r#"{{
  "cniVersion": "1.0.0",
  "name": "{CNI_NETWORK}",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{BRIDGE}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {{
        "type": "host-local",
        "ranges": [[{{"subnet": "{POD_CIDR}"}}]],
        "routes": [{{"dst": "0.0.0.0/0"}}],
        "dataDir": "{ipam}"
      }}
    }},
    {{"type": "portmap", "capabilities": {{"portMappings": true}}}}
  ]
}}
"#,
                ipam = cni.join("ipam").display()
            ),
        )?;
        let config = c.join("config.toml");
        let p = |path: PathBuf| path.display().to_string();
        std::fs::write(
            &config,
            format!(
                r#"version = 3
root = "{root}"
state = "{state}"
# NRI is not used; its socket would be in /var/run.
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "{socket}"

[plugins]
  [plugins.'io.containerd.shim.v1.manager']
    socket_dir = "{shims}"
  [plugins.'io.containerd.internal.v1.opt']
    path = "{opt}"
  [plugins.'io.containerd.cri.v1.runtime']
    # root here has no CAP_SYS_RESOURCE over its own oom_score_adj floor
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "{runc}"
          Root = "{runc_root}"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = "{cni_conf}"
  [plugins.'io.containerd.cri.v1.images']
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "{pause}"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "{certs}"
"#,
                root = p(c.join("root")),
                state = p(c.join("state")),
                socket = p(containerd_socket(&self.plane.dir)),
                shims = p(self.shim_sockets()),
                opt = p(c.join("opt")),
                runc = p(tools.runc.clone()),
                runc_root = p(c.join("runc")),
                cni_conf = p(cni.join("net.d")),
                pause = images.pause,
                certs = p(c.join("certs.d")),
            ),
        )?;
        let mut command = Command::new(&tools.containerd);
        command.arg("--config").arg(&config);
        // The shim is found on PATH.
        command.env("PATH", path_with(&tools.containerd_shim)?);
        self.start("containerd", command)?;
        let crictl = self.crictl();
        self.plane
            .wait_ready("containerd", Duration::from_secs(60), || {
                let mut crictl = crictl_command(&crictl, &self.plane.dir);
                let log = self.plane.daemons.log_file("containerd");
                async move {
                    let output = crictl.arg("info").output()?;
                    if !output.status.success() {
                        // A plugin that failed to load says why only at the
                        // start of the log.
                        let failed: Vec<String> = std::fs::read_to_string(&log)
                            .unwrap_or_default()
                            .lines()
                            .filter(|line| line.contains("failed to load plugin"))
                            .map(str::to_owned)
                            .collect();
                        bail!(
                            "crictl info: {}{}",
                            String::from_utf8_lossy(&output.stderr).trim(),
                            if failed.is_empty() {
                                String::new()
                            } else {
                                format!("\ncontainerd: {}", failed.join("\n"))
                            }
                        );
                    }
                    Ok(())
                }
            })
            .await
    }

    /// Where containerd's shims put their sockets: containerd allows at
    /// most 42 characters, which a folder under the cluster's rarely is; so
    /// a folder in /run named after the node's kubelet port (unique per
    /// cluster folder), removed by `down`.
    fn shim_sockets(&self) -> PathBuf {
        shim_sockets(&self.ports)
    }

    fn crictl(&self) -> PathBuf {
        self.tools.crictl.clone()
    }

    /// The kubelet: cgroup v1 allowed (`failCgroupV1: false`; this machine
    /// is hybrid), webhook authentication and authorisation of its API, no
    /// read-only port, pod logs in the node's folder.
    pub async fn kubelet(&self) -> anyhow::Result<()> {
        self.record_sysctls()?;
        let node = self.dir();
        let kubelet = node.join("kubelet");
        std::fs::create_dir_all(kubelet.join("root"))?;
        std::fs::create_dir_all(kubelet.join("pod-logs"))?;
        let config = kubelet.join("config.yaml");
        let cluster = &self.plane.dir;
        std::fs::write(
            &config,
            format!(
                "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://{socket}
address: {address}
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz}
tlsCertFile: {cert}
tlsPrivateKeyFile: {key}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {ca}}}
authorization:
  mode: Webhook
clusterDNS: [{DNS_ADDRESS}]
clusterDomain: cluster.local
podLogsDir: {logs}
# This machine's disk is shared with the build: evict only when it is full.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  imagefs.available: 2%
  nodefs.inodesFree: 2%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
rotateCertificates: false
serverTLSBootstrap: false
",
                socket = containerd_socket(cluster).display(),
                address = self.address,
                port = self.ports.kubelet,
                healthz = self.ports.kubelet_healthz,
                cert = pki::cert(cluster, "kubelet-serving").display(),
                key = pki::key(cluster, "kubelet-serving").display(),
                ca = pki::ca(cluster).display(),
                logs = kubelet.join("pod-logs").display(),
            ),
        )?;
        let mut command = Command::new(&self.tools.kubelet);
        command
            .arg("--config")
            .arg(&config)
            .arg("--kubeconfig")
            .arg(pki::kubeconfig(cluster, "kubelet"))
            .arg("--root-dir")
            .arg(kubelet.join("root"))
            .args(["--hostname-override", NAME])
            .args(["--node-ip", &self.address])
            .args(["--v", "1"]);
        self.start("kubelet", command)?;
        let kubectl = self.plane.kubectl();
        self.plane
            .wait_ready("kubelet", Duration::from_secs(120), || {
                let kubectl = kubectl.clone();
                async move {
                    let ready = kubectl.run(&[
                        "get",
                        "node",
                        NAME,
                        "-o",
                        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                    ])?;
                    anyhow::ensure!(ready.trim() == "True", "node {NAME} Ready: {ready:?}");
                    Ok(())
                }
            })
            .await
    }

    /// kube-proxy (iptables mode) and kube-router's NetworkPolicy firewall
    /// (no routing, no service proxy: kube-proxy does that).
    pub async fn network(&self) -> anyhow::Result<()> {
        let cluster = &self.plane.dir;
        let config = self.dir().join("kube-proxy.yaml");
        // kube-proxy watches its file and exits when it is written, so a
        // second `up` leaves an unchanged file alone.
        write_if_changed(
            &config,
            &format!(
                "apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kubeconfig}
mode: iptables
clusterCIDR: {CLUSTER_CIDR}
hostnameOverride: {NAME}
metricsBindAddress: 127.0.0.1:{metrics}
healthzBindAddress: 127.0.0.1:{healthz}
# NodePorts on the node's address (its bridge) only, never on 127.0.0.1
# or the machine's other interfaces.
nodePortAddresses: [primary]
iptables:
  localhostNodePorts: false
# Leave the machine's conntrack table sizes as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
",
                kubeconfig = pki::kubeconfig(cluster, "kube-proxy").display(),
                metrics = self.ports.proxy_metrics,
                healthz = self.ports.proxy_healthz,
            ),
        )?;
        let mut command = Command::new(&self.tools.kube_proxy);
        command.arg("--config").arg(&config).args(["--v", "1"]);
        self.start("kube-proxy", command)?;

        // kube-router reads pods, namespaces, policies and the node; its
        // own role, not cluster-admin.
        self.plane
            .kubectl()
            .apply(
                "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cloudshop:kube-router
rules:
- apiGroups: [\"\"]
  resources: [namespaces, pods, services, nodes, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [\"\"]
  resources: [events]
  verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: cloudshop:kube-router
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cloudshop:kube-router}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: cloudshop:kube-router}
",
            )
            .context("kube-router's role")?;
        let mut command = Command::new(&self.tools.kube_router);
        command
            .arg("--kubeconfig")
            .arg(pki::kubeconfig(cluster, "kube-router"))
            .args([
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
            ])
            .args(["--hostname-override", NAME])
            .args(["--service-cluster-ip-range", SERVICE_RANGE])
            // Its health server would listen on every address; it is off,
            // and readiness is its firewall chains in place.
            .args(["--health-port", "0"])
            .args(["--v", "1"]);
        self.start("kube-router", command)?;

        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let url = format!("http://127.0.0.1:{}/healthz", self.ports.proxy_healthz);
        self.plane
            .wait_ready("kube-proxy", Duration::from_secs(60), || {
                let request = client.get(&url);
                async move {
                    let response = request.send().await?;
                    anyhow::ensure!(response.status().is_success(), "{}", response.status());
                    Ok(())
                }
            })
            .await?;
        self.plane
            .wait_ready("kube-router", Duration::from_secs(60), || async {
                let saved = Command::new("iptables-save").args(["-t", "filter"]).output()?;
                let saved = String::from_utf8_lossy(&saved.stdout);
                anyhow::ensure!(
                    [
                        ":KUBE-ROUTER-INPUT",
                        ":KUBE-ROUTER-FORWARD",
                        ":KUBE-ROUTER-OUTPUT"
                    ]
                    .iter()
                    .all(|chain| saved.contains(chain)),
                    "its firewall chains are not in place yet"
                );
                Ok(())
            })
            .await
    }

    /// CoreDNS as a Deployment in kube-system (the `kube-dns` Service at
    /// [`DNS_ADDRESS`]), serving cluster.local from the API server; no
    /// forwarding (this machine has no resolver outside). It listens on 53
    /// as a non-root user with no capabilities (containerd opens the low
    /// ports in each pod's network namespace), so that a NetworkPolicy
    /// allowing DNS to port 53 matches after the Service's DNAT too.
    pub async fn coredns(&self, image: &str) -> anyhow::Result<()> {
        let kubectl = self.plane.kubectl();
        kubectl
            .apply(&coredns_manifest(image))
            .context("applying CoreDNS")?;
        kubectl
            .run(&[
                "-n",
                "kube-system",
                "rollout",
                "status",
                "deployment/coredns",
                "--timeout=120s",
            ])
            .context("CoreDNS did not become ready")
            .map(drop)
    }

    /// The shop's PostgreSQL on this node. Public images cannot be pulled
    /// here, so the official image is stood in for by one built from this
    /// machine's PostgreSQL (`cli/tests/compose-postgres/postgres-image.sh`:
    /// the same user, folders and entrypoint behaviour), pushed to the
    /// cluster's registry as `library/postgres`, which containerd uses as its
    /// docker.io mirror. Returns its digest, which the deployment pins
    /// (`docker.io/library/postgres@sha256:…`, as the image policy requires
    /// of PostgreSQL). Also the volume its claim binds: a default
    /// StorageClass without a provisioner and one hostPath PersistentVolume
    /// in the node's folder, owned by the image's postgres user (70) and
    /// reserved for the StatefulSet's claim.
    pub fn postgres(&self, workspace: &Path, namespace: &str) -> anyhow::Result<String> {
        let local = "localhost/cloudshop-node/postgres:stand-in";
        run(
            Command::new("sh")
                .arg(workspace.join("cli/tests/compose-postgres/postgres-image.sh"))
                .arg(local),
            "building the PostgreSQL stand-in image",
        )?;
        std::fs::create_dir_all(self.dir().join("images"))?;
        let pushed = format!("{}/library/postgres:stand-in", self.plane.registry_address());
        let digest = push(local, &pushed, &self.dir().join("images/postgres.digest"))?;

        let data = self.dir().join("volumes/postgres-data");
        std::fs::create_dir_all(&data)?;
        std::os::unix::fs::chown(&data, Some(70), Some(70))
            .with_context(|| format!("giving {} to uid 70", data.display()))?;
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        self.plane
            .kubectl()
            .apply(&format!(
                "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: cloudshop-node
  annotations: {{storageclass.kubernetes.io/is-default-class: \"true\"}}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: cloudshop-postgres-data}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  storageClassName: cloudshop-node
  persistentVolumeReclaimPolicy: Retain
  claimRef: {{namespace: {namespace}, name: data-postgres-0}}
  hostPath: {{path: {path}, type: Directory}}
",
                path = data.display()
            ))
            .context("the PostgreSQL volume")?;
        Ok(digest)
    }

    fn record_sysctls(&self) -> anyhow::Result<()> {
        let file = self.dir().join("sysctls-before-kubelet");
        if file.exists() {
            return Ok(());
        }
        let mut text = String::new();
        for name in KUBELET_SYSCTLS {
            let value = std::fs::read_to_string(sysctl_path(name))
                .with_context(|| format!("reading sysctl {name}"))?;
            writeln!(text, "{name} {}", value.trim())?;
        }
        std::fs::write(file, text)?;
        Ok(())
    }
}

fn shim_sockets(ports: &Ports) -> PathBuf {
    PathBuf::from(format!("/run/cloudshop-node-{}", ports.kubelet))
}

fn sysctl_path(name: &str) -> PathBuf {
    Path::new("/proc/sys").join(name.replace('.', "/"))
}

/// PATH with `binary`'s folder first.
fn path_with(binary: &Path) -> anyhow::Result<std::ffi::OsString> {
    let folder = binary.parent().context("a binary's folder")?;
    let mut paths = vec![folder.to_owned()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Ok(std::env::join_paths(paths)?)
}

fn crictl_command(crictl: &Path, cluster: &Path) -> Command {
    let mut command = Command::new(crictl);
    command
        .arg("--runtime-endpoint")
        .arg(format!("unix://{}", containerd_socket(cluster).display()))
        .args(["--timeout", "20s"]);
    command
}

impl Node<'_> {
    /// An add-on's image (Traefik, Prometheus, kube-state-metrics): its
    /// installed `binary` in a [`scratch_image`] run as `uid`, tagged with
    /// the version of its pin (`MODULE@VERSION`) as `GROUP/NAME` in the
    /// cluster's registry. Returns the reference pods use, pinned by digest.
    pub fn addon_image(
        &self,
        group: &str,
        name: &str,
        binary: &Path,
        pin: &str,
        uid: u32,
    ) -> anyhow::Result<String> {
        let registry = self.plane.registry_address();
        let folder = dir(&self.plane.dir).join("images").join(name);
        let version = cloudshop_topology::versions::version(pin);
        let tag = format!("{registry}/{group}/{name}:{version}");
        let digest = scratch_image(&folder, name, binary, uid, &tag)?;
        Ok(format!("{registry}/{group}/{name}@{digest}"))
    }
}

/// A `FROM scratch` image holding one static `binary` as `/NAME`, its
/// entrypoint, run as `uid`: its build folder is `folder`; built as `tag`,
/// pushed to the cluster's registry. Returns its digest there.
pub fn scratch_image(
    folder: &Path,
    name: &str,
    binary: &Path,
    uid: u32,
    tag: &str,
) -> anyhow::Result<String> {
    std::fs::create_dir_all(folder)?;
    std::fs::copy(binary, folder.join(name)).with_context(|| format!("copying {}", binary.display()))?;
    std::fs::write(
        folder.join("Containerfile"),
        format!("FROM scratch\nCOPY {name} /{name}\nUSER {uid}:{uid}\nENTRYPOINT [\"/{name}\"]\n"),
    )?;
    run(
        cloudshop_topology::tools::command("podman")
            .args(["build", "--quiet", "--tag", tag])
            .arg(folder),
        &format!("building {tag}"),
    )?;
    push(tag, tag, &folder.join("pushed.digest"))
}

/// Pushes the local image `image` to `to` in the cluster's registry and
/// returns its digest there (podman writes it to `digest_file`).
fn push(image: &str, to: &str, digest_file: &Path) -> anyhow::Result<String> {
    run(
        cloudshop_topology::tools::command("podman")
            .args(["push", "--quiet", "--tls-verify=false", "--digestfile"])
            .arg(digest_file)
            .args([image, to]),
        &format!("pushing {to}"),
    )?;
    let digest = std::fs::read_to_string(digest_file)?.trim().to_owned();
    anyhow::ensure!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "podman push wrote no digest for {to}: {digest:?}"
    );
    Ok(digest)
}

/// Writes `text` to `path` unless the file already holds it.
fn write_if_changed(path: &Path, text: &str) -> anyhow::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    cloudshop_supply_chain::output(command)
        .map(drop)
        .with_context(|| format!("{what} failed"))
}

fn coredns_manifest(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: coredns, namespace: kube-system}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "cloudshop:coredns"}}
rules:
- apiGroups: [""]
  resources: [services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "cloudshop:coredns"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "cloudshop:coredns"}}
subjects:
- {{kind: ServiceAccount, name: coredns, namespace: kube-system}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: coredns, namespace: kube-system}}
data:
  Corefile: |
    .:53 {{
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }}
        cache 30
        loop
        reload
    }}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: coredns, namespace: kube-system, labels: {{k8s-app: kube-dns}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{k8s-app: kube-dns}}}}
  template:
    metadata: {{labels: {{k8s-app: kube-dns}}}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {{type: RuntimeDefault}}
      containers:
      - name: coredns
        image: {image}
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {{name: dns, containerPort: 53, protocol: UDP}}
        - {{name: dns-tcp, containerPort: 53, protocol: TCP}}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {{drop: [ALL]}}
        resources:
          requests: {{cpu: 50m, memory: 40Mi}}
          limits: {{memory: 120Mi}}
        readinessProbe:
          httpGet: {{path: /ready, port: 8181}}
          periodSeconds: 2
        livenessProbe:
          httpGet: {{path: /health, port: 8080}}
        volumeMounts:
        - {{name: config, mountPath: /etc/coredns, readOnly: true}}
      volumes:
      - name: config
        configMap: {{name: coredns}}
---
apiVersion: v1
kind: Service
metadata: {{name: kube-dns, namespace: kube-system, labels: {{k8s-app: kube-dns}}}}
spec:
  selector: {{k8s-app: kube-dns}}
  clusterIP: {DNS_ADDRESS}
  ports:
  - {{name: dns, port: 53, targetPort: 53, protocol: UDP}}
  - {{name: dns-tcp, port: 53, targetPort: 53, protocol: TCP}}
"#
    )
}

/// Where the machine records which cluster folder its real node belongs to.
/// The bridge, its address, the iptables chains, the kubepods cgroups and
/// the sysctls are the machine's, so one real node runs at a time.
const OWNER: &str = "/run/cloudshop-node.owner";

/// The cluster folder whose real node runs on this machine, other than
/// `cluster` (its containerd or kubelet alive).
fn other_running_node(cluster: &Path) -> Option<PathBuf> {
    let other = PathBuf::from(std::fs::read_to_string(OWNER).ok()?.trim());
    let daemons = Daemons::new(&other);
    (other != cluster
        && ["containerd", "kubelet"]
            .iter()
            .any(|name| daemons.pid(name).is_some()))
    .then_some(other)
}

/// Records `cluster` as the owner of the machine's real node; refuses
/// while another cluster's node runs.
pub fn claim(cluster: &Path) -> anyhow::Result<()> {
    if let Some(other) = other_running_node(cluster) {
        bail!(
            "the real node of the cluster in {} runs on this machine, and a machine has one \
             (its bridge {BRIDGE}, address {ADDRESS} and iptables chains are the machine's): \
             run `cloudshop cluster down --dir {0}` first",
            other.display()
        );
    }
    std::fs::write(OWNER, cluster.display().to_string()).with_context(|| format!("writing {OWNER}"))
}

/// Makes the node's bridge with its address ([`ADDRESS`]/24) and brings it
/// up; kept when it is there.
pub fn bridge() -> anyhow::Result<()> {
    if !bridge_exists()? {
        run(
            Command::new("ip").args(["link", "add", BRIDGE, "type", "bridge"]),
            &format!("making the bridge {BRIDGE}"),
        )?;
    }
    run(
        Command::new("ip").args(["address", "replace", &format!("{ADDRESS}/24"), "dev", BRIDGE]),
        &format!("giving {BRIDGE} the address {ADDRESS}"),
    )?;
    run(
        Command::new("ip").args(["link", "set", BRIDGE, "up"]),
        &format!("bringing {BRIDGE} up"),
    )
}

/// Undoes the node: pods removed through containerd (so the CNI plugin
/// deletes their veths and addresses), the processes stopped by their pids,
/// kube-proxy's and kube-router's rules removed by their own cleanup modes,
/// leftover shims of this containerd stopped, mounts under the node's folder
/// unmounted, the bridge deleted, the sysctls restored. Each step that fails
/// is named; the others still run.
pub fn down(
    cluster: &Path,
    daemons: &Daemons,
    tools: &NodeTools,
    ports: Option<&Ports>,
) -> anyhow::Result<()> {
    let node = dir(cluster);
    if !node.exists() {
        return Ok(());
    }
    let mut failures = Vec::new();
    let mut note = |what: &str, result: anyhow::Result<()>| {
        if let Err(error) = result {
            failures.push(format!("{what}: {error:#}"));
        }
    };
    let stop = |name: &str| -> anyhow::Result<()> {
        match daemons.stop(name, Duration::from_secs(20))? {
            Stopped::NotRunning => {}
            Stopped::Terminated => super::say(format_args!("stopped {name}")),
            Stopped::Killed => super::say(format_args!("killed {name} (it did not stop within 20 s)")),
        }
        Ok(())
    };
    // When another cluster's node runs now, what is the machine's (its
    // bridge, chains, cgroups, sysctls) is that node's: only this node's own
    // processes, pods and mounts are undone.
    let other = other_running_node(cluster);
    if let Some(other) = &other {
        super::say(format_args!(
            "the machine's bridge, chains and cgroups are kept: the node of {} runs",
            other.display()
        ));
    }
    note("stopping kube-router", stop("kube-router"));
    note("stopping kube-proxy", stop("kube-proxy"));
    if other.is_none() {
        note(
            "kube-proxy --cleanup",
            run(
                Command::new(&tools.kube_proxy).arg("--cleanup"),
                "kube-proxy --cleanup",
            ),
        );
    }
    note("stopping kubelet", stop("kubelet"));
    if daemons.pid("containerd").is_some() {
        note("removing the pods", remove_pods(cluster, &tools.crictl));
    }
    note("stopping containerd", stop("containerd"));
    note("stopping leftover shims", stop_shims(cluster));
    if other.is_none() {
        note("stopping containers left without a shim", stop_pod_processes());
    }
    note("unmounting", unmount_under(&node));
    if other.is_none() {
        note("removing the pods' cgroups", remove_pod_cgroups());
        note("deleting the bridge", delete_bridge());
        note("restoring sysctls", restore_sysctls(&node));
        // kube-router v2.1.0's --cleanup-config says it removed its policy
        // chains, leaves their jumps in INPUT, FORWARD and OUTPUT, then
        // panics in its service-proxy cleanup; so the node's chains (KUBE-*:
        // kubelet, kube-proxy, kube-router; CNI-*: the portmap plugin) and
        // kube-router's ipsets are removed here, after every process that
        // makes them stopped.
        for family in ["iptables", "ip6tables"] {
            note(&format!("removing the {family} chains"), remove_chains(family));
        }
        note("removing kube-router's ipsets", remove_ipsets());
    }
    note("removing the pods' host files", remove_host_files(&node));
    if let Some(ports) = ports {
        let sockets = shim_sockets(ports);
        if sockets.exists() {
            note(
                "removing the shims' socket folder",
                std::fs::remove_dir_all(&sockets).with_context(|| format!("removing {}", sockets.display())),
            );
        }
    }
    if std::fs::read_to_string(OWNER).is_ok_and(|owner| Path::new(owner.trim()) == cluster) {
        note(
            "releasing the machine's node",
            std::fs::remove_file(OWNER).map_err(Into::into),
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("the node was not fully undone:\n  {}", failures.join("\n  "))
    }
}

fn remove_pods(cluster: &Path, crictl: &Path) -> anyhow::Result<()> {
    let output = crictl_command(crictl, cluster).args(["pods", "-q"]).output()?;
    anyhow::ensure!(
        output.status.success(),
        "crictl pods: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    for pod in String::from_utf8_lossy(&output.stdout).split_whitespace() {
        run(
            crictl_command(crictl, cluster).args(["stopp", pod]),
            &format!("stopping pod sandbox {pod}"),
        )?;
        run(
            crictl_command(crictl, cluster).args(["rmp", "-f", pod]),
            &format!("removing pod sandbox {pod}"),
        )?;
    }
    Ok(())
}

/// The pids of the shims whose command line names this node's containerd
/// socket.
pub fn shim_pids(cluster: &Path) -> anyhow::Result<Vec<u32>> {
    let socket = containerd_socket(cluster).display().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_shim = args
            .first()
            .is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"));
        if is_shim && args.contains(&socket.as_bytes()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Shims of this node left once containerd stops (their parent is gone),
/// each stopped by its pid.
fn stop_shims(cluster: &Path) -> anyhow::Result<()> {
    for pid in shim_pids(cluster)? {
        super::say(format_args!("stopping leftover shim {pid}"));
        cloudshop_host::signals::send(pid, cloudshop_host::signals::Signal::Kill);
    }
    Ok(())
}

/// Unmounts every mount point under `folder`, deepest first.
fn unmount_under(folder: &Path) -> anyhow::Result<()> {
    let prefix = format!("{}/", folder.display());
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|point| point.starts_with(&prefix))
        .collect();
    points.sort_unstable_by(|a, b| b.cmp(a));
    for point in points {
        let status = Command::new("umount").arg(point).status()?;
        if !status.success() {
            run(
                Command::new("umount").args(["-l", point]),
                &format!("umount -l {point}"),
            )?;
        }
    }
    Ok(())
}

/// The processes still in the kubelet's `kubepods` cgroups once containerd
/// and its shims are gone (containers whose shim was killed with the
/// command that started the node): each killed by its pid.
fn stop_pod_processes() -> anyhow::Result<()> {
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")?.flatten() {
        cgroup_pids(&hierarchy.path().join("kubepods"), &mut found);
    }
    found.sort_unstable();
    found.dedup();
    for pid in &found {
        super::say(format_args!("killing container process {pid} (its shim is gone)"));
        cloudshop_host::signals::send(*pid, cloudshop_host::signals::Signal::Kill);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !found.iter().all(|pid| cloudshop_host::daemon::gone(*pid)) {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "container processes survive SIGKILL: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Adds the pids in the cgroup `dir` and every cgroup below it to `found`
/// (none when `dir` is not there).
pub fn cgroup_pids(dir: &Path, found: &mut Vec<u32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        found.extend(text.lines().filter_map(|line| line.trim().parse::<u32>().ok()));
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            cgroup_pids(&entry.path(), found);
        }
    }
}

/// The kubelet's `kubepods` cgroup trees (cgroupfs driver), once empty:
/// removed deepest first in every hierarchy.
fn remove_pod_cgroups() -> anyhow::Result<()> {
    fn remove_tree(dir: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_type()?.is_dir() {
                remove_tree(&entry.path())?;
            }
        }
        std::fs::remove_dir(dir)
    }
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")?.flatten() {
        let pods = hierarchy.path().join("kubepods");
        if pods.is_dir() {
            remove_tree(&pods).with_context(|| format!("removing {}", pods.display()))?;
        }
    }
    Ok(())
}

fn bridge_exists() -> anyhow::Result<bool> {
    Ok(Command::new("ip")
        .args(["link", "show", BRIDGE])
        .output()
        .context("running `ip` (iproute2)")?
        .status
        .success())
}

fn delete_bridge() -> anyhow::Result<()> {
    if bridge_exists()? {
        run(
            Command::new("ip").args(["link", "delete", BRIDGE]),
            &format!("ip link delete {BRIDGE}"),
        )?;
    }
    Ok(())
}

/// Whether an iptables chain is the node's.
fn node_chain(name: &str) -> bool {
    name.starts_with("KUBE-") || name.starts_with("CNI-")
}

/// Removes the node's chains from every table of `family` (`iptables` or
/// `ip6tables`) in one `-restore --noflush`: the rules elsewhere that jump
/// to them, then their rules, then the chains.
fn remove_chains(family: &str) -> anyhow::Result<()> {
    let saved = Command::new(format!("{family}-save"))
        .output()
        .with_context(|| format!("running {family}-save"))?;
    anyhow::ensure!(saved.status.success(), "{family}-save failed");
    let script = removal_script(&String::from_utf8_lossy(&saved.stdout));
    if script.is_empty() {
        return Ok(());
    }
    let mut child = Command::new(format!("{family}-restore"))
        .arg("--noflush")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("running {family}-restore"))?;
    std::io::Write::write_all(
        &mut child.stdin.take().context("restore's stdin")?,
        script.as_bytes(),
    )?;
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "{family}-restore: {}\n{script}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// The `-restore --noflush` input that removes the node's chains from the
/// tables in `saved` (an `iptables-save` output).
fn removal_script(saved: &str) -> String {
    let mut script = String::new();
    let mut table: Option<(String, Vec<String>, Vec<String>)> = None;
    let flush = |table: Option<(String, Vec<String>, Vec<String>)>, script: &mut String| {
        if let Some((name, jumps, chains)) = table
            && !chains.is_empty()
        {
            let _ = writeln!(script, "*{name}");
            for rule in jumps {
                let _ = writeln!(script, "{rule}");
            }
            for chain in &chains {
                let _ = writeln!(script, "-F {chain}");
            }
            for chain in &chains {
                let _ = writeln!(script, "-X {chain}");
            }
            let _ = writeln!(script, "COMMIT");
        }
    };
    for line in saved.lines() {
        if let Some(name) = line.strip_prefix('*') {
            flush(table.take(), &mut script);
            table = Some((name.to_owned(), Vec::new(), Vec::new()));
        } else if let Some((_, jumps, chains)) = table.as_mut() {
            if let Some(chain) = line.strip_prefix(':').and_then(|l| l.split_whitespace().next()) {
                if node_chain(chain) {
                    chains.push(chain.to_owned());
                }
            } else if let Some(rule) = line.strip_prefix("-A ") {
                let chain = rule.split_whitespace().next().unwrap_or_default();
                let target = rule
                    .split(" -j ")
                    .nth(1)
                    .and_then(|t| t.split_whitespace().next());
                if !node_chain(chain) && target.is_some_and(node_chain) {
                    jumps.push(format!("-D {rule}"));
                }
            }
        }
    }
    flush(table.take(), &mut script);
    script
}

/// kube-router's ipsets (its policies' address sets).
fn remove_ipsets() -> anyhow::Result<()> {
    let output = Command::new("ipset").args(["list", "-n"]).output()?;
    anyhow::ensure!(output.status.success(), "ipset list failed");
    for set in String::from_utf8_lossy(&output.stdout).lines() {
        if set.starts_with("KUBE-")
            || set.starts_with("kube-router")
            || set.starts_with("inet:")
            || set.starts_with("inet6:")
        {
            run(
                Command::new("ipset").args(["destroy", set]),
                &format!("ipset destroy {set}"),
            )?;
        }
    }
    Ok(())
}

/// What the kubelet and CNI keep outside the node's folder for its pods:
/// the `/var/log/containers` links into its pod logs and the CNI results
/// of the node's network.
fn remove_host_files(node: &Path) -> anyhow::Result<()> {
    if let Ok(entries) = std::fs::read_dir("/var/log/containers") {
        for entry in entries.flatten() {
            if std::fs::read_link(entry.path()).is_ok_and(|target| target.starts_with(node)) {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/var/lib/cni/results") {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{CNI_NETWORK}-"))
            {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

fn restore_sysctls(node: &Path) -> anyhow::Result<()> {
    let file = node.join("sysctls-before-kubelet");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(());
    };
    for line in text.lines() {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        anyhow::ensure!(
            KUBELET_SYSCTLS.contains(&name),
            "unexpected sysctl {name} in {}",
            file.display()
        );
        std::fs::write(sysctl_path(name), value).with_context(|| format!("restoring {name}"))?;
    }
    std::fs::remove_file(file)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_node_s_chains_and_the_jumps_to_them_are_removed() {
        let saved = "# Generated by iptables-save
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:NETAVARK-HOSTPORT-DNAT - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A PREROUTING -j NETAVARK-HOSTPORT-DNAT
-A KUBE-SERVICES -d 10.96.0.1/32 -j KUBE-SVC-NPX46M4PTMTKRN6Y
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -j ACCEPT
COMMIT
";
        assert_eq!(
            removal_script(saved),
            "*nat
-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-F KUBE-SERVICES
-X KUBE-SERVICES
COMMIT
*filter
-D INPUT -j KUBE-FIREWALL
-F KUBE-FIREWALL
-F CNI-HOSTPORT-DNAT
-X KUBE-FIREWALL
-X CNI-HOSTPORT-DNAT
COMMIT
"
        );
        assert_eq!(removal_script("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"), "");
    }
}
