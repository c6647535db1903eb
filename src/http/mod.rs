//! The HTTP API: actix handlers (one file per resource), their DTOs, the
//! OpenAPI contract, and the problem+json mapping. Handlers stay thin: they
//! parse, call one service function on a blocking thread, and shape the answer.

pub mod accounts;
pub mod components;
pub mod conditional;
mod contract;
pub mod drafts;
pub mod extract;
mod fallback;
pub mod groups;
pub mod health;
mod idempotency;
pub mod installations;
pub mod metrics;
mod middleware;
pub mod packs;
pub mod problem;
pub mod releases;
pub mod rollouts;
mod timestamps;
pub mod webhooks;
pub mod worker;

use std::sync::Arc;

use actix_web::{web, App, HttpResponse};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::clock::Clock;
use crate::db::{DbConnection, DbPool};
use crate::error::{AppError, AppResult};
use crate::service::idempotency::commit_with_work;
use crate::service::{auth, Ctx, Settings};
use extract::Bearer;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// How long a duplicate of a request still running waits for its answer
    /// before it gets 409 `idempotency_in_progress`.
    pub idempotency_wait: std::time::Duration,
    /// Wakes the worker of this process when the release schedule changes.
    pub doorbell: crate::worker::Doorbell,
    /// This process's HTTP counters; none when metrics are off.
    pub metrics: Option<Arc<metrics::HttpMetrics>>,
    /// Whether `/metrics` answers on this server (not when it has its own address).
    pub serves_metrics: bool,
}

impl AppState {
    /// After a committed change to the release schedule: the worker of this
    /// process looks again at once (others notice on their poll).
    pub fn schedule_changed(&self) {
        self.doorbell.ring(crate::worker::DUE_RELEASES);
    }

    /// After a committed change that may have made webhook deliveries: the
    /// worker of this process sends them at once.
    pub fn deliveries_queued(&self) {
        self.doorbell.ring(crate::worker::DELIVERIES);
    }

    /// Authenticates the bearer token and runs `f` as that caller, on a
    /// blocking thread with a connection checked out there (never on an actix
    /// thread). Under an `Idempotency-Key`, `f` runs in one transaction with
    /// the key's mark that its work was done.
    pub async fn call<T, F>(&self, bearer: Bearer, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection, &Ctx) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.as_caller(bearer, false, f).await
    }

    /// `call` for a read (the GETs): `f` and the token check see one snapshot
    /// of the database (see `DbConnection::read_snapshot`). `f` must not write.
    pub async fn read<T, F>(&self, bearer: Bearer, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection, &Ctx) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.as_caller(bearer, true, f).await
    }

    async fn as_caller<T, F>(&self, bearer: Bearer, snapshot: bool, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection, &Ctx) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let state = self.clone();
        self.blocking(move |conn| {
            let run = |conn: &mut DbConnection| {
                let now = state.clock.now();
                let (caller, token_id) = auth::authenticate(conn, &state.settings, &bearer.token, now)?;
                let ctx = Ctx { caller, token_id, now, time_zone: state.settings.release_time_zone };
                match &bearer.claim {
                    Some(claim) => commit_with_work(conn, claim, |conn| f(conn, &ctx)),
                    None => f(conn, &ctx),
                }
            };
            match snapshot {
                true => conn.read_snapshot(run),
                false => run(conn),
            }
        })
        .await
    }

    /// Runs database work on the blocking pool; its log lines name the request.
    pub async fn blocking<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let request = crate::log_format::current();
        web::block(move || {
            let _entered = crate::log_format::enter(request);
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(AppError::internal)?
    }
}

/// 201 with `Location` and the created resource.
pub fn created<T: serde::Serialize>(location: String, body: &T) -> HttpResponse {
    HttpResponse::Created().insert_header((actix_web::http::header::LOCATION, location)).json(body)
}

