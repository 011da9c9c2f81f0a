//! The policed cluster, live: `cloudshop cluster up` in a fresh folder (a
//! real etcd, kube-apiserver, controller-manager, scheduler, Kyverno and the
//! local registry; this machine as one real node), the current tree released
//! into it and deployed by digest; every shop container read from the
//! runtime; the shopper's journey through Traefik, the NetworkPolicies, a
//! storefront pod and PostgreSQL's deleted ([`shop`]); Argo CD syncing the
//! shop, healing, pruning, refusing and rolling back ([`gitops`]); an SLO
//! alert through Alertmanager to the test's receiver ([`alerts`]); every admission case
//! of `cloudshop cluster check`, fail closed with Kyverno stopped, then
//! `cluster down`. A second test runs the node's own checks (probes,
//! Services, DNS, NetworkPolicy with busybox pods, and what `down` leaves).
//!
//! Needs the cluster's programs (`scripts/cluster-tools.sh`, which the test
//! command runs), podman, and the release tools (as the release test).
//! Every process the cluster starts is stopped by its pid when the test ends,
//! also when it fails: by the guard's `Drop`, and by a watchdog that runs
//! `cluster down` when this test binary exits in any way.

#[path = "cluster/alerts.rs"]
mod alerts;
#[path = "cluster/gitops.rs"]
mod gitops;
#[path = "cluster/shop.rs"]
mod shop;
#[path = "common/shopper.rs"]
mod shopper;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloudshop_host::signals::{self, Signal};
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `cloudshop` as a user's plain shell runs it: a `PATH` of the system
/// folders and cargo's only, so every tool the test command installed (zig,
/// cargo-zigbuild, hadolint, trivy, the cluster's programs) must be found
/// where it was put, not through the test command's `PATH`.
fn cloudshop(args: &[&str]) -> Command {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let plain_path =
        format!("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{home}/.cargo/bin");
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloudshop"));
    command.args(args).env("PATH", plain_path).env(
        "CONTAINERS_CONF",
        root().join("supply-chain/podman/containers.conf"),
    );
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

struct Cluster {
    dir: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Cluster {
    fn up(&self, extra: &[&str]) -> Output {
        let dir = self.dir.display().to_string();
        let workspace = root().display().to_string();
        let mut args = vec!["cluster", "up", "--dir", &dir, "--workspace", &workspace];
        if std::env::var_os("CLOUDSHOP_GATE_ONLINE").is_none() {
            args.push("--offline");
        }
        args.extend(extra);
        let started = Instant::now();
        let output = cloudshop(&args)
            .stderr(Stdio::inherit())
            .output()
            .expect("cloudshop cluster up runs");
        eprintln!(
            "cluster up {} took {:.0} s",
            extra.join(" "),
            started.elapsed().as_secs_f64()
        );
        output
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .args(["--request-timeout", "30s"])
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(output.status.success(), "kubectl {args:?}: {}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl apply --dry-run=server` of `manifest`: admission runs, nothing is kept.
    fn admit(&self, manifest: &Value) -> Output {
        self.with_manifest(&["apply", "--dry-run=server"], manifest)
    }

    /// `kubectl apply` of `manifest`, which must succeed.
    fn apply(&self, manifest: &Value) {
        let output = self.with_manifest(&["apply"], manifest);
        assert!(output.status.success(), "apply: {}", text(&output));
    }

    /// `kubectl ARGS -f -` with `manifest` on stdin.
    fn with_manifest(&self, args: &[&str], manifest: &Value) -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .args(["--request-timeout", "30s"])
            .args(args)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(manifest.to_string().as_bytes())
            .expect("manifest written");
        child.wait_with_output().expect("kubectl ends")
    }

    fn pid(&self, name: &str) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.join(format!("run/{name}.pid"))).ok()?;
        let pid: i32 = text.split_whitespace().next()?.parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    fn down(&self) -> Output {
        cloudshop(&["cluster", "down", "--dir", &self.dir.display().to_string()])
            .output()
            .expect("cloudshop cluster down runs")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let output = self.down();
        if !output.status.success() {
            eprintln!("cluster down failed: {}", text(&output));
        }
    }
}

fn new_cluster() -> Cluster {
    let scratch = tempfile::Builder::new()
        .prefix("cloudshop-cluster-")
        .tempdir()
        .expect("scratch");
    let dir = scratch.path().join("cluster");
    // The watchdog's stdin is a pipe from this process: at EOF (this binary
    // is gone, however it ended) it stops the cluster by its pid files.
    let watchdog = Command::new("sh")
        .args([
            "-c",
            r#"cat >/dev/null; "$1" cluster down --dir "$2" >/dev/null 2>&1"#,
            "watchdog",
        ])
        .arg(env!("CARGO_BIN_EXE_cloudshop"))
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("watchdog");
    std::mem::forget(watchdog);
    Cluster {
        dir,
        _scratch: scratch,
    }
}

fn signed_auth_image(cluster: &Cluster) -> String {
    let release: Value = serde_json::from_str(
        &std::fs::read_to_string(cluster.dir.join("dist/release.json")).expect("release record"),
    )
    .expect("release json");
    let auth = release["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == "auth")
        .expect("auth");
    let image = auth["image"].as_str().expect("image").to_owned();
    assert!(image.starts_with("127.0.0.1:"), "{image}");
    image
}

/// A pod in cloudshop-prod that Pod Security `restricted` and every policy admit.
fn compliant_pod(image: &str, privileged: bool) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "fail-closed-probe", "namespace": "cloudshop-prod"},
        "spec": {
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app",
                "image": image,
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
                "securityContext": {
                    "privileged": privileged,
                    "allowPrivilegeEscalation": privileged,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"]},
                },
            }],
        },
    })
}

