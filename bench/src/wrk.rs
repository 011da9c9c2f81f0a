//! The single-endpoint workloads through `wrk` (Debian's package: C, an
//! event loop per thread, far cheaper per request than a Rust client on
//! the same cores), with a Lua script per workload: tokens, JSON bodies and
//! a unique `Idempotency-Key` per order, and a `done` hook that prints the
//! figures as one JSON line. wrk checks statuses (anything but 2xx/3xx is
//! an error), not bodies; the load generator's own journeys, which check
//! every body, still run the shopper mix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use cloudshop_loadgen::journey::REQUEST_TIMEOUT;
use cloudshop_loadgen::{EndpointStats, Report};
use serde::Deserialize;

/// One wrk run: `connections` keep-alive connections on `threads` threads
/// against `url` for `seconds`, `script` setting the requests.
#[derive(Debug, Clone)]
pub struct Run {
    pub label: String,
    pub endpoint: &'static str,
    pub url: String,
    pub threads: usize,
    pub connections: usize,
    pub script: Script,
}

/// What each request is.
#[derive(Debug, Clone)]
pub enum Script {
    /// The URL as it is.
    Get,
    /// `GET <prefix><id>`, the ids in turn.
    GetEach { prefix: String, ids: Vec<i64> },
    /// `POST <path>` with a JSON body, the bodies in turn.
    PostEach { path: String, bodies: Vec<String> },
    /// `POST /api/orders`-style: a JSON body, a bearer token in turn, and an
    /// `Idempotency-Key` no other request of the run has.
    Order {
        path: String,
        body: String,
        tokens: Vec<String>,
        run: String,
    },
}

/// The JSON line the `done` hook prints (latencies in microseconds).
#[derive(Debug, Deserialize)]
struct Done {
    requests: u64,
    duration_us: u64,
    errors: u64,
    /// wrk's error counts by kind: failed connects, reads, writes, replies
    /// with a status above 399, timeouts.
    #[serde(default)]
    connect: u64,
    #[serde(default)]
    read: u64,
    #[serde(default)]
    write: u64,
    #[serde(default)]
    status: u64,
    #[serde(default)]
    timeout: u64,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

const MARK: &str = "CLOUDSHOP-WRK ";

fn lua_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn lua_list(items: impl IntoIterator<Item = String>) -> String {
    format!("{{{}}}", items.into_iter().collect::<Vec<_>>().join(", "))
}

impl Script {
    /// The Lua script: the request part, then the `done` hook.
    pub fn lua(&self) -> String {
        let requests = match self {
            Self::Get => String::new(),
            Self::GetEach { prefix, ids } => format!(
                "local ids = {}\nlocal n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(\"GET\", {} .. ids[(n % #ids) + 1])\nend\n",
                lua_list(ids.iter().map(i64::to_string)),
                lua_string(prefix)
            ),
            Self::PostEach { path, bodies } => format!(
                "local bodies = {}\nlocal n = 0\nlocal headers = {{[\"Content-Type\"] = \"application/json\"}}\n\
                 request = function()\n  n = n + 1\n  return wrk.format(\"POST\", {}, headers, bodies[(n % #bodies) + 1])\nend\n",
                lua_list(bodies.iter().map(|b| lua_string(b))),
                lua_string(path)
            ),
            Self::Order {
                path,
                body,
                tokens,
                run,
            } => format!(
                "local tokens = {}\nlocal n = 0\nlocal next_thread = 0\n\
                 setup = function(thread)\n  next_thread = next_thread + 1\n  thread:set(\"thread_id\", next_thread)\nend\n\
                 request = function()\n  n = n + 1\n  local headers = {{\n    [\"Content-Type\"] = \"application/json\",\n    \
                 [\"Authorization\"] = \"Bearer \" .. tokens[(n % #tokens) + 1],\n    \
                 [\"Idempotency-Key\"] = string.format(\"wrk-%s-%d-%d\", {}, thread_id, n),\n  }}\n  \
                 return wrk.format(\"POST\", {}, headers, {})\nend\n",
                lua_list(tokens.iter().map(|t| lua_string(t))),
                lua_string(run),
                lua_string(path),
                lua_string(body)
            ),
        };
        format!(
            "{requests}done = function(summary, latency, requests)\n  local e = summary.errors\n  \
             io.write(string.format('{MARK}{{\"requests\":%d,\"duration_us\":%d,\"errors\":%d,\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50\":%d,\"p95\":%d,\"p99\":%d,\"max\":%d}}\\n',\n    \
             summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,\n    \
             e.connect, e.read, e.write, e.status, e.timeout,\n    \
             latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))\nend\n"
        )
    }
}

/// Runs wrk for `seconds`; the script goes to `dir` (it may hold tokens and
/// passwords: the bench's private folder, removed at the end).
pub async fn run(run: &Run, seconds: Duration, dir: &Path) -> anyhow::Result<Report> {
    let script = script_file(dir, run)?;
    let output = tokio::process::Command::new("wrk")
        .arg(format!("--threads={}", run.threads))
        .arg(format!("--connections={}", run.connections))
        .arg(format!("--duration={}s", seconds.as_secs().max(1)))
        .arg(format!("--timeout={}s", REQUEST_TIMEOUT.as_secs()))
        .arg(format!("--script={}", script.display()))
        .arg(&run.url)
        .kill_on_drop(true)
        .output()
        .await
        .context("running wrk (apt-get install wrk)")?;
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk for {} failed ({}): {stdout}{}",
            run.label,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(MARK))
        .with_context(|| format!("wrk for {} printed no figures: {stdout}", run.label))?;
    let done: Done = serde_json::from_str(line).with_context(|| format!("wrk's figures: {line}"))?;
    Ok(report(run, &done))
}

