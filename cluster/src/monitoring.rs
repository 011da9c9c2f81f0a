//! The shop's monitoring in the cluster: Prometheus in the namespace
//! `monitoring`, scraping what the committed ServiceMonitors select and
//! evaluating the committed PrometheusRule.
//!
//! Which, and why: Prometheus' own Kubernetes discovery, configured from the
//! ServiceMonitor and PrometheusRule objects as the API server holds them
//! (their CRDs are prometheus-operator's, from its Go module; the objects
//! are `monitoring/servicemonitors.yaml` and `monitoring/prometheusrule.yaml`,
//! applied unchanged and read back). prometheus-operator itself would add a
//! controller, a config-reloader image and a generated StatefulSet to build
//! and run on this two-core machine for the same scrape configuration; the
//! translation here covers the fields the committed objects use and refuses
//! any other, so nothing is dropped silently.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use cloudshop_host::readiness::{self, Probe};
use serde_json::{Value, json};

use crate::kubectl::role_for_account;
use crate::node::{ADDRESS, Node};

pub const NAMESPACE: &str = "monitoring";
/// Prometheus' NodePort on the node's address.
pub const PORT: u16 = 30090;

/// `http://NODE:PORT`, Prometheus' address from this machine.
pub fn address() -> String {
    format!("http://{ADDRESS}:{PORT}")
}

/// The CRDs the committed objects need, from prometheus-operator's module.
const CRDS: [&str; 2] = [
    "monitoring.coreos.com_servicemonitors.yaml",
    "monitoring.coreos.com_prometheusrules.yaml",
];

/// A Kubernetes label name as Prometheus' discovery spells it in a meta
/// label: every character outside `[a-zA-Z0-9_]` becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The keys of `object` outside `known`: the translation's refusal.
fn unknown_keys<'a>(object: &'a Value, known: &[&str]) -> Vec<&'a str> {
    object
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, _)| key.as_str())
        .filter(|key| !known.contains(key))
        .collect()
}

