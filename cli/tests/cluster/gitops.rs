//! Argo CD on the real node (`cloudshop cluster gitops`): the shop synced
//! from the served repository, a hand edit put back by selfHeal, an object
//! removed by a commit pruned, a commit naming an unsigned image refused by
//! Kyverno with the running pods untouched, and the rollback to the
//! previous revision.

use cloudshop_cluster::gitops::{self, AppStatus, BRANCH};

use super::*;

const SHOP: &str = "cloudshop-prod";

/// `kubectl VERB applications.argoproj.io cloudshop -n argocd ARGS`.
fn application(cluster: &Cluster, verb: &str, args: &[&str]) -> String {
    let mut all = vec![
        verb,
        "applications.argoproj.io",
        gitops::APPLICATION,
        "-n",
        gitops::NAMESPACE,
    ];
    all.extend(args);
    cluster.kubectl_ok(&all)
}

fn status(cluster: &Cluster) -> AppStatus {
    let text = application(cluster, "get", &["-o", "json"]);
    AppStatus::from_json(&serde_json::from_str(&text).expect("the Application as JSON"))
}

/// Waits until Argo CD reports the Application Synced and Healthy at
/// `commit`; the time it took.
fn settled(cluster: &Cluster, commit: &str, seconds: u64) -> Duration {
    eventually(seconds, &format!("Synced and Healthy at {commit}"), || {
        let status = status(cluster);
        if status.settled_at(commit) {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
}

/// Commits `message` with what `edit` changed in the served work tree; the
/// commit id.
fn commit(cluster: &Cluster, message: &str, edit: impl FnOnce(&Path)) -> String {
    let repo = gitops::repository(&cluster.dir);
    edit(&repo);
    gitops::git(&repo, &["commit", "--quiet", "--all", "-m", message]).expect("a commit");
    gitops::git(&repo, &["rev-parse", "HEAD"]).expect("its id")
}

fn rewrite(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).expect("rewritten");
}

/// The image the storefront's Deployment names.
fn storefront_image(cluster: &Cluster) -> String {
    cluster.kubectl_ok(&[
        "get",
        "deployment/storefront",
        "-n",
        SHOP,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
}

/// Uids and readiness of the pods of `app`.
fn ready_pods(cluster: &Cluster, app: &str) -> Vec<String> {
    cluster
        .kubectl_ok(&[
            "get",
            "pods",
            "-n",
            SHOP,
            "-l",
            &format!("app.kubernetes.io/name={app}"),
            "-o",
            "jsonpath={range .items[*]}{.metadata.uid}={.status.containerStatuses[0].ready}{\"\\n\"}{end}",
        ])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An image in the release's repository path that nobody signed: busybox,
/// pushed as cloudshop/storefront:unsigned. Its digest.
fn unsigned_storefront(cluster: &Cluster, busybox: &str) -> String {
    let registry = busybox.split('/').next().expect("the registry");
    let image = format!("{registry}/cloudshop/storefront:unsigned");
    let digest_file = cluster.dir.join("unsigned.digest");
    podman(&["tag", busybox, &image]);
    podman(&[
        "push",
        "--quiet",
        "--tls-verify=false",
        "--digestfile",
        digest_file.to_str().expect("a path"),
        &image,
    ]);
    std::fs::read_to_string(&digest_file)
        .expect("the digest")
        .trim()
        .to_owned()
}

pub fn argo_cd(cluster: &Cluster, runtime: &tokio::runtime::Runtime, busybox: &str) {
    let dir = cluster.dir.display().to_string();
    let started = Instant::now();
    let output = cloudshop(&[
        "cluster",
        "gitops",
        "--dir",
        &dir,
        "--workspace",
        &root().display().to_string(),
    ])
    .stderr(Stdio::inherit())
    .output()
    .expect("cluster gitops runs");
    let printed = text(&output);
    assert!(output.status.success(), "cluster gitops failed:\n{printed}");
    eprintln!(
        "{printed}cluster gitops took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let repo = gitops::repository(&cluster.dir);
    let release = gitops::git(&repo, &["rev-parse", "HEAD"]).expect("the served commit");
    settled(cluster, &release, 10);
    super::shop::answers(runtime);

    // Drift: auth scaled to 1 by hand; selfHeal puts back Git's 2.
    cluster.kubectl_ok(&["scale", "deployment/auth", "-n", SHOP, "--replicas=1"]);
    let healed = eventually(120, "selfHeal restores auth's replicas", || {
        let replicas = cluster.kubectl_ok(&[
            "get",
            "deployment/auth",
            "-n",
            SHOP,
            "-o",
            "jsonpath={.spec.replicas}",
        ]);
        (replicas.trim() == "2").then_some(()).ok_or(replicas)
    });
    eprintln!(
        "selfHeal: auth scaled to 1 by hand, back to 2 after {:.1} s",
        healed.as_secs_f64()
    );
    settled(cluster, &release, 120);

    // Prune: a commit that removes the SLO dashboard's ConfigMap.
    let dashboard = "cloudshop-dashboard-slo";
    cluster.kubectl_ok(&["get", "configmap", dashboard, "-n", SHOP]);
    let pruning = commit(cluster, "monitoring: no SLO dashboard", |repo| {
        rewrite(
            &repo.join("monitoring/kustomization.yaml"),
            "  - dashboards/slo.yaml\n",
            "",
        );
    });
    let took = settled(cluster, &pruning, 120);
    let gone = cluster.kubectl(&["get", "configmap", dashboard, "-n", SHOP]);
    assert!(
        !gone.status.success() && text(&gone).contains("NotFound"),
        "the pruned ConfigMap is still there: {}",
        text(&gone)
    );
    eprintln!(
        "prune: the commit synced and {dashboard} deleted {:.1} s after it",
        took.as_secs_f64()
    );

    // An unsigned image: Kyverno refuses the storefront's Deployment (Argo
    // CD's server-side dry run of it already), Argo CD reports Kyverno's
    // message, and the running storefront pods stay.
    let before = ready_pods(cluster, "storefront");
    assert_eq!(before.len(), 2, "two ready storefront pods: {before:?}");
    assert!(before.iter().all(|pod| pod.ends_with("=true")), "{before:?}");
    let unsigned = unsigned_storefront(cluster, busybox);
    let overlay = repo.join("k8s/overlays/release/kustomization.yaml");
    let signed = std::fs::read_to_string(&overlay)
        .expect("the release overlay")
        .lines()
        .find(|line| line.contains("/cloudshop/storefront,"))
        .and_then(|line| line.split("digest: \"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("the storefront's digest")
        .to_owned();
    let bad = commit(cluster, "storefront: an unsigned image", |_| {
        rewrite(&overlay, &signed, &unsigned);
    });
    let mut after_bad = status(cluster);
    let refused = eventually(180, "Argo CD reports Kyverno's refusal of the commit", || {
        after_bad = status(cluster);
        // As a failed sync, or (server-side diff: the refused dry run) as a
        // comparison error before any sync.
        let reported = after_bad.refusals().any(|message| {
            message.contains("Policy verify-cloudshop-images failed")
                && message.contains("CloudShop images must be signed with the release key")
        });
        reported.then_some(()).ok_or_else(|| after_bad.to_string())
    });
    eprintln!(
        "unsigned image: Argo CD reported Kyverno's refusal {:.1} s after the commit {}: {after_bad}",
        refused.as_secs_f64(),
        &bad[..12]
    );
    assert_ne!(after_bad.sync, "Synced", "{after_bad}");
    let image = storefront_image(cluster);
    assert!(
        image.ends_with(&signed),
        "the refused image reached the Deployment: {image}"
    );
    assert_eq!(
        ready_pods(cluster, "storefront"),
        before,
        "the running storefront pods are untouched"
    );
    super::shop::answers(runtime);

    // Rollback: the Application pinned to the previous revision (what
    // `argocd app rollback` does where sync is not automated).
    let sources = application(cluster, "get", &["-o", "jsonpath={.spec.sources[*].path}"]);
    let patch: Vec<Value> = (0..sources.split_whitespace().count())
        .map(|i| json!({"op": "replace", "path": format!("/spec/sources/{i}/targetRevision"), "value": pruning}))
        .collect();
    application(
        cluster,
        "patch",
        &["--type=json", "-p", &serde_json::to_string(&patch).expect("json")],
    );
    // A sync of the bad commit still retrying is ended as `argocd app
    // terminate-op` does, so that the rollback's sync can start.
    if status(cluster)
        .operation
        .is_some_and(|(phase, _)| phase == "Running")
    {
        application(
            cluster,
            "patch",
            &[
                "--type=merge",
                "-p",
                r#"{"status":{"operationState":{"phase":"Terminating"}}}"#,
            ],
        );
    }
    let rolled_back = settled(cluster, &pruning, 180);
    let image = storefront_image(cluster);
    assert!(image.ends_with(&signed), "the signed storefront is back: {image}");
    assert_eq!(
        ready_pods(cluster, "storefront"),
        before,
        "the same storefront pods serve"
    );
    eprintln!(
        "rollback: Synced and Healthy at the previous revision {:.1} s after the Application was pinned to it ({BRANCH} still names the bad commit)",
        rolled_back.as_secs_f64()
    );
    super::shop::answers(runtime);
}
