//! `cloudshop cluster gitops`: Argo CD takes over the real node's shop.
//!
//! What runs, all as processes of this machine on 127.0.0.1 (stopped by
//! `cluster down` by their pids): `git daemon` serving the repository
//! Argo CD syncs, Redis (Debian's; Argo CD's cache), Argo CD's repo server
//! (which runs git and kustomize) and its application controller, which
//! reaches the API server with the cluster's admin kubeconfig as its
//! "in-cluster" destination (`ARGOCD_FAKE_IN_CLUSTER`, as Argo CD's own
//! local development runs it). Argo CD's API server and UI are not run:
//! the Application object is the interface (`kubectl get application`).
//!
//! The served repository (`DIR/gitops/repo`, branch `local-release`) is the
//! checkout's HEAD plus one commit, remade on every run, that does for this
//! cluster what a release commit does for ghcr.io: `k8s/overlays/release`
//! pins the images `cluster up` deployed (this registry, their digests) and
//! `kyverno/release` holds the policies `cluster up` applied (this
//! registry, this cluster's key). Uncommitted changes are not served.
//! `gitops/appproject.yaml` and `gitops/application.yaml` are applied with
//! two local parameters only: the repository's URL and the revision.
//!
//! Three settings differ from an installation's defaults: the controller
//! compares with Git every 15 s (default 3 min; a Git webhook would make it
//! immediate) and ends a sync still waiting after 5 min (default: never),
//! and, because this cluster serves no metrics API, a
//! HorizontalPodAutoscaler that only lacks metrics counts as healthy, its
//! message saying so (`settings()`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use cloudshop_host::readiness::{self, Probe};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::control_plane::{ControlPlane, http_ok, plain_client};
use crate::kubectl::Kubectl;
use crate::tools::GitopsTools;