/// `cluster chaos` and `cluster gitops` without a cluster, or chaos with
/// an experiment that does not exist: a clear error, nothing run or started.
#[test]
fn cluster_chaos_and_gitops_name_what_is_missing() {
    let scratch = tempfile::tempdir().expect("scratch");
    let dir = scratch.path().join("cluster");
    let dir = dir.display().to_string();
    for (command, started) in [
        (
            &["chaos", "pod-delete"][..],
            "running the Chaos Toolkit experiment",
        ),
        (&["gitops"][..], "git daemon"),
    ] {
        let mut args = vec!["cluster"];
        args.extend(command);
        args.extend(["--dir", &dir]);
        let output = cloudshop(&args).output().expect("cloudshop runs");
        assert!(!output.status.success());
        let printed = text(&output);
        assert!(
            printed.contains(&format!("no cluster in {dir} (run `cloudshop cluster up` first)")),
            "{printed}"
        );
        assert!(!printed.contains(started), "{printed}");
    }
    assert!(!scratch.path().join("cluster/gitops").exists());
    let output = cloudshop(&["cluster", "chaos", "network-loss", "--dir", &dir])
        .output()
        .expect("cloudshop runs");
    assert!(!output.status.success());
    let printed = text(&output);
    assert!(
        printed.contains("invalid value 'network-loss'") && printed.contains("pod-delete, orders-pod-delete"),
        "{printed}"
    );
}

