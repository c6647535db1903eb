//! Configuration shared by the binaries, from flags and `PACKRELEASE_*` variables.

use clap::Args;

pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
pub const DEFAULT_BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a retry that arrives while its first request still runs waits for
/// that answer (then 409 `idempotency_in_progress`, with `Retry-After`).
pub const IDEMPOTENCY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A binary's exit: 0, or 1 with `error: <message>` on stderr.
pub fn exit_code(result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// How the binaries log.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter (tracing EnvFilter syntax), such as `info` or `packrelease=debug`.
    #[arg(long, env = "PACKRELEASE_LOG", default_value = "info", global = true)]
    pub log: String,
    /// `text` for people, or `json`: one JSON object per line (the request's
    /// id, method and path under `span`), for log pipelines.
    #[arg(long, env = "PACKRELEASE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
    pub log_format: String,
}

/// Logs to stderr with a tracing `EnvFilter` (`info` when it does not parse),
/// as text (in colour only on a terminal) or JSON lines. Lines are written by
/// a thread of their own, off the request path (`log_writer`); the returned
/// guard writes what is left when the binary ends, so keep it until then.
pub fn init_logging(args: &LogArgs) -> crate::log_writer::FlushGuard {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = crate::log_writer::buffered_stderr();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match args.log_format.as_str() {
        "json" => builder.with_ansi(false).event_format(crate::log_format::JsonLines).init(),
        _ => builder.with_ansi(ansi).event_format(crate::log_format::TextLines).init(),
    }
    guard
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// SQLite file path (or sqlite://PATH) or a postgres:// URL.
    #[arg(long, env = "PACKRELEASE_DATABASE_URL", default_value = "packrelease.db", global = true)]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "PACKRELEASE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// A fixed admin token. When unset, the first start mints one and prints it once.
    #[arg(long, env = "PACKRELEASE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Largest JSON body accepted, in bytes (larger ones get a 413 problem).
    #[arg(long, env = "PACKRELEASE_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive (a slower one gets a 408 problem).
    #[arg(long, env = "PACKRELEASE_BODY_READ_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub body_read_timeout: std::time::Duration,
    /// Browser origins allowed to call the API (CORS), such as
    /// https://app.example.com; repeat the flag or separate with commas. None by default.
    #[arg(long = "cors-allowed-origin", env = "PACKRELEASE_CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<String>,
    #[command(flatten)]
    pub release: ReleaseArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Do not run the release worker in this process (where dedicated
    /// `packrelease-worker` processes run).
    #[arg(long, env = "PACKRELEASE_NO_WORKER")]
    pub no_worker: bool,
    /// Database connections in the pool.
    #[arg(long, env = "PACKRELEASE_DB_POOL_SIZE", default_value_t = 10)]
    pub pool_size: u32,
    /// Where Prometheus metrics (`/metrics`) are served: `api` (on the API's
    /// address, the default), `off`, or an address of their own such as 127.0.0.1:9464.
    #[arg(long, env = "PACKRELEASE_METRICS", default_value = "api")]
    pub metrics: crate::http::metrics::MetricsAt,
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after, and
/// no port when it is the scheme's default (browsers leave it out).
fn parse_origin(raw: &str) -> Result<String, String> {
    let invalid = || format!("'{raw}' is not an origin such as https://app.example.com or http://localhost:3000");
    let text = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let uri: actix_web::http::Uri = text.parse().map_err(|_| invalid())?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else { return Err(invalid()) };
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return Err(invalid()),
    };
    let (host, port) = (authority.host(), authority.port_u16());
    // Nothing but a host and a numeric port (no user info, no port that does not parse).
    let exact = match port {
        Some(port) => authority.as_str() == format!("{host}:{port}"),
        None => authority.as_str() == host,
    };
    if uri.path() != "/" || uri.query().is_some() || host.is_empty() || !exact {
        return Err(invalid());
    }
    Ok(match port {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    /// The IANA time zone whose calendar release dates belong to; a release
    /// for date D is due at D 00:00 there.
    #[arg(long, env = "PACKRELEASE_RELEASE_TIME_ZONE", default_value = "America/New_York", value_parser = parse_time_zone)]
    pub release_time_zone: chrono_tz::Tz,
}

fn parse_time_zone(raw: &str) -> Result<chrono_tz::Tz, String> {
    raw.parse().map_err(|_| format!("'{raw}' is not an IANA time zone name such as America/New_York"))
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The longest the worker sleeps between passes, in seconds (fractions allowed, at most 15); it
    /// also wakes for the next due release, and when the same process schedules one.
    #[arg(long, env = "PACKRELEASE_WORKER_POLL_INTERVAL", default_value = "10", value_parser = parse_poll_interval)]
    pub poll_interval: std::time::Duration,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

impl WorkerArgs {
    /// The worker with every job: due releases, webhook deliveries, and
    /// housekeeping with the configured retention.
    pub fn register(
        &self,
        pool: crate::db::DbPool,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
        embedded: bool,
    ) -> Result<crate::worker::Worker, String> {
        use crate::worker::{Deliveries, Housekeeping, Worker};
        let sender = crate::delivery::Sender::new(
            self.webhooks.sender_config()?,
            std::sync::Arc::new(crate::delivery::SystemResolver),
        )?;
        let deliveries = Deliveries::new(pool.clone(), clock.clone(), sender, self.webhooks.rules())
            .map_err(|e| format!("cannot start webhook delivery: {e}"))?;
        Worker::register(pool, clock, self.poll_interval, embedded)
            .and_then(|worker| worker.with_job(Box::new(Housekeeping { retention: self.webhooks.retention() })))
            .and_then(|worker| worker.with_job(Box::new(deliveries)))
            .map_err(|e| format!("cannot start the worker: {e}"))
    }
}

/// Where and how webhooks are delivered.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Networks (CIDRs, comma-separated) webhook deliveries may go to, for
    /// development, tests and benchmarks: e.g. 127.0.0.0/8. Set, it is an
    /// allowlist: only IP literals and localhost, http:// allowed. Unset
    /// (production): only https:// URLs whose host resolves to public addresses.
    #[arg(long, env = "PACKRELEASE_WEBHOOK_ALLOWED_NETWORKS")]
    pub webhook_allowed_networks: Option<String>,
    /// Delays between attempts of a failed delivery, such as 1s,1s,2s; then it fails.
    #[arg(long, env = "PACKRELEASE_WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5m,30m,2h,5h,10h,14h,20h,24h")]
    pub webhook_retry_schedule: crate::domain::webhooks::RetrySchedule,
    /// PEM file of CA certificates trusted for HTTPS endpoints besides the
    /// public roots (a private CA in development or tests).
    #[arg(long, env = "PACKRELEASE_WEBHOOK_EXTRA_CA_FILE")]
    pub webhook_extra_ca_file: Option<std::path::PathBuf>,
    /// Seconds one delivery attempt may take in all (connecting takes at most 5 of them).
    #[arg(long, env = "PACKRELEASE_WEBHOOK_TIMEOUT", default_value = "15", value_parser = parse_seconds)]
    pub webhook_timeout: std::time::Duration,
    /// Seconds a worker holds a claimed delivery; longer than the timeout. A
    /// worker that dies mid-send leaves it to another once this lapses.
    #[arg(long, env = "PACKRELEASE_WEBHOOK_LEASE", default_value = "60", value_parser = parse_seconds)]
    pub webhook_lease: std::time::Duration,
    /// Deliveries in flight at once, per worker.
    #[arg(long, env = "PACKRELEASE_WEBHOOK_MAX_IN_FLIGHT", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhook_max_in_flight: u32,
    /// Deliveries in flight at once to one endpoint, across workers.
    #[arg(long, env = "PACKRELEASE_WEBHOOK_MAX_PER_ENDPOINT", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub webhook_max_per_endpoint: u32,
    /// Hours of nothing but failed attempts after which an endpoint is disabled.
    #[arg(long, env = "PACKRELEASE_WEBHOOK_DISABLE_AFTER_HOURS", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_disable_after_hours: u32,
    /// Days events and finished deliveries are kept.
    #[arg(long, env = "PACKRELEASE_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_days: u32,
}

impl WebhookArgs {
    pub fn policy(&self) -> Result<crate::domain::webhooks::AddressPolicy, String> {
        crate::domain::webhooks::AddressPolicy::from_allowed_networks(self.webhook_allowed_networks.as_deref())
            .map_err(|e| format!("PACKRELEASE_WEBHOOK_ALLOWED_NETWORKS: {e}"))
    }

    /// Where endpoints may point, as the API checks it on registration.
    pub fn url_guard(&self) -> Result<crate::service::webhooks::UrlGuard, String> {
        Ok(crate::service::webhooks::UrlGuard::new(self.policy()?))
    }

    pub fn sender_config(&self) -> Result<crate::delivery::SenderConfig, String> {
        if self.webhook_lease <= self.webhook_timeout {
            return Err("PACKRELEASE_WEBHOOK_LEASE must be longer than PACKRELEASE_WEBHOOK_TIMEOUT".into());
        }
        let mut config = crate::delivery::SenderConfig::new(self.policy()?);
        config.request_timeout = self.webhook_timeout;
        config.connect_timeout = config.connect_timeout.min(self.webhook_timeout);
        if let Some(path) = &self.webhook_extra_ca_file {
            config.extra_ca_pem = Some(
                std::fs::read(path).map_err(|e| format!("cannot read the extra CA file {}: {e}", path.display()))?,
            );
        }
        Ok(config)
    }

    pub fn rules(&self) -> crate::service::deliveries::DeliveryRules {
        crate::service::deliveries::DeliveryRules {
            schedule: self.webhook_retry_schedule.clone(),
            lease: self.webhook_lease,
            max_in_flight: self.webhook_max_in_flight as usize,
            per_endpoint: i64::from(self.webhook_max_per_endpoint),
            disable_after: chrono::Duration::hours(i64::from(self.webhook_disable_after_hours)),
            ..Default::default()
        }
    }

    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }
}

fn parse_seconds(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => Ok(std::time::Duration::from_secs_f64(seconds)),
        _ => Err(format!("'{raw}' is not a number of seconds above 0 and at most 3600")),
    }
}

fn parse_poll_interval(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 15.0 => Ok(std::time::Duration::from_secs_f64(seconds)),
        _ => Err(format!("'{raw}' is not a number of seconds above 0 and at most 15")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(parse_origin("https://App.example.com/").unwrap(), "https://app.example.com");
        assert_eq!(parse_origin("http://localhost:3000").unwrap(), "http://localhost:3000");
        assert_eq!(parse_origin("https://app.example.com:443").unwrap(), "https://app.example.com");
        assert_eq!(parse_origin("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        for bad in
            ["*", "app.example.com", "https://", "https://a.com/path", "ftp://a.com", "https://a b", "http://a:b"]
        {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
