//! The HTTP API: actix handlers (one file per resource), their DTOs, the
//! OpenAPI contract, and the problem+json mapping. Handlers stay thin: they
//! parse, call one service function on a blocking thread, and shape the answer.

pub mod accounts;
pub mod components;
pub mod conditional;
pub mod drafts;
pub mod extract;
mod fallback;
pub mod groups;
pub mod health;
mod idempotency;
pub mod installations;
mod middleware;
pub mod packs;
pub mod problem;
pub mod releases;
pub mod worker;

use std::sync::Arc;

use actix_web::{web, App, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
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
}

impl AppState {
    /// After a committed change to the release schedule: the worker of this
    /// process looks again at once (others notice on their poll).
    pub fn schedule_changed(&self) {
        self.doorbell.ring(crate::worker::DUE_RELEASES);
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
        let state = self.clone();
        self.blocking(move |conn| {
            let now = state.clock.now();
            let (caller, token_id) = auth::authenticate(conn, &state.settings, &bearer.token, now)?;
            let ctx = Ctx { caller, token_id, now, time_zone: state.settings.release_time_zone };
            match &bearer.claim {
                Some(claim) => commit_with_work(conn, claim, |conn| f(conn, &ctx)),
                None => f(conn, &ctx),
            }
        })
        .await
    }

    /// Runs database work on the blocking pool, keeping the request's tracing span.
    pub async fn blocking<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        web::block(move || {
            let _entered = span.enter();
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

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token: `Authorization: Bearer pr_...`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "packrelease",
        description = "Publish integration packs: bundle versioned process and API service components, \
                       release them now or on a date, and reach every subscriber account that has the pack installed.\n\n\
                       Every `/api/v1` call needs `Authorization: Bearer <token>`. Errors are RFC 9457 \
                       `application/problem+json` with a stable `code`. Lists answer `{\"items\": [...], \"next_cursor\": ...}`.\n\n\
                       Retry-safe and conflict-safe: send an `Idempotency-Key` with a POST to make a retry replay \
                       the first answer; every JSON answer carries an `ETag`, which `If-None-Match` turns into a 304 \
                       and `If-Match` (on changes to packs, drafts and releases) into a 412 `precondition_failed` when the \
                       resource changed since you read it. \
                       Every answer carries an `X-Request-Id` (yours, if you send one), which the server log names too."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(
        schemas(problem::Problem, crate::error::FieldError),
        responses(
            problem::responses::BadRequest,
            problem::responses::Unauthorized,
            problem::responses::Forbidden,
            problem::responses::NotFound,
            problem::responses::Conflict,
            problem::responses::PreconditionFailed,
            problem::responses::PayloadTooLarge,
            problem::responses::Unprocessable,
            problem::responses::Unavailable,
            problem::responses::InternalError,
        )
    ),
    tags(
        (name = "health", description = "Liveness and readiness (no token needed), and the release workers' status"),
        (name = "accounts", description = "Publisher and subscriber accounts and their API tokens"),
        (name = "components", description = "A publisher's components and their packaged versions"),
        (name = "integration-packs", description = "Integration packs and the components they hold"),
        (name = "account-groups", description = "Groups of subscriber accounts and the packs shared with them"),
        (name = "installations", description = "Packs installed in subscriber accounts, pending updates and pushes"),
        (name = "releases", description = "The release wizard: drafts (select versions), releases (schedule), history and schedule"),
    )
)]
struct ApiDoc;

/// Registers every documented route; what is registered here is what the contract lists.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).service(
        utoipa_actix_web::scope("/api/v1")
            .configure(accounts::routes)
            .configure(components::routes)
            .configure(packs::routes)
            .configure(drafts::routes)
            .configure(releases::routes)
            .configure(groups::routes)
            .configure(installations::routes)
            .configure(worker::routes),
    );
}

/// The OpenAPI contract, generated from the registered routes.
pub fn openapi() -> OpenApiDoc {
    let mut api = App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes).split_for_parts().1;
    document_idempotency(&mut api);
    conditional::document(&mut api);
    optional_bodies_are_not_null(&mut api);
    document_retry_after(&mut api);
    public_operations_need_no_token(&mut api);
    api
}

/// Operations outside `/api/v1` override the bearer requirement with an empty
/// list (`security: []`, "none"), which client generators read as "call
/// without credentials"; `[{}]` would read as "a credential of no scheme".
fn public_operations_need_no_token(api: &mut OpenApiDoc) {
    let public = api.paths.paths.iter_mut().filter(|(path, _)| !path.starts_with("/api/v1/"));
    for (_, item) in public {
        let operations = [&mut item.get, &mut item.post, &mut item.patch, &mut item.put, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            operation.security = Some(Vec::new());
        }
    }
}

/// A body that may be left out is documented as the object alone (not `oneOf
/// [null, object]`, which utoipa writes for `Option<T>`): `null` is not a body we take.
fn optional_bodies_are_not_null(api: &mut OpenApiDoc) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;
    let is_null = |schema: &RefOr<Schema>| matches!(schema, RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Null));
    for item in api.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.patch, &mut item.put, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            let contents = operation.request_body.iter_mut().flat_map(|body| body.content.values_mut());
            for content in contents {
                if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
                    if let [a, b] = one_of.items.as_slice() {
                        let object = if is_null(a) {
                            b
                        } else if is_null(b) {
                            a
                        } else {
                            continue;
                        };
                        content.schema = Some(object.clone());
                    }
                }
            }
        }
    }
}

/// The answers that may be retried as they are say when.
fn document_retry_after(api: &mut OpenApiDoc) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::{ObjectBuilder, RefOr, Type};
    let retry_after = HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer))
        .description(Some("Seconds to wait before retrying; present when the answer may be retried as it is"))
        .build();
    let responses = api.components.iter_mut().flat_map(|components| components.responses.iter_mut());
    for (name, response) in responses {
        if let (true, RefOr::T(response)) = (name == "Conflict" || name == "Unavailable", response) {
            response.headers.insert("Retry-After".into(), retry_after.clone());
        }
    }
}

/// Every POST the idempotency middleware covers takes the `Idempotency-Key` header.
fn document_idempotency(api: &mut OpenApiDoc) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    for (path, item) in api.paths.paths.iter_mut() {
        let Some(operation) =
            item.post.as_mut().filter(|_| idempotency::applies_to(&actix_web::http::Method::POST, path))
        else {
            continue;
        };
        let parameter = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes a retry safe: the first answer (2xx or 4xx) to this key and body is stored for 24 hours \
                 and replayed (with `Idempotent-Replayed: true`). The same key with a different body is a 422 \
                 `idempotency_key_reused`. A duplicate sent while the first request still runs waits for its answer \
                 (up to 10 seconds, then 409 `idempotency_in_progress`). The key's record commits with the work: \
                 if the server stopped after the work but before answering, a retry gets 409 \
                 `idempotency_answer_lost` and the work is not done again.",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
            .build();
        operation.parameters.get_or_insert_with(Vec::new).push(parameter);
        let replayed = utoipa::openapi::header::HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Boolean))
            .description(Some("`true` when this is the stored answer to an earlier request with the same key"))
            .build();
        let successes = operation.responses.responses.iter_mut().filter(|(status, _)| status.starts_with('2'));
        for (_, response) in successes {
            if let utoipa::openapi::RefOr::T(response) = response {
                response.headers.insert("Idempotent-Replayed".into(), replayed.clone());
            }
        }
    }
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

pub use extract::BodyRules;
pub use fallback::RouteTable;

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