/// One scrape configuration per endpoint of each ServiceMonitor (as
/// prometheus-operator names its jobs: `serviceMonitor/NS/NAME/I`), the
/// `job` label from the monitor's `jobLabel` (else the Service's name), and
/// `namespace`, `service`, `pod` labels as the operator sets them.
pub fn scrape_configs(monitors: &[Value]) -> anyhow::Result<Vec<Value>> {
    let mut configs = Vec::new();
    for monitor in monitors {
        let name = monitor["metadata"]["name"]
            .as_str()
            .context("a ServiceMonitor without a name")?;
        let namespace = monitor["metadata"]["namespace"].as_str().unwrap_or("default");
        let spec = &monitor["spec"];
        let unknown = unknown_keys(spec, &["jobLabel", "selector", "namespaceSelector", "endpoints"]);
        let unknown_selector = unknown_keys(&spec["selector"], &["matchLabels"]);
        let unknown_namespaces = unknown_keys(&spec["namespaceSelector"], &["matchNames"]);
        if !unknown.is_empty() || !unknown_selector.is_empty() || !unknown_namespaces.is_empty() {
            bail!(
                "ServiceMonitor {namespace}/{name}: fields this translation does not carry: {:?}",
                [unknown, unknown_selector, unknown_namespaces].concat()
            );
        }
        let namespaces = monitored_namespaces(monitor);
        let mut keep = Vec::new();
        for (label, value) in spec["selector"]["matchLabels"].as_object().into_iter().flatten() {
            let value = value
                .as_str()
                .context("a matchLabels value that is not a string")?;
            keep.push(json!({
                "source_labels": [format!("__meta_kubernetes_service_label_{}", sanitize(label))],
                "regex": regex_literal(value),
                "action": "keep",
            }));
        }
        let job_source = spec["jobLabel"].as_str().map_or_else(
            || "__meta_kubernetes_service_name".to_owned(),
            |label| format!("__meta_kubernetes_service_label_{}", sanitize(label)),
        );
        for (index, endpoint) in spec["endpoints"].as_array().into_iter().flatten().enumerate() {
            let unknown = unknown_keys(endpoint, &["port", "path", "scheme", "interval", "scrapeTimeout"]);
            if !unknown.is_empty() {
                bail!(
                    "ServiceMonitor {namespace}/{name}, endpoint {index}: fields this translation does not carry: {unknown:?}"
                );
            }
            let port = endpoint["port"].as_str().with_context(|| {
                format!("ServiceMonitor {namespace}/{name}, endpoint {index}: no port name")
            })?;
            let mut relabel = keep.clone();
            relabel.extend([
                json!({"source_labels": ["__meta_kubernetes_endpointslice_port_name"], "regex": regex_literal(port), "action": "keep"}),
                json!({"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}),
                json!({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"}),
                json!({"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}),
                json!({"source_labels": [job_source], "target_label": "job"}),
            ]);
            let mut config = json!({
                "job_name": format!("serviceMonitor/{namespace}/{name}/{index}"),
                "kubernetes_sd_configs": [{"role": "endpointslice", "namespaces": {"names": namespaces}}],
                "metrics_path": endpoint["path"].as_str().unwrap_or("/metrics"),
                "scheme": endpoint["scheme"].as_str().unwrap_or("http"),
                "relabel_configs": relabel,
            });
            for (from, to) in [
                ("interval", "scrape_interval"),
                ("scrapeTimeout", "scrape_timeout"),
            ] {
                if let Some(value) = endpoint[from].as_str() {
                    config[to] = json!(value);
                }
            }
            configs.push(config);
        }
    }
    Ok(configs)
}

/// The namespaces a ServiceMonitor selects: its `namespaceSelector`'s
/// names, else its own namespace.
fn monitored_namespaces(monitor: &Value) -> Vec<&str> {
    match monitor["spec"]["namespaceSelector"]["matchNames"].as_array() {
        Some(names) => names.iter().filter_map(Value::as_str).collect(),
        None => vec![monitor["metadata"]["namespace"].as_str().unwrap_or("default")],
    }
}

/// `value` as a regular expression that matches only itself.
fn regex_literal(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            let escape = "\\.+*?()|[]{}^$".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// Prometheus' configuration (JSON, which it reads as YAML): the scrape
/// configurations and the rule file.
/// kube-state-metrics' own job (it is the cluster's add-on, not one of the
/// shop's ServiceMonitors): its Service by DNS name, every 15 s, and
/// `honor_labels` so that its series keep the `namespace` and `pod` of the
/// pods they describe (as kube-prometheus-stack scrapes it).
fn kube_state_metrics_job() -> Value {
    json!({
        "job_name": KUBE_STATE_METRICS,
        "honor_labels": true,
        "scrape_interval": "15s",
        "static_configs": [{
            "targets": [format!("{KUBE_STATE_METRICS}.{NAMESPACE}.svc.cluster.local:8080")],
            "labels": {"job": KUBE_STATE_METRICS},
        }],
    })
}

const KUBE_STATE_METRICS: &str = "kube-state-metrics";

/// Prometheus' configuration (JSON, which it reads as YAML): the scrape
/// configurations, kube-state-metrics', and the rule file, evaluated every
/// 15 s, its alerts sent to Alertmanager.
pub fn prometheus_config(monitors: &[Value]) -> anyhow::Result<Value> {
    let mut configs = scrape_configs(monitors)?;
    configs.push(kube_state_metrics_job());
    Ok(json!({
        "global": {"scrape_interval": "30s", "evaluation_interval": "15s"},
        "rule_files": ["/etc/prometheus/rules.json"],
        "scrape_configs": configs,
        "alerting": {"alertmanagers": [{"static_configs": [{
            "targets": [format!("{ALERTMANAGER}.{NAMESPACE}.svc.cluster.local:9093")],
        }]}]},
    }))
}

const ALERTMANAGER: &str = "alertmanager";
/// Alertmanager's NodePort on the node's address (its API, e.g.
/// `/api/v2/alerts`).
pub const ALERTMANAGER_PORT: u16 = 30093;

/// `http://NODE:PORT`, Alertmanager's address from this machine.
pub fn alertmanager_address() -> String {
    format!("http://{ADDRESS}:{ALERTMANAGER_PORT}")
}

/// Alertmanager's configuration: every alert, grouped by name and
/// namespace, to one receiver: `webhook` (every notification POSTed there,
/// resolutions too) when `cluster up --alert-webhook URL` named one, else
/// `none` (alerts listed by its API only). Short waits: a group's first
/// notification 10 s after its first alert, changes every 10 s.
pub fn alertmanager_config(webhook: Option<&str>) -> anyhow::Result<Value> {
    let receiver = match webhook {
        Some(url) => {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "the alert webhook {url:?} is not an http:// or https:// URL"
            );
            json!({"name": "webhook", "webhook_configs": [{"url": url, "send_resolved": true}]})
        }
        None => json!({"name": "none"}),
    };
    Ok(json!({
        "route": {
            "receiver": receiver["name"],
            "group_by": ["alertname", "namespace"],
            "group_wait": "10s",
            "group_interval": "10s",
            "repeat_interval": "4h",
        },
        "receivers": [receiver],
    }))
}

/// The rule groups of every PrometheusRule, as one rule file.
pub fn rule_file(rules: &[Value]) -> Value {
    let groups: Vec<Value> = rules
        .iter()
        .flat_map(|rule| rule["spec"]["groups"].as_array().cloned().unwrap_or_default())
        .collect();
    json!({ "groups": groups })
}

impl Node<'_> {
    /// Prometheus' image (the binary built with Kubernetes discovery).
    pub fn prometheus_image(&self) -> anyhow::Result<String> {
        let pin = cloudshop_topology::versions::PROMETHEUS;
        self.addon_image(NAMESPACE, "prometheus", &self.tools.prometheus, pin, 65534)
    }

    /// Alertmanager's image.
    pub fn alertmanager_image(&self) -> anyhow::Result<String> {
        let pin = cloudshop_topology::versions::ALERTMANAGER;
        self.addon_image(NAMESPACE, ALERTMANAGER, &self.tools.alertmanager, pin, 65534)
    }

    /// kube-state-metrics' image.
    pub fn kube_state_metrics_image(&self) -> anyhow::Result<String> {
        let pin = cloudshop_topology::versions::KUBE_STATE_METRICS;
        let binary = &self.tools.kube_state_metrics;
        self.addon_image(NAMESPACE, KUBE_STATE_METRICS, binary, pin, 65534)
    }

    /// The CRDs, the committed ServiceMonitors and PrometheusRule, then
    /// Prometheus configured from them and Alertmanager (sending to
    /// `webhook`); ready when every target of every ServiceMonitor is up and
    /// Prometheus has found Alertmanager.
    pub async fn monitoring(
        &self,
        images: &Images,
        workspace: &Path,
        crds: &Path,
        webhook: Option<&str>,
    ) -> anyhow::Result<usize> {
        let kubectl = self.plane.kubectl();
        for crd in CRDS {
            let path = crds.join(crd);
            kubectl
                .run(&["apply", "--server-side", "-f", &path.display().to_string()])
                .with_context(|| format!("applying the CRD {}", path.display()))?;
        }
        kubectl.run(&[
            "wait",
            "--for=condition=established",
            "--timeout=60s",
            "crd/servicemonitors.monitoring.coreos.com",
            "crd/prometheusrules.monitoring.coreos.com",
        ])?;
        for file in [
            "monitoring/servicemonitors.yaml",
            "monitoring/prometheusrule.yaml",
        ] {
            kubectl
                .run(&["apply", "-f", &workspace.join(file).display().to_string()])
                .with_context(|| format!("applying {file}"))?;
        }
        let items = |kind: &str| -> anyhow::Result<Vec<Value>> {
            let list: Value = serde_json::from_str(&kubectl.run(&["get", kind, "-A", "-o", "json"])?)?;
            Ok(list["items"].as_array().cloned().unwrap_or_default())
        };
        let monitors = items("servicemonitors.monitoring.coreos.com")?;
        let rules = items("prometheusrules.monitoring.coreos.com")?;
        let config = prometheus_config(&monitors)?;
        let alerting = alertmanager_config(webhook)?;
        let namespaces: std::collections::BTreeSet<String> = monitors
            .iter()
            .flat_map(monitored_namespaces)
            .map(str::to_owned)
            .collect();
        kubectl
            .apply(&manifest(
                images,
                &config,
                &rule_file(&rules),
                &alerting,
                &namespaces,
            )?)
            .context("applying Prometheus, kube-state-metrics and Alertmanager")?;
        for deployment in ["prometheus", KUBE_STATE_METRICS, ALERTMANAGER] {
            kubectl
                .run(&[
                    "-n",
                    NAMESPACE,
                    "rollout",
                    "status",
                    &format!("deployment/{deployment}"),
                    "--timeout=120s",
                ])
                .with_context(|| format!("{deployment} did not become ready"))?;
        }
        let mut expected = self.expected_targets(&monitors)?;
        expected.insert(KUBE_STATE_METRICS.to_owned(), 1);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let url = format!("{}/api/v1/targets?state=active", address());
        let alertmanagers = format!("{}/api/v1/alertmanagers", address());
        let get = async |url: &str| -> anyhow::Result<Value> {
            Ok(client.get(url).send().await?.error_for_status()?.json().await?)
        };
        readiness::poll(
            Duration::from_secs(120),
            Duration::from_secs(1),
            async || {
                let (targets, found) = match (get(&url).await, get(&alertmanagers).await) {
                    (Ok(targets), Ok(found)) => (targets, found),
                    (Err(error), _) | (_, Err(error)) => return Ok(Probe::NotYet(Some(error))),
                };
                let up = targets_up(&targets);
                let found = found["data"]["activeAlertmanagers"]
                    .as_array()
                    .map_or(0, Vec::len);
                Ok(if up == expected && found == 1 {
                    Probe::Ready
                } else {
                    Probe::NotYet(Some(anyhow::anyhow!(
                        "targets up by job: {up:?}, expected {expected:?}; Alertmanagers found: {found}"
                    )))
                })
            },
            |error| {
                let error = error.map(|error| format!("{error:#}")).unwrap_or_default();
                anyhow::anyhow!(
                    "Prometheus has not every ServiceMonitor's target up, or has not found \
                     Alertmanager, after 120 s ({error}); its targets: {url}"
                )
            },
        )
        .await?;
        Ok(expected.values().sum())
    }

    /// For each monitor's `job`: the Running pods its selector matches in
    /// the namespaces it selects, times its endpoints.
    fn expected_targets(
        &self,
        monitors: &[Value],
    ) -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
        let kubectl = self.plane.kubectl();
        let mut expected = std::collections::BTreeMap::new();
        for monitor in monitors {
            let selector: Vec<String> = monitor["spec"]["selector"]["matchLabels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            let job = monitor["spec"]["jobLabel"]
                .as_str()
                .and_then(|label| monitor["spec"]["selector"]["matchLabels"][label].as_str())
                .or_else(|| monitor["metadata"]["name"].as_str())
                .unwrap_or_default()
                .to_owned();
            let endpoints = monitor["spec"]["endpoints"].as_array().map_or(0, Vec::len);
            for namespace in monitored_namespaces(monitor) {
                let pods = kubectl.run(&[
                    "-n",
                    namespace,
                    "get",
                    "pods",
                    "-l",
                    &selector.join(","),
                    "--field-selector=status.phase=Running",
                    "-o",
                    "name",
                ])?;
                *expected.entry(job.clone()).or_default() += pods.lines().count() * endpoints;
            }
        }
        Ok(expected)
    }
}

/// The active targets whose health is `up`, counted by `job`.
pub fn targets_up(targets: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut up = std::collections::BTreeMap::new();
    for target in targets["data"]["activeTargets"].as_array().into_iter().flatten() {
        if target["health"] == "up"
            && let Some(job) = target["labels"]["job"].as_str()
        {
            *up.entry(job.to_owned()).or_default() += 1;
        }
    }
    up
}

/// The images of the monitoring namespace, pinned by digest.
#[derive(Debug)]
pub struct Images {
    pub prometheus: String,
    pub kube_state_metrics: String,
    pub alertmanager: String,
}

/// The pod securityContext of a Prometheus-family server: nobody, owning
/// its data volume, RuntimeDefault seccomp.
const NOBODY_POD: &str = "      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
        runAsGroup: 65534
        fsGroup: 65534
        seccompProfile: {type: RuntimeDefault}
";

/// The end of a Prometheus-family server's pod template (Prometheus,
/// Alertmanager): probes on its `web` port, its ConfigMap `name` at
/// `/etc/NAME`, its data in an emptyDir of `size`.
fn server_tail(name: &str, size: &str) -> String {
    format!(
        "        readinessProbe:
          httpGet: {{path: /-/ready, port: web}}
          periodSeconds: 2
        livenessProbe:
          httpGet: {{path: /-/healthy, port: web}}
        volumeMounts:
        - {{name: config, mountPath: /etc/{name}, readOnly: true}}
        - {{name: data, mountPath: /data}}
      volumes:
      - name: config
        configMap: {{name: {name}}}
      - name: data
        emptyDir: {{sizeLimit: {size}}}
"
    )
}

/// The monitoring objects: the namespace (Pod Security restricted);
/// Prometheus' read-only discovery rights and kube-state-metrics' right to
/// list pods, in the monitored namespaces only; Prometheus' configuration
/// and Deployment (an emptyDir for its data: the cluster's metrics do not
/// outlive the pod) with its NodePort Service on the node's address;
/// kube-state-metrics (pods only) with its Service; Alertmanager (no
/// cluster peers, its silences in an emptyDir) with its NodePort Service.
fn manifest(
    images: &Images,
    config: &Value,
    rules: &Value,
    alerting: &Value,
    namespaces: &std::collections::BTreeSet<String>,
) -> anyhow::Result<String> {
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "prometheus", "namespace": NAMESPACE},
        "data": {
            "prometheus.json": serde_json::to_string_pretty(config)?,
            "rules.json": serde_json::to_string_pretty(rules)?,
        },
    });
    let config_map = serde_json::to_string(&config_map)?;
    let alerting_map = serde_json::to_string(&json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ALERTMANAGER, "namespace": NAMESPACE},
        "data": {"alertmanager.json": serde_json::to_string_pretty(alerting)?},
    }))?;
    let mut rights = String::new();
    for namespace in namespaces {
        let prometheus = r#"- apiGroups: [""]
  resources: [services, pods]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
"#;
        let kube_state_metrics = r#"- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
"#;
        for (name, rules) in [
            ("prometheus", prometheus),
            (KUBE_STATE_METRICS, kube_state_metrics),
        ] {
            rights.push_str("---\n");
            rights.push_str(&role_for_account(name, namespace, NAMESPACE, rules));
        }
    }
    let watched = namespaces.iter().cloned().collect::<Vec<_>>().join(",");
    let (prometheus_image, ksm_image) = (&images.prometheus, &images.kube_state_metrics);
    let alertmanager_image = &images.alertmanager;
    let namespace =
        crate::kubectl::restricted_namespace(NAMESPACE, &["prometheus", KUBE_STATE_METRICS, ALERTMANAGER]);
    let restricted = crate::kubectl::RESTRICTED_CONTAINER;
    Ok(format!(
        r#"{namespace}{rights}---
{config_map}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: prometheus, namespace: {NAMESPACE}, labels: {{app.kubernetes.io/name: prometheus}}}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector: {{matchLabels: {{app.kubernetes.io/name: prometheus}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: prometheus}}
      annotations: {{cloudshop.dev/config: "{hash}"}}
    spec:
      serviceAccountName: prometheus
{nobody_pod}      containers:
      - name: prometheus
        image: {prometheus_image}
        args:
        - --config.file=/etc/prometheus/prometheus.json
        - --storage.tsdb.path=/data
        - --storage.tsdb.retention.time=1d
        - --web.listen-address=:9090
        ports:
        - {{name: web, containerPort: 9090}}
{restricted}        resources:
          requests: {{cpu: 50m, memory: 128Mi}}
          limits: {{cpu: "1", memory: 512Mi}}
{prometheus_tail}---
apiVersion: v1
kind: Service
metadata: {{name: prometheus, namespace: {NAMESPACE}}}
spec:
  type: NodePort
  selector: {{app.kubernetes.io/name: prometheus}}
  ports:
  - {{name: web, port: 9090, targetPort: web, nodePort: {PORT}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {KUBE_STATE_METRICS}, namespace: {NAMESPACE}, labels: {{app.kubernetes.io/name: {KUBE_STATE_METRICS}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app.kubernetes.io/name: {KUBE_STATE_METRICS}}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: {KUBE_STATE_METRICS}}}
    spec:
      serviceAccountName: {KUBE_STATE_METRICS}
      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
        seccompProfile: {{type: RuntimeDefault}}
      containers:
      - name: {KUBE_STATE_METRICS}
        image: {ksm_image}
        args:
        - --port=8080
        - --telemetry-port=8081
        - --resources=pods
        - --namespaces={watched}
        ports:
        - {{name: http-metrics, containerPort: 8080}}
        - {{name: telemetry, containerPort: 8081}}
{restricted}        resources:
          requests: {{cpu: 20m, memory: 32Mi}}
          limits: {{cpu: 500m, memory: 128Mi}}
        readinessProbe:
          httpGet: {{path: /readyz, port: telemetry}}
          periodSeconds: 2
        livenessProbe:
          httpGet: {{path: /livez, port: http-metrics}}
---
apiVersion: v1
kind: Service
metadata: {{name: {KUBE_STATE_METRICS}, namespace: {NAMESPACE}}}
spec:
  selector: {{app.kubernetes.io/name: {KUBE_STATE_METRICS}}}
  ports:
  - {{name: http-metrics, port: 8080, targetPort: http-metrics}}
---
{alerting_map}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {ALERTMANAGER}, namespace: {NAMESPACE}, labels: {{app.kubernetes.io/name: {ALERTMANAGER}}}}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector: {{matchLabels: {{app.kubernetes.io/name: {ALERTMANAGER}}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: {ALERTMANAGER}}}
      annotations: {{cloudshop.dev/config: "{alerting_hash}"}}
    spec:
      serviceAccountName: {ALERTMANAGER}
      automountServiceAccountToken: false
{nobody_pod}      containers:
      - name: {ALERTMANAGER}
        image: {alertmanager_image}
        args:
        - --config.file=/etc/alertmanager/alertmanager.json
        - --storage.path=/data
        - --web.listen-address=:9093
        - --cluster.listen-address=
        ports:
        - {{name: web, containerPort: 9093}}
{restricted}        resources:
          requests: {{cpu: 10m, memory: 32Mi}}
          limits: {{cpu: 200m, memory: 128Mi}}
{alertmanager_tail}---
apiVersion: v1
kind: Service
metadata: {{name: {ALERTMANAGER}, namespace: {NAMESPACE}}}
spec:
  type: NodePort
  selector: {{app.kubernetes.io/name: {ALERTMANAGER}}}
  ports:
  - {{name: web, port: 9093, targetPort: web, nodePort: {ALERTMANAGER_PORT}}}
"#,
        nobody_pod = NOBODY_POD,
        prometheus_tail = server_tail("prometheus", "1Gi"),
        alertmanager_tail = server_tail(ALERTMANAGER, "64Mi"),
        hash = cloudshop_supply_chain::sha256_digest(config_map.as_bytes()),
        alerting_hash = cloudshop_supply_chain::sha256_digest(alerting_map.as_bytes()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(extra: Value) -> Value {
        let mut monitor = json!({
            "metadata": {"name": "storefront", "namespace": "cloudshop-prod"},
            "spec": {
                "jobLabel": "app.kubernetes.io/name",
                "selector": {"matchLabels": {"app.kubernetes.io/name": "storefront"}},
                "namespaceSelector": {"matchNames": ["cloudshop-prod"]},
                "endpoints": [{"port": "admin", "path": "/metrics", "scheme": "http",
                               "interval": "30s", "scrapeTimeout": "10s"}],
            },
        });
        if let (Some(spec), Some(extra)) = (monitor["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        monitor
    }

    #[test]
    fn a_service_monitor_becomes_an_endpointslice_scrape_config() {
        let configs = scrape_configs(&[monitor(json!({}))]).expect("translated");
        assert_eq!(configs.len(), 1);
        let config = &configs[0];
        assert_eq!(config["job_name"], "serviceMonitor/cloudshop-prod/storefront/0");
        assert_eq!(config["kubernetes_sd_configs"][0]["role"], "endpointslice");
        assert_eq!(
            config["kubernetes_sd_configs"][0]["namespaces"]["names"],
            json!(["cloudshop-prod"])
        );
        assert_eq!(config["scrape_interval"], "30s");
        assert_eq!(config["scrape_timeout"], "10s");
        let relabel = config["relabel_configs"].as_array().expect("relabelling");
        assert!(relabel.contains(&json!({
            "source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name"],
            "regex": "storefront", "action": "keep"})));
        assert!(relabel.contains(&json!({
            "source_labels": ["__meta_kubernetes_endpointslice_port_name"],
            "regex": "admin", "action": "keep"})));
        assert!(relabel.contains(&json!({
            "source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name"],
            "target_label": "job"})));
    }

    #[test]
    fn a_field_the_translation_does_not_carry_is_refused_by_name() {
        let error = scrape_configs(&[monitor(json!({"sampleLimit": 10}))]).expect_err("refused");
        assert!(error.to_string().contains("sampleLimit"), "{error}");
        let mut with_tls = monitor(json!({}));
        with_tls["spec"]["endpoints"][0]["tlsConfig"] = json!({"ca": {}});
        let error = scrape_configs(&[with_tls]).expect_err("refused");
        assert!(error.to_string().contains("tlsConfig"), "{error}");
        let mut expressions = monitor(json!({}));
        expressions["spec"]["selector"]["matchExpressions"] = json!([]);
        assert!(scrape_configs(&[expressions]).is_err());
    }

    #[test]
    fn label_values_are_matched_literally() {
        assert_eq!(regex_literal("a.b+c"), r"a\.b\+c");
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
    }

    #[test]
    fn targets_are_counted_by_job_when_up() {
        let targets = json!({"data": {"activeTargets": [
            {"health": "up", "labels": {"job": "storefront"}},
            {"health": "up", "labels": {"job": "storefront"}},
            {"health": "down", "labels": {"job": "auth"}},
        ]}});
        let up = targets_up(&targets);
        assert_eq!(up.get("storefront"), Some(&2));
        assert_eq!(up.get("auth"), None);
    }

    #[test]
    fn kube_state_metrics_is_scraped_with_its_own_labels() {
        let config = prometheus_config(&[monitor(json!({}))]).expect("config");
        let jobs = config["scrape_configs"].as_array().expect("jobs");
        assert_eq!(jobs.len(), 2);
        let ksm = &jobs[1];
        assert_eq!(ksm["honor_labels"], true);
        assert_eq!(
            ksm["static_configs"][0]["targets"][0],
            "kube-state-metrics.monitoring.svc.cluster.local:8080"
        );
        assert_eq!(config["rule_files"][0], "/etc/prometheus/rules.json");
        assert_eq!(
            config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
            "alertmanager.monitoring.svc.cluster.local:9093"
        );
    }

    #[test]
    fn alerts_go_to_the_webhook_with_their_resolutions_or_nowhere() {
        let config = alertmanager_config(Some("http://10.244.0.1:9/alerts")).expect("config");
        assert_eq!(config["route"]["receiver"], "webhook");
        assert_eq!(
            config["receivers"][0]["webhook_configs"][0]["send_resolved"],
            true
        );
        let config = alertmanager_config(None).expect("config");
        assert_eq!(config["route"]["receiver"], "none");
        assert_eq!(config["receivers"], json!([{"name": "none"}]));
        let error = alertmanager_config(Some("10.244.0.1:9")).expect_err("refused");
        assert!(
            error.to_string().contains("not an http:// or https:// URL"),
            "{error}"
        );
    }

    #[test]
    fn the_manifest_pins_every_image_and_grants_reads_in_the_shop_only() {
        let images = Images {
            prometheus: "r/monitoring/prometheus@sha256:aa".into(),
            kube_state_metrics: "r/monitoring/kube-state-metrics@sha256:bb".into(),
            alertmanager: "r/monitoring/alertmanager@sha256:cc".into(),
        };
        let namespaces = ["cloudshop-prod".to_owned()].into();
        let alerting = alertmanager_config(Some("http://10.244.0.1:1/alerts")).expect("config");
        let text = manifest(&images, &json!({}), &json!({}), &alerting, &namespaces).expect("manifest");
        assert!(
            text.contains("image: r/monitoring/alertmanager@sha256:cc"),
            "{text}"
        );
        assert!(text.contains("nodePort: 30093"), "{text}");
        assert!(
            text.contains(r#"\"url\": \"http://10.244.0.1:1/alerts\""#),
            "{text}"
        );
        assert_eq!(text.matches("readOnlyRootFilesystem: true").count(), 3, "{text}");
        assert!(
            text.contains("image: r/monitoring/prometheus@sha256:aa"),
            "{text}"
        );
        assert!(
            text.contains("image: r/monitoring/kube-state-metrics@sha256:bb"),
            "{text}"
        );
        assert!(text.contains("nodePort: 30090"), "{text}");
        assert!(text.contains("--namespaces=cloudshop-prod"), "{text}");
        assert!(!text.contains("ClusterRole"), "{text}");
        assert_eq!(text.matches("kind: Role\n").count(), 2, "{text}");
    }

    #[test]
    fn the_rule_file_holds_every_group() {
        let rules = [json!({"spec": {"groups": [{"name": "a"}, {"name": "b"}]}})];
        assert_eq!(
            rule_file(&rules),
            json!({"groups": [{"name": "a"}, {"name": "b"}]})
        );
    }
}
