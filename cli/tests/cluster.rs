//! The policed cluster, live: `cloudshop cluster up` in a fresh folder (a
//! real etcd, kube-apiserver, controller-manager, scheduler, Kyverno and the
//! local registry; kwok's simulated nodes), the current tree released into it
//! and deployed by digest, then every admission case of `cloudshop cluster
//! check`, then fail closed with Kyverno stopped, then `cluster down`.
//!
//! Needs the cluster's programs (`scripts/cluster-tools.sh`, which the test
//! command runs), podman, and the release tools (as the release test).
//! Every process the cluster starts is stopped by its pid when the test ends,
//! also when it fails: by the guard's `Drop`, and by a watchdog that runs
//! `cluster down` when this test binary exits in any way.

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
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .args(["--request-timeout", "30s", "apply", "--dry-run=server", "-f", "-"])
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

#[test]
fn the_policed_cluster_admits_the_signed_release_and_refuses_every_bad_pod() {
    let cluster = new_cluster();

    // Up from nothing: control plane, Kyverno, policies, release, CloudShop.
    let output = cluster.up(&[]);
    let printed = text(&output);
    assert!(output.status.success(), "cluster up failed:\n{printed}");
    for line in [
        "kubeconfig",
        "registry     127.0.0.1:",
        "simulated: 2 nodes",
        "CloudShop    namespace cloudshop-prod",
    ] {
        assert!(printed.contains(line), "`{line}` missing from:\n{printed}");
    }
    for name in cloudshop_cluster::PROCESSES {
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

    // Every admission case, each refusal by its policy's own message.
    let output = cloudshop(&[
        "cluster",
        "check",
        "--dir",
        &cluster.dir.display().to_string(),
        "--json",
    ])
    .stderr(Stdio::inherit())
    .output()
    .expect("cluster check runs");
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
        "deployment-unsigned",
        "prod-deployment-host-path",
    ] {
        assert!(cases.contains(case), "no admission case {case}: {cases:?}");
    }
    let by_case = |name: &str| outcomes.iter().find(|o| o["case"] == name).expect("case");
    assert_eq!(
        by_case("deployment-privileged")["expected"],
        "refused by disallow-privileged"
    );
    assert_eq!(
        by_case("deployment-unsigned")["expected"],
        "Deployment admitted, its pods refused by verify-cloudshop-images"
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
    for name in cloudshop_cluster::PROCESSES {
        assert!(cluster.pid(name).is_none(), "{name} still runs after down");
    }
}
