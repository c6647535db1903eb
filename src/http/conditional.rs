//! Entity tags and conditional requests. Every 200/201 JSON answer carries an
//! `ETag` (a digest of its body); a GET with a matching `If-None-Match` gets
//! 304 without the body; `HEAD` is a GET without the body. `If-Match` on a
//! change is read here and checked by the service inside its transaction
//! (`service::precondition`), against the tag of the resource's representation.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::{ready, Ready};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::IntoParams;

use super::fallback::routed_path;
use super::RouteTable;
use crate::domain::text;
use crate::error::AppError;
use crate::service::precondition::IfMatch;

/// The opaque tag of a representation: the first 128 bits of its SHA-256.
fn tag_of(body: &[u8]) -> String {
    text::hex(&Sha256::digest(body)[..16])
}

/// `tag_of` in quotes, as the `ETag` header carries it, without allocating.
fn quoted_tag_of(body: &[u8]) -> [u8; 34] {
    let mut quoted = [b'"'; 34];
    text::hex_into(&Sha256::digest(body)[..16], &mut quoted[1..33]);
    quoted
}

/// The entity tag of the JSON representation of `value`, as the answer carrying it would have.
pub fn representation_tag<T: Serialize>(value: &T) -> String {
    tag_of(&serde_json::to_vec(value).unwrap_or_default())
}

/// An entity tag without its quotes; `None` for a weak one (never equal in `If-Match`).
fn strong(tag: &str) -> Option<&str> {
    let tag = tag.trim();
    if tag.starts_with("W/") {
        return None;
    }
    Some(tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag))
}

fn parse_if_match(value: &HeaderValue) -> IfMatch {
    match value.to_str().map(str::trim) {
        Ok("*") => IfMatch::Any,
        Ok(list) => IfMatch::Tags(list.split(',').filter_map(strong).map(str::to_string).collect()),
        // Not visible ASCII: no tag of ours.
        Err(_) => IfMatch::Tags(Vec::new()),
    }
}

/// `If-None-Match` uses the weak comparison: `W/"x"` matches `"x"`.
fn none_match_hits(value: &HeaderValue, tag: &str) -> bool {
    let Ok(list) = value.to_str() else { return false };
    list.trim() == "*" || list.split(',').filter_map(|t| strong(t.trim().trim_start_matches("W/"))).any(|t| t == tag)
}

/// Every line of a list-valued header, joined with commas (`None` when absent).
fn joined(headers: &HeaderMap, name: header::HeaderName) -> Option<HeaderValue> {
    let mut lines = headers.get_all(name).peekable();
    lines.peek()?;
    let bytes: Vec<u8> = lines.map(HeaderValue::as_bytes).collect::<Vec<_>>().join(&b","[..]);
    // Lines that were valid header values stay valid when joined with commas.
    Some(HeaderValue::from_bytes(&bytes).unwrap_or_else(|_| HeaderValue::from_static("")))
}

/// The `If-Match` header of a change, if it has one.
pub struct Precondition(pub Option<IfMatch>);

impl FromRequest for Precondition {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Precondition(joined(req.headers(), header::IF_MATCH).as_ref().map(parse_if_match))))
    }
}

fn header_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

impl IntoParams for Precondition {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            "If-Match",
            "Makes the change conditional: the `ETag` you read (or `*`) — of the pack for a pack's components, \
             of the draft for releasing it, of the release for canceling it. When the resource has changed since, \
             the answer is 412 `precondition_failed` and nothing is changed.",
        )]
    }
}

