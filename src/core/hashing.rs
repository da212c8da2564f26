//! Password hashing on threads of its own.
//!
//! An argon2id run takes ~19 MiB and a core for a few tens of milliseconds.
//! Run on tokio's blocking pool, concurrent logins spread over many threads,
//! each keeping its own allocator arena of that size (the first bench run
//! measured 1.8 GB of peak RSS at 64 connections), and steal every core from
//! the async threads. Here one thread per core takes hashing jobs in turn:
//! memory stays bounded, and logins beyond the machine's capacity wait in a
//! queue instead of slowing everything else down.

use crossbeam_channel::Sender;
use tokio::sync::oneshot;

use super::CoreError;
use crate::store::StoreError;

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct HashPool {
    jobs: Sender<Job>,
}

/// Keeps large allocations (argon2's 19 MiB) out of the heap.
///
/// glibc raises its mmap threshold to the size of the largest block freed
/// so far, so after the first hash every later argon2 buffer came from the
/// heap and stayed there: 40 concurrent logins left 232 MB resident. A fixed
/// threshold (setting one turns the adjustment off) keeps such blocks
/// mmapped, and each is given back to the system when freed.
fn keep_large_blocks_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only sets an allocator parameter; called once,
        // before the hashing threads exist.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        });
    }
}

impl HashPool {
    pub(crate) fn new(threads: usize) -> HashPool {
        keep_large_blocks_mapped();
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            // If a thread cannot be spawned the others still serve; with none
            // at all, every hash answers "unavailable" (the sender is dropped
            // with the last receiver). A job that panics loses its answer
            // (its caller hears "unavailable"), never the thread.
            let spawned = std::thread::Builder::new()
                .name(format!("lk-hash-{i}"))
                .spawn(move || {
                    while let Ok(job) = queue.recv() {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot spawn a hashing thread");
            }
        }
        HashPool { jobs }
    }

    /// Runs `f` on a hashing thread.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // A caller that gave up (timed out, disconnected) is not
                // hashed for: under a flood of logins, abandoned ones would
                // otherwise hold the queue for those still waiting.
                if !tx.is_closed() {
                    let _ = tx.send(f());
                }
            }))
            .map_err(|_| CoreError::Store(StoreError::Unavailable))?;
        rx.await
            .map_err(|_| CoreError::Store(StoreError::Unavailable))
    }
}
