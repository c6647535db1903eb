//! What a log line says: the text and JSON line formats, and the request a
//! line belongs to.
//!
//! A line written while a request is served names that request (its method,
//! path and id) the way a tracing span would, as `request{...}:` in text and
//! under `span` in JSON. The request is kept in a thread-local for as long as
//! its future is polled (`Scoped`) and while its database work runs on the
//! blocking pool (`enter`), not in a tracing span: a span per request cost
//! the read path about a tenth of its CPU (formatting its fields when it was
//! opened, entering and leaving it on every poll, closing it), for lines that
//! only the access log and the rare error write.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::http::Method;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::domain::text::{self, Fraction};

/// The request a log line belongs to.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub id: String,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Request>>> = const { RefCell::new(None) };
}

/// The request this thread serves now, if any.
pub fn current() -> Option<Arc<Request>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Lines written until this is dropped belong to the request it was made for.
#[must_use]
pub struct Entered {
    previous: Option<Arc<Request>>,
}

/// Makes `request` this thread's request until the guard is dropped (`None`: none).
pub fn enter(request: Option<Arc<Request>>) -> Entered {
    Entered { previous: CURRENT.with(|current| current.replace(request)) }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// A future whose lines belong to a request, on whichever thread polls it.
pub struct Scoped<F> {
    request: Arc<Request>,
    inner: F,
}

pub fn scoped<F: Future + Unpin>(request: Arc<Request>, inner: F) -> Scoped<F> {
    Scoped { request, inner }
}

impl<F: Future + Unpin> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = enter(Some(self.request.clone()));
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// The time now as log lines show it (`2026-12-03T08:43:21.622290Z`).
fn write_now(writer: &mut Writer<'_>) -> fmt::Result {
    match text::rfc3339_utc(&chrono::Utc::now().naive_utc(), Fraction::Micros) {
        Some(now) => writer.write_str(now.as_str()),
        None => SystemTime.format_time(writer),
    }
}

/// An event's fields as tracing's default text format writes them (the
/// message first if it comes first, bare; then `name=value`, Debug-formatted),
/// with integers and strings written directly.
struct TextFields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl TextFields<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if std::mem::take(&mut self.first) { "" } else { " " };
        self.result = self.writer.write_str(separator).and_then(|()| match field.name() {
            "message" => value(self.writer),
            name => {
                self.writer.write_str(name.strip_prefix("r#").unwrap_or(name))?;
                self.writer.write_char('=')?;
                value(self.writer)
            }
        });
    }
}

impl Visit for TextFields<'_, '_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |writer| writer.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |writer| writer.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |writer| write!(writer, "{value:?}"));
    }
}

/// Text lines, as tracing's default format writes them:
/// `2026-12-03T08:43:21.622290Z  INFO request{method=GET path=/healthz request_id=...}: target: message key=value`.
pub struct TextLines;

/// JSON lines, as tracing's JSON format writes them: `timestamp`, `level`,
/// `fields` (with `message`), `target`, and the request under `span`.
pub struct JsonLines;

