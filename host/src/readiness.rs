//! Waiting for a process that was just started to say it is ready: one
//! probe, repeated at an interval until it answers or a deadline passes.
//! Each caller says how to probe and what to report; the loop is here.

use std::time::{Duration, Instant};

/// What one probe found.
#[derive(Debug)]
pub enum Probe {
    Ready,
    /// Not yet; the reason, when there is one, goes to the timeout report.
    NotYet(Option<anyhow::Error>),
}

/// Probes every `interval` until `probe` says [`Probe::Ready`]. An `Err`
/// from `probe` (the process exited) ends the wait at once; past `timeout`
/// the wait fails with `timed_out` of the last reason given.
pub async fn poll(
    timeout: Duration,
    interval: Duration,
    mut probe: impl AsyncFnMut() -> anyhow::Result<Probe>,
    timed_out: impl FnOnce(Option<anyhow::Error>) -> anyhow::Error,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let reason = match probe().await? {
            Probe::Ready => return Ok(()),
            Probe::NotYet(reason) => reason,
        };
        if Instant::now() >= deadline {
            return Err(timed_out(reason));
        }
        tokio::time::sleep(interval).await;
    }
}

/// A probe of an HTTP readiness endpoint: ready on a 2xx answer.
pub async fn http_ok(client: &reqwest::Client, url: &str) -> Probe {
    if client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        Probe::Ready
    } else {
        Probe::NotYet(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls every millisecond; the error's text, or `None` when ready.
    async fn wait(timeout: Duration, probe: impl AsyncFnMut() -> anyhow::Result<Probe>) -> Option<String> {
        let reason =
            |last: Option<anyhow::Error>| anyhow::anyhow!("not ready ({:?})", last.map(|e| e.to_string()));
        let waited = poll(timeout, Duration::from_millis(1), probe, reason).await;
        waited.err().map(|e| e.to_string())
    }

    #[tokio::test]
    async fn ready_on_the_third_probe() {
        let mut probes = 0;
        let ready = async || {
            probes += 1;
            Ok(if probes == 3 {
                Probe::Ready
            } else {
                Probe::NotYet(None)
            })
        };
        assert_eq!(wait(Duration::from_secs(5), ready).await, None);
        assert_eq!(probes, 3);
    }

    #[tokio::test]
    async fn times_out_with_the_last_reason() {
        let refused = async || Ok(Probe::NotYet(Some(anyhow::anyhow!("refused"))));
        let error = wait(Duration::ZERO, refused).await;
        assert_eq!(error.as_deref(), Some(r#"not ready (Some("refused"))"#));
    }

    #[tokio::test]
    async fn a_failed_probe_ends_the_wait() {
        let mut probes = 0;
        let exited = async || {
            probes += 1;
            anyhow::bail!("exited")
        };
        assert_eq!(
            wait(Duration::from_secs(5), exited).await.as_deref(),
            Some("exited")
        );
        assert_eq!(probes, 1);
    }
}
