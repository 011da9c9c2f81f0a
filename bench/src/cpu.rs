//! What the shop itself spends: CPU-seconds of the five service processes
//! and of PostgreSQL (the postmaster, its live backends, and the backends
//! that have exited, which the postmaster's `cutime`/`cstime` hold), from
//! `/proc`. The load generator is not in it, so the figure per 1,000
//! requests stays comparable when the generator or the machine changes.

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ: 100 on Linux).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The fields of `/proc/<pid>/stat` after the command name and the state:
/// `[0]` is the parent's pid, `[10..14]` utime, stime, cutime, cstime.
fn stat(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = text.rsplit_once(')')?;
    Some(
        after
            .split_whitespace()
            .skip(1)
            .map(|field| field.parse().unwrap_or(0))
            .collect(),
    )
}

/// The processes whose CPU time is the shop's.
#[derive(Debug, Clone)]
pub struct ShopCpu {
    services: Vec<u32>,
    postmaster: u32,
    ticks: f64,
}

impl ShopCpu {
    pub fn new(services: Vec<u32>, postmaster: u32) -> Self {
        Self {
            services,
            postmaster,
            ticks: ticks_per_second(),
        }
    }

    /// CPU-seconds used so far by the services and PostgreSQL.
    pub fn seconds(&self) -> f64 {
        let own =
            |fields: &[u64]| fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
        let mut ticks: u64 = self
            .services
            .iter()
            .filter_map(|pid| stat(*pid))
            .map(|f| own(&f))
            .sum();
        if let Some(postmaster) = stat(self.postmaster) {
            let reaped = postmaster.get(12).copied().unwrap_or(0) + postmaster.get(13).copied().unwrap_or(0);
            ticks += own(&postmaster) + reaped;
        }
        // Each process's stat read once: its parent decides whether its
        // CPU is a backend's.
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(fields) = stat(pid)
                && fields.first() == Some(&u64::from(self.postmaster))
            {
                ticks += own(&fields);
            }
        }
        ticks as f64 / self.ticks
    }

    /// CPU-seconds of this process (`own`) and of its children it has
    /// waited for (`children`: the wrk runs, once they have ended).
    pub fn this_process(&self) -> (f64, f64) {
        let fields = stat(std::process::id()).unwrap_or_default();
        let at = |i: usize| fields.get(i).copied().unwrap_or(0) as f64 / self.ticks;
        (at(10) + at(11), at(12) + at(13))
    }
}

/// CPU-seconds per 1,000 requests.
pub fn per_thousand(cpu_seconds: f64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| cpu_seconds * 1000.0 / requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_spent_some_cpu_and_the_rate_is_per_thousand() {
        let me = ShopCpu::new(vec![std::process::id()], u32::MAX);
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i.wrapping_mul(i));
        }
        assert!(x > 0);
        assert!(me.seconds() > 0.0);
        assert_eq!(per_thousand(2.0, 4000), Some(0.5));
        assert_eq!(per_thousand(2.0, 0), None);
    }
}
