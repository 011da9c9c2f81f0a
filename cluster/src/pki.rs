//! The cluster's certificates and keys, made on the first `up` and kept:
//! one cluster CA; the API server's serving certificate; client
//! certificates for the admin (group `system:masters`), the controller
//! manager and the scheduler (the users their default RBAC roles name), which
//! also serve their health ports; the service-account token key pair; a
//! kubeconfig per client; and the release's cosign key pair, whose public key
//! the image policy trusts.

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use cloudshop_host::pki::{CertificateAuthority, KubernetesLeaf, p256_key_pair};

/// A client of the API server with its own certificate and kubeconfig.
pub struct Client {
    pub name: &'static str,
    common_name: &'static str,
    organization: Option<&'static str>,
}

pub const CLIENTS: [Client; 4] = [
    Client {
        name: "admin",
        common_name: "cloudshop-admin",
        organization: Some("system:masters"),
    },
    Client {
        name: "kube-controller-manager",
        common_name: "system:kube-controller-manager",
        organization: None,
    },
    Client {
        name: "kube-scheduler",
        common_name: "system:kube-scheduler",
        organization: None,
    },
    // The API server as the kubelet's client (logs, exec).
    Client {
        name: "apiserver-kubelet-client",
        common_name: "kube-apiserver-kubelet-client",
        organization: Some("system:masters"),
    },
];

pub fn dir(cluster: &Path) -> PathBuf {
    cluster.join("pki")
}

pub fn ca(cluster: &Path) -> PathBuf {
    dir(cluster).join("ca.pem")
}

pub fn cert(cluster: &Path, name: &str) -> PathBuf {
    dir(cluster).join(format!("{name}.pem"))
}

pub fn key(cluster: &Path, name: &str) -> PathBuf {
    dir(cluster).join(format!("{name}-key.pem"))
}

/// The kubeconfig of `client`: `kubeconfig` for the admin.
pub fn kubeconfig(cluster: &Path, client: &str) -> PathBuf {
    if client == "admin" {
        cluster.join("kubeconfig")
    } else {
        dir(cluster).join(format!("{client}.kubeconfig"))
    }
}

/// The cluster CA, to issue more certificates with.
pub fn load_ca(cluster: &Path) -> anyhow::Result<CertificateAuthority> {
    CertificateAuthority::load(
        &fs::read_to_string(ca(cluster))?,
        &fs::read_to_string(dir(cluster).join("ca-key.pem"))?,
    )
    .context("loading the cluster CA")
}

/// Makes whatever is missing; `apiserver` (the API server's address and
/// port) goes into the kubeconfigs, written again on every `up`. `node` is
/// the address the API server advertises (with a real node, also where it
/// listens: the node's bridge).
pub fn ensure(cluster: &Path, apiserver: &str, node: IpAddr) -> anyhow::Result<()> {
    let pki = dir(cluster);
    fs::create_dir_all(&pki)?;
    fs::set_permissions(&pki, fs::Permissions::from_mode(0o700))?;
    let ca = if ca(cluster).exists() {
        load_ca(cluster)?
    } else {
        let ca_new = CertificateAuthority::generate("CloudShop local cluster CA")?;
        write_private(&pki.join("ca-key.pem"), ca_new.key_pem())?;
        fs::write(ca(cluster), ca_new.cert_pem())?;
        ca_new
    };
    let loopback = vec![
        IpAddr::from([127, 0, 0, 1]),
        // The first address of the service range: the `kubernetes` Service.
        IpAddr::from([10, 96, 0, 1]),
        node,
    ];
    issue(
        cluster,
        &ca,
        "kube-apiserver",
        &KubernetesLeaf {
            common_name: "kube-apiserver".into(),
            organization: None,
            dns_names: vec![
                "localhost".into(),
                "kubernetes".into(),
                "kubernetes.default".into(),
                "kubernetes.default.svc".into(),
                "kubernetes.default.svc.cluster.local".into(),
            ],
            ips: loopback.clone(),
        },
    )?;
    for client in &CLIENTS {
        issue(
            cluster,
            &ca,
            client.name,
            &KubernetesLeaf {
                common_name: client.common_name.into(),
                organization: client.organization.map(str::to_owned),
                dns_names: vec!["localhost".into()],
                ips: vec![IpAddr::from([127, 0, 0, 1])],
            },
        )?;
        write_kubeconfig(cluster, client.name, apiserver)?;
    }
    let sa_key = pki.join("service-account-key.pem");
    if !sa_key.exists() {
        let (private, public) = p256_key_pair()?;
        write_private(&sa_key, &private)?;
        fs::write(pki.join("service-account.pem"), public)?;
    }
    let cosign = cluster.join("cosign");
    if !cosign.with_extension("key").exists() {
        cloudshop_supply_chain::keys::generate(&cosign, None).context("the release's cosign key pair")?;
    }
    Ok(())
}

pub fn issue(
    cluster: &Path,
    ca: &CertificateAuthority,
    name: &str,
    leaf: &KubernetesLeaf,
) -> anyhow::Result<()> {
    if cert(cluster, name).exists() {
        return Ok(());
    }
    let issued = ca
        .issue_kubernetes(leaf)
        .with_context(|| format!("issuing {name}'s certificate"))?;
    write_private(&key(cluster, name), &issued.key_pem)?;
    fs::write(cert(cluster, name), &issued.cert_pem)?;
    Ok(())
}

pub fn write_kubeconfig(cluster: &Path, client: &str, apiserver: &str) -> anyhow::Result<()> {
    let b64 = |path: PathBuf| -> anyhow::Result<String> {
        Ok(base64::engine::general_purpose::STANDARD.encode(fs::read(&path)?))
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: cloudshop-local\n  cluster:\n    server: https://{apiserver}\n    certificate-authority-data: {ca}\nusers:\n- name: {client}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: cloudshop-local\n  context:\n    cluster: cloudshop-local\n    user: {client}\ncurrent-context: cloudshop-local\n",
        ca = b64(ca(cluster))?,
        cert = b64(cert(cluster, client))?,
        key = b64(key(cluster, client))?,
    );
    write_private(&kubeconfig(cluster, client), &text)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}