fn is_json(response: &ServiceResponse<impl MessageBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

pub async fn conditional(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // actix leaves the body out of a HEAD answer by itself.
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    let is_read = req.method() == Method::GET;
    if !is_read && req.headers().contains_key(header::IF_MATCH) {
        let routes = req.app_data::<web::Data<RouteTable>>();
        if routes.and_then(|routes| routes.takes_if_match(req.method(), routed_path(req.request()))) == Some(false) {
            // Ignoring the condition would make the change unconditional, which is worse than refusing it.
            let error = AppError::BadRequest {
                code: "if_match_unsupported",
                detail: "If-Match is honoured on changes to packs (and their components), drafts and releases only; \
                         send this request without it"
                    .into(),
            };
            return Ok(req.error_response(error));
        }
    }
    let if_none_match = joined(req.headers(), header::IF_NONE_MATCH).filter(|_| is_read);
    let response = next.call(req).await?;
    if !matches!(response.status(), StatusCode::OK | StatusCode::CREATED) || !is_json(&response) {
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let bytes =
        actix_web::body::to_bytes(body).await.map_err(|e| actix_web::error::ErrorInternalServerError(e.into()))?;
    let quoted = quoted_tag_of(&bytes);
    let etag = HeaderValue::from_bytes(&quoted).expect("hex is a valid header value");
    let tag = std::str::from_utf8(&quoted[1..33]).expect("hex is ASCII");
    // Browsers keep what they read but ask again each time, with If-None-Match.
    let cache_control = HeaderValue::from_static("private, no-cache");
    if if_none_match.is_some_and(|value| none_match_hits(&value, tag)) {
        let not_modified = HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .finish();
        return Ok(ServiceResponse::new(request, not_modified));
    }
    head.headers_mut().insert(header::ETAG, etag);
    if is_read {
        head.headers_mut().insert(header::CACHE_CONTROL, cache_control);
    }
    Ok(ServiceResponse::new(request, head.set_body(BoxBody::new(bytes))))
}

/// The contract's side: `ETag` on every 200/201 JSON answer; `If-None-Match`
/// and 304 on every GET; the 400 `if_match_unsupported` of changes without `If-Match`.
pub fn document(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::{Ref, RefOr, ResponseBuilder};
    let etag = HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some("The representation's entity tag: send it in `If-None-Match` or `If-Match`"))
        .build();
    for item in api.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.patch, &mut item.put, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            for (status, response) in operation.responses.responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status == "200" || status == "201", response) {
                    if response.content.contains_key("application/json") {
                        response.headers.insert("ETag".into(), etag.clone());
                    }
                }
            }
        }
        for change in [&mut item.post, &mut item.patch, &mut item.put, &mut item.delete].into_iter().flatten() {
            let takes_if_match = change.parameters.iter().flatten().any(|p| p.name == "If-Match");
            if !takes_if_match {
                let bad_request = RefOr::Ref(Ref::from_response_name("BadRequest"));
                change.responses.responses.entry("400".into()).or_insert(bad_request);
            }
        }
        if let Some(get) = item.get.as_mut() {
            get.parameters.get_or_insert_with(Vec::new).push(header_parameter(
                "If-None-Match",
                "The `ETag` of the copy you hold (or `*`): when it is still current the answer is 304 without a body.",
            ));
            let not_modified = ResponseBuilder::new()
                .description("Not modified: the `ETag` named in `If-None-Match` is current")
                .header("ETag", etag.clone())
                .build();
            get.responses.responses.insert("304".into(), RefOr::T(not_modified));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_header_is_the_representation_tag_in_quotes() {
        let body = serde_json::to_vec(&serde_json::json!({"name": "Orders"})).unwrap();
        let quoted = quoted_tag_of(&body);
        assert_eq!(std::str::from_utf8(&quoted).unwrap(), format!("\"{}\"", tag_of(&body)));
        assert_eq!(tag_of(&body), representation_tag(&serde_json::json!({"name": "Orders"})));
    }

    #[test]
    fn if_match_reads_star_lists_and_drops_weak_tags() {
        assert_eq!(parse_if_match(&HeaderValue::from_static(" * ")), IfMatch::Any);
        assert_eq!(
            parse_if_match(&HeaderValue::from_static("\"a\", W/\"b\",c")),
            IfMatch::Tags(vec!["a".into(), "c".into()])
        );
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(none_match_hits(&HeaderValue::from_static("W/\"abc\""), "abc"));
        assert!(none_match_hits(&HeaderValue::from_static("\"x\", \"abc\""), "abc"));
        assert!(none_match_hits(&HeaderValue::from_static("*"), "abc"));
        assert!(!none_match_hits(&HeaderValue::from_static("\"abcd\""), "abc"));
    }
}