fn script_file(dir: &Path, run: &Run) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name: String = run
        .label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = dir.join(format!("wrk-{name}.lua"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(run.script.lua().as_bytes())?;
    Ok(path)
}

fn report(run: &Run, done: &Done) -> Report {
    let seconds = done.duration_us as f64 / 1e6;
    Report {
        label: run.label.clone(),
        generator: "wrk".to_owned(),
        seconds,
        endpoints: vec![EndpointStats {
            endpoint: run.endpoint.to_owned(),
            requests: done.requests,
            errors: done.errors,
            error_kinds: [
                ("connect failed", done.connect),
                ("read failed", done.read),
                ("write failed", done.write),
                ("status 400 or above", done.status),
                ("timed out", done.timeout),
            ]
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(kind, count)| (kind.to_owned(), count))
            .collect(),
            requests_per_second: done.requests as f64 / seconds.max(1e-9),
            p50_ms: done.p50 / 1e3,
            p95_ms: done.p95 / 1e3,
            p99_ms: done.p99 / 1e3,
            max_ms: done.max / 1e3,
        }],
        shop_cpu_s_per_1k: None,
        generator_cpu_s_per_1k: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_scripts_rotate_tokens_and_make_each_key_unique() {
        let script = Script::Order {
            path: "/api/orders".into(),
            body: r#"{"lines":[{"product_id":7,"quantity":1}]}"#.into(),
            tokens: vec!["t1".into(), "t2".into()],
            run: "42".into(),
        }
        .lua();
        assert!(script.contains(r#"local tokens = {"t1", "t2"}"#), "{script}");
        assert!(
            script.contains(r#"string.format("wrk-%s-%d-%d", "42", thread_id, n)"#),
            "{script}"
        );
        assert!(
            script.contains(r#""{\"lines\":[{\"product_id\":7,\"quantity\":1}]}""#),
            "{script}"
        );
        assert!(script.contains("done = function(summary, latency, requests)"));
    }

    #[test]
    fn the_done_line_becomes_a_report() {
        let run = Run {
            label: "catalogue, 8 users".into(),
            endpoint: "GET /api/products",
            url: "https://localhost:1/api/products".into(),
            threads: 2,
            connections: 8,
            script: Script::Get,
        };
        let done: Done = serde_json::from_str(
            r#"{"requests":2000,"duration_us":2000000,"errors":3,"connect":0,"read":1,"write":0,"status":2,"timeout":0,"p50":500,"p95":900,"p99":1500,"max":4000}"#,
        )
        .expect("json");
        let report = report(&run, &done);
        let e = &report.endpoints[0];
        assert_eq!((e.requests, e.errors), (2000, 3));
        assert_eq!(
            e.error_kinds,
            [
                ("read failed".to_owned(), 1),
                ("status 400 or above".to_owned(), 2)
            ]
            .into()
        );
        assert_eq!(e.requests_per_second, 1000.0);
        assert_eq!((e.p50_ms, e.p95_ms, e.p99_ms, e.max_ms), (0.5, 0.9, 1.5, 4.0));
        assert_eq!(report.generator, "wrk");
    }
}