/// The processes, in start order; `cluster down` stops them in reverse.
pub const PROCESSES: [&str; 4] = [
    "git-daemon",
    "redis",
    "argocd-repo-server",
    "argocd-application-controller",
];
/// The served branch.
pub const BRANCH: &str = "local-release";
/// The repository `gitops/` names, replaced by the served one.
pub const UPSTREAM: &str = "https://github.com/cloudshop/cloudshop.git";
/// The revision `gitops/application.yaml` names, replaced by [`BRANCH`].
const UPSTREAM_REVISION: &str = "main";
pub const NAMESPACE: &str = "argocd";
pub const APPLICATION: &str = "cloudshop";
const AUTHOR: [&str; 4] = [
    "-c",
    "user.name=cloudshop cluster gitops",
    "-c",
    "user.email=gitops@cloudshop.invalid",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ports {
    pub git: u16,
    pub redis: u16,
    pub repo_server: u16,
    pub repo_server_metrics: u16,
    /// The application controller's metrics and health: Argo CD binds it on
    /// every interface (it has no address flag).
    pub controller_metrics: u16,
}

impl Ports {
    /// Five free ports, none of `taken` (the cluster's recorded ports: the
    /// API server listens on the node's address, where the loopback check
    /// for a free port does not see it).
    pub fn reserve(taken: &[u16]) -> anyhow::Result<Self> {
        let p = cloudshop_host::ports::reserve_except(5, taken).context("ports for Argo CD")?;
        Ok(Self {
            git: p[0],
            redis: p[1],
            repo_server: p[2],
            repo_server_metrics: p[3],
            controller_metrics: p[4],
        })
    }
}

pub fn dir(cluster: &Path) -> PathBuf {
    cluster.join("gitops")
}

/// The served repository's work tree: commits made here are what Argo CD
/// syncs next.
pub fn repository(cluster: &Path) -> PathBuf {
    dir(cluster).join("repo")
}

pub fn url(ports: &Ports) -> String {
    format!("git://127.0.0.1:{}/repo", ports.git)
}

/// `gitops/application.yaml` and `gitops/appproject.yaml` with the served
/// repository and revision in place of CloudShop's; an error when either
/// file no longer names them as expected.
pub fn localise(application: &str, project: &str, url: &str, revision: &str) -> anyhow::Result<String> {
    let sources = application.matches(&format!("repoURL: {UPSTREAM}\n")).count();
    let revisions = application
        .matches(&format!("targetRevision: {UPSTREAM_REVISION}\n"))
        .count();
    anyhow::ensure!(
        sources > 0 && sources == revisions,
        "gitops/application.yaml: expected each source as `repoURL: {UPSTREAM}` with \
         `targetRevision: {UPSTREAM_REVISION}` ({sources} repoURL, {revisions} targetRevision)"
    );
    let repos = format!("sourceRepos:\n    - {UPSTREAM}\n");
    anyhow::ensure!(
        project.matches(&repos).count() == 1,
        "gitops/appproject.yaml: expected `sourceRepos:` to list {UPSTREAM} alone"
    );
    let application = application
        .replace(&format!("repoURL: {UPSTREAM}\n"), &format!("repoURL: {url}\n"))
        .replace(
            &format!("targetRevision: {UPSTREAM_REVISION}\n"),
            &format!("targetRevision: {revision}\n"),
        );
    let project = project.replace(&repos, &format!("sourceRepos:\n    - {url}\n"));
    Ok(format!("{project}\n---\n{application}"))
}

/// `k8s/overlays/release` for this cluster: the kustomization `cluster up`
/// applied (its images, this registry, their digests), on `../local`.
pub fn release_overlay(deployed: &str) -> anyhow::Result<String> {
    let mut lines: Vec<String> = deployed.lines().map(str::to_owned).collect();
    let at = lines
        .iter()
        .position(|line| line == "resources:")
        .context("the deployed kustomization has no `resources:`")?;
    anyhow::ensure!(
        lines.get(at + 1).is_some_and(|line| line.starts_with("  - "))
            && !lines.get(at + 2).is_some_and(|line| line.starts_with("  - ")),
        "the deployed kustomization does not name one resource"
    );
    lines[at + 1] = "  - ../local".into();
    Ok(format!(
        "# The local release commit (`cloudshop cluster gitops`): the images `cloudshop cluster up`\n\
         # deployed, pinned by digest in this cluster's registry, on k8s/overlays/local.\n{}\n",
        lines.join("\n")
    ))
}

/// `kyverno/release` for this cluster: the policies `cluster up` applied.
const POLICY_KUSTOMIZATION: &str = "\
# The local release commit (`cloudshop cluster gitops`): kyverno/policies with this
# cluster's registry and release key, as `cloudshop cluster up` applies them.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
commonAnnotations:
  argocd.argoproj.io/sync-wave: \"0\"
resources:
  - local-policies.yaml
";

/// `git ARGS` in `repo`; its stdout, or an error with its stderr.
pub fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(AUTHOR)
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    anyhow::ensure!(
        output.status.success(),
        "git {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Makes the served branch: the workspace's HEAD and the local release
/// commit. Its commit id.
pub fn prepare(cluster: &Path, workspace: &Path, deployed: &str, policies: &str) -> anyhow::Result<String> {
    let repo = repository(cluster);
    if !repo.join(".git").is_dir() {
        std::fs::create_dir_all(&repo)?;
        git(&repo, &["init", "--quiet"])?;
    }
    let head = git(workspace, &["rev-parse", "HEAD"]).context("the checkout's HEAD")?;
    if !git(workspace, &["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        crate::say(format_args!(
            "note: {} has uncommitted changes; Argo CD is served its HEAD ({})",
            workspace.display(),
            &head[..12]
        ));
    }
    git(
        &repo,
        &["fetch", "--quiet", &workspace.display().to_string(), "HEAD"],
    )?;
    git(&repo, &["checkout", "--quiet", "--force", "-B", BRANCH, &head])?;
    let files = [
        (
            "k8s/overlays/release/kustomization.yaml",
            release_overlay(deployed)?,
        ),
        (
            "kyverno/release/kustomization.yaml",
            POLICY_KUSTOMIZATION.to_owned(),
        ),
        ("kyverno/release/local-policies.yaml", policies.to_owned()),
    ];
    for (path, text) in &files {
        std::fs::write(repo.join(path), text).with_context(|| format!("writing {path}"))?;
        git(&repo, &["add", path])?;
    }
    git(
        &repo,
        &[
            "commit",
            "--quiet",
            "-m",
            "local release: this cluster's registry, image digests and release key",
        ],
    )?;
    git(&repo, &["rev-parse", "HEAD"])
}

/// Argo CD's settings and its (empty) secret in the namespace `argocd`.
pub fn settings() -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels: {{pod-security.kubernetes.io/enforce: restricted}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: {NAMESPACE}
  labels: {{app.kubernetes.io/name: argocd-cm, app.kubernetes.io/part-of: argocd}}
data:
  resource.customizations.health.autoscaling_HorizontalPodAutoscaler: |
    hs = {{status = "Healthy", message = "scaling"}}
    if obj.status ~= nil and obj.status.conditions ~= nil then
      for _, c in ipairs(obj.status.conditions) do
        if c.type == "AbleToScale" and c.status == "False" then
          return {{status = "Degraded", message = c.message}}
        end
        if c.type == "ScalingActive" and c.status == "False" then
          hs.message = "not scaling (this cluster serves no metrics API): " .. c.message
        end
      end
    end
    return hs
---
apiVersion: v1
kind: Secret
metadata:
  name: argocd-secret
  namespace: {NAMESPACE}
  labels: {{app.kubernetes.io/name: argocd-secret, app.kubernetes.io/part-of: argocd}}
type: Opaque
"#
    )
}

