//! Signals to the processes we start, by their id, through the kill(2)
//! system call (rustix) instead of a forked `kill` program. A process that is
//! already gone is no error: stopping is idempotent.

use rustix::process::{Pid, Signal as Raw};

/// The signals we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: stop as Ctrl-C would (PostgreSQL's fast shutdown).
    Interrupt,
    /// SIGTERM: stop.
    Terminate,
    /// SIGKILL: stop now.
    Kill,
    /// SIGSTOP: freeze (fault tests).
    Stop,
    /// SIGCONT: thaw.
    Continue,
}

impl Signal {
    fn raw(self) -> Raw {
        match self {
            Self::Interrupt => Raw::Int,
            Self::Terminate => Raw::Term,
            Self::Kill => Raw::Kill,
            Self::Stop => Raw::Stop,
            Self::Continue => Raw::Cont,
        }
    }
}

fn pid(id: u32) -> Option<Pid> {
    i32::try_from(id).ok().and_then(Pid::from_raw)
}

/// Sends `signal` to the process `id`; false when there is no such process.
pub fn send(id: u32, signal: Signal) -> bool {
    pid(id).is_some_and(|pid| rustix::process::kill_process(pid, signal.raw()).is_ok())
}

/// Sends `signal` to every process of the process group `id`; false when the
/// group is empty.
pub fn send_group(id: u32, signal: Signal) -> bool {
    pid(id).is_some_and(|pid| rustix::process::kill_process_group(pid, signal.raw()).is_ok())
}

/// Whether the process `id` exists (a zombie not yet reaped does).
pub fn exists(id: u32) -> bool {
    pid(id).is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_stopped_by_its_id_and_then_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        let id = child.id();
        assert!(exists(id));
        assert!(send(id, Signal::Terminate));
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "ended by the signal: {status}");
        assert!(!exists(id), "reaped, so gone");
        assert!(
            !send(id, Signal::Terminate),
            "a gone process is no error, only false"
        );
        assert!(!send(0, Signal::Kill), "0 names no process here (not our group)");
    }
}
