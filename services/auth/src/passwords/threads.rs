//! The threads that compute password hashes: a fixed number of them, at a
//! lower OS scheduling priority than the threads that serve requests, each
//! keeping its argon2 memory between hashes.
//!
//! - **Priority.** Each thread raises its own nice value (Linux's nice is per
//!   thread) to [`NICE`]. The kernel then runs request handling first whenever
//!   both want a core, so a login flood slows logins a little instead of every
//!   other request, and hashing still takes every core that nothing else wants.
//!   Lowering one's own priority needs no privilege, so this works in the
//!   unprivileged pods of `k8s/`; if the kernel refuses, hashing goes on at
//!   normal priority and a warning says so.
//! - **Memory.** An argon2id hash fills `memory_kib` of memory. Allocated per
//!   hash (what `Argon2::verify_password` does), musl's allocator maps it fresh
//!   and the kernel zeroes every page: a third of a login's CPU. Each thread
//!   keeps its blocks while logins keep coming and gives them back after
//!   [`RELEASE_AFTER`] without work, so an idle auth is as small as before.
//!   (The kept blocks hold the last hash's working state until then, as freed
//!   memory would until reused; nothing reads them but the next hash.)
//!
//! Jobs wait in one queue; a job whose caller went away before it started is
//! skipped (see [`HashThreads::run`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use argon2::Block;
use tokio::sync::oneshot;

/// The nice value of the hashing threads (0 is normal, 19 the lowest).
pub const NICE: i32 = 10;

/// How long a thread keeps its argon2 memory without a hash to compute.
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// A hash to compute, with the thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Jobs run outside the lock, so nothing can poison it mid-update.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The hashing threads; they end when this is dropped, after the queued jobs.
pub struct HashThreads {
    shared: Arc<Shared>,
    count: usize,
}

/// What one thread needs besides the queue.
#[derive(Clone, Copy)]
struct Worker {
    release_after: Duration,
}

impl std::fmt::Debug for HashThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashThreads")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl HashThreads {
    /// Starts `count` threads (at least one) that give their memory back
    /// after `release_after` without work ([`RELEASE_AFTER`] in the service).
    pub fn start(count: usize, release_after: Duration) -> std::io::Result<Self> {
        let worker = Worker { release_after };
        let count = count.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            wake: Condvar::new(),
        });
        for n in 0..count {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || work(&shared, worker))?;
        }
        Ok(Self { shared, count })
    }

    /// Queues `job`; its result, or `None` when it could not run (its thread
    /// panicked). A caller that stops waiting (a client that went away) leaves
    /// a job that is skipped unstarted: the flood it belonged to costs nothing.
    pub async fn run<T, F>(&self, job: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            if done.is_closed() {
                return;
            }
            let _ = done.send(job(memory));
        });
        self.shared.lock().jobs.push_back(job);
        self.shared.wake.notify_one();
        result.await.ok()
    }
}

impl Drop for HashThreads {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

/// Makes `memory` hold at least `blocks` argon2 blocks.
pub fn reserve(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    &mut memory[..blocks]
}

fn work(shared: &Shared, worker: Worker) {
    lower_priority();
    let mut memory: Vec<Block> = Vec::new();
    let mut queue = shared.lock();
    loop {
        if let Some(job) = queue.jobs.pop_front() {
            drop(queue);
            // A panic ends this job (its caller sees `None`), not the thread.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
            if outcome.is_err() {
                tracing::error!("a password hash panicked");
            }
            queue = shared.lock();
            continue;
        }
        if queue.closed {
            return;
        }
        if memory.is_empty() {
            queue = shared.wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
        } else {
            let (woken, waited) = shared
                .wake
                .wait_timeout(queue, worker.release_after)
                .unwrap_or_else(PoisonError::into_inner);
            queue = woken;
            if waited.timed_out() && queue.jobs.is_empty() {
                memory = Vec::new();
            }
        }
    }
}

/// Raises this thread's nice value to [`NICE`] (Linux: `setpriority` with
/// `PRIO_PROCESS` and id 0 applies to the calling thread only).
fn lower_priority() {
    if let Err(err) = rustix::process::setpriority_process(None, NICE) {
        tracing::warn!(error = %err, "cannot lower the password-hashing threads' priority; they run at normal priority");
    }
}

/// The nice value of the calling thread.
#[cfg(test)]
pub fn own_nice() -> i32 {
    rustix::process::getpriority_process(None).unwrap_or(i32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_at_the_lower_priority_and_keep_their_memory() {
        let caller = own_nice();
        let threads = HashThreads::start(1, Duration::from_secs(60)).expect("threads");
        let nice = threads.run(|_| own_nice()).await.expect("ran");
        assert!(
            nice >= NICE,
            "hashing threads run at nice {NICE} or lower, not {nice}"
        );
        let first = threads
            .run(|memory| {
                reserve(memory, 8)[7] = Block::new();
                memory.as_ptr() as usize
            })
            .await;
        let second = threads
            .run(|memory| (memory.len(), memory.as_ptr() as usize))
            .await;
        assert_eq!(
            second,
            first.map(|ptr| (8, ptr)),
            "the next job gets the same blocks"
        );
        assert_eq!(own_nice(), caller, "the caller's priority is untouched");
    }

    #[tokio::test]
    async fn memory_is_released_when_idle_and_a_panic_loses_only_its_job() {
        let threads = HashThreads::start(1, Duration::from_millis(20)).expect("threads");
        let _ = threads.run(|memory| reserve(memory, 8).len()).await;
        let mut held = usize::MAX;
        for _ in 0..50 {
            // Looking runs a job, which restarts the idle time: look seldom.
            tokio::time::sleep(Duration::from_millis(100)).await;
            held = threads.run(|memory| memory.len()).await.expect("ran");
            if held == 0 {
                break;
            }
        }
        assert_eq!(held, 0, "released after idling");

        let panicked: Option<()> = threads.run(|_| panic!("test panic")).await;
        assert_eq!(panicked, None);
        assert_eq!(threads.run(|_| 7).await, Some(7), "the thread still works");
    }
}
