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