#[test]
fn the_policed_cluster_admits_the_signed_release_and_refuses_every_bad_pod() {
    let _one = one_cluster();
    let cluster = new_cluster();

    // Up from nothing: control plane, the real node, Kyverno, policies,
    // release, CloudShop.
    let receiver_port = alerts::Receiver::port();
    let output = cluster.up(&["--alert-webhook", &alerts::Receiver::url(receiver_port)]);
    let printed = text(&output);
    assert!(output.status.success(), "cluster up failed:\n{printed}");
    for line in [
        "kubeconfig",
        "registry     127.0.0.1:",
        "node cloudshop-node (containerd",
        "CloudShop    namespace cloudshop-prod",
        "storefront   http://shop.local:30080 and API http://api.local:30080",
        "Prometheus   http://10.244.0.1:30090",
    ] {
        assert!(printed.contains(line), "`{line}` missing from:\n{printed}");
    }
    let running_processes = || {
        cloudshop_cluster::PROCESSES
            .iter()
            .filter(|name| **name != "kwok")
            .chain(&cloudshop_cluster::node::PROCESSES)
    };
    for name in running_processes() {
        assert!(cluster.pid(name).is_some(), "{name} is not running");
    }

    // Every one of the eight policies is READY.
    let policies = cluster.kubectl_ok(&[
        "get",
        "validatingpolicies,imagevalidatingpolicies",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.conditionStatus.ready}{\"\\n\"}{end}",
    ]);
    let ready: BTreeSet<&str> = policies
        .lines()
        .filter_map(|line| line.strip_suffix("=true"))
        .collect();
    let expected: BTreeSet<&str> = [
        "disallow-latest-tag",
        "disallow-privileged",
        "disallow-secrets-in-env",
        "require-cloudshop-image-digests",
        "require-nonroot-readonly",
        "require-requests-limits",
        "restrict-image-registries",
        "verify-cloudshop-images",
    ]
    .into();
    assert_eq!(ready, expected, "{policies}");

    // Every CloudShop workload has its desired number of Running pods, each
    // by the release's digest from this cluster's registry.
    let workloads = cluster.kubectl_ok(&[
        "-n",
        "cloudshop-prod",
        "get",
        "deployments,statefulsets",
        "-o",
        "jsonpath={range .items[*]}{.kind}/{.metadata.name} {.spec.replicas} {.status.readyReplicas}{\"\\n\"}{end}",
    ]);
    let mut wanted_pods = 0;
    for line in workloads.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{workloads}");
        assert!(
            fields[1] != "0" && fields[1] == fields[2],
            "{line} (replicas, ready)"
        );
        wanted_pods += fields[1].parse::<usize>().expect("replicas");
    }
    assert_eq!(workloads.lines().count(), 6, "{workloads}");
    let pods = cluster.kubectl_ok(&[
        "-n",
        "cloudshop-prod",
        "get",
        "pods",
        "-o",
        "jsonpath={range .items[*]}{.status.phase} {.spec.nodeName} {.spec.containers[0].image}{\"\\n\"}{end}",
    ]);
    let running: Vec<&str> = pods.lines().filter(|l| l.starts_with("Running ")).collect();
    assert_eq!(running.len(), wanted_pods, "{pods}");
    let registry = signed_auth_image(&cluster);
    let registry = registry.split('/').next().expect("registry");
    for line in &running {
        let image = line.split_whitespace().nth(2).expect("image");
        assert!(
            image.starts_with(&format!("{registry}/cloudshop/")) && image.contains("@sha256:")
                || image.starts_with("docker.io/library/postgres") && image.contains("@sha256:"),
            "{line}"
        );
    }

    // The shop is served from the node: the storefront's Service answers
    // with the catalogue that products read from PostgreSQL, through the
    // gateway, every hop in a container of the release.
    let storefront = cluster.kubectl_ok(&[
        "-n",
        "cloudshop-prod",
        "get",
        "service",
        "storefront",
        "-o",
        "jsonpath={.spec.clusterIP}:{.spec.ports[?(@.name==\"api\")].port}",
    ]);
    let home = Command::new("curl")
        .args([
            "-sS",
            "-m",
            "10",
            "-w",
            "\n%{http_code}",
            &format!("http://{}/", storefront.trim()),
        ])
        .output()
        .expect("curl");
    let home = String::from_utf8_lossy(&home.stdout).into_owned();
    assert!(home.ends_with("\n200"), "the storefront at {storefront}: {home}");
    assert!(
        home.contains("href=\"/products/1\"") && home.contains("€"),
        "the storefront's home page lists no product: {home}"
    );

    // Every container of the shop, read from the runtime and the kernel:
    // its process runs as a non-root uid with no capabilities, seccomp
    // filtering and no_new_privs, on a read-only root, in a memory cgroup
    // with the limit of its pod spec.
    let containers = crictl(
        &cluster,
        &[
            "ps",
            "-q",
            "--label",
            "io.kubernetes.pod.namespace=cloudshop-prod",
        ],
    );
    let containers: Vec<&str> = containers.split_whitespace().collect();
    assert_eq!(containers.len(), wanted_pods, "one running container per pod");
    for id in containers {
        let info: Value =
            serde_json::from_str(&crictl(&cluster, &["inspect", id])).expect("crictl inspect answers JSON");
        let name = info["status"]["metadata"]["name"]
            .as_str()
            .unwrap_or(id)
            .to_owned();
        let pid = info["info"]["pid"].as_u64().expect("the container's pid");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("its status");
        let field = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        let uid: u32 = field("Uid:")
            .split_whitespace()
            .next()
            .and_then(|u| u.parse().ok())
            .expect("uid");
        assert_ne!(uid, 0, "{name} runs as root");
        assert_eq!(field("CapEff:"), "0000000000000000", "{name}'s capabilities");
        assert_eq!(field("Seccomp:"), "2", "{name} runs without a seccomp filter");
        assert_eq!(field("NoNewPrivs:"), "1", "{name} may gain privileges");
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("its mounts");
        let root = mounts
            .lines()
            .find(|line| line.split_whitespace().nth(4) == Some("/"))
            .expect("its root mount");
        let options = root.split_whitespace().nth(5).unwrap_or_default();
        assert!(
            options.split(',').any(|o| o == "ro"),
            "{name}'s root is writable: {root}"
        );
        let limit = info["info"]["runtimeSpec"]["linux"]["resources"]["memory"]["limit"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} has no memory limit in its runtime spec"));
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroups");
        let memory = cgroups
            .lines()
            .find_map(|line| {
                let mut parts = line.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                controllers
                    .split(',')
                    .any(|c| c == "memory")
                    .then(|| path.to_owned())
            })
            .expect("its memory cgroup");
        let in_kernel =
            std::fs::read_to_string(format!("/sys/fs/cgroup/memory{memory}/memory.limit_in_bytes"))
                .expect("the cgroup's limit");
        assert_eq!(
            in_kernel.trim(),
            limit.to_string(),
            "{name}'s memory limit in its cgroup"
        );
    }

    print_memory(&cluster);

    // Served from the cluster: the shopper's journey through Traefik; the
    // NetworkPolicies acting; the chaos experiments; PostgreSQL's pod
    // deleted.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    cloudshop_platform::install_crypto_provider();
    let journey = shop::journey(&runtime);
    let server = cluster.kubectl_ok(&["config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"]);
    let apiserver_port = server
        .trim()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("the API server's port in {server}"));
    shop::network_policies(&cluster, apiserver_port);
    let unhealthy_pods = shop::monitoring(&cluster, &runtime);
    shop::pod_delete_experiment(&cluster);
    shop::orders_pod_delete_experiment(&cluster);
    // The outage's alert needs minutes (`for: 2m`): it runs while the pod
    // alerts are awaited and every admission case of `cluster check` is
    // tried (server-side dry runs and Deployments whose pods are refused:
    // nothing there needs the shop to answer).
    let receiver = alerts::Receiver::start(receiver_port);
    let check_started = Instant::now();
    let check_out = cluster.dir.join("check.json");
    let mut check = ChildGuard(
        cloudshop(&[
            "cluster",
            "check",
            "--dir",
            &cluster.dir.display().to_string(),
            "--json",
        ])
        .stdout(std::fs::File::create(&check_out).expect("check.json"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cluster check runs"),
    );
    let outage = alerts::begin_outage(&cluster, &runtime);
    shop::pod_alerts(&cluster, &runtime, unhealthy_pods);
    alerts::slo_alert(&cluster, &runtime, &receiver, outage);
    let status = check.0.wait().expect("cluster check ends");
    eprintln!(
        "cluster check took {:.0} s (beside the alerts)",
        check_started.elapsed().as_secs_f64()
    );
    let output = Output {
        status,
        stdout: std::fs::read(&check_out).expect("its outcomes"),
        stderr: Vec::new(),
    };
    shop::postgres_pod_deleted(&cluster, &runtime, &journey);
    gitops::argo_cd(&cluster, &runtime, &busybox_image(&cluster));

    // Every admission case, each refusal by its policy's own message.
    let outcomes: Vec<Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("cluster check printed no outcomes ({e}):\n{}", text(&output)));
    let failed: Vec<&Value> = outcomes.iter().filter(|o| o["passed"] != true).collect();
    assert!(failed.is_empty(), "admission cases failed: {failed:#?}");
    assert!(output.status.success(), "{}", text(&output));
    let cases: BTreeSet<&str> = outcomes.iter().filter_map(|o| o["case"].as_str()).collect();
    for case in [
        "compliant",
        "release-arm64-image",
        "bundles-only",
        "legacy-tags-only",
        "bundles-copied-from-another-image",
        "legacy-tags-copied-from-another-image",
        "bundles-other-key",
        "legacy-tags-other-key",
        "provenance-other-builder",
        "provenance-other-source",
        "nginx-latest",
        "unsigned",
        "other-key",
        "no-sbom-attestation",
        "no-provenance-attestation",
        "tag-without-digest",
        "registry-not-allowed",
        "privileged",
        "no-limits",
        "secret-in-env",
        "runs-as-root",
        "writable-root-filesystem",
        "host-network",
        "prod-host-path",
        "prod-host-network",
        "prod-privileged",
        "deployment-nginx-latest",
        "deployment-privileged",
        "deployment-compliant",
        "deployment-unsigned",
        "deployment-no-provenance-attestation",
        "prod-deployment-host-path",
    ] {
        assert!(cases.contains(case), "no admission case {case}: {cases:?}");
    }
    let by_case = |name: &str| outcomes.iter().find(|o| o["case"] == name).expect("case");
    assert_eq!(
        by_case("deployment-privileged")["expected"],
        "refused by disallow-privileged"
    );
    // The image verification judges a Deployment when it is applied; Pod
    // Security only its pods.
    assert_eq!(
        by_case("deployment-unsigned")["expected"],
        "refused by verify-cloudshop-images"
    );
    assert_eq!(
        by_case("prod-deployment-host-path")["expected"],
        "Deployment admitted, its pods refused by PodSecurity"
    );
    // Each signature format alone: bundles admitted; legacy tags refused for
    // the attestation Kyverno 1.19.1 cannot verify offline (kyverno#17109),
    // not for the signature.
    assert_eq!(by_case("bundles-only")["expected"], "admitted");
    let legacy = by_case("legacy-tags-only")["answer"].as_str().unwrap_or_default();
    assert!(
        legacy.contains("CloudShop images must carry a signed CycloneDX SBOM attestation")
            && !legacy.contains("must be signed with the release key"),
        "{legacy}"
    );

    // Fail closed: Kyverno stopped, a CloudShop pod is refused (the webhooks'
    // failurePolicy is Fail) and Pod Security still refuses a privileged pod.
    let image = signed_auth_image(&cluster);
    let admitted = cluster.admit(&compliant_pod(&image, false));
    assert!(
        admitted.status.success(),
        "the compliant pod: {}",
        text(&admitted)
    );
    let kyverno = cluster.pid("kyverno").expect("kyverno runs");
    let kyverno_id = u32::try_from(kyverno).expect("a pid");
    assert!(signals::send(kyverno_id, Signal::Terminate), "SIGTERM to kyverno");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{kyverno}")).exists() {
        assert!(Instant::now() < deadline, "kyverno did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused = cluster.admit(&compliant_pod(&image, false));
    let answer = text(&refused);
    assert!(
        !refused.status.success(),
        "admitted with Kyverno stopped: {answer}"
    );
    assert!(
        answer.contains("failed calling webhook") && answer.contains("kyverno"),
        "{answer}"
    );
    let privileged = cluster.admit(&compliant_pod(&image, true));
    let answer = text(&privileged);
    assert!(!privileged.status.success(), "{answer}");
    assert!(
        answer.contains("violates PodSecurity \"restricted:latest\"") && answer.contains("privileged"),
        "{answer}"
    );

    // Kyverno back (a second `up` starts only what is not running, and reuses
    // the release): the good pod is admitted again.
    let output = cluster.up(&["--no-app"]);
    assert!(output.status.success(), "second cluster up: {}", text(&output));
    let admitted = cluster.admit(&compliant_pod(&image, false));
    assert!(
        admitted.status.success(),
        "with Kyverno back: {}",
        text(&admitted)
    );

    // Down stops every process by its pid.
    let output = cluster.down();
    assert!(output.status.success(), "{}", text(&output));
    for name in cloudshop_cluster::PROCESSES
        .iter()
        .chain(&cloudshop_cluster::node::PROCESSES)
    {
        assert!(cluster.pid(name).is_none(), "{name} still runs after down");
    }
}

/// A child process, killed (and reaped) when this goes out of scope: also
/// when the test fails while it runs.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The resident memory of the running cluster, printed: each of its
/// processes (by its pid file), containerd's shims, and each pod's
/// processes (the pids in the kubelet's memory cgroups, grouped by pod).
fn print_memory(cluster: &Cluster) {
    let rss = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024
    };
    let mut rows: Vec<(String, u64)> = Vec::new();
    for entry in std::fs::read_dir(cluster.dir.join("run"))
        .expect("run folder")
        .flatten()
    {
        let name = entry
            .path()
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(pid) = cluster.pid(&name) {
            rows.push((name, rss(pid as u32)));
        }
    }
    let shims = cloudshop_cluster::node::shim_pids(&cluster.dir).expect("the shims");
    rows.push(("containerd shims".into(), shims.into_iter().map(rss).sum()));
    fn pods(dir: &Path, depth: usize, rows: &mut Vec<(String, Vec<u32>)>) {
        if depth == 0 {
            return;
        }
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.starts_with("pod") {
                let mut pids = Vec::new();
                cloudshop_cluster::node::cgroup_pids(&path, &mut pids);
                rows.push((name, pids));
            } else {
                pods(&path, depth - 1, rows);
            }
        }
    }
    let mut pod_cgroups = Vec::new();
    pods(Path::new("/sys/fs/cgroup/memory/kubepods"), 2, &mut pod_cgroups);
    let pod_names = cluster.kubectl_ok(&[
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.uid} {.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}",
    ]);
    for (cgroup, pids) in pod_cgroups {
        let uid = cgroup.trim_start_matches("pod");
        let name = pod_names
            .lines()
            .find_map(|l| l.strip_prefix(uid).map(str::trim))
            .unwrap_or(uid)
            .to_owned();
        rows.push((name, pids.iter().map(|pid| rss(*pid)).sum()));
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    let total: u64 = rows.iter().map(|r| r.1).sum();
    eprintln!(
        "resident memory of the cluster with the shop running: {} MiB",
        total >> 20
    );
    for (name, bytes) in &rows {
        eprintln!("  {:>5} MiB  {name}", bytes >> 20);
    }
}

