//! `cloudshop cluster chaos EXPERIMENT`: one of the Chaos Toolkit
//! experiments in `chaos/chaostoolkit/` run against the real node's shop,
//! its journal kept, its outcome summarised.
//!
//! The experiment files take their addresses from `CLOUDSHOP_*` variables
//! (so they run against any cluster); this command fills them in for the
//! local cluster: the storefront's and the gateway's ClusterIPs (kube-proxy
//! serves them on this machine), the shop's hosts through Traefik's
//! NodePort, and the CA the gateway's certificate is verified against.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::ingress;
use crate::kubectl::Kubectl;
use crate::node::ADDRESS;

/// The experiments, by their file's name in `chaos/chaostoolkit/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Experiment {
    /// Half of the storefront's and of the gateway's pods deleted every 15 s
    /// for 60 s while the home page and /health are asked 4 times a second.
    PodDelete,
    /// An orders pod killed while a shopper places orders: none lost, the
    /// stock adds up.
    OrdersPodDelete,
}

impl Experiment {
    pub fn name(self) -> &'static str {
        match self {
            Self::PodDelete => "pod-delete",
            Self::OrdersPodDelete => "orders-pod-delete",
        }
    }
}

/// The pinned Chaos Toolkit (tools/versions.env), in a virtualenv of its
/// own under the tools folder (scripts/test.sh --install makes it).
pub fn chaos_binary() -> anyhow::Result<PathBuf> {
    let binary = cloudshop_topology::tools::tools_dir().join("chaostoolkit/bin/chaos");
    if !binary.is_file() {
        bail!(
            "Chaos Toolkit is not installed ({} is missing): `scripts/test.sh --install` installs it",
            binary.display()
        );
    }
    Ok(binary)
}

/// `clusterIP:port` of `service`'s port named `port`.
fn service_address(kubectl: &Kubectl, service: &str, port: &str) -> anyhow::Result<String> {
    let address = kubectl.run(&[
        "-n",
        crate::deploy::NAMESPACE,
        "get",
        "service",
        service,
        "-o",
        &format!("jsonpath={{.spec.clusterIP}}:{{.spec.ports[?(@.name==\"{port}\")].port}}"),
    ])?;
    let address = address.trim();
    anyhow::ensure!(
        !address.starts_with(':') && !address.ends_with(':'),
        "the Service {service} has no ClusterIP or port {port}: `{address}`"
    );
    Ok(address.to_owned())
}

/// The variables the experiment files read, for the local cluster.
pub fn variables(kubectl: &Kubectl, cluster: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
    let storefront = service_address(kubectl, "storefront", "api")?;
    let gateway = service_address(kubectl, "api-gateway", "api")?;
    let node = format!("{ADDRESS}:{}", ingress::PORT);
    Ok(vec![
        ("CLOUDSHOP_NAMESPACE", crate::deploy::NAMESPACE.to_owned()),
        ("CLOUDSHOP_STOREFRONT_URL", format!("http://{storefront}/")),
        (
            "CLOUDSHOP_GATEWAY_URL",
            format!(
                "https://api-gateway.{}.svc.cluster.local:{}/health",
                crate::deploy::NAMESPACE,
                gateway.rsplit(':').next().unwrap_or_default()
            ),
        ),
        ("CLOUDSHOP_GATEWAY_CONNECT_TO", gateway),
        (
            "CLOUDSHOP_SHOP_URL",
            format!("{}/", ingress::address(ingress::SHOP_HOST)),
        ),
        ("CLOUDSHOP_SHOP_CONNECT_TO", node.clone()),
        (
            "CLOUDSHOP_API_URL",
            format!("{}/", ingress::address(ingress::API_HOST)),
        ),
        ("CLOUDSHOP_API_CONNECT_TO", node),
        (
            "CLOUDSHOP_CA_FILE",
            crate::deploy::ca_cert(cluster).display().to_string(),
        ),
    ])
}

/// Runs `experiment` with `chaos run`, its output on this terminal; the
/// journal is written to `journal`. Returns the journal.
pub fn run(
    experiment: Experiment,
    workspace: &Path,
    cluster: &Path,
    kubectl: &Kubectl,
    kubeconfig: &Path,
    journal: &Path,
) -> anyhow::Result<Value> {
    let chaos = chaos_binary()?;
    let folder = workspace.join("chaos/chaostoolkit");
    let file = folder.join(format!("{}.json", experiment.name()));
    anyhow::ensure!(file.is_file(), "no experiment file {}", file.display());
    let logs = journal.parent().context("the journal's folder")?;
    std::fs::create_dir_all(logs).with_context(|| format!("creating {}", logs.display()))?;
    let _ = std::fs::remove_file(journal);
    cloudshop_host::progress::line(format_args!(
        "running the Chaos Toolkit experiment chaos/chaostoolkit/{}.json (journal: {})",
        experiment.name(),
        journal.display()
    ));
    let mut command = Command::new(&chaos);
    command
        .arg("--no-version-check")
        .arg("--log-file")
        .arg(logs.join(format!("{}.log", experiment.name())))
        .arg("run")
        .arg("--journal-path")
        .arg(journal)
        .arg(&file)
        .env("KUBECONFIG", kubeconfig)
        .env("PYTHONPATH", &folder)
        .envs(variables(kubectl, cluster)?);
    // chaos exits 1 when the experiment deviated or failed: the journal says
    // how, and is read either way.
    let status = command
        .status()
        .with_context(|| format!("running {}", chaos.display()))?;
    let text = std::fs::read_to_string(journal)
        .with_context(|| format!("chaos run ({status}) wrote no journal at {}", journal.display()))?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", journal.display()))
}

