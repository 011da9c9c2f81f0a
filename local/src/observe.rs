//! `cloudshop up --observe`: a real Prometheus beside the local shop.
//!
//! It scrapes each service's admin listener (`/metrics`) with the labels the
//! cluster's ServiceMonitors give (`job` = the service's name, `namespace` =
//! `cloudshop-prod`, `service`, `endpoint="admin"`) and evaluates
//! `monitoring/rules.yml`, built into this binary, unchanged: the alerts and
//! the SLO recording rules see the series they would see in the cluster.
//! Only the scrape and evaluation interval is ours to choose
//! (`--observe-interval`, 15 s by default; the tests use 1 s). The `for:` of
//! each alert stays as written, so an alert is *pending* from the first
//! evaluation its condition holds and *firing* once `for:` has passed.
//!
//! Everything it writes lives under `<dir>/prometheus/`: the generated
//! `prometheus.yml`, `rules.yml`, the data, and `prometheus.log`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use cloudshop_host::readiness;
use serde_json::json;

/// The alerting and recording rules, as the cluster loads them.
pub const RULES: &str = include_str!("../../monitoring/rules.yml");
/// The namespace label the rules select on: the cluster's namespace.
pub const NAMESPACE: &str = "cloudshop-prod";

#[derive(Debug, Clone, clap::Args)]
pub struct ObserveArgs {
    /// Start Prometheus beside the shop, scraping every service and
    /// evaluating monitoring/rules.yml (needs the `prometheus` program).
    #[arg(long)]
    pub observe: bool,
    /// Port of that Prometheus (127.0.0.1 only).
    #[arg(long, default_value_t = 9090)]
    pub prometheus_port: u16,
    /// Its scrape and rule-evaluation interval, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 15,
          value_parser = clap::value_parser!(u32).range(1..=300))]
    pub observe_interval: u32,
}

/// The generated Prometheus configuration (JSON, which is YAML) for
/// `targets`, each a service's name and admin port.
pub fn config(targets: &[(&str, u16)], interval_s: u32) -> serde_json::Value {
    let interval = format!("{interval_s}s");
    let timeout = format!("{}s", interval_s.min(10));
    let jobs: Vec<_> = targets
        .iter()
        .map(|(service, port)| {
            json!({
                "job_name": service,
                "metrics_path": "/metrics",
                "scheme": "http",
                "static_configs": [{
                    "targets": [format!("127.0.0.1:{port}")],
                    "labels": { "namespace": NAMESPACE, "service": service, "endpoint": "admin" },
                }],
            })
        })
        .collect();
    json!({
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": timeout,
            "evaluation_interval": interval,
        },
        "rule_files": ["rules.yml"],
        "scrape_configs": jobs,
    })
}

/// A running Prometheus; stopped (SIGTERM, then SIGKILL) by [`Self::stop`]
/// or, at the latest, when dropped.
#[derive(Debug)]
pub struct Prometheus {
    child: tokio::process::Child,
    pub url: String,
}

impl Prometheus {
    /// Writes the configuration under `dir/prometheus/` and starts
    /// Prometheus on it; returns once it is ready.
    pub async fn start(dir: &Path, args: &ObserveArgs, targets: &[(&str, u16)]) -> anyhow::Result<Self> {
        let program = find()?;
        let home = dir.join("prometheus");
        std::fs::create_dir_all(home.join("data")).with_context(|| format!("creating {}", home.display()))?;
        let config_file = home.join("prometheus.yml");
        std::fs::write(
            &config_file,
            serde_json::to_string_pretty(&config(targets, args.observe_interval))? + "\n",
        )?;
        std::fs::write(home.join("rules.yml"), RULES)?;
        let log_file = home.join("prometheus.log");
        let log = std::fs::File::create(&log_file).context("creating prometheus.log")?;
        let address = format!("127.0.0.1:{}", args.prometheus_port);
        let child = tokio::process::Command::new(&program)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", home.join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut prometheus = Self {
            child,
            url: format!("http://{address}"),
        };
        if let Err(err) = prometheus.wait_ready(&log_file).await {
            prometheus.stop().await;
            return Err(err);
        }
        Ok(prometheus)
    }

    async fn wait_ready(&mut self, log_file: &Path) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/-/ready", self.url);
        readiness::poll(
            Duration::from_secs(60),
            Duration::from_millis(100),
            async || {
                if let Some(status) = self.child.try_wait()? {
                    bail!(
                        "Prometheus exited ({status}) before it was ready (port taken? --prometheus-port); see {}",
                        log_file.display()
                    );
                }
                Ok(readiness::http_ok(&client, &url).await)
            },
            |_| anyhow::anyhow!("Prometheus was not ready within 60 s; see {}", log_file.display()),
        )
        .await
    }

    /// Asks Prometheus to stop (SIGTERM) and waits, at most 10 s before
    /// killing it.
    pub async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            cloudshop_host::signals::send(pid, cloudshop_host::signals::Signal::Terminate);
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The `prometheus` program: in the tool folders (`go install` puts it in
/// Go's bin folder), else on `PATH`.
fn find() -> anyhow::Result<PathBuf> {
    cloudshop_topology::tools::find("prometheus").with_context(|| {
        // The Prometheus the tests install (scripts/test-k8s.sh, the same
        // module as its promtool).
        let (module, version) = cloudshop_topology::versions::PROMETHEUS
            .split_once('@')
            .unwrap_or((cloudshop_topology::versions::PROMETHEUS, "latest"));
        format!(
            "--observe needs the `prometheus` program, found neither on PATH nor in the Go bin folder; \
             install it with `go install -tags remove_all_sd {module}/cmd/prometheus@{version}` \
             (or `scripts/test.sh --install`)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_a_job_with_the_labels_of_its_service_monitor() {
        let targets = [("storefront", 3001), ("api-gateway", 8081)];
        let config = config(&targets, 1);
        assert_eq!(config["global"]["scrape_interval"], "1s");
        assert_eq!(config["global"]["evaluation_interval"], "1s");
        assert_eq!(config["rule_files"][0], "rules.yml");
        let jobs = config["scrape_configs"].as_array().expect("jobs");
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1]["job_name"], "api-gateway");
        let target = &jobs[1]["static_configs"][0];
        assert_eq!(target["targets"][0], "127.0.0.1:8081");
        assert_eq!(target["labels"]["namespace"], NAMESPACE);
        // The ServiceMonitors' job label is the service's name, and the
        // rules select on that namespace.
        let monitors = include_str!("../../monitoring/servicemonitors.yaml");
        assert!(monitors.contains("jobLabel: app.kubernetes.io/name"));
        assert!(monitors.contains(&format!("matchNames: [{NAMESPACE}]")));
        assert!(RULES.contains(&format!("namespace=\"{NAMESPACE}\"")));
        // The Prometheus the test command installs is the pinned one.
        let script = include_str!("../../scripts/test-k8s.sh");
        assert!(
            script.contains(r#"have prometheus "$PROMETHEUS""#),
            "test-k8s.sh installs $PROMETHEUS"
        );
        assert!(cloudshop_topology::versions::PROMETHEUS.starts_with("github.com/prometheus/prometheus@"));
        // The slowest interval keeps Prometheus's 10 s scrape timeout.
        assert_eq!(super::config(&targets, 60)["global"]["scrape_timeout"], "10s");
    }
}
