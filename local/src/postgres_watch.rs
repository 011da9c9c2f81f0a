//! Keeps the local shop's PostgreSQL running: a task polls the server process
//! and, when it has died (a crash, `kill -9`, the OOM killer), starts it again
//! on the same data folder, where PostgreSQL replays its write-ahead log, so
//! every committed (acknowledged) write is still there. The services' pools
//! reconnect by themselves. Restarts are bounded: after [`MAX_RESTARTS`]
//! attempts within [`WINDOW`] the watch gives up with the reason, and `up`
//! stops everything and exits non-zero rather than serve 503s forever.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::bail;
use cloudshop_host::postgres::{Cluster, Durability, Exited, Running};
use tokio_util::sync::CancellationToken;

/// Restart attempts allowed within [`WINDOW`].
pub const MAX_RESTARTS: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// How often the server process is checked (a non-blocking `waitpid`).
const POLL: Duration = Duration::from_millis(200);
/// A clean exit (code 0) follows a shutdown request, most often the same
/// Ctrl-C that is stopping `up` (the terminal signals the whole process
/// group); this long `up` has to notice its own signal before it restarts.
const CLEAN_EXIT_GRACE: Duration = Duration::from_secs(1);

/// Watches `running` until `stopping` is cancelled; returns the server then
/// running (for `up` to stop), or `None` when there is none. Fails, with the
/// reason, when PostgreSQL could not be kept running.
pub async fn keep_running(
    cluster: Cluster,
    mut running: Running,
    stopping: CancellationToken,
) -> anyhow::Result<Option<Running>> {
    let mut budget = RestartBudget::new(MAX_RESTARTS, WINDOW);
    loop {
        tokio::select! {
            biased;
            () = stopping.cancelled() => return Ok(Some(running)),
            () = tokio::time::sleep(POLL) => {}
        }
        let Some(exit) = running.exited()? else {
            continue;
        };
        if exit == Exited::Code(0) {
            tokio::select! {
                () = stopping.cancelled() => return Ok(None),
                () = tokio::time::sleep(CLEAN_EXIT_GRACE) => {}
            }
        }
        match restart(&cluster, exit, &mut budget, &stopping).await? {
            Some(restarted) => running = restarted,
            None => return Ok(None),
        }
    }
}

/// Starts the server again after it ended with `exit`, retrying within the
/// budget with a growing pause; `None` when `up` is stopping meanwhile.
async fn restart(
    cluster: &Cluster,
    exit: Exited,
    budget: &mut RestartBudget,
    stopping: &CancellationToken,
) -> anyhow::Result<Option<Running>> {
    let mut last_error: Option<anyhow::Error> = None;
    loop {
        let Some(attempt) = budget.take(Instant::now()) else {
            let last = last_error
                .map(|err| format!("; last attempt: {err:#}"))
                .unwrap_or_default();
            bail!(
                "PostgreSQL exited ({exit}) and {MAX_RESTARTS} restarts within {} s did not keep it \
                 running; giving up (see {}){last}",
                WINDOW.as_secs(),
                cluster.log_file().display()
            );
        };
        tracing::warn!("PostgreSQL exited ({exit}); restarting (attempt {attempt} of {MAX_RESTARTS})");
        // A server killed a moment ago may leave backends that still hold
        // its shared memory for a few milliseconds; later attempts wait longer.
        let pause = Duration::from_secs(attempt as u64 - 1);
        tokio::select! {
            () = stopping.cancelled() => return Ok(None),
            () = tokio::time::sleep(pause) => {}
        }
        let started = tokio::task::spawn_blocking({
            let cluster = cluster.clone();
            move || cluster.spawn(Durability::Durable)
        })
        .await?;
        match started {
            Ok(running) => {
                tracing::info!(
                    "PostgreSQL is running again (pid {}), recovered from its write-ahead log",
                    running.pid()
                );
                return Ok(Some(running));
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "PostgreSQL did not start (attempt {attempt} of {MAX_RESTARTS})"
                );
                last_error = Some(err);
            }
        }
    }
}

/// At most `max` attempts within any `window`.
#[derive(Debug)]
struct RestartBudget {
    max: usize,
    window: Duration,
    attempts: VecDeque<Instant>,
}

impl RestartBudget {
    fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            attempts: VecDeque::new(),
        }
    }

    /// Records an attempt at `now`: its number within the window (from 1),
    /// or `None` when the window already holds `max`.
    fn take(&mut self, now: Instant) -> Option<usize> {
        while self
            .attempts
            .front()
            .is_some_and(|&at| now.duration_since(at) >= self.window)
        {
            self.attempts.pop_front();
        }
        if self.attempts.len() >= self.max {
            return None;
        }
        self.attempts.push_back(now);
        Some(self.attempts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_five_attempts_a_minute() {
        let start = Instant::now();
        let mut budget = RestartBudget::new(5, Duration::from_secs(60));
        let taken: Vec<_> = (0..6)
            .map(|i| budget.take(start + Duration::from_secs(i)))
            .collect();
        assert_eq!(taken, [Some(1), Some(2), Some(3), Some(4), Some(5), None]);
        // A minute after the first attempt, one is free again.
        assert_eq!(budget.take(start + Duration::from_secs(60)), Some(5));
        assert_eq!(budget.take(start + Duration::from_secs(60)), None);
    }
}
