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
    /// Where lines go; held while a chunk taken from the buffer is written, so chunks go out in order.
    output: Mutex<Box<dyn Write + Send>>,
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
        let mut output = lock(&self.output);
        let chunk = std::mem::take(&mut *lock(&self.buffer));
        if !chunk.is_empty() {
            // Nowhere left to report a failure to write the log.
            let _ = output.write_all(&chunk).and_then(|()| output.flush());
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

/// The writer to stderr and the guard that ends its thread.
pub fn buffered_stderr() -> (BufferedStderr, FlushGuard) {
    buffered(Box::new(std::io::stderr()))
}

fn buffered(output: Box<dyn Write + Send>) -> (BufferedStderr, FlushGuard) {
    let shared = Arc::new(Shared {
        buffer: Mutex::new(Vec::with_capacity(64 * 1024)),
        output: Mutex::new(output),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read while the writer holds it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(sink: &Sink) -> Vec<String> {
        String::from_utf8(lock(&sink.0).clone()).expect("utf-8").lines().map(str::to_string).collect()
    }

    #[test]
    fn every_line_arrives_whole_and_in_each_writers_order_by_the_time_the_guard_is_dropped() {
        let sink = Sink::default();
        let (writer, guard) = buffered(Box::new(sink.clone()));
        let writer = Arc::new(writer);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    // Past HIGH_WATER in all: writers drain the buffer themselves too.
                    for n in 0..20_000 {
                        (&*writer).write_all(format!("{t} {n:06} {}\n", "x".repeat(20)).as_bytes()).expect("write");
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|thread| thread.join().expect("writer"));
        drop(guard);
        let lines = lines(&sink);
        assert_eq!(lines.len(), 80_000);
        for t in 0..4 {
            let mine: Vec<&String> = lines.iter().filter(|line| line.starts_with(&format!("{t} "))).collect();
            assert_eq!(mine.len(), 20_000);
            assert!(mine.windows(2).all(|pair| pair[0] < pair[1]), "writer {t}'s lines out of order");
        }
    }

    #[test]
    fn a_line_is_written_out_without_waiting_for_the_guard() {
        let sink = Sink::default();
        let (writer, _guard) = buffered(Box::new(sink.clone()));
        (&writer).write_all(b"hello\n").expect("write");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while lines(&sink).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lines(&sink), vec!["hello".to_string()]);
    }
}