/// A text line's level, right-aligned in five columns, and its colour.
fn level_words(level: &Level) -> (&'static str, &'static str) {
    match *level {
        Level::ERROR => ("ERROR", "\x1b[31m"),
        Level::WARN => (" WARN", "\x1b[33m"),
        Level::INFO => (" INFO", "\x1b[32m"),
        Level::DEBUG => ("DEBUG", "\x1b[34m"),
        Level::TRACE => ("TRACE", "\x1b[35m"),
    }
}

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let ansi = writer.has_ansi_escapes();
        if ansi {
            writer.write_str("\x1b[2m")?;
        }
        write_now(&mut writer)?;
        // Written piece by piece: `write!` costs the formatting machinery per line.
        let (level, colour) = level_words(meta.level());
        if ansi {
            for piece in ["\x1b[0m ", colour, level, "\x1b[0m "] {
                writer.write_str(piece)?;
            }
        } else {
            for piece in [" ", level, " "] {
                writer.write_str(piece)?;
            }
        }
        if let Some(request) = current() {
            let pieces = [
                "request{method=",
                request.method.as_str(),
                " path=",
                &request.path,
                " request_id=",
                &request.id,
                "}: ",
            ];
            for piece in pieces {
                writer.write_str(piece)?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = TextFields { writer: &mut writer, first: true, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// An event's fields as a JSON object.
struct JsonFields(serde_json::Map<String, serde_json::Value>);

impl JsonFields {
    fn put(&mut self, field: &Field, value: impl Into<serde_json::Value>) {
        self.0.insert(field.name().to_string(), value.into());
    }
}

impl Visit for JsonFields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

fn json(value: impl serde::Serialize) -> String {
    serde_json::to_string(&value).unwrap_or_else(|_| "null".to_string())
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = String::new();
        write_now(&mut Writer::new(&mut timestamp))?;
        let mut fields = JsonFields(serde_json::Map::new());
        event.record(&mut fields);
        write!(
            writer,
            "{{\"timestamp\":{},\"level\":\"{}\",\"fields\":{},\"target\":{}",
            json(&timestamp),
            meta.level(),
            json(&fields.0),
            json(meta.target())
        )?;
        if let Some(request) = current() {
            write!(
                writer,
                ",\"span\":{{\"method\":{},\"path\":{},\"request_id\":{},\"name\":\"request\"}}",
                json(request.method.as_str()),
                json(&request.path),
                json(&request.id)
            )?;
        }
        writeln!(writer, "}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> Arc<Request> {
        Arc::new(Request { method: Method::GET, path: "/healthz".into(), id: id.into() })
    }

    #[test]
    fn a_scope_ends_with_its_guard_and_restores_the_one_around_it() {
        assert!(current().is_none());
        let outer = enter(Some(request("outer")));
        {
            let _inner = enter(Some(request("inner")));
            assert_eq!(current().map(|r| r.id.clone()).as_deref(), Some("inner"));
        }
        assert_eq!(current().map(|r| r.id.clone()).as_deref(), Some("outer"));
        drop(outer);
        assert!(current().is_none());
    }

    #[test]
    fn a_scoped_future_names_its_request_only_while_it_is_polled() {
        let seen = futures_util::FutureExt::now_or_never(scoped(request("polled"), Box::pin(async { current() })));
        assert_eq!(seen.flatten().map(|r| r.id.clone()).as_deref(), Some("polled"));
        assert!(current().is_none());
    }

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `format` writes for a warning inside a request and a line outside any.
    fn lines_of<F>(format: F) -> Vec<String>
    where
        F: FormatEvent<tracing_subscriber::Registry, tracing_subscriber::fmt::format::DefaultFields>
            + Send
            + Sync
            + 'static,
    {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = Arc::new(Request { method: Method::POST, path: "/a \"b\"".into(), id: "r-1".into() });
            let entered = enter(Some(request));
            tracing::warn!(attempts = 3u64, offset = -2i64, error = %"disk \"full\"", "could not store");
            drop(entered);
            tracing::info!("outside");
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn text_lines_name_the_request_and_write_the_fields_as_tracing_does() {
        let lines = lines_of(TextLines);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let (time, rest) = lines[0].split_once(' ').unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        assert_eq!(time.len(), "2026-12-03T08:43:21.622290Z".len());
        assert_eq!(
            rest,
            " WARN request{method=POST path=/a \"b\" request_id=r-1}: packrelease::log_format::tests: \
             could not store attempts=3 offset=-2 error=disk \"full\""
        );
        assert!(lines[1].ends_with("  INFO packrelease::log_format::tests: outside"), "{}", lines[1]);
    }

    #[test]
    fn json_lines_are_objects_with_the_request_under_span() {
        let lines = lines_of(JsonLines);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let warning: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(warning["level"], "WARN");
        assert_eq!(warning["target"], "packrelease::log_format::tests");
        assert_eq!(
            warning["fields"],
            serde_json::json!({"message": "could not store", "attempts": 3, "offset": -2, "error": "disk \"full\""})
        );
        assert_eq!(
            warning["span"],
            serde_json::json!({"method": "POST", "path": "/a \"b\"", "request_id": "r-1", "name": "request"})
        );
        assert!(chrono::DateTime::parse_from_rfc3339(warning["timestamp"].as_str().unwrap()).is_ok());
        let outside: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(outside["fields"]["message"], "outside");
        assert!(outside.get("span").is_none());
    }
}