/// `crictl ARGS` against the cluster's node; its stdout.
fn crictl(cluster: &Cluster, args: &[&str]) -> String {
    let output = Command::new(cloudshop_topology::tools::go_bin().join("crictl"))
        .arg("--runtime-endpoint")
        .arg(format!(
            "unix://{}",
            cloudshop_cluster::node::containerd_socket(&cluster.dir).display()
        ))
        .args(args)
        .output()
        .expect("crictl runs");
    assert!(output.status.success(), "crictl {args:?}: {}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One cluster at a time: both tests start a whole control plane, and the
/// real node's bridge and rules are the machine's.
static ONE_CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_cluster() -> std::sync::MutexGuard<'static, ()> {
    ONE_CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The test's workload image: Debian's static busybox `FROM scratch`, pushed
/// to the cluster's registry (the node pulls it like any image).
fn busybox_image(cluster: &Cluster) -> String {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.dir.join("state.json")).expect("state.json"))
            .expect("state json");
    let image = format!("127.0.0.1:{}/node-check/busybox:1", state["ports"]["registry"]);
    let context = cluster.dir.join("busybox-image");
    std::fs::create_dir_all(&context).expect("image folder");
    std::fs::copy("/bin/busybox", context.join("busybox")).expect("busybox-static");
    std::fs::write(
        context.join("Containerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .expect("Containerfile");
    for args in [
        vec![
            "build",
            "--quiet",
            "--tag",
            &image,
            &context.display().to_string(),
        ],
        vec!["push", "--quiet", "--tls-verify=false", &image],
    ] {
        podman(&args);
    }
    image
}

/// `podman ARGS` with the test command's containers.conf; must succeed.
fn podman(args: &[&str]) {
    let output = Command::new("podman")
        .args(args)
        .env(
            "CONTAINERS_CONF",
            root().join("supply-chain/podman/containers.conf"),
        )
        .output()
        .expect("podman runs");
    assert!(output.status.success(), "podman {args:?}: {}", text(&output));
}

/// A restricted container spec (non-root, read-only root, no capabilities,
/// RuntimeDefault seccomp, limits) running busybox with `args`.
fn restricted_container(image: &str, args: &[&str]) -> Value {
    json!({
        "name": "main",
        "image": image,
        "args": args,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "48Mi"}},
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 65534,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    })
}