/// Argo CD and what it reads, on one cluster.
#[derive(Debug)]
pub struct Gitops<'a> {
    pub plane: &'a ControlPlane,
    pub ports: Ports,
    pub tools: GitopsTools,
}

impl Gitops<'_> {
    fn dir(&self) -> PathBuf {
        dir(&self.plane.dir)
    }

    /// `git daemon` serving `DIR/gitops` (read-only, 127.0.0.1).
    pub async fn serve(&self) -> anyhow::Result<()> {
        let mut command = Command::new(&self.tools.git);
        command
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={}", self.ports.git))
            .arg(format!("--base-path={}", self.dir().display()))
            .arg(self.dir());
        self.plane.start("git-daemon", command)?;
        let url = url(&self.ports);
        self.plane
            .wait_ready("git-daemon", Duration::from_secs(30), || {
                let listed = git(&self.dir(), &["ls-remote", &url, BRANCH]);
                async move { listed.map(drop) }
            })
            .await
    }

    /// Redis (no persistence: a cache) and Argo CD's repo server.
    pub async fn repo_server(&self) -> anyhow::Result<()> {
        let redis_dir = self.dir().join("redis");
        std::fs::create_dir_all(&redis_dir)?;
        let mut command = Command::new(&self.tools.redis);
        command
            .args([
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--port", &self.ports.redis.to_string()])
            .arg("--dir")
            .arg(&redis_dir);
        self.plane.start("redis", command)?;
        let redis = format!("127.0.0.1:{}", self.ports.redis);
        self.plane
            .wait_ready("redis", Duration::from_secs(30), || {
                let connected = std::net::TcpStream::connect(&redis);
                async move { connected.map(drop).context("connecting to Redis") }
            })
            .await?;
        let work = self.dir().join("repo-server");
        std::fs::create_dir_all(&work)?;
        // The module's files are read-only; the repo server execs this one.
        let bin = self.dir().join("bin");
        std::fs::create_dir_all(&bin)?;
        let wrapper = bin.join("git-verify-wrapper.sh");
        let _ = std::fs::remove_file(&wrapper);
        std::fs::copy(&self.tools.verify_wrapper, &wrapper)
            .with_context(|| format!("copying {}", self.tools.verify_wrapper.display()))?;
        std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        let mut command = self.argocd("argocd-repo-server");
        command
            // Plain gRPC on the loopback: the controller is its one client.
            .args([
                "--address",
                "127.0.0.1",
                "--metrics-address",
                "127.0.0.1",
                "--disable-tls",
            ])
            .arg("--client-ca-path=")
            .args(["--port", &self.ports.repo_server.to_string()])
            .args(["--metrics-port", &self.ports.repo_server_metrics.to_string()])
            .args(["--redis", &redis])
            // A branch's commit is looked up again after 5 s (default 3 min).
            .args(["--revision-cache-expiration", "5s"])
            // Its clones of the repository.
            .env("TMPDIR", &work)
            // No GnuPG here: commits are not signature-checked (an AppProject
            // can require it; CloudShop's images are verified by Kyverno).
            .env("ARGOCD_GPG_ENABLED", "false")
            .env(
                "PATH",
                std::env::join_paths(
                    [bin, self.tools.kustomize_dir.clone()]
                        .into_iter()
                        .chain(self.tools.git.parent().map(PathBuf::from)),
                )?,
            );
        self.plane.start("argocd-repo-server", command)?;
        let health = format!("http://127.0.0.1:{}/healthz", self.ports.repo_server_metrics);
        let client = plain_client()?;
        self.plane
            .wait_ready("argocd-repo-server", Duration::from_secs(60), || {
                http_ok(&client, &health)
            })
            .await
    }

    fn argocd(&self, component: &str) -> Command {
        let mut command = Command::new(&self.tools.argocd);
        command.env("ARGOCD_BINARY_NAME", component);
        command
    }

    /// Argo CD's CRDs and settings, then its application controller.
    pub async fn controller(&self) -> anyhow::Result<()> {
        let kubectl = self.plane.kubectl();
        for crd in ["application-crd.yaml", "appproject-crd.yaml"] {
            let path = self.tools.crds.join(crd);
            kubectl
                .run(&["apply", "--server-side", "-f", &path.display().to_string()])
                .with_context(|| format!("applying Argo CD's CRD {}", path.display()))?;
        }
        kubectl
            .run(&[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/applications.argoproj.io",
                "crd/appprojects.argoproj.io",
            ])
            .context("Argo CD's CRDs")?;
        kubectl.apply(&settings()).context("Argo CD's settings")?;
        let kubeconfig = crate::pki::kubeconfig(&self.plane.dir, "admin");
        let mut command = self.argocd("argocd-application-controller");
        command
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--namespace", NAMESPACE])
            .args(["--redis", &format!("127.0.0.1:{}", self.ports.redis)])
            .args(["--repo-server", &format!("127.0.0.1:{}", self.ports.repo_server)])
            .arg("--repo-server-plaintext")
            .args(["--metrics-port", &self.ports.controller_metrics.to_string()])
            // Compares with Git every 15 s (default 120 s and up to 60 s more).
            .args(["--app-resync", "15", "--app-resync-jitter", "0"])
            // A sync that waits for a rollout that cannot finish (an image
            // Kyverno refuses) ends after 5 min (default: never).
            .args(["--sync-timeout", "300"])
            // The destination https://kubernetes.default.svc is this
            // kubeconfig's cluster.
            .env("ARGOCD_FAKE_IN_CLUSTER", "true")
            .env("KUBECONFIG", &kubeconfig);
        self.plane.start("argocd-application-controller", command)?;
        let health = format!("http://127.0.0.1:{}/healthz", self.ports.controller_metrics);
        let client = plain_client()?;
        self.plane
            .wait_ready("argocd-application-controller", Duration::from_secs(60), || {
                http_ok(&client, &health)
            })
            .await
    }

    /// `gitops/appproject.yaml` and `gitops/application.yaml`, localised.
    pub fn application(&self, workspace: &Path) -> anyhow::Result<()> {
        let read = |name: &str| {
            std::fs::read_to_string(workspace.join("gitops").join(name))
                .with_context(|| format!("reading gitops/{name}"))
        };
        let manifest = localise(
            &read("application.yaml")?,
            &read("appproject.yaml")?,
            &url(&self.ports),
            BRANCH,
        )?;
        self.plane
            .kubectl()
            .apply(&manifest)
            .context("applying the AppProject and the Application")?;
        Ok(())
    }
}

/// The Application as the controller reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppStatus {
    pub sync: String,
    pub health: String,
    /// One revision per source.
    pub revisions: Vec<String>,
    /// The last operation's phase and message (e.g. a refused apply).
    pub operation: Option<(String, String)>,
    /// The resources that are not Synced or not Healthy, with their messages.
    pub unwell: Vec<String>,
    /// The resources the last operation failed to sync (an apply an
    /// admission webhook refused, say), with the API server's message.
    pub failed: Vec<String>,
    /// The Application's conditions (`ComparisonError: ...`): with
    /// server-side diff, an object the API server refuses even to dry-run
    /// fails the comparison, and no sync starts.
    pub conditions: Vec<String>,
}

