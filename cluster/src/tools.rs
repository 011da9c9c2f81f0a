//! Where the cluster's programs are: the pinned control plane that
//! `scripts/cluster-tools.sh` builds into Go's bin folder, and `kubectl` and
//! `docker-registry` from the machine's packages.

use std::path::PathBuf;

use anyhow::bail;

use cloudshop_topology::tools::{find as on_path, go_bin, go_path};

#[derive(Debug, Clone)]
pub struct Tools {
    pub etcd: PathBuf,
    pub apiserver: PathBuf,
    pub controller_manager: PathBuf,
    pub scheduler: PathBuf,
    pub kwok: PathBuf,
    pub kyverno: PathBuf,
    pub kubectl: PathBuf,
    pub registry: PathBuf,
    /// kwok's stage definitions (node, pod and volume lifecycles) from its
    /// module.
    pub kwok_stages: Vec<PathBuf>,
    /// kwok's default StorageClass, whose claims its volume stages bind.
    pub kwok_storage_class: PathBuf,
    /// Kyverno's CRDs from its module.
    pub kyverno_crds: PathBuf,
}

/// The versions `scripts/cluster-tools.sh` installs (tools/versions.env).
pub const KWOK_MODULE: &str = cloudshop_topology::versions::KWOK;
pub const KYVERNO_MODULE: &str = cloudshop_topology::versions::KYVERNO;
pub const PROMETHEUS_OPERATOR_MODULE: &str = cloudshop_topology::versions::PROMETHEUS_OPERATOR;

impl Tools {
    pub fn find() -> anyhow::Result<Self> {
        let mod_cache = go_mod_cache();
        let mut missing = Vec::new();
        let mut go_tool = |name: &str| go_tool(name, &mut missing);
        let etcd = go_tool("etcd");
        let apiserver = go_tool("kube-apiserver");
        let controller_manager = go_tool("kube-controller-manager");
        let scheduler = go_tool("kube-scheduler");
        let kwok = go_tool("kwok");
        let kyverno = go_tool("kyverno-controller");
        let stages = mod_cache.join(KWOK_MODULE).join("kustomize/stage");
        let kwok_stages: Vec<PathBuf> = ["node/fast", "node/heartbeat", "pod/fast", "volume/fast"]
            .iter()
            .flat_map(|stage| {
                std::fs::read_dir(stages.join(stage))
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension().is_some_and(|e| e == "yaml")
                    && path
                        .file_name()
                        .is_some_and(|n| n != "kustomization.yaml" && n != "storage-class.yaml")
            })
            .collect();
        let kwok_storage_class = stages.join("volume/fast/storage-class.yaml");
        if kwok_stages.is_empty() || !kwok_storage_class.is_file() {
            missing.push(stages.display().to_string());
        }
        let kyverno_crds = mod_cache.join(KYVERNO_MODULE).join("config/crds");
        if !kyverno_crds.is_dir() {
            missing.push(kyverno_crds.display().to_string());
        }
        let kubectl = on_path("kubectl").unwrap_or_else(|| {
            missing.push("kubectl (on PATH)".into());
            PathBuf::new()
        });
        let registry = on_path("docker-registry").unwrap_or_else(|| {
            missing.push("docker-registry (on PATH; Debian's docker-registry)".into());
            PathBuf::new()
        });
        if !missing.is_empty() {
            bail!(
                "the local cluster's programs are missing: {}; scripts/cluster-tools.sh installs them",
                missing.join(", ")
            );
        }
        Ok(Self {
            etcd,
            apiserver,
            controller_manager,
            scheduler,
            kwok,
            kyverno,
            kubectl,
            registry,
            kwok_stages,
            kwok_storage_class,
            kyverno_crds,
        })
    }
}

/// `name` in Go's bin folder; its path is added to `missing` when it is
/// not there.
fn go_tool(name: &str, missing: &mut Vec<String>) -> PathBuf {
    let path = go_bin().join(name);
    if !path.is_file() {
        missing.push(path.display().to_string());
    }
    path
}

fn go_mod_cache() -> PathBuf {
    std::env::var_os("GOMODCACHE")
        .filter(|v| !v.is_empty())
        .map_or_else(|| go_path().join("pkg/mod"), PathBuf::from)
}