/// The node test's namespace. Kyverno's policies admit only the release's
/// signed images and exempt kube-system; busybox is not a release image, so
/// the test's workloads run there, each with the restricted securityContext
/// that the test then checks inside the container. (The shop itself on the
/// node goes through the policies.)
const NS: &str = "kube-system";

fn node_check_objects(image: &str) -> Value {
    let web = restricted_container(
        image,
        &[
            "sh",
            "-c",
            "echo served-by-the-node > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www",
        ],
    );
    let mut web = web;
    web["ports"] = json!([{"containerPort": 8080}]);
    web["readinessProbe"] = json!({"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1});
    web["volumeMounts"] = json!([{"name": "www", "mountPath": "/www"}]);
    let client = |name: &str, role: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"role": role}},
            "spec": {"automountServiceAccountToken": false, "terminationGracePeriodSeconds": 0,
                     "containers": [restricted_container(image, &["sleep", "3600"])]},
        })
    };
    let mut unready = restricted_container(image, &["sleep", "3600"]);
    unready["readinessProbe"] = json!({"httpGet": {"path": "/", "port": 9999}, "periodSeconds": 1});
    json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "node-check-web", "namespace": NS},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "node-check-web"}},
                  "template": {"metadata": {"labels": {"app": "node-check-web"}},
                               "spec": {"automountServiceAccountToken": false,
                                        "terminationGracePeriodSeconds": 0,
                                        "containers": [web],
                                        "volumes": [{"name": "www", "emptyDir": {"sizeLimit": "1Mi"}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "node-check-web", "namespace": NS},
         "spec": {"selector": {"app": "node-check-web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        client("node-check-client", "client"),
        client("node-check-other", "other"),
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "node-check-unready", "namespace": NS},
         "spec": {"automountServiceAccountToken": false, "terminationGracePeriodSeconds": 0,
                  "containers": [unready]}},
    ]})
}

