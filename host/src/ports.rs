//! TCP ports on 127.0.0.1 for listeners that are bound later, by this
//! process, a child process or a container: PostgreSQL, `cloudshop up`, a
//! compose stack, a registry.
//!
//! A port handed out here is reserved until this process exits, within the
//! process and across processes: each reservation holds an exclusive lock on
//! `<temp>/cloudshop-ports/<port>.lock`, which the kernel releases when the
//! process ends (also when it crashes). Every caller therefore gets ports no
//! other caller, here or in another test binary, holds. The ports come from
//! below Linux's ephemeral range (32768 and up), so a port-0 listener of any
//! process cannot take one between the reservation and its use.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;

const FIRST: u16 = 20_000;
const END: u16 = 32_000;

/// The locks this process holds, one per reserved port, for its lifetime.
static HELD: Mutex<Vec<(u16, File)>> = Mutex::new(Vec::new());

fn lock_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join("cloudshop-ports");
    if !dir.is_dir() {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Shared like /tmp: every user's test runs take part in one reservation.
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777));
    }
    Ok(dir)
}

/// `count` ports that no other caller holds and that are free now.
pub fn reserve(count: usize) -> anyhow::Result<Vec<u16>> {
    reserve_except(count, &[])
}

/// As [`reserve`], never one of `taken`: ports recorded for processes that
/// listen on another address than 127.0.0.1, where the check that a port is
/// free cannot see them.
pub fn reserve_except(count: usize, taken: &[u16]) -> anyhow::Result<Vec<u16>> {
    let dir = lock_dir()?;
    let mut held = HELD
        .lock()
        .map_err(|_| anyhow::anyhow!("port reservations poisoned"))?;
    let mut ports = Vec::with_capacity(count);
    for port in FIRST..END {
        if ports.len() == count {
            break;
        }
        if held.iter().any(|(p, _)| *p == port) || taken.contains(&port) {
            continue;
        }
        let path = dir.join(format!("{port}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("locking {}", path.display()));
            }
        }
        // Held by nobody else, but a process that does not take part (or a
        // leftover of an earlier run) may still listen there.
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue; // dropping `file` releases the lock
        }
        held.push((port, file));
        ports.push(port);
    }
    anyhow::ensure!(
        ports.len() == count,
        "fewer than {count} free ports between {FIRST} and {END}"
    );
    Ok(ports)
}

/// One reserved port.
pub fn reserve_one() -> anyhow::Result<u16> {
    Ok(reserve(1)?[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::process::Command;

    const CHILD: &str = "CLOUDSHOP_PORTS_TEST_CHILD";

    #[test]
    fn callers_in_one_process_never_share_a_port() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| reserve(25).expect("ports")))
            .collect();
        let mut seen = BTreeSet::new();
        for thread in threads {
            for port in thread.join().expect("thread") {
                assert!(seen.insert(port), "port {port} handed out twice");
            }
        }
        assert_eq!(seen.len(), 100);
    }

    /// Run by the test below in a second process: prints its reservation.
    #[test]
    fn child_process_prints_its_reservation() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let ports = reserve(20).expect("ports");
        let line: Vec<String> = ports.iter().map(u16::to_string).collect();
        eprintln!("reserved: {}", line.join(","));
    }

    #[test]
    fn another_process_never_gets_a_port_this_one_holds() {
        let mine: BTreeSet<u16> = reserve(20).expect("ports").into_iter().collect();
        let output = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "ports::tests::child_process_prints_its_reservation",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .expect("child test process");
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let theirs: BTreeSet<u16> = stderr
            .lines()
            .find_map(|line| line.strip_prefix("reserved: "))
            .unwrap_or_else(|| panic!("no reservation printed: {stderr}"))
            .split(',')
            .map(|port| port.parse().expect("port"))
            .collect();
        assert_eq!(theirs.len(), 20);
        let shared: Vec<_> = mine.intersection(&theirs).collect();
        assert!(shared.is_empty(), "both processes hold {shared:?}");
    }
}
