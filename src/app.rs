//! Builds the HTTP server on a listener it binds itself, so tests can ask for port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::db::DbPool;
use crate::http::metrics::{HttpMetrics, MetricsAt};
use crate::http::{self, AppState, RouteTable};
use crate::service::webhooks::UrlGuard;
use crate::service::{auth, Settings};
use crate::worker::Doorbell;

pub struct ServerConfig {
    pub bind: String,
    pub admin_token: Option<String>,
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive (then 408).
    pub body_read_timeout: std::time::Duration,
    pub release_time_zone: chrono_tz::Tz,
    /// Browser origins allowed by CORS; empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// How long a duplicate `Idempotency-Key` request waits for the first one's answer.
    pub idempotency_wait: std::time::Duration,
    /// Rung when the API changes the release schedule: the embedded worker's.
    pub doorbell: Doorbell,
    /// Where webhook endpoints may point.
    pub webhook_guard: UrlGuard,
    /// Where `/metrics` is served: on this address, on one of its own, or nowhere.
    pub metrics: MetricsAt,
}

pub struct Application {
    server: Server,
    port: u16,
    /// The listener of its own that `/metrics` has, when configured so.
    metrics_server: Option<(Server, u16)>,
}

impl Application {
    pub fn build(config: &ServerConfig, pool: DbPool, clock: Arc<dyn Clock>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(&config.bind)?;
        let port = listener.local_addr()?.port();
        let settings = Settings {
            admin_token_hash: config.admin_token.as_deref().map(auth::hash_token),
            release_time_zone: config.release_time_zone,
            webhook_guard: config.webhook_guard.clone(),
        };
        let metrics = (config.metrics != MetricsAt::Off).then(|| Arc::new(HttpMetrics::new()));
        let state = AppState {
            pool,
            clock,
            settings: Arc::new(settings),
            idempotency_wait: config.idempotency_wait,
            doorbell: config.doorbell.clone(),
            metrics,
            serves_metrics: config.metrics == MetricsAt::Api,
        };
        let metrics_server = match &config.metrics {
            MetricsAt::Bind(address) => Some(Self::metrics_server(address, &state)?),
            MetricsAt::Api | MetricsAt::Off => None,
        };
        let openapi = http::openapi();
        let route_table = Arc::new(RouteTable::new(&openapi));
        let body_rules = http::BodyRules { limit: config.max_body_bytes, read_timeout: config.body_read_timeout };
        let origins: Arc<[String]> = config.cors_allowed_origins.clone().into();
        let server = HttpServer::new(move || {
            http::app(state.clone(), body_rules, &origins, openapi.clone(), route_table.clone())
        })
        .listen(listener)?
        .shutdown_timeout(5)
        .run();
        Ok(Self { server, port, metrics_server })
    }

    /// `/metrics` alone, on its own address (one worker thread is plenty).
    fn metrics_server(address: &str, api: &AppState) -> std::io::Result<(Server, u16)> {
        let listener = TcpListener::bind(address)?;
        let port = listener.local_addr()?.port();
        let state = AppState { serves_metrics: true, ..api.clone() };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .configure(http::metrics_only)
                .wrap(actix_web::middleware::from_fn(http::request_context))
        })
        .workers(1)
        .listen(listener)?
        .shutdown_timeout(1)
        .run();
        Ok((server, port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `/metrics`'s own listener, when it has one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT/SIGTERM, or the handle).
    pub async fn run(self) -> std::io::Result<()> {
        match self.metrics_server {
            Some((metrics, _)) => {
                let metrics_handle = metrics.handle();
                let metrics = actix_web::rt::spawn(metrics);
                let served = self.server.await;
                // The API has stopped: so does its metrics listener.
                metrics_handle.stop(true).await;
                let _ = metrics.await;
                served
            }
            None => self.server.await,
        }
    }
}
