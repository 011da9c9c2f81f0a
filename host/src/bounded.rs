//! Running a program from a test the way a test may: to its end, but never
//! past a deadline, and never leaving the processes it started running.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::daemon::gone;
use crate::signals::{self, Signal};

/// How long the program and its descendants have, after SIGINT, before
/// SIGKILL.
const GRACE: Duration = Duration::from_secs(30);

/// Runs `command` to its end, at most `within`, with its output in files (a
/// pipe nobody reads while it runs could fill up and stall it) and no input.
/// Past the deadline the program and every process below it (cargo's
/// compilers, the bench's services and PostgreSQL) get SIGINT, as Ctrl-C
/// would send it, then SIGKILL after [`GRACE`], and the error carries the end
/// of what the program printed, which says where it stood. It stays in the
/// test's process group, so a Ctrl-C on the test command reaches it too.
pub fn run_bounded(mut command: Command, within: Duration) -> anyhow::Result<Output> {
    let dir = tempfile::tempdir().context("a folder for the output")?;
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&err)?)
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stopped = match status {
        Some(status) => Ok(status),
        None => Err(stop(&mut child)),
    };
    let stdout = std::fs::read(&out)?;
    let stderr = std::fs::read(&err)?;
    match stopped {
        Ok(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        Err(how) => anyhow::bail!(
            "{:?} was still running after {within:?} ({how}); the end of what it printed:\n{}\n{}",
            command.get_program(),
            tail(&stdout),
            tail(&stderr)
        ),
    }
}

/// The last lines of `bytes`, at most about 6,000 characters.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut kept = Vec::new();
    let mut size = 0;
    for line in text.lines().rev() {
        size += line.len() + 1;
        if size > 6_000 {
            break;
        }
        kept.push(line);
    }
    kept.reverse();
    kept.join("\n")
}

/// SIGINT to `child` and every process below it, SIGKILL to those left
/// after [`GRACE`]; says which it took.
fn stop(child: &mut Child) -> String {
    let tree = descendants(child.id());
    for pid in &tree {
        signals::send(*pid, Signal::Interrupt);
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        let _ = child.try_wait(); // reaps the program once it exits
        if tree.iter().all(|pid| gone(*pid)) {
            return "stopped by SIGINT".to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in &tree {
        signals::send(*pid, Signal::Kill);
    }
    let _ = child.wait();
    // kill(2) returns before the process has died, and the caller may look
    // at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !tree.iter().all(|pid| gone(*pid)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    format!("killed: SIGINT did not stop it within {GRACE:?}")
}

/// `root` and every process below it, from each process's parent in /proc.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": the command name may hold spaces.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        tree.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        next += 1;
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_ends_gives_its_output_and_status() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let output = run_bounded(command, Duration::from_secs(10)).expect("ran");
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    /// A program that overruns is stopped with everything it started, and
    /// the error shows where it stood.
    #[test]
    fn an_overrun_stops_the_program_and_what_it_started_and_says_where_it_stood() {
        let dir = tempfile::tempdir().expect("dir");
        let pid_file = dir.path().join("grandchild");
        let mut command = Command::new("sh");
        command.args([
            "-c",
            &format!(
                "echo '==> step two' >&2; sh -c 'echo $$ > {}; exec sleep 600'",
                pid_file.display()
            ),
        ]);
        let error = run_bounded(command, Duration::from_secs(3)).expect_err("overran");
        let message = format!("{error:#}");
        assert!(message.contains("still running after 3s"), "{message}");
        assert!(message.contains("==> step two"), "{message}");
        let started: u32 = std::fs::read_to_string(&pid_file)
            .expect("pid")
            .trim()
            .parse()
            .expect("a pid");
        assert!(gone(started), "the sleep the program started is still running");
    }
}
