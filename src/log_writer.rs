//! Where log lines go: a shared buffer that a thread of its own writes to
//! stderr every few milliseconds, so a request only appends its line.
//!
//! A channel to a writer thread (tracing-appender's design) wakes that thread
//! for nearly every line under load, a futex call and a context switch per
//! request; here the thread wakes on a timer, whatever the traffic. Nothing
//! is dropped: a writer that finds the buffer over `HIGH_WATER` writes it out
//! itself (so a flood of lines slows its callers rather than grows without
//! bound), and the guard writes what is left when the binary ends. Lines keep
//! their order: every write to stderr takes the buffer's content in order
//! under the `output` lock.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the buffer is written out.
const INTERVAL: Duration = Duration::from_millis(20);
/// A buffer this large is written out by the writer that filled it.
const HIGH_WATER: usize = 1024 * 1024;

struct Shared {
    buffer: Mutex<Vec<u8>>,
    /// Held while a chunk taken from the buffer is written, so chunks go out in order.
    output: Mutex<()>,
    stopping: Mutex<bool>,
    stop: Condvar,
}

/// Recovers the data of a lock whose holder panicked: a log line half-appended is still worth writing.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Writes out everything buffered so far.
    fn drain(&self) {
        let _output = lock(&self.output);
        let chunk = std::mem::take(&mut *lock(&self.buffer));
        if !chunk.is_empty() {
            let mut stderr = std::io::stderr().lock();
            // Nowhere left to report a failure to write the log.
            let _ = stderr.write_all(&chunk).and_then(|()| stderr.flush());
        }
    }
}

/// The `MakeWriter` for the fmt layer: each line is appended to the buffer.
pub struct BufferedStderr {
    shared: Arc<Shared>,
}

/// Writes what is still buffered when dropped; keep it until the binary ends.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The writer and the guard that ends its thread.
pub fn buffered_stderr() -> (BufferedStderr, FlushGuard) {
    let shared = Arc::new(Shared {
        buffer: Mutex::new(Vec::with_capacity(64 * 1024)),
        output: Mutex::new(()),
        stopping: Mutex::new(false),
        stop: Condvar::new(),
    });
    let flusher = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || loop {
            let stopping = lock(&flusher.stopping);
            let (stopping, _) =
                flusher.stop.wait_timeout(stopping, INTERVAL).unwrap_or_else(|poisoned| poisoned.into_inner());
            let stop = *stopping;
            drop(stopping);
            flusher.drain();
            if stop {
                break;
            }
        })
        .ok();
    (BufferedStderr { shared: shared.clone() }, FlushGuard { shared, thread })
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        *lock(&self.shared.stopping) = true;
        self.shared.stop.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.drain();
    }
}

impl Write for &BufferedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut buffer = lock(&self.shared.buffer);
            buffer.extend_from_slice(line);
            buffer.len() >= HIGH_WATER
        };
        if full {
            self.shared.drain();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = &'a BufferedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}
