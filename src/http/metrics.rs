//! `GET /metrics` in the Prometheus text format: this process's HTTP requests
//! and connection pool, counted as they happen, and what the database tells
//! (the release schedule, every worker's job rows, the delivery queue), read
//! at each scrape.

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{get, web, HttpResponse};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

use super::problem::responses::NotFound;
use super::AppState;
use crate::error::AppError;
use crate::service::metrics::{self as service, Snapshot, LATENESS_BUCKETS};

/// Where `/metrics` is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAt {
    /// On the API's own address (the default).
    Api,
    /// On a listener of its own at this address.
    Bind(String),
    /// Nowhere; nothing is counted either.
    Off,
}

impl std::str::FromStr for MetricsAt {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "" | "api" | "on" => Ok(Self::Api),
            "off" => Ok(Self::Off),
            address if address.parse::<std::net::SocketAddr>().is_ok() => Ok(Self::Bind(address.to_string())),
            other => Err(format!("'{other}' is neither 'api', 'off' nor an address such as 127.0.0.1:9464")),
        }
    }
}

/// This process's HTTP counters. Labels are bounded: the route template (or
/// `unmatched`), one of the methods the API knows (or `other`), the status.
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub fn new() -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "packrelease_http_requests_total",
                "HTTP requests answered, by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("a valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "packrelease_http_request_duration_seconds",
                "Time from a request's arrival to its answer, by route template and method",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["route", "method"],
        )
        .expect("a valid metric");
        let registry = Registry::new();
        registry.register(Box::new(requests.clone())).expect("registered once");
        registry.register(Box::new(duration.clone())).expect("registered once");
        Self { registry, requests, duration }
    }

    /// Counts one answered request; `route` is its template, if one matched.
    pub fn observe(&self, route: Option<&str>, method: &Method, status: StatusCode, elapsed: Duration) {
        let route = route.unwrap_or("unmatched");
        let method = match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::POST => "POST",
            Method::PATCH => "PATCH",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        self.requests.with_label_values(&[route, method, status.as_str()]).inc();
        self.duration.with_label_values(&[route, method]).observe(elapsed.as_secs_f64());
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Metrics for Prometheus (text format 0.0.4); no token needed. Served here
/// unless `PACKRELEASE_METRICS` moves it to an address of its own or turns it off (then 404).
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Every metric, in the Prometheus text format", content_type = "text/plain; version=0.0.4", body = String),
        (status = 404, response = NotFound),
    )
)]
#[get("/metrics")]
pub async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let Some(http) = state.metrics.as_ref().filter(|_| state.serves_metrics) else {
        return Err(AppError::NotFound);
    };
    let now = state.clock.now();
    let snapshot = state.blocking(move |conn| service::snapshot(conn, now)).await;
    let mut families = http.registry.gather();
    families.extend(database_families(snapshot.as_ref().ok()));
    families.extend(pool_families(&state.pool));
    if let Err(error) = &snapshot {
        tracing::warn!(error = %error.chain(), "metrics: cannot read the database");
    }
    // A family with no sample yet (no worker has a row) is left out, as the format wants.
    families.retain(|family| !family.get_metric().is_empty());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let (encoder, mut body) = (TextEncoder::new(), Vec::new());
    encoder.encode(&families, &mut body).map_err(AppError::internal)?;
    Ok(HttpResponse::Ok().content_type(encoder.format_type()).body(body))
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_string());
    family.set_help(help.to_string());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

/// One sample of a counter or gauge.
fn sample(kind: MetricType, labels: &[(&str, &str)], value: f64) -> proto::Metric {
    let mut metric = proto::Metric::default();
    metric.set_label(
        labels
            .iter()
            .map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name(name.to_string());
                pair.set_value(value.to_string());
                pair
            })
            .collect(),
    );
    match kind {
        MetricType::COUNTER => {
            let mut counter = proto::Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        }
        _ => {
            let mut gauge = proto::Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
    }
    metric
}

fn gauge(name: &str, help: &str, value: f64) -> MetricFamily {
    family(name, help, MetricType::GAUGE, vec![sample(MetricType::GAUGE, &[], value)])
}

/// One sample per `(label value, value)`.
fn by_label(
    name: &str,
    help: &str,
    kind: MetricType,
    label: &str,
    values: impl IntoIterator<Item = (impl AsRef<str>, f64)>,
) -> MetricFamily {
    let metrics = values.into_iter().map(|(value, v)| sample(kind, &[(label, value.as_ref())], v)).collect();
    family(name, help, kind, metrics)
}

