//! How a worker is woken before its next planned pass: the API of the same
//! process rings when it writes work for a job (a release scheduled, moved or
//! canceled), and the worker's owner rings "stop".

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shared by the worker's runner and whoever may wake it; a bell nobody waits
/// on (a `--no-worker` server) rings in vain.
#[derive(Clone, Default)]
pub struct Doorbell(Arc<(Mutex<Bell>, Condvar)>);

#[derive(Default)]
struct Bell {
    /// Kinds of job with new work, since the runner last looked.
    rung: Vec<&'static str>,
    stopped: bool,
}

/// Why a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    Stop,
    /// New work for these kinds of job.
    Rung(Vec<&'static str>),
    Timeout,
}

impl Doorbell {
    fn bell(&self) -> MutexGuard<'_, Bell> {
        self.0 .0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells the runner that the job `kind` has new work.
    pub fn ring(&self, kind: &'static str) {
        let mut bell = self.bell();
        if !bell.rung.contains(&kind) {
            bell.rung.push(kind);
        }
        self.0 .1.notify_all();
    }

    /// Asks the runner to stop (it finishes the item in hand first).
    pub fn stop(&self) {
        self.bell().stopped = true;
        self.0 .1.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        self.bell().stopped
    }

    /// Waits until rung, stopped, or `timeout` has passed.
    pub fn wait(&self, timeout: Duration) -> Wake {
        let deadline = Instant::now() + timeout;
        let mut bell = self.bell();
        loop {
            if bell.stopped {
                return Wake::Stop;
            }
            if !bell.rung.is_empty() {
                return Wake::Rung(std::mem::take(&mut bell.rung));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wake::Timeout;
            }
            bell = self.0 .1.wait_timeout(bell, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_before_the_wait_is_not_lost_and_stop_wins() {
        let bell = Doorbell::default();
        bell.ring("due_releases");
        bell.ring("due_releases");
        assert_eq!(bell.wait(Duration::from_secs(5)), Wake::Rung(vec!["due_releases"]));
        assert_eq!(bell.wait(Duration::from_millis(1)), Wake::Timeout);
        bell.ring("due_releases");
        bell.stop();
        assert_eq!(bell.wait(Duration::from_secs(5)), Wake::Stop);
    }

    #[test]
    fn a_ring_from_another_thread_ends_the_wait() {
        let bell = Doorbell::default();
        let ringer = bell.clone();
        let thread = std::thread::spawn(move || ringer.ring("due_releases"));
        assert_eq!(bell.wait(Duration::from_secs(30)), Wake::Rung(vec!["due_releases"]));
        thread.join().unwrap();
    }
}
