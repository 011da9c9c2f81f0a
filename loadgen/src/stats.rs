//! Latency samples per endpoint and what is reported from them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// Collects one sample per request: endpoint, latency, success.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    samples: Arc<Mutex<BTreeMap<&'static str, Samples>>>,
}

#[derive(Debug, Default)]
struct Samples {
    latencies_us: Vec<u64>,
    errors: u64,
    /// How many errors of each kind, for the first [`MAX_ERROR_KINDS`] kinds.
    error_kinds: BTreeMap<String, u64>,
}

/// Distinct error messages kept per endpoint; later new ones count under
/// [`OTHER_ERRORS`].
const MAX_ERROR_KINDS: usize = 8;
const OTHER_ERRORS: &str = "(other errors)";

impl Recorder {
    /// A request of `endpoint` that took `latency` and succeeded, or failed
    /// for the reason given (kept, so a failed run says why).
    pub fn record(&self, endpoint: &'static str, latency: Duration, outcome: Result<(), &str>) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let entry = samples.entry(endpoint).or_default();
        entry
            .latencies_us
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        if let Err(reason) = outcome {
            entry.errors += 1;
            let kind = if entry.error_kinds.contains_key(reason) || entry.error_kinds.len() < MAX_ERROR_KINDS
            {
                reason
            } else {
                OTHER_ERRORS
            };
            *entry.error_kinds.entry(kind.to_owned()).or_default() += 1;
        }
    }

    /// The report over `elapsed` wall time.
    pub fn report(&self, label: &str, elapsed: Duration) -> Report {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let endpoints = samples
            .iter()
            .map(|(endpoint, samples)| EndpointStats::from_samples(endpoint, samples, elapsed))
            .collect();
        Report {
            label: label.to_owned(),
            generator: "loadgen".to_owned(),
            seconds: elapsed.as_secs_f64(),
            endpoints,
            shop_cpu_s_per_1k: None,
            generator_cpu_s_per_1k: None,
        }
    }
}

/// What one endpoint did during a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EndpointStats {
    pub endpoint: String,
    pub requests: u64,
    pub errors: u64,
    /// Each error message and how many times it came (none when no errors).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_kinds: BTreeMap<String, u64>,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl EndpointStats {
    fn from_samples(endpoint: &str, samples: &Samples, elapsed: Duration) -> Self {
        let mut sorted = samples.latencies_us.clone();
        sorted.sort_unstable();
        let requests = sorted.len() as u64;
        Self {
            endpoint: endpoint.to_owned(),
            requests,
            errors: samples.errors,
            error_kinds: samples.error_kinds.clone(),
            requests_per_second: requests as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: percentile(&sorted, 0.50),
            p95_ms: percentile(&sorted, 0.95),
            p99_ms: percentile(&sorted, 0.99),
            max_ms: sorted.last().map_or(0.0, |us| *us as f64 / 1e3),
        }
    }
}

/// The nearest-rank percentile of sorted microseconds, in milliseconds.
pub fn percentile(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1e3
}

fn cpu(figure: Option<f64>) -> String {
    figure.map_or("not measured".to_owned(), |cpu| format!("{cpu:.3}"))
}

/// One run: a label, what generated the load, its duration, each
/// endpoint's figures, and what the shop spent on it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: String,
    /// `loadgen` (this crate) or an external generator (`wrk`).
    pub generator: String,
    pub seconds: f64,
    pub endpoints: Vec<EndpointStats>,
    /// CPU-seconds the shop's processes (services and PostgreSQL, not the
    /// generator) used per 1,000 requests of the run, when measured.
    pub shop_cpu_s_per_1k: Option<f64>,
    /// CPU-seconds the load generator itself used per 1,000 requests.
    pub generator_cpu_s_per_1k: Option<f64>,
}

impl Report {
    /// The Markdown table header [`Report::rows`] fits under.
    pub const HEADER: &'static str = "| run | endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | shop CPU s / 1k req | generator | its CPU s / 1k req |\n|---|---|---|---|---|---|---|---|---|---|---|---|";

    /// The figures of one endpoint (e.g. [`crate::journey::LOGIN`]).
    pub fn endpoint(&self, endpoint: &str) -> Option<&EndpointStats> {
        self.endpoints.iter().find(|e| e.endpoint == endpoint)
    }

    /// One Markdown row per endpoint.
    pub fn rows(&self) -> String {
        self.endpoints
            .iter()
            .map(|e| {
                format!(
                    "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
                    self.label,
                    e.endpoint,
                    e.requests,
                    e.requests_per_second,
                    e.p50_ms,
                    e.p95_ms,
                    e.p99_ms,
                    e.max_ms,
                    e.errors,
                    cpu(self.shop_cpu_s_per_1k),
                    self.generator,
                    cpu(self.generator_cpu_s_per_1k)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The whole table for this report alone.
    pub fn table(&self) -> String {
        format!("{}\n{}", Self::HEADER, self.rows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[7000], 0.01), 7.0);
    }

    #[test]
    fn a_report_counts_requests_errors_and_rate_per_endpoint() {
        let recorder = Recorder::default();
        for ms in 1..=10 {
            let outcome = if ms == 10 { Err("503 unavailable") } else { Ok(()) };
            recorder.record("catalogue", Duration::from_millis(ms), outcome);
        }
        recorder.record("login", Duration::from_millis(30), Ok(()));
        let report = recorder.report("mixed", Duration::from_secs(2));
        assert_eq!(report.endpoints.len(), 2);
        let catalogue = &report.endpoints[0];
        assert_eq!(catalogue.endpoint, "catalogue");
        assert_eq!((catalogue.requests, catalogue.errors), (10, 1));
        assert_eq!(
            catalogue.error_kinds,
            BTreeMap::from([("503 unavailable".to_owned(), 1)])
        );
        assert_eq!(catalogue.requests_per_second, 5.0);
        assert_eq!((catalogue.p50_ms, catalogue.max_ms), (5.0, 10.0));
        assert!(report.table().contains("| mixed | login | 1 | 0 | 30.00 |"));
        let json = serde_json::to_value(&report.endpoints[1]).expect("json");
        assert!(json.get("error_kinds").is_none(), "{json}");
    }

    #[test]
    fn error_kinds_are_bounded() {
        let recorder = Recorder::default();
        let reasons: Vec<String> = (0..20).map(|n| format!("reason {n}")).collect();
        for reason in &reasons {
            recorder.record("x", Duration::from_millis(1), Err(reason));
        }
        recorder.record("x", Duration::from_millis(1), Err("reason 0"));
        let stats = &recorder.report("bounded", Duration::from_secs(1)).endpoints[0];
        assert_eq!(stats.errors, 21);
        assert_eq!(stats.error_kinds.len(), MAX_ERROR_KINDS + 1);
        assert_eq!(stats.error_kinds["reason 0"], 2);
        assert_eq!(stats.error_kinds[OTHER_ERRORS], 12);
    }
}