fn database_families(snapshot: Option<&Snapshot>) -> Vec<MetricFamily> {
    let up =
        gauge("packrelease_database_up", "1 when this scrape could read the database", f64::from(snapshot.is_some()));
    let Some(s) = snapshot else { return vec![up] };
    let lateness = {
        let mut histogram = proto::Histogram::default();
        histogram.set_sample_count(s.lateness.count);
        histogram.set_sample_sum(s.lateness.sum_seconds);
        histogram.set_bucket(
            LATENESS_BUCKETS
                .iter()
                .zip(&s.lateness.cumulative)
                .map(|(bound, count)| {
                    let mut bucket = proto::Bucket::default();
                    bucket.set_upper_bound(*bound);
                    bucket.set_cumulative_count(*count);
                    bucket
                })
                .collect(),
        );
        let mut metric = proto::Metric::default();
        metric.set_histogram(histogram);
        family(
            "packrelease_release_lateness_seconds",
            "Dated releases carried out: seconds from due_at to going out (a rollout's first wave)",
            MetricType::HISTOGRAM,
            vec![metric],
        )
    };
    let carried_out = [("false", s.lateness.count - s.lateness.late), ("true", s.lateness.late)];
    let jobs = |f: fn(&service::JobTotals) -> f64| s.jobs.iter().map(move |(job, totals)| (job.as_str(), f(totals)));
    let job_items = s.jobs.iter().flat_map(|(job, t)| {
        [("done", t.done), ("failed", t.failed)].map(|(outcome, n)| (job.as_str(), outcome, n as f64))
    });
    let mut families = vec![
        up,
        by_label(
            "packrelease_releases",
            "Releases by status",
            MetricType::GAUGE,
            "status",
            s.releases_by_status.iter().map(|(status, n)| (status, *n as f64)),
        ),
        by_label(
            "packrelease_releases_carried_out_total",
            "Dated releases the worker carried out, by whether they went out after their window (late)",
            MetricType::COUNTER,
            "late",
            carried_out.map(|(late, n)| (late, n as f64)),
        ),
        lateness,
        gauge(
            "packrelease_releases_due_not_done",
            "Dated releases past due_at and not carried out yet",
            s.releases_due_not_done as f64,
        ),
        gauge(
            "packrelease_rollout_waves_due_not_done",
            "Nightly rollout waves past due and not started yet",
            s.waves_due_not_done as f64,
        ),
        by_label(
            "packrelease_worker_passes_total",
            "Passes made by every worker, by job",
            MetricType::COUNTER,
            "job",
            jobs(|t| t.passes as f64),
        ),
        by_label(
            "packrelease_worker_errors_total",
            "Passes that could not be made (then retried with backoff), by job",
            MetricType::COUNTER,
            "job",
            jobs(|t| t.errors as f64),
        ),
        family(
            "packrelease_worker_items_total",
            "Items the workers' jobs did (releases and waves carried out, deliveries sent, rows pruned) or set aside as failed",
            MetricType::COUNTER,
            job_items
                .map(|(job, outcome, n)| sample(MetricType::COUNTER, &[("job", job), ("outcome", outcome)], n))
                .collect(),
        ),
        by_label(
            "packrelease_worker_last_pass_timestamp_seconds",
            "When any worker last completed a pass of the job (Unix time)",
            MetricType::GAUGE,
            "job",
            s.jobs
                .iter()
                .filter_map(|(job, t)| t.last_pass_at.map(|at| (job.as_str(), at.timestamp_millis() as f64 / 1e3))),
        ),
        by_label(
            "packrelease_webhook_deliveries",
            "Webhook deliveries kept (for the retention), by status",
            MetricType::GAUGE,
            "status",
            s.deliveries_by_status.iter().map(|(status, n)| (status, *n as f64)),
        ),
        gauge(
            "packrelease_webhook_queue_depth",
            "Webhook deliveries waiting to be sent (pending)",
            s.deliveries_by_status.iter().filter(|(status, _)| status == "pending").map(|(_, n)| *n as f64).sum(),
        ),
        gauge(
            "packrelease_webhook_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none waits)",
            s.oldest_pending_delivery_age_seconds.unwrap_or(0.0),
        ),
    ];
    if let Some(bytes) = s.sqlite_wal_bytes {
        families.push(gauge("packrelease_sqlite_wal_bytes", "Size of the SQLite write-ahead log", bytes as f64));
    }
    families
}

fn pool_families(pool: &crate::db::DbPool) -> Vec<MetricFamily> {
    let state = pool.state();
    vec![
        gauge("packrelease_db_pool_max_connections", "The connection pool's size", f64::from(pool.max_size())),
        by_label(
            "packrelease_db_pool_connections",
            "Open connections of this process's pool, idle or in use",
            MetricType::GAUGE,
            "state",
            [
                ("idle", f64::from(state.idle_connections)),
                ("in_use", f64::from(state.connections - state.idle_connections)),
            ],
        ),
    ]
}
