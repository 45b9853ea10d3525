//! The API's read threads: a few dedicated threads, fed by a bounded
//! queue, run the API's blocking redb reads, so that however many searches
//! clients send, replication's blocking work never waits behind them and
//! the node's memory stays bounded (each thread that allocates keeps a
//! malloc arena of its own).

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Why a read did not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The queue is full: every thread is busy and enough reads wait.
    #[error("the read threads are busy")]
    Busy,
    /// The read panicked, or the threads are gone.
    #[error("the read failed")]
    Stopped,
}

/// A handle to the read threads; they stop once every handle is dropped
/// and the queue is empty.
#[derive(Clone)]
pub(crate) struct ReadPool {
    jobs: SyncSender<Job>,
}

impl ReadPool {
    /// Starts `threads` threads (at least one) behind a queue of `queue`
    /// reads.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<ReadPool> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("projector-read-{i}"))
                .spawn(move || work(&rx))?;
        }
        Ok(ReadPool { jobs })
    }

    /// Runs `f` on a read thread and returns its result. A read whose
    /// caller has gone (its request timed out or was dropped) before a
    /// thread took it is not run.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ReadError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            if !reply.is_closed() {
                let _ = reply.send(f());
            }
        });
        match self.jobs.try_send(job) {
            Ok(()) => answer.await.map_err(|_| ReadError::Stopped),
            Err(TrySendError::Full(_)) => Err(ReadError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(ReadError::Stopped),
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = {
            let rx = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            rx.recv()
        };
        match job {
            Ok(job) => {
                // A read that panics answers nothing (its caller sees
                // `Stopped`); the thread goes on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}
