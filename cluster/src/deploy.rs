//! CloudShop itself on the local cluster: the current tree released into the
//! cluster's registry (the real pipeline: build, SBOM, images, gate, push,
//! sign, attest, verify, with the cluster's release key), the Secrets the
//! pods mount, and `k8s/overlays/local` pinned by the release's digests,
//! applied and waited for until every Deployment and the StatefulSet have
//! their desired number of ready pods. Every one of those pods went through
//! Pod Security `restricted` and every Kyverno policy, including the
//! verification of its image's signature and attestations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use clap::Parser;
use cloudshop_host::files::ShopFiles;
use cloudshop_supply_chain::release::Release;
use cloudshop_topology::ServiceId;
use serde_json::{Value, json};

use super::control_plane::ControlPlane;

/// The namespace CloudShop runs in (k8s/base/namespace).
pub const NAMESPACE: &str = "cloudshop-prod";
/// The name `k8s/overlays/local` gives the registry; replaced on deploy.
pub const LOCAL_REGISTRY: &str = "local-registry";
/// The workloads and their kinds, as k8s/base names them.
pub const WORKLOADS: [(&str, &str); 6] = [
    ("statefulset", "postgres"),
    ("deployment", ServiceId::Auth.name()),
    ("deployment", ServiceId::Products.name()),
    ("deployment", ServiceId::Orders.name()),
    ("deployment", ServiceId::ApiGateway.name()),
    ("deployment", ServiceId::Storefront.name()),
];

/// Where this cluster's release record and binaries go.
pub fn dist(cluster: &Path) -> PathBuf {
    cluster.join("dist")
}

pub fn release_record(cluster: &Path) -> PathBuf {
    dist(cluster).join("release.json")
}

#[derive(Debug, Parser)]
struct ReleaseCli {
    #[command(subcommand)]
    command: cloudshop_supply_chain::cli::Command,
}

/// `cloudshop release` of `workspace` into the cluster's registry, with the
/// cluster's key pair; the record goes to `<cluster>/dist/release.json`.
pub async fn release(plane: &ControlPlane, workspace: &Path, offline: bool) -> anyhow::Result<Release> {
    let registry = plane.registry_address();
    let key = plane.dir.join("cosign.key").display().to_string();
    let public_key = plane.dir.join("cosign.pub").display().to_string();
    let workspace_arg = workspace.display().to_string();
    let dist_arg = dist(&plane.dir).display().to_string();
    let mut args = vec![
        "cloudshop",
        "release",
        "--workspace",
        &workspace_arg,
        "--dist",
        &dist_arg,
        "--registry",
        &registry,
        "--key",
        &key,
        "--public-key",
        &public_key,
    ];
    if offline {
        args.push("--offline");
    }
    let cli = ReleaseCli::try_parse_from(args)?;
    cloudshop_supply_chain::cli::run(cli.command).await?;
    read_release(&release_record(&plane.dir))
}

/// The cluster's release record at `path`.
pub fn read_release(path: &Path) -> anyhow::Result<Release> {
    Release::read(path, "the cluster's release record")
}

/// The CA certificate of the shop's service certificates (public).
pub fn ca_cert(cluster: &Path) -> PathBuf {
    ShopFiles::new(cluster.join("app")).ca_cert()
}

/// The namespace, then every Secret and ConfigMap the pods mount: the TLS
/// Secrets cert-manager would make (from a CA of the cluster's own, under
/// `<cluster>/app/pki`) and the application secrets, generated once under
/// `<cluster>/app/secrets` and reused. Values go to kubectl's stdin only.
pub fn secrets(plane: &ControlPlane, workspace: &Path) -> anyhow::Result<()> {
    let kubectl = plane.kubectl();
    kubectl
        .run(&[
            "apply",
            "-f",
            &workspace
                .join("k8s/base/namespace/namespace.yaml")
                .display()
                .to_string(),
        ])
        .context("creating the namespace")?;
    let files = ShopFiles::new(plane.dir.join("app"));
    files.ensure().context("making the certificates and secrets")?;
    let postgres = files.ensure_postgres_password()?;
    let ca = files.ca_cert();
    let mut items = Vec::new();
    for service in cloudshop_topology::NAMES.iter().chain(&["postgres"]) {
        items.push(secret(
            &format!("{service}-tls"),
            "kubernetes.io/tls",
            &[
                ("tls.crt", files.cert(service)),
                ("tls.key", files.key(service)),
                ("ca.crt", ca.clone()),
            ],
        )?);
    }
    items.push(secret("cloudshop-root-ca", "Opaque", &[("ca.crt", ca)])?);
    // Secret name -> (key, file), as k8s/base's pods mount them.
    let db = |id: ServiceId| files.db_password(id).path().to_owned();
    let app: [(&str, Vec<(&str, PathBuf)>); 5] = [
        (
            "postgres-secrets",
            vec![
                ("postgres-password", postgres.path().to_owned()),
                ("db-password-auth", db(ServiceId::Auth)),
                ("db-password-products", db(ServiceId::Products)),
                ("db-password-orders", db(ServiceId::Orders)),
            ],
        ),
        (
            "auth-secrets",
            vec![
                ("db-password-auth", db(ServiceId::Auth)),
                ("jwt-signing-key.pem", files.jwt_signing_key().path().to_owned()),
                ("admin-email", files.admin_email().path().to_owned()),
                ("admin-password", files.admin_password().path().to_owned()),
            ],
        ),
        (
            "products-secrets",
            vec![("db-password-products", db(ServiceId::Products))],
        ),
        (
            "orders-secrets",
            vec![("db-password-orders", db(ServiceId::Orders))],
        ),
        (
            "storefront-secrets",
            vec![("cookie-key", files.cookie_key().path().to_owned())],
        ),
    ];
    for (name, entries) in &app {
        items.push(secret(name, "Opaque", entries)?);
    }
    let public_keys = files.jwt_public_keys();
    let public_keys = std::fs::read_to_string(&public_keys)
        .with_context(|| format!("reading {}", public_keys.display()))?;
    items.push(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "jwt-public-keys", "namespace": NAMESPACE},
        "data": {"public-keys.pem": public_keys},
    }));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    kubectl
        .apply(&serde_json::to_string(&list)?)
        .context("creating the Secrets")?;
    Ok(())
}