impl AppStatus {
    pub fn from_json(application: &Value) -> Self {
        let status = &application["status"];
        let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
        let revisions = match status["sync"]["revisions"].as_array() {
            Some(list) => list.iter().map(text).collect(),
            None => status["sync"]["revision"]
                .as_str()
                .map(|r| vec![r.to_owned()])
                .unwrap_or_default(),
        };
        let operation = status["operationState"]["phase"]
            .as_str()
            .map(|phase| (phase.to_owned(), text(&status["operationState"]["message"])));
        let unwell = status["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["status"].as_str() != Some("Synced")
                    || r["health"]["status"].as_str().is_some_and(|h| h != "Healthy")
            })
            .map(|r| {
                format!(
                    "{} {}: {} {} {}",
                    text(&r["kind"]),
                    text(&r["name"]),
                    text(&r["status"]),
                    text(&r["health"]["status"]),
                    text(&r["health"]["message"])
                )
                .trim_end()
                .to_owned()
            })
            .collect();
        let failed = status["operationState"]["syncResult"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["status"].as_str() == Some("SyncFailed"))
            .map(|r| {
                format!(
                    "{} {}: {}",
                    text(&r["kind"]),
                    text(&r["name"]),
                    text(&r["message"])
                )
            })
            .collect();
        let conditions = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{}: {}", text(&c["type"]), text(&c["message"])))
            .collect();
        Self {
            sync: text(&status["sync"]["status"]),
            health: text(&status["health"]["status"]),
            revisions,
            operation,
            unwell,
            failed,
            conditions,
        }
    }

    /// What Argo CD reports as refused: the conditions (a comparison the
    /// API server refused), the last operation's message and each resource
    /// it failed to sync.
    pub fn refusals(&self) -> impl Iterator<Item = &str> {
        self.conditions
            .iter()
            .map(String::as_str)
            .chain(self.operation.iter().map(|(_, message)| message.as_str()))
            .chain(self.failed.iter().map(String::as_str))
    }

    /// Synced and Healthy at `commit` on every source.
    pub fn settled_at(&self, commit: &str) -> bool {
        self.sync == "Synced"
            && self.health == "Healthy"
            && !self.revisions.is_empty()
            && self.revisions.iter().all(|r| r == commit)
    }
}

