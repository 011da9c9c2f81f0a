//! Running a program from a test the way a test may: to its end, but never
//! past a deadline, and never leaving its processes behind.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long the process group has, after SIGINT, before SIGKILL.
const GRACE: Duration = Duration::from_secs(30);

/// Runs `command` to its end, at most `within`, in a process group of its
/// own with its output in files (a pipe nobody reads while it runs could fill
/// up and stall it). Past the deadline, or when the caller panics meanwhile,
/// the whole group gets SIGINT, as Ctrl-C in a terminal would send it (the
/// program and everything it started: cargo's compilers, the bench's
/// services), then SIGKILL after [`GRACE`]. The error then carries the end
/// of what the program printed, which says where it stood.
pub fn run_bounded(mut command: Command, within: Duration) -> anyhow::Result<Output> {
    let dir = tempfile::tempdir().context("a folder for the output")?;
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let child = command
        .process_group(0)
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&err)?)
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let mut group = Group(Some(child));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = group.child().try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stopped = match status {
        Some(status) => {
            group.0 = None;
            Ok(status)
        }
        None => Err(group.stop()),
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
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    let mut size = 0;
    for line in lines.iter().rev() {
        size += line.len() + 1;
        if size > 6_000 {
            break;
        }
        kept.push(*line);
    }
    kept.reverse();
    kept.join("\n")
}

/// A running process group, stopped when dropped (a panicking caller too).
struct Group(Option<Child>);

impl Group {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("a running child")
    }

    /// SIGINT to the group, SIGKILL after [`GRACE`]; says which it took.
    fn stop(&mut self) -> &'static str {
        let Some(mut child) = self.0.take() else {
            return "already stopped";
        };
        let group = format!("-{}", child.id());
        signal_group("INT", &group);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) && group_gone(&group) {
                return "stopped by SIGINT";
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group("KILL", &group);
        let _ = child.wait();
        "killed: SIGINT did not stop it within 30 s"
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal_group(signal: &str, group: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", group])
        .stderr(std::process::Stdio::null())
        .status();
}

/// No process of the group is left (`kill -0` to a group fails once it is
/// empty; zombies of ours were reaped by `try_wait`).
fn group_gone(group: &str) -> bool {
    !Command::new("kill")
        .args(["-0", "--", group])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
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
    fn an_overrun_stops_the_whole_group_and_says_where_it_stood() {
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
        let error = run_bounded(command, Duration::from_millis(500)).expect_err("overran");
        let message = format!("{error:#}");
        assert!(message.contains("still running after 500ms"), "{message}");
        assert!(message.contains("==> step two"), "{message}");
        let grandchild = std::fs::read_to_string(&pid_file).expect("pid");
        assert!(
            !std::path::Path::new(&format!("/proc/{}", grandchild.trim())).exists(),
            "the sleep the program started is still running"
        );
    }
}
