//! The OpenAPI contract: the document utoipa derives from the registered
//! routes, and the passes that write into it what holds for whole classes of
//! operation (the problems each can answer, idempotency keys, conditional
//! requests, optional bodies, `Retry-After`, public health checks), so each
//! operation's annotation lists only what is its own.

use actix_web::App;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use super::{conditional, idempotency, problem, routes};

/// Every operation of the contract, with its method.
fn operations(api: &mut OpenApiDoc) -> impl Iterator<Item = (&String, &'static str, &mut Operation)> {
    api.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("patch", &mut item.patch),
            ("put", &mut item.put),
            ("delete", &mut item.delete),
        ]
        .into_iter()
        .filter_map(move |(method, operation)| operation.as_mut().map(|operation| (path, method, operation)))
    })
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
    servers((url = "/", description = "The server that serves this document")),
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
            problem::responses::RequestTimeout,
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

/// The OpenAPI contract, generated from the registered routes.
pub fn openapi() -> OpenApiDoc {
    let mut api = App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes).split_for_parts().1;
    document_idempotency(&mut api);
    conditional::document(&mut api);
    standard_problems(&mut api);
    optional_bodies_are_not_null(&mut api);
    document_retry_after(&mut api);
    public_operations_need_no_token(&mut api);
    api
}

/// Operations outside `/api/v1` override the bearer requirement with an empty
/// list (`security: []`, "none"), which client generators read as "call
/// without credentials"; `[{}]` would read as "a credential of no scheme".
fn public_operations_need_no_token(api: &mut OpenApiDoc) {
    for (_, _, operation) in operations(api).filter(|(path, _, _)| !path.starts_with("/api/v1/")) {
        operation.security = Some(Vec::new());
    }
}

/// A body that may be left out is documented as the object alone (not `oneOf
/// [null, object]`, which utoipa writes for `Option<T>`): `null` is not a body we take.
fn optional_bodies_are_not_null(api: &mut OpenApiDoc) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;
    let is_null = |schema: &RefOr<Schema>| matches!(schema, RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Null));
    for (_, _, operation) in operations(api) {
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

/// The problems an operation can answer because of what it is, added here
/// rather than on each annotation (which lists only its own: 409s, a 403 on a
/// read, a filter's 404). Every `/api/v1` call: 401 (the token), 500 and 503.
/// A path id: 404. Query parameters: 422. A body: 400, 408 (too slow), 413 and
/// 422. A change: 403 (a caller who sees but may not), and 412 where it takes
/// `If-Match`, else 400 (`if_match_unsupported`).
fn standard_problems(api: &mut OpenApiDoc) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{Ref, RefOr};
    for (path, method, operation) in operations(api).filter(|(path, _, _)| path.starts_with("/api/v1/")) {
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        let takes = |place: ParameterIn| parameters.iter().any(|p| p.parameter_in == place);
        let takes_if_match = parameters.iter().any(|p| p.parameter_in == ParameterIn::Header && p.name == "If-Match");
        let has_body = operation.request_body.is_some();
        let changes = method != "get";
        let mut problems = vec![("401", "Unauthorized"), ("500", "InternalError"), ("503", "Unavailable")];
        if path.contains('{') && takes(ParameterIn::Path) {
            problems.push(("404", "NotFound"));
        }
        if takes(ParameterIn::Query) || has_body {
            problems.push(("422", "Unprocessable"));
        }
        if has_body {
            problems.extend([("400", "BadRequest"), ("408", "RequestTimeout"), ("413", "PayloadTooLarge")]);
        }
        if changes {
            problems.push(("403", "Forbidden"));
            problems.push(if takes_if_match { ("412", "PreconditionFailed") } else { ("400", "BadRequest") });
        }
        for (status, response) in problems {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(response)));
        }
    }
}
