//! Background processes that outlive the command that starts them (the local
//! cluster's registry, etcd, API server, controllers, kwok and Kyverno): each
//! runs with its log in `<dir>/logs/<name>.log` and its pid in
//! `<dir>/run/<name>.pid`, where a later command finds it again and stops it
//! by that pid. The pid file also names the program, so a pid the kernel has
//! since given to another process is never signalled.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::signals::{self, Signal};

/// The background processes kept in one state folder.
#[derive(Debug, Clone)]
pub struct Daemons {
    dir: PathBuf,
}

/// How [`Daemons::stop`] ended a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running.
    NotRunning,
    /// It exited after SIGTERM.
    Terminated,
    /// It was still there after the grace period and was killed.
    Killed,
}

impl Daemons {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    pub fn log_file(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    fn pid_file(&self, name: &str) -> PathBuf {
        self.dir.join("run").join(format!("{name}.pid"))
    }

    /// The pid of `name` when it runs (started here, still alive, still the
    /// same program).
    pub fn pid(&self, name: &str) -> Option<u32> {
        let text = fs::read_to_string(self.pid_file(name)).ok()?;
        let mut lines = text.lines();
        let pid: u32 = lines.next()?.trim().parse().ok()?;
        let program = lines.next()?;
        alive(pid, program).then_some(pid)
    }

    /// Starts `command` in the background, stdin closed, stdout and stderr
    /// appended to its log; fails when `name` already runs.
    pub fn start(&self, name: &str, mut command: Command) -> anyhow::Result<u32> {
        if let Some(pid) = self.pid(name) {
            bail!("{name} already runs (pid {pid})");
        }
        fs::create_dir_all(self.dir.join("logs"))?;
        fs::create_dir_all(self.dir.join("run"))?;
        let log_path = self.log_file(name);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name} ({program})"))?;
        let pid = child.id();
        // Not waited for here: it outlives this process (its parent becomes init).
        drop(child);
        let exe = fs::read_link(format!("/proc/{pid}/exe"))
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or(program);
        fs::write(self.pid_file(name), format!("{pid}\n{exe}\n"))?;
        Ok(pid)
    }

    /// Stops `name`: SIGTERM, then SIGKILL after `grace`; waits until it is gone.
    pub fn stop(&self, name: &str, grace: Duration) -> anyhow::Result<Stopped> {
        let Some(pid) = self.pid(name) else {
            let _ = fs::remove_file(self.pid_file(name));
            return Ok(Stopped::NotRunning);
        };
        signals::send(pid, Signal::Terminate);
        let deadline = Instant::now() + grace;
        let mut how = Stopped::Terminated;
        while !gone(pid) {
            if Instant::now() >= deadline && how == Stopped::Terminated {
                signals::send(pid, Signal::Kill);
                how = Stopped::Killed;
            }
            anyhow::ensure!(
                Instant::now() < deadline + Duration::from_secs(10),
                "{name} (pid {pid}) survives SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        fs::remove_file(self.pid_file(name))?;
        Ok(how)
    }
}

/// Alive and running `program` (a zombie counts as gone).
fn alive(pid: u32, program: &str) -> bool {
    if gone(pid) {
        return false;
    }
    fs::read_link(format!("/proc/{pid}/exe"))
        .map(|exe| exe.to_string_lossy() == program)
        .unwrap_or(false)
}

/// Exited (a zombie counts: its parent has yet to reap it).
pub fn gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: "pid (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_is_found_by_its_pid_file_and_stopped() {
        let dir = tempfile::tempdir().expect("dir");
        let daemons = Daemons::new(dir.path());
        let mut sleeper = Command::new("sleep");
        sleeper.arg("600");
        let pid = daemons.start("sleeper", sleeper).expect("start");
        assert_eq!(daemons.pid("sleeper"), Some(pid));
        let mut again = Command::new("sleep");
        again.arg("600");
        let refused = daemons.start("sleeper", again).expect_err("runs already");
        assert!(refused.to_string().contains("already runs"), "{refused}");
        assert_eq!(
            daemons.stop("sleeper", Duration::from_secs(5)).expect("stop"),
            Stopped::Terminated
        );
        assert_eq!(daemons.pid("sleeper"), None);
        assert_eq!(
            daemons.stop("sleeper", Duration::from_secs(5)).expect("stop"),
            Stopped::NotRunning
        );
    }

    #[test]
    fn a_pid_given_to_another_program_is_not_ours() {
        let dir = tempfile::tempdir().expect("dir");
        let daemons = Daemons::new(dir.path());
        fs::create_dir_all(dir.path().join("run")).expect("run");
        // This test process runs, but it is not /usr/bin/sleep.
        fs::write(
            dir.path().join("run/other.pid"),
            format!("{}\n/usr/bin/sleep\n", std::process::id()),
        )
        .expect("pid file");
        assert_eq!(daemons.pid("other"), None);
    }
}
