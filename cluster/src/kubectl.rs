//! `kubectl` with the cluster's admin kubeconfig.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, bail};

#[derive(Debug, Clone)]
pub struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(binary: &Path, kubeconfig: &Path) -> Self {
        Self {
            binary: binary.to_owned(),
            kubeconfig: kubeconfig.to_owned(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--request-timeout", "30s"])
            .args(args);
        command
    }

    /// Runs `kubectl ARGS`; its stdout, or an error with its stderr.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command(args)
            .output()
            .with_context(|| format!("running kubectl {}", args.join(" ")))?;
        finished(args, &output)
    }

    /// `kubectl ARGS -f -` with `manifest` on stdin.
    pub fn with_stdin(&self, args: &[&str], manifest: &str) -> anyhow::Result<String> {
        let mut child = self
            .command(args)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running kubectl {}", args.join(" ")))?;
        child
            .stdin
            .take()
            .context("kubectl's stdin")?
            .write_all(manifest.as_bytes())?;
        finished(args, &child.wait_with_output()?)
    }

    pub fn apply(&self, manifest: &str) -> anyhow::Result<String> {
        self.with_stdin(&["apply"], manifest)
    }
}

/// kubectl's stdout, or an error with its stderr.
fn finished(args: &[&str], output: &Output) -> anyhow::Result<String> {
    if !output.status.success() {
        bail!(
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A Role named `name` in `namespace` with `rules` (YAML list items, each
/// starting `- apiGroups:`), bound to the ServiceAccount `name` of
/// `account_namespace`: an add-on's rights in one namespace it watches.
pub fn role_for_account(name: &str, namespace: &str, account_namespace: &str, rules: &str) -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}, namespace: {namespace}}}
rules:
{rules}---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {name}, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}
subjects:
- {{kind: ServiceAccount, name: {name}, namespace: {account_namespace}}}
"#
    )
}

/// An add-on container's securityContext under Pod Security `restricted`
/// (no privilege escalation, read-only root, no capabilities), as the
/// lines of a container in a Deployment's pod template.
pub const RESTRICTED_CONTAINER: &str = "        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
";

/// An add-on's namespace, under Pod Security `restricted`, with a
/// ServiceAccount for each of `accounts`.
pub fn restricted_namespace(namespace: &str, accounts: &[&str]) -> String {
    let mut text = format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
"
    );
    for account in accounts {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {account}, namespace: {namespace}}}\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::YamlLoader;

    #[test]
    fn the_namespace_and_role_helpers_write_one_object_per_document() {
        let text = format!(
            "{}---\n{}",
            restricted_namespace("ingress", &["traefik", "other"]),
            role_for_account(
                "traefik",
                "shop",
                "ingress",
                "- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [list]\n"
            )
        );
        let docs = YamlLoader::load_from_str(&text).expect("YAML");
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ServiceAccount",
                "Role",
                "RoleBinding"
            ]
        );
        assert_eq!(
            docs[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str(),
            Some("restricted")
        );
        assert_eq!(docs[2]["metadata"]["name"].as_str(), Some("other"));
        assert_eq!(docs[3]["metadata"]["namespace"].as_str(), Some("shop"));
        assert_eq!(docs[3]["rules"][0]["resources"][0].as_str(), Some("pods"));
        assert_eq!(docs[4]["subjects"][0]["namespace"].as_str(), Some("ingress"));
    }
}