/// The web Service's page fetched from `pod` by the Service's DNS name:
/// busybox's own `nslookup` asks the pod's resolver (CoreDNS at the
/// `kube-dns` address), then `nc` sends a GET to the address it answered
/// (Debian's static busybox `wget` crashes in a container with no /etc: it is
/// linked with glibc, which looks services up through NSS). The body, or the
/// error.
fn fetch_from(cluster: &Cluster, pod: &str) -> Result<String, String> {
    let script = r#"set -e
answer=$(/bin/busybox nslookup node-check-web.kube-system.svc.cluster.local)
address=$(echo "$answer" | /bin/busybox awk '/^Name:/ { named = 1 } named && /^Address/ { print $NF }')
[ -n "$address" ] || { echo "no address in: $answer" >&2; exit 1; }
response=$(/bin/busybox printf 'GET /index.html HTTP/1.0\r\n\r\n' | /bin/busybox nc -w 3 "$address" 80)
case "$response" in
  'HTTP/1.1 200 '*) echo "$response" | /bin/busybox tail -n 1 ;;
  *) echo "no answer from $address: $response" >&2; exit 1 ;;
esac"#;
    let output = cluster.kubectl(&["-n", NS, "exec", pod, "--", "/bin/busybox", "sh", "-c", script]);
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(text(&output))
    }
}