/// The real node's programs: `scripts/node-tools.sh` builds them into Go's
/// bin folder (kubelet and kube-proxy: `scripts/cluster-tools.sh`).
#[derive(Debug, Clone)]
pub struct NodeTools {
    pub containerd: PathBuf,
    pub containerd_shim: PathBuf,
    pub runc: PathBuf,
    pub crictl: PathBuf,
    pub kubelet: PathBuf,
    pub kube_proxy: PathBuf,
    pub kube_router: PathBuf,
    pub coredns: PathBuf,
    pub traefik: PathBuf,
    /// Prometheus built with its Kubernetes discovery (`prometheus`, built
    /// for `cloudshop up --observe`, has none).
    pub prometheus: PathBuf,
    pub kube_state_metrics: PathBuf,
    pub alertmanager: PathBuf,
    /// prometheus-operator's module: the ServiceMonitor and PrometheusRule
    /// CRDs (`example/prometheus-operator-crd`).
    pub monitoring_crds: PathBuf,
}

impl NodeTools {
    pub fn find() -> anyhow::Result<Self> {
        let mut missing = Vec::new();
        let mut go_tool = |name: &str| go_tool(name, &mut missing);
        let tools = Self {
            containerd: go_tool("containerd"),
            containerd_shim: go_tool("containerd-shim-runc-v2"),
            runc: go_tool("cloudshop-runc"),
            crictl: go_tool("crictl"),
            kubelet: go_tool("kubelet"),
            kube_proxy: go_tool("kube-proxy"),
            kube_router: go_tool("kube-router"),
            coredns: go_tool("coredns"),
            traefik: go_tool("traefik"),
            prometheus: go_tool("prometheus-kubernetes"),
            kube_state_metrics: go_tool("kube-state-metrics"),
            alertmanager: go_tool("alertmanager"),
            monitoring_crds: go_mod_cache()
                .join(PROMETHEUS_OPERATOR_MODULE)
                .join("example/prometheus-operator-crd"),
        };
        if !tools.monitoring_crds.is_dir() {
            missing.push(tools.monitoring_crds.display().to_string());
        }
        if !missing.is_empty() {
            bail!(
                "the real node's programs are missing: {}; scripts/cluster-tools.sh installs them",
                missing.join(", ")
            );
        }
        Ok(tools)
    }
}

/// Argo CD's programs (`cloudshop cluster gitops`): `argocd` and kustomize,
/// built by `scripts/node-tools.sh`, Redis and git from the machine's
/// packages, Argo CD's CRDs from its module.
#[derive(Debug, Clone)]
pub struct GitopsTools {
    pub argocd: PathBuf,
    /// The folder of the kustomize the repo server runs.
    pub kustomize_dir: PathBuf,
    pub redis: PathBuf,
    pub git: PathBuf,
    /// `application-crd.yaml` and `appproject-crd.yaml`.
    pub crds: PathBuf,
    /// `git-verify-wrapper.sh`, which the repo server runs for every
    /// revision (its image ships it; here it is copied from the module).
    pub verify_wrapper: PathBuf,
}

pub const ARGOCD_MODULE: &str = cloudshop_topology::versions::ARGOCD;

impl GitopsTools {
    pub fn find() -> anyhow::Result<Self> {
        let mut missing = Vec::new();
        let argocd = go_tool("argocd", &mut missing);
        let kustomize = go_tool("kustomize", &mut missing);
        let mut on_path_or = |name: &str, package: &str| {
            on_path(name).unwrap_or_else(|| {
                missing.push(format!("{name} (on PATH; Debian's {package})"));
                PathBuf::new()
            })
        };
        let redis = on_path_or("redis-server", "redis-server");
        let git = on_path_or("git", "git");
        let module = go_mod_cache().join(ARGOCD_MODULE);
        let crds = module.join("manifests/crds");
        let verify_wrapper = module.join("hack/git-verify-wrapper.sh");
        for path in [&crds, &verify_wrapper] {
            if !path.exists() {
                missing.push(path.display().to_string());
            }
        }
        if !missing.is_empty() {
            bail!(
                "Argo CD's programs are missing: {}; scripts/cluster-tools.sh installs them",
                missing.join(", ")
            );
        }
        Ok(Self {
            argocd,
            kustomize_dir: kustomize.parent().map(PathBuf::from).unwrap_or_default(),
            redis,
            git,
            crds,
            verify_wrapper,
        })
    }
}