/// What a journal says, one line per finding; an error when the experiment
/// did not complete with its steady state held and every activity passed.
pub fn outcome(journal: &Value) -> Result<String, String> {
    let mut summary = String::new();
    let status = journal["status"].as_str().unwrap_or("unknown");
    let deviated = journal["deviated"].as_bool().unwrap_or(true);
    let _ = writeln!(
        summary,
        "{}: {status}{}, {:.0} s",
        journal["experiment"]["title"].as_str().unwrap_or("experiment"),
        if deviated { ", steady state deviated" } else { "" },
        journal["duration"].as_f64().unwrap_or_default()
    );
    let mut failed = Vec::new();
    for run in journal["run"].as_array().into_iter().flatten() {
        let name = run["activity"]["name"].as_str().unwrap_or("activity");
        if run["status"] != "succeeded" {
            failed.push(format!(
                "{name}: {}",
                run["exception"]
                    .as_array()
                    .and_then(|lines| lines.last())
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
                    .trim()
            ));
            continue;
        }
        let output = &run["output"];
        if let Some(percent) = output["percent"].as_f64() {
            let _ = writeln!(
                summary,
                "  {name}: {}/{} answered ({percent} %), longest gap {} s",
                output["answered"], output["asked"], output["longest_gap_s"]
            );
        } else if output["acknowledged"].is_u64() {
            let _ = writeln!(
                summary,
                "  {name}: {} orders acknowledged ({} requests sent again), {} in the history {}, \
                 none lost; stock {} → {} = {} units confirmed",
                output["acknowledged"],
                output["retried_requests"],
                output["in_history"],
                output["statuses"],
                output["stock_before"],
                output["stock_after"],
                output["units_confirmed"]
            );
        } else if let Some(deleted) = output.as_array() {
            let names: Vec<&str> = deleted.iter().filter_map(Value::as_str).collect();
            let _ = writeln!(summary, "  {name}: {}", names.join(", "));
        }
    }
    if status == "completed" && !deviated && failed.is_empty() {
        Ok(summary)
    } else {
        let _ = writeln!(summary, "  failed: {}", failed.join("; "));
        Err(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn journal(status: &str, deviated: bool, runs: Value) -> Value {
        json!({"experiment": {"title": "t"}, "status": status, "deviated": deviated,
               "duration": 61.2, "run": runs})
    }

    #[test]
    fn a_completed_journal_is_summarised_with_its_figures() {
        let runs = json!([
            {"activity": {"name": "storefront"}, "status": "succeeded",
             "output": {"asked": 240, "answered": 239, "percent": 99.58, "longest_gap_s": 0.5}},
            {"activity": {"name": "orders"}, "status": "succeeded",
             "output": {"acknowledged": 60, "retried_requests": 2, "in_history": 60,
                        "statuses": {"CONFIRMED": 60}, "stock_before": 100, "stock_after": 40,
                        "units_confirmed": 60}},
            {"activity": {"name": "delete"}, "status": "succeeded", "output": ["storefront-a"]}
        ]);
        let summary = outcome(&journal("completed", false, runs)).expect("passed");
        assert!(
            summary.contains("storefront: 239/240 answered (99.58 %), longest gap 0.5 s"),
            "{summary}"
        );
        assert!(summary.contains("60 orders acknowledged"), "{summary}");
        assert!(
            summary.contains("stock 100 → 40 = 60 units confirmed"),
            "{summary}"
        );
        assert!(summary.contains("delete: storefront-a"), "{summary}");
    }

    #[test]
    fn a_failed_activity_or_a_deviation_is_an_error_that_names_it() {
        let failed = json!([{"activity": {"name": "storefront"}, "status": "failed",
                             "exception": ["Traceback", "ActivityFailed: answered 80 %\n"]}]);
        let error = outcome(&journal("completed", false, failed)).expect_err("failed");
        assert!(
            error.contains("storefront: ActivityFailed: answered 80 %"),
            "{error}"
        );
        let error = outcome(&journal("completed", true, json!([]))).expect_err("deviated");
        assert!(error.contains("steady state deviated"), "{error}");
        assert!(outcome(&journal("aborted", false, json!([]))).is_err());
    }
}