/// Polls `check` once a second until it holds, for at most `seconds`.
fn eventually(seconds: u64, what: &str, mut check: impl FnMut() -> Result<(), String>) -> Duration {
    let started = Instant::now();
    loop {
        match check() {
            Ok(()) => return started.elapsed(),
            Err(last) if started.elapsed() > Duration::from_secs(seconds) => {
                panic!("{what}: not within {seconds} s; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// The user-defined chains of every iptables table, as `iptables-save`
/// lists them. Built-in chains are left out: a table the node was the first
/// to use (mangle, on a new machine) keeps them once loaded, empty.
fn iptables_chains() -> String {
    const BUILT_IN: [&str; 5] = [":PREROUTING", ":INPUT", ":FORWARD", ":OUTPUT", ":POSTROUTING"];
    let output = Command::new("iptables-save").output().expect("iptables-save");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with(':'))
        .map(|line| line.split_whitespace().next().unwrap_or_default())
        .filter(|chain| !BUILT_IN.contains(chain))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_real_node_runs_restricted_pods_with_probes_services_dns_and_network_policy() {
    let _one = one_cluster();
    let sysctls_before: Vec<String> = ["vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"]
        .iter()
        .map(|name| std::fs::read_to_string(format!("/proc/sys/{name}")).expect("sysctl"))
        .collect();
    let chains_before = iptables_chains();
    let cluster = new_cluster();

    let output = cluster.up(&["--no-app", "--node", "real"]);
    let printed = text(&output);
    assert!(
        output.status.success(),
        "cluster up --node real failed:\n{printed}"
    );
    assert!(printed.contains("node cloudshop-node (containerd"), "{printed}");
    for name in cloudshop_cluster::node::PROCESSES {
        assert!(cluster.pid(name).is_some(), "{name} is not running");
    }
    // One real node per machine: a second folder's `up` is refused before
    // it starts anything.
    let second = tempfile::tempdir().expect("second folder");
    let refused = cloudshop(&[
        "cluster",
        "up",
        "--no-app",
        "--node",
        "real",
        "--dir",
        &second.path().join("cluster").display().to_string(),
    ])
    .output()
    .expect("cloudshop runs");
    assert!(
        !refused.status.success() && text(&refused).contains("runs on this machine"),
        "a second real node: {}",
        text(&refused)
    );
    assert!(
        !second.path().join("cluster/run").exists(),
        "the refused cluster started something"
    );

    // Every socket the cluster's processes listen on is on 127.0.0.1 or on
    // the node's bridge address, none on the machine's other interfaces.
    let pids: Vec<String> = cloudshop_cluster::PROCESSES
        .iter()
        .chain(&cloudshop_cluster::node::PROCESSES)
        .filter_map(|name| cluster.pid(name))
        .map(|pid| format!("pid={pid},"))
        .collect();
    let listening = Command::new("ss").args(["-ltnupH"]).output().expect("ss runs");
    let listening = String::from_utf8_lossy(&listening.stdout).into_owned();
    let ours: Vec<&str> = listening
        .lines()
        .filter(|line| pids.iter().any(|pid| line.contains(pid.as_str())))
        .collect();
    assert!(
        ours.len() >= 10,
        "the cluster's listeners, as ss sees them:\n{listening}"
    );
    for line in ours {
        let local = line.split_whitespace().nth(4).unwrap_or_default();
        assert!(
            local.starts_with("127.0.0.1:")
                || local.starts_with(&format!("{}:", cloudshop_cluster::node::ADDRESS)),
            "listening beyond loopback and the node's bridge: {line}"
        );
    }

    // The node is real: no kwok node, and it runs this machine's kernel.
    let nodes = cluster.kubectl_ok(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(nodes.trim(), "cloudshop-node");

    let image = busybox_image(&cluster);
    cluster.apply(&node_check_objects(&image));
    let started = Instant::now();
    cluster.kubectl_ok(&[
        "-n",
        NS,
        "rollout",
        "status",
        "deployment/node-check-web",
        "--timeout=120s",
    ]);
    cluster.kubectl_ok(&[
        "-n",
        NS,
        "wait",
        "--for=condition=Ready",
        "pod/node-check-client",
        "pod/node-check-other",
        "--timeout=60s",
    ]);
    eprintln!(
        "web (2 replicas) and the clients ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The readiness probe acts: a container whose probe fails runs but is
    // never Ready, and so is no endpoint.
    let unready = cluster.kubectl_ok(&[
        "-n",
        NS,
        "get",
        "pod",
        "node-check-unready",
        "-o",
        "jsonpath={.status.phase} {.status.containerStatuses[0].ready}",
    ]);
    assert_eq!(
        unready.trim(),
        "Running false",
        "the pod with a failing readiness probe"
    );

    // The securityContext and the limits act inside the container.
    let inside = |command: &str| {
        cluster.kubectl(&[
            "-n",
            NS,
            "exec",
            "node-check-client",
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            command,
        ])
    };
    let id = inside("/bin/busybox id -u");
    assert_eq!(
        String::from_utf8_lossy(&id.stdout).trim(),
        "65534",
        "{}",
        text(&id)
    );
    let write = inside("/bin/busybox touch /written");
    assert!(!write.status.success(), "the root filesystem is read-only");
    assert!(text(&write).contains("Read-only file system"), "{}", text(&write));
    let status = inside("/bin/busybox grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status");
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    for line in ["CapEff:\t0000000000000000", "Seccomp:\t2", "NoNewPrivs:\t1"] {
        assert!(
            status.contains(line),
            "`{line}` missing from /proc/self/status:\n{status}"
        );
    }
    let limit = inside(
        "/bin/busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null",
    );
    assert!(
        String::from_utf8_lossy(&limit.stdout)
            .lines()
            .any(|l| l.trim() == (48u64 << 20).to_string()),
        "the memory limit (48Mi) is the container's cgroup's: {}",
        text(&limit)
    );

    // The Service's ClusterIP answers on the machine (kube-proxy) and by its
    // DNS name in a pod (CoreDNS).
    let cluster_ip = cluster.kubectl_ok(&[
        "-n",
        NS,
        "get",
        "service",
        "node-check-web",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let url = format!("http://{}/index.html", cluster_ip.trim());
    eventually(30, "the ClusterIP from the machine", || {
        let output = Command::new("curl")
            .args(["-sf", "-m", "3", &url])
            .output()
            .map_err(|e| e.to_string())?;
        let body = String::from_utf8_lossy(&output.stdout);
        (body.trim() == "served-by-the-node")
            .then_some(())
            .ok_or_else(|| text(&output))
    });
    eventually(30, "the Service by name from a pod", || {
        fetch_from(&cluster, "node-check-client")
            .and_then(|body| (body == "served-by-the-node").then_some(()).ok_or(body))
    });

    // NetworkPolicy acts (kube-router): deny all ingress to web, then allow
    // only pods labelled role=client.
    let deny = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "node-check-web", "namespace": NS},
        "spec": {"podSelector": {"matchLabels": {"app": "node-check-web"}}, "policyTypes": ["Ingress"]}});
    cluster.apply(&deny);
    let took = eventually(30, "default deny refuses the client", || {
        match fetch_from(&cluster, "node-check-client") {
            Ok(body) => Err(format!("still served: {body}")),
            Err(_) => Ok(()),
        }
    });
    eprintln!("deny-all enforced {:.1} s after apply", took.as_secs_f64());
    assert!(
        fetch_from(&cluster, "node-check-other").is_err(),
        "deny-all refuses every pod"
    );
    let mut allow = deny.clone();
    allow["spec"]["ingress"] = json!([{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]);
    cluster.apply(&allow);
    let took = eventually(30, "the allowed client is served again", || {
        fetch_from(&cluster, "node-check-client").map(drop)
    });
    eprintln!("allow rule enforced {:.1} s after apply", took.as_secs_f64());
    assert!(
        fetch_from(&cluster, "node-check-other").is_err(),
        "a pod the policy does not name stays refused"
    );

    // Down undoes the node: no process, no bridge, no rule, no mount, the
    // sysctls as they were.
    let output = cluster.down();
    assert!(output.status.success(), "down: {}", text(&output));
    for name in cloudshop_cluster::PROCESSES
        .iter()
        .chain(&cloudshop_cluster::node::PROCESSES)
    {
        assert!(cluster.pid(name).is_none(), "{name} still runs after down");
    }
    let bridge = Command::new("ip")
        .args(["link", "show", "cloudshop0"])
        .output()
        .expect("ip");
    assert!(!bridge.status.success(), "the bridge is still there");
    assert_eq!(
        iptables_chains(),
        chains_before,
        "iptables chains left by the node"
    );
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
    let prefix = cluster.dir.display().to_string();
    assert!(
        !mounts.contains(&prefix),
        "mounts left under the cluster:\n{mounts}"
    );
    let sysctls_after: Vec<String> = ["vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"]
        .iter()
        .map(|name| std::fs::read_to_string(format!("/proc/sys/{name}")).expect("sysctl"))
        .collect();
    assert_eq!(sysctls_after, sysctls_before, "the kubelet's sysctls restored");
}