/// A Secret of `kind` whose keys hold the contents of their files.
fn secret<P: AsRef<Path>>(name: &str, kind: &str, files: &[(&str, P)]) -> anyhow::Result<Value> {
    let mut data = BTreeMap::new();
    for (key, path) in files {
        let path = path.as_ref();
        let value = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        data.insert(*key, base64::engine::general_purpose::STANDARD.encode(value));
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "type": kind,
        "data": data,
    }))
}

/// The kustomization `cluster up` applies: `overlay` (k8s/overlays/local,
/// as a path relative to the kustomization: kustomize refuses absolute ones)
/// with each CloudShop image renamed to this cluster's registry and pinned by
/// the release's digest.
///
/// `postgres`: the digest of the PostgreSQL image the real node pulls (see
/// `node::Node::postgres`), instead of the official image's in the overlay.
pub fn kustomization(
    overlay: &str,
    registry: &str,
    release: &Release,
    postgres: Option<&str>,
) -> anyhow::Result<String> {
    let mut out = format!(
        "# Written by `cloudshop cluster up` from the release record (version {}, commit {}).\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\nimages:\n",
        release.version, release.commit, overlay
    );
    for service in cloudshop_supply_chain::SERVICES {
        let released = release
            .services
            .iter()
            .find(|s| s.id == service.id)
            .with_context(|| format!("the release record has no image for {}", service.name))?;
        anyhow::ensure!(
            released.digest.len() == 71
                && released.digest.starts_with("sha256:")
                && released.image.ends_with(&format!("@{}", released.digest)),
            "the release record's {} image is not pinned by one sha256 digest",
            service.name
        );
        out.push_str(&format!(
            "  - {{name: {LOCAL_REGISTRY}/cloudshop/{0}, newName: {registry}/cloudshop/{0}, digest: \"{1}\"}}\n",
            service.name, released.digest
        ));
    }
    if let Some(digest) = postgres {
        out.push_str(&format!(
            "  - {{name: docker.io/library/postgres, digest: \"{digest}\"}}\n"
        ));
    }
    Ok(out)
}

/// Renders and applies CloudShop, then waits until every workload is ready.
pub async fn apply(
    plane: &ControlPlane,
    workspace: &Path,
    release: &Release,
    postgres: Option<&str>,
) -> anyhow::Result<()> {
    let deploy = plane.dir.join("deploy");
    std::fs::create_dir_all(&deploy)?;
    let overlay = relative(&deploy, &workspace.join("k8s/overlays/local"))?;
    std::fs::write(
        deploy.join("kustomization.yaml"),
        kustomization(&overlay, &plane.registry_address(), release, postgres)?,
    )?;
    let kubectl = plane.kubectl();
    let manifest = kubectl
        .run(&["kustomize", &deploy.display().to_string()])
        .context("rendering the local overlay")?;
    std::fs::write(deploy.join("cloudshop.yaml"), &manifest)?;
    kubectl.apply(&manifest).context("applying CloudShop")?;
    wait_workloads(plane, Duration::from_secs(180)).await
}