/// Registers every documented route; what is registered here is what the contract lists.
/// Grouped in a scope per first segment: actix tries a scope's routes one by
/// one (a regex each for those with parameters), so a request is matched
/// against its own group's routes only, not against every route before it.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).service(metrics::scrape).service(
        utoipa_actix_web::scope("/api/v1")
            .service(
                utoipa_actix_web::scope("/accounts")
                    .configure(accounts::accounts_routes)
                    .configure(rollouts::accounts_routes)
                    .configure(installations::accounts_routes)
                    .configure(webhooks::accounts_routes),
            )
            .service(utoipa_actix_web::scope("/components").configure(components::components_routes))
            .service(
                utoipa_actix_web::scope("/integration-packs")
                    .configure(packs::integration_packs_routes)
                    .configure(drafts::integration_packs_routes)
                    .configure(releases::integration_packs_routes),
            )
            .service(
                utoipa_actix_web::scope("/release-drafts")
                    .configure(drafts::release_drafts_routes)
                    .configure(releases::release_drafts_routes),
            )
            .service(
                utoipa_actix_web::scope("/releases")
                    .configure(releases::releases_routes)
                    .configure(rollouts::releases_routes)
                    .configure(installations::releases_routes)
                    .configure(webhooks::releases_routes),
            )
            .service(utoipa_actix_web::scope("/release-schedule").configure(releases::release_schedule_routes))
            .service(utoipa_actix_web::scope("/account-groups").configure(groups::account_groups_routes))
            .service(utoipa_actix_web::scope("/webhook-deliveries").configure(webhooks::webhook_deliveries_routes))
            .service(utoipa_actix_web::scope("/worker").configure(worker::worker_routes)),
    );
}

/// The whole application: API, Swagger UI, the problem+json fallbacks and the request middleware.
pub fn app(
    state: AppState,
    body_rules: BodyRules,
    cors_allowed_origins: &[String],
    openapi: OpenApiDoc,
    route_table: Arc<fallback::RouteTable>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, _) = App::new()
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(body_rules.limit))
        .app_data(body_rules)
        .app_data(web::PathConfig::default().error_handler(extract::path_error))
        .app_data(web::QueryConfig::default().error_handler(extract::query_error))
        .app_data(web::Data::from(route_table))
        .into_utoipa_app()
        .configure(routes)
        .split_for_parts();
    app.service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", openapi))
        .service(web::redirect("/swagger-ui", "/swagger-ui/"))
        .default_service(web::to(fallback::unmatched))
        .wrap(actix_web::middleware::from_fn(idempotency::idempotency))
        .wrap(actix_web::middleware::from_fn(conditional::conditional))
        .wrap(actix_web::middleware::Condition::new(!cors_allowed_origins.is_empty(), cors(cors_allowed_origins)))
        .wrap(actix_web::middleware::from_fn(middleware::request_context))
}

/// What `/metrics`'s own listener serves: that route alone, and problem+json
/// 404s for everything else (wrap it in [`request_context`] too).
pub fn metrics_only(cfg: &mut web::ServiceConfig) {
    cfg.service(metrics::scrape).default_service(web::to(|| async { Err::<HttpResponse, _>(AppError::NotFound) }));
}

/// CORS for browser frontends on the configured origins: the headers a client
/// sends (token, conditions, idempotency key) and those it may read back.
fn cors(origins: &[String]) -> actix_cors::Cors {
    use actix_web::http::header;
    origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "HEAD", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            idempotency::IDEMPOTENCY_KEY.clone(),
            middleware::REQUEST_ID.clone(),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            middleware::REQUEST_ID.clone(),
            idempotency::REPLAYED.clone(),
        ])
        .max_age(3600)
}

pub use contract::openapi;
pub use extract::BodyRules;
pub use fallback::RouteTable;
pub use middleware::request_context;

/// Declares the `{"items": [...], "next_cursor": ...}` envelope of a list.
macro_rules! list_response {
    ($name:ident, $item:ty) => {
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; null on the last page.
            #[schema(required = true)]
            pub next_cursor: Option<String>,
        }

        impl<T: Into<$item>> From<crate::store::Page<T>> for $name {
            fn from(page: crate::store::Page<T>) -> Self {
                Self { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }
            }
        }
    };
}
pub(crate) use list_response;