impl std::fmt::Display for AppStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sync {}, health {}", self.sync, self.health)?;
        if let Some(revision) = self.revisions.first() {
            write!(f, " at {}", &revision[..revision.len().min(12)])?;
        }
        if let Some((phase, message)) = &self.operation {
            write!(f, "; last operation {phase}: {message}")?;
        }
        for condition in &self.conditions {
            write!(f, "\n  condition {condition}")?;
        }
        for resource in &self.unwell {
            write!(f, "\n  {resource}")?;
        }
        for resource in &self.failed {
            write!(f, "\n  failed to sync: {resource}")?;
        }
        Ok(())
    }
}

pub fn status(kubectl: &Kubectl) -> anyhow::Result<AppStatus> {
    let text = kubectl.run(&[
        "get",
        "applications.argoproj.io",
        APPLICATION,
        "-n",
        NAMESPACE,
        "-o",
        "json",
    ])?;
    Ok(AppStatus::from_json(&serde_json::from_str(&text)?))
}

/// Waits until the Application is Synced and Healthy at `commit`; the time
/// it took.
pub async fn wait_settled(kubectl: &Kubectl, commit: &str, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    readiness::poll(
        timeout,
        Duration::from_millis(500),
        async || {
            let status = status(kubectl)?;
            Ok(if status.settled_at(commit) {
                Probe::Ready
            } else {
                Probe::NotYet(Some(anyhow::anyhow!("{status}")))
            })
        },
        |last| {
            anyhow::anyhow!(
                "Argo CD's Application {APPLICATION} is not Synced and Healthy at {} after {} s: {}",
                &commit[..12],
                timeout.as_secs(),
                last.map(|e| format!("{e:#}")).unwrap_or_default()
            )
        },
    )
    .await?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_repository_and_the_revision_change() {
        let application = std::fs::read_to_string("../gitops/application.yaml").expect("application");
        let project = std::fs::read_to_string("../gitops/appproject.yaml").expect("project");
        let out = localise(&application, &project, "git://127.0.0.1:9/repo", BRANCH).expect("localised");
        assert!(!out.contains(UPSTREAM));
        assert_eq!(out.matches("repoURL: git://127.0.0.1:9/repo\n").count(), 3);
        assert_eq!(out.matches("targetRevision: local-release\n").count(), 3);
        assert!(out.contains("sourceRepos:\n    - git://127.0.0.1:9/repo\n"));
        let original = format!("{project}\n---\n{application}");
        let before: Vec<&str> = original
            .lines()
            .filter(|l| !l.contains(UPSTREAM) && !l.contains("targetRevision"))
            .map(str::trim)
            .collect();
        let after: Vec<&str> = out
            .lines()
            .filter(|l| !l.contains("git://") && !l.contains("targetRevision"))
            .map(str::trim)
            .collect();
        assert_eq!(before, after, "every other line is kept");
    }

    #[test]
    fn gitops_files_that_changed_shape_are_refused() {
        let project = format!("sourceRepos:\n    - {UPSTREAM}\n");
        assert!(localise("repoURL: https://example.com/x.git\n", &project, "u", "r").is_err());
        let application = format!("repoURL: {UPSTREAM}\ntargetRevision: v1\n");
        assert!(localise(&application, &project, "u", "r").is_err());
        let application = format!("repoURL: {UPSTREAM}\ntargetRevision: main\n");
        assert!(localise(&application, "sourceRepos: ['*']\n", "u", "r").is_err());
    }

    #[test]
    fn the_release_overlay_keeps_the_deployed_images_on_the_local_overlay() {
        let deployed = "# Written by\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
                        resources:\n  - ../../../../work/k8s/overlays/local\nimages:\n  - {name: a, digest: \"sha256:1\"}\n";
        let overlay = release_overlay(deployed).expect("overlay");
        assert!(overlay.contains("resources:\n  - ../local\nimages:\n  - {name: a, digest: \"sha256:1\"}\n"));
        assert!(release_overlay("resources:\n  - a\n  - b\n").is_err());
        assert!(release_overlay("images: []\n").is_err());
    }

    #[test]
    fn the_status_names_what_is_not_synced_or_healthy() {
        let application = serde_json::json!({"status": {
            "sync": {"status": "OutOfSync", "revisions": ["abc", "abc"]},
            "health": {"status": "Progressing"},
            "conditions": [{"type": "ComparisonError", "message": "admission webhook denied the dry run"}],
            "operationState": {"phase": "Failed", "message": "one or more objects failed to apply",
                "syncResult": {"resources": [
                    {"kind": "Deployment", "name": "storefront", "status": "SyncFailed", "message": "admission webhook denied the request"},
                    {"kind": "Service", "name": "storefront", "status": "Synced", "message": "service/storefront serverside-applied"}
                ]}},
            "resources": [
                {"kind": "Deployment", "name": "storefront", "status": "Synced", "health": {"status": "Progressing", "message": "Waiting for rollout"}},
                {"kind": "Service", "name": "storefront", "status": "Synced", "health": {"status": "Healthy"}},
                {"kind": "ConfigMap", "name": "x", "status": "Synced"}
            ]
        }});
        let status = AppStatus::from_json(&application);
        assert!(!status.settled_at("abc"));
        assert_eq!(
            status.unwell,
            ["Deployment storefront: Synced Progressing Waiting for rollout"]
        );
        assert_eq!(
            status.refusals().collect::<Vec<_>>(),
            [
                "ComparisonError: admission webhook denied the dry run",
                "one or more objects failed to apply",
                "Deployment storefront: admission webhook denied the request"
            ]
        );
        let text = status.to_string();
        assert!(
            text.contains("last operation Failed: one or more objects failed to apply")
                && text.contains("failed to sync: Deployment storefront: admission webhook denied"),
            "{text}"
        );
        let settled = serde_json::json!({"status": {
            "sync": {"status": "Synced", "revisions": ["abc", "abc"]}, "health": {"status": "Healthy"}}});
        assert!(AppStatus::from_json(&settled).settled_at("abc"));
        assert!(!AppStatus::from_json(&settled).settled_at("abd"));
    }
}