/// `to` relative to the folder `from` (both must exist).
pub fn relative(from: &Path, to: &Path) -> anyhow::Result<String> {
    let canonical = |path: &Path| {
        path.canonicalize()
            .with_context(|| format!("resolving {}", path.display()))
    };
    let (from, to) = (canonical(from)?, canonical(to)?);
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = from.components().skip(common).map(|_| "..".to_owned()).collect();
    parts.extend(
        to.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

/// Waits until every workload has as many ready pods as it wants; on timeout
/// the error names each workload that is short, and why its pods are not
/// there (the ReplicaSet's or StatefulSet's failure, a pod's condition).
pub async fn wait_workloads(plane: &ControlPlane, timeout: Duration) -> anyhow::Result<()> {
    let kubectl = plane.kubectl();
    let result = plane
        .wait_ready("kyverno", timeout, || {
            let state = workload_state(&kubectl);
            async move {
                let short: Vec<String> = state?
                    .into_iter()
                    .filter(|(_, ready, wanted)| ready < wanted || *wanted == 0)
                    .map(|(name, ready, wanted)| format!("{name} {ready}/{wanted}"))
                    .collect();
                anyhow::ensure!(short.is_empty(), "not ready: {}", short.join(", "));
                Ok(())
            }
        })
        .await;
    result.map_err(|error| {
        let why = kubectl
            .run(&[
                "-n",
                NAMESPACE,
                "get",
                "replicasets,statefulsets,pods",
                "-o",
                "jsonpath={range .items[*]}{.kind}/{.metadata.name}: {range .status.conditions[?(@.status!=\"True\")]}{.type} {.reason} {.message}; {end}{range .status.conditions[?(@.type==\"ReplicaFailure\")]}{.message}{end}{\"\\n\"}{end}",
            ])
            .unwrap_or_else(|e| format!("{e:#}"));
        error.context(format!("CloudShop's workloads did not become ready:\n{why}"))
    })
}

/// `(kind/name, ready, wanted)` of each workload.
fn workload_state(kubectl: &super::kubectl::Kubectl) -> anyhow::Result<Vec<(String, u32, u32)>> {
    let mut state = Vec::new();
    for (kind, name) in WORKLOADS {
        let out = kubectl.run(&[
            "-n",
            NAMESPACE,
            "get",
            kind,
            name,
            "-o",
            "jsonpath={.status.readyReplicas} {.spec.replicas}",
        ])?;
        let mut fields = out.split_whitespace().map(|f| f.parse::<u32>().unwrap_or(0));
        let (first, second) = (fields.next().unwrap_or(0), fields.next());
        // An empty readyReplicas leaves one field: the wanted count.
        let (ready, wanted) = match second {
            Some(wanted) => (first, wanted),
            None => (0, first),
        };
        state.push((format!("{kind}/{name}"), ready, wanted));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudshop_supply_chain::release::Released;

    fn release(digest: &str) -> Release {
        Release {
            version: "0.1.0".into(),
            commit: "abc".into(),
            registry: "127.0.0.1:5000".into(),
            services: cloudshop_supply_chain::SERVICES
                .iter()
                .map(|s| Released {
                    id: s.id,
                    image: format!("127.0.0.1:5000/cloudshop/{}@{digest}", s.name),
                    digest: digest.into(),
                    platforms: Vec::new(),
                    signature: None,
                    attestation: None,
                })
                .collect(),
            signed_as: None,
        }
    }

    #[test]
    fn the_kustomization_pins_every_image_by_the_release_digest_in_this_registry() {
        let digest = format!("sha256:{}", "b".repeat(64));
        let text = kustomization(
            "../../k8s/overlays/local",
            "127.0.0.1:24000",
            &release(&digest),
            None,
        )
        .expect("rendered");
        assert!(
            text.contains("resources:\n  - ../../k8s/overlays/local\n"),
            "{text}"
        );
        for service in cloudshop_supply_chain::SERVICES {
            let line = format!(
                "  - {{name: local-registry/cloudshop/{0}, newName: 127.0.0.1:24000/cloudshop/{0}, digest: \"{digest}\"}}\n",
                service.name
            );
            assert!(text.contains(&line), "{text}");
        }
    }

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b/deploy")).expect("dirs");
        std::fs::create_dir_all(root.join("k8s/overlays/local")).expect("dirs");
        let to = root.join("a/./../k8s/overlays/local");
        assert_eq!(
            relative(&root.join("a/b/deploy"), &to).expect("relative"),
            "../../../k8s/overlays/local"
        );
        assert_eq!(relative(&to, &to).expect("same"), ".");
    }

    #[test]
    fn a_release_without_digests_or_a_service_is_refused() {
        let mut tagged = release("latest");
        tagged.services[0].image = "127.0.0.1:5000/cloudshop/storefront:latest".into();
        let error = kustomization("o", "r", &tagged, None).expect_err("refused");
        assert!(
            error.to_string().contains("not pinned by one sha256 digest"),
            "{error}"
        );
        let mut short = release(&format!("sha256:{}", "b".repeat(64)));
        short.services.pop();
        let error = kustomization("o", "r", &short, None).expect_err("refused");
        assert!(error.to_string().contains("no image for"), "{error}");
    }
}
