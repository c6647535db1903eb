//! `/accounts/{id}/webhook-endpoints`, `/accounts/{id}/webhook-deliveries`,
//! `/webhook-deliveries/{id}`, `/releases/{id}/deliveries` and the pull feed
//! `/accounts/{id}/events`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{ApiJson, Bearer, OptionalJson, PageQuery};
use super::problem::responses::Conflict;
use super::releases::NoInput;
use super::{created, list_response, AppState};
use crate::domain::event::{DeliveryStatus, DisabledReason, EventType};
use crate::error::{AppError, AppResult};
use crate::service::events::is_prefixed_id;
use crate::service::webhooks::{self as service, DeliveryView, EndpointChanges, EndpointView, NewEndpoint};
use crate::store::webhooks::DeliveryFilter;

/// The routes under `/api/v1/accounts`, relative to it.
pub fn accounts_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_endpoint)
        .service(list_endpoints)
        .service(get_endpoint)
        .service(update_endpoint)
        .service(delete_endpoint)
        .service(rotate_secret)
        .service(test_endpoint)
        .service(redeliver_endpoint_failed)
        .service(list_account_deliveries)
        .service(list_events);
}

/// The routes under `/api/v1/webhook-deliveries`, relative to it.
pub fn webhook_deliveries_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_delivery).service(redeliver);
}

/// The routes under `/api/v1/releases`, relative to it.
pub fn releases_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_release_deliveries).service(redeliver_release_failed);
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEndpoint {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    #[schema(example = "https://hooks.example.com/packrelease")]
    pub url: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// The events it receives.
    pub event_types: Vec<EventType>,
    pub enabled: bool,
    /// Why it is disabled; null while enabled.
    #[schema(required = true)]
    pub disabled_reason: Option<DisabledReason>,
    /// Until when the secret a rotation replaced still signs too; null when none does.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when every attempt to it has failed; null after a success.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub updated_at: DateTime<Utc>,
}

impl From<EndpointView> for WebhookEndpoint {
    fn from(view: EndpointView) -> Self {
        let e = view.endpoint;
        Self {
            id: e.id,
            account_id: e.account_id,
            url: e.url,
            description: e.description,
            event_types: view.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            previous_secret_expires_at: view.previous_secret_expires_at.map(|at| at.and_utc()),
            failing_since: e.failing_since.map(|at| at.and_utc()),
            created_at: e.created_at.and_utc(),
            updated_at: e.updated_at.and_utc(),
        }
    }
}

list_response!(WebhookEndpointList, WebhookEndpoint);

/// An endpoint with its signing secret, shown only in this answer.
#[derive(Serialize, ToSchema)]
pub struct WebhookEndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// Signs every delivery (Standard Webhooks); shown only once.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// Where deliveries are POSTed: `https://` with a public address (unless
    /// `PACKRELEASE_WEBHOOK_ALLOWED_NETWORKS` says otherwise).
    #[schema(example = "https://hooks.example.com/packrelease")]
    pub url: String,
    pub description: Option<String>,
    /// The events to receive; every type of the account's side when omitted
    /// (`installation.*` for a subscriber, `release.*` for a publisher).
    #[schema(example = json!(["installation.updated"]))]
    pub event_types: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    pub url: Option<String>,
    /// An empty string removes it.
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `false` disables it and cancels its pending deliveries; `true` enables it again.
    pub enabled: Option<bool>,
}

/// A new signing secret, shown only in this answer; the previous one keeps signing for 24 hours.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
    pub endpoint: WebhookEndpoint,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryAttempt {
    /// Which attempt of the delivery this was (1-based).
    pub number: i64,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub at: DateTime<Utc>,
    #[schema(required = true)]
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    /// `blocked`, `dns`, `connect`, `timeout`, `tls`, `redirect`, `http_status`,
    /// `interrupted` (the worker stopped mid-send), `other`; null on success.
    #[schema(required = true)]
    pub error: Option<String>,
    /// The first 2 KiB of the receiver's answer.
    pub response_excerpt: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookDelivery {
    #[schema(example = "dlv_0193a5c2f1e07b3c9d41a2b3c4d5e6f7", pattern = "^dlv_[0-9a-f]{32}$")]
    pub id: String,
    /// The `webhook-id` header of every attempt.
    #[schema(example = "evt_0193a5c2f1e07b3c9d41a2b3c4d5e6f7", pattern = "^evt_[0-9a-f]{32}$")]
    pub event_id: String,
    pub event_type: EventType,
    #[schema(format = Uuid)]
    pub endpoint_id: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    #[schema(required = true, format = Uuid)]
    pub release_id: Option<String>,
    #[schema(required = true, format = Uuid)]
    pub installation_id: Option<String>,
    pub status: DeliveryStatus,
    /// When it is tried next, while pending.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<DeliveryAttempt>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub updated_at: DateTime<Utc>,
}

impl From<DeliveryView> for WebhookDelivery {
    fn from(view: DeliveryView) -> Self {
        let d = view.delivery;
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            endpoint_id: d.endpoint_id,
            account_id: d.account_id,
            release_id: d.release_id,
            installation_id: d.installation_id,
            status: d.status,
            next_attempt_at: d.next_attempt_at.map(|at| at.and_utc()),
            attempts: view
                .attempts
                .into_iter()
                .map(|a| DeliveryAttempt {
                    number: a.number,
                    at: a.attempted_at.and_utc(),
                    status_code: a.status_code,
                    duration_ms: a.duration_ms,
                    error: a.error,
                    response_excerpt: a.response_excerpt,
                })
                .collect(),
            created_at: d.created_at.and_utc(),
            updated_at: d.updated_at.and_utc(),
        }
    }
}

list_response!(WebhookDeliveryList, WebhookDelivery);

/// How many deliveries a requeue sent again.
#[derive(Serialize, ToSchema)]
pub struct Requeued {
    pub requeued: usize,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverFailed {
    /// Only deliveries made at or after this instant.
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub since: Option<DateTime<Utc>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountDeliveryFilter {
    #[param(format = Uuid)]
    pub endpoint_id: Option<Uuid>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<EventType>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    pub status: Option<DeliveryStatus>,
}

/// A delivery id from the path; any other spelling does not exist (404).
fn delivery_id(raw: &str) -> AppResult<String> {
    if is_prefixed_id("dlv_", raw) {
        Ok(raw.to_string())
    } else {
        Err(AppError::NotFound)
    }
}

fn delivery_page(page: &PageQuery) -> AppResult<crate::store::PageRequest> {
    page.request_with(|raw| is_prefixed_id("dlv_", raw))
}

/// No cache may keep an answer that carries a secret.
fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// Register a webhook endpoint for the account (the account itself only). The
/// answer shows its signing secret, once. Not idempotent by design: a secret
/// is never stored to be replayed.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id")),
    request_body = CreateWebhookEndpoint,
    responses(
        (status = 201, body = WebhookEndpointWithSecret, headers(("Location" = String, description = "URL of the new endpoint"))),
    )
)]
#[post("/{id}/webhook-endpoints")]
pub async fn create_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    body: ApiJson<CreateWebhookEndpoint>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let ApiJson(CreateWebhookEndpoint { url, description, event_types }) = body;
    let guard = state.settings.webhook_guard.clone();
    let input = NewEndpoint { url, description: description.filter(|d| !d.is_empty()), event_types };
    let (view, secret) =
        state.call(bearer, move |conn, ctx| service::create_endpoint(conn, ctx, &guard, &id, input)).await?;
    let endpoint = WebhookEndpoint::from(view);
    let location = format!("/api/v1/accounts/{}/webhook-endpoints/{}", endpoint.account_id, endpoint.id);
    Ok(no_store(created(location, &WebhookEndpointWithSecret { endpoint, secret })))
}

/// List the account's webhook endpoints (never their secrets).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), PageQuery),
    responses((status = 200, body = WebhookEndpointList))
)]
#[get("/{id}/webhook-endpoints")]
pub async fn list_endpoints(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<WebhookEndpointList>> {
    let (id, page) = (id.to_string(), page.request()?);
    let endpoints = state.read(bearer, move |conn, ctx| service::list_endpoints(conn, ctx, &id, &page)).await?;
    Ok(web::Json(endpoints.into()))
}

/// Get one webhook endpoint (without its secret).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, body = WebhookEndpoint))
)]
#[get("/{id}/webhook-endpoints/{endpoint_id}")]
pub async fn get_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<web::Json<WebhookEndpoint>> {
    let (id, endpoint_id) = (path.0.to_string(), path.1.to_string());
    let view = state.read(bearer, move |conn, ctx| service::get_endpoint(conn, ctx, &id, &endpoint_id)).await?;
    Ok(web::Json(view.into()))
}

/// Change a webhook endpoint: its URL, description, event types, or enable /
/// disable it (disabling cancels its pending deliveries).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    request_body = UpdateWebhookEndpoint,
    responses((status = 200, body = WebhookEndpoint))
)]
#[patch("/{id}/webhook-endpoints/{endpoint_id}")]
pub async fn update_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    body: ApiJson<UpdateWebhookEndpoint>,
) -> AppResult<web::Json<WebhookEndpoint>> {
    let (id, endpoint_id) = (path.0.to_string(), path.1.to_string());
    let ApiJson(UpdateWebhookEndpoint { url, description, event_types, enabled }) = body;
    let guard = state.settings.webhook_guard.clone();
    let changes = EndpointChanges {
        url,
        description: description.map(|d| Some(d).filter(|d| !d.is_empty())),
        event_types,
        enabled,
    };
    let view = state
        .call(bearer, move |conn, ctx| service::update_endpoint(conn, ctx, &guard, &id, &endpoint_id, changes))
        .await?;
    Ok(web::Json(view.into()))
}

/// Delete a webhook endpoint: its pending deliveries are canceled; its delivery log stays until retention.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/{id}/webhook-endpoints/{endpoint_id}")]
pub async fn delete_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    let (id, endpoint_id) = (path.0.to_string(), path.1.to_string());
    state.call(bearer, move |conn, ctx| service::delete_endpoint(conn, ctx, &id, &endpoint_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Give the endpoint a new signing secret, shown once; the old one keeps
/// signing too for 24 hours. Not idempotent by design.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    request_body(content = Option<NoInput>, description = "No body, or `{}`"),
    responses((status = 200, body = RotatedSecret))
)]
#[post("/{id}/webhook-endpoints/{endpoint_id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    _body: OptionalJson<NoInput>,
) -> AppResult<HttpResponse> {
    let (id, endpoint_id) = (path.0.to_string(), path.1.to_string());
    let (view, secret) =
        state.call(bearer, move |conn, ctx| service::rotate_secret(conn, ctx, &id, &endpoint_id)).await?;
    Ok(no_store(HttpResponse::Ok().json(RotatedSecret { secret, endpoint: view.into() })))
}

/// Send a `webhook.test` event to this endpoint alone; the answer is its delivery.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    request_body(content = Option<NoInput>, description = "No body, or `{}`"),
    responses(
        (status = 201, body = WebhookDelivery, headers(("Location" = String, description = "URL of the delivery"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/webhook-endpoints/{endpoint_id}/test")]
pub async fn test_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    _body: OptionalJson<NoInput>,
) -> AppResult<HttpResponse> {
    let (id, endpoint_id) = (path.0.to_string(), path.1.to_string());
    let delivery: WebhookDelivery =
        state.call(bearer, move |conn, ctx| service::test_endpoint(conn, ctx, &id, &endpoint_id)).await?.into();
    state.deliveries_queued();
    Ok(created(format!("/api/v1/webhook-deliveries/{}", delivery.id), &delivery))
}

/// Send the endpoint's failed deliveries again (those made since `since`, if given).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    request_body(content = Option<RedeliverFailed>, description = "Optional; `{}` or no body requeues every failed one"),
    responses((status = 200, body = Requeued), (status = 409, response = Conflict))
)]
#[post("/{id}/webhook-endpoints/{endpoint_id}/redeliver-failed")]
pub async fn redeliver_endpoint_failed(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    body: OptionalJson<RedeliverFailed>,
) -> AppResult<web::Json<Requeued>> {
    let (id, endpoint_id) = (path.0.to_string(), path.1.to_string());
    let since = body.0.since.map(|at| at.naive_utc());
    let requeued = state
        .call(bearer, move |conn, ctx| service::redeliver_failed_of_endpoint(conn, ctx, &id, &endpoint_id, since))
        .await?;
    state.deliveries_queued();
    Ok(web::Json(Requeued { requeued }))
}

/// The deliveries to the account's endpoints, oldest first.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), AccountDeliveryFilter, PageQuery),
    responses((status = 200, body = WebhookDeliveryList))
)]
#[get("/{id}/webhook-deliveries")]
pub async fn list_account_deliveries(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    filter: web::Query<AccountDeliveryFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<WebhookDeliveryList>> {
    let (id, page) = (id.to_string(), delivery_page(&page)?);
    let AccountDeliveryFilter { endpoint_id, status, event_type } = filter.into_inner();
    let deliveries = state
        .call(bearer, move |conn, ctx| {
            let endpoint = endpoint_id.map(|e| e.to_string());
            let filter = DeliveryFilter { endpoint: endpoint.as_deref(), status, event_type, ..Default::default() };
            service::list_account_deliveries(conn, ctx, &id, filter, &page)
        })
        .await?;
    Ok(web::Json(deliveries.into()))
}

/// One delivery, with every attempt.
#[utoipa::path(
    tag = "webhooks",
    params(("delivery_id" = String, Path, description = "Delivery id (`dlv_...`)")),
    responses((status = 200, body = WebhookDelivery))
)]
#[get("/{delivery_id}")]
pub async fn get_delivery(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<String>,
) -> AppResult<web::Json<WebhookDelivery>> {
    let id = delivery_id(&id)?;
    let delivery = state.read(bearer, move |conn, ctx| service::get_delivery(conn, ctx, &id)).await?;
    Ok(web::Json(delivery.into()))
}

/// Send a delivery again: a new attempt (and retries) under the same `webhook-id`.
#[utoipa::path(
    tag = "webhooks",
    params(("delivery_id" = String, Path, description = "Delivery id (`dlv_...`)")),
    request_body(content = Option<NoInput>, description = "No body, or `{}`"),
    responses((status = 200, body = WebhookDelivery), (status = 409, response = Conflict))
)]
#[post("/{delivery_id}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<String>,
    _body: OptionalJson<NoInput>,
) -> AppResult<web::Json<WebhookDelivery>> {
    let id = delivery_id(&id)?;
    let delivery = state.call(bearer, move |conn, ctx| service::redeliver(conn, ctx, &id)).await?;
    state.deliveries_queued();
    Ok(web::Json(delivery.into()))
}

/// The deliveries of a release's events (its publisher's and its subscribers'), oldest first.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Release id"), StatusFilter, PageQuery),
    responses((status = 200, body = WebhookDeliveryList))
)]
#[get("/{id}/deliveries")]
pub async fn list_release_deliveries(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    filter: web::Query<StatusFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<WebhookDeliveryList>> {
    let (id, page, status) = (id.to_string(), delivery_page(&page)?, filter.status);
    let deliveries =
        state.read(bearer, move |conn, ctx| service::release_deliveries(conn, ctx, &id, status, &page)).await?;
    Ok(web::Json(deliveries.into()))
}

/// Send every failed delivery of the release's events again.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Release id")),
    request_body(content = Option<NoInput>, description = "No body, or `{}`"),
    responses((status = 200, body = Requeued))
)]
#[post("/{id}/redeliver-failed")]
pub async fn redeliver_release_failed(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    _body: OptionalJson<NoInput>,
) -> AppResult<web::Json<Requeued>> {
    let id = id.to_string();
    let requeued = state.call(bearer, move |conn, ctx| service::redeliver_release_failed(conn, ctx, &id)).await?;
    state.deliveries_queued();
    Ok(web::Json(Requeued { requeued }))
}

/// An event, exactly as a webhook's body carries it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Event {
    #[schema(example = "evt_0193a5c2f1e07b3c9d41a2b3c4d5e6f7", pattern = "^evt_[0-9a-f]{32}$")]
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    /// What happened; its fields depend on `type`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A page of the feed.
#[derive(Serialize, ToSchema)]
pub struct EventFeed {
    pub items: Vec<Event>,
    /// Always set: pass it as `after` on the next poll, even when this page is empty.
    pub next_cursor: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `next_cursor` of the previous page; the start of the feed when omitted.
    pub after: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<EventType>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The account's events in commit order. Poll with `after` set to the last
/// page's `next_cursor`: no event is ever skipped, even when transactions
/// commit out of order.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Account id"), FeedQuery),
    responses((status = 200, body = EventFeed))
)]
#[get("/{id}/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    query: web::Query<FeedQuery>,
) -> AppResult<web::Json<EventFeed>> {
    let id = id.to_string();
    let limit = PageQuery { limit: query.limit, cursor: None }.limit()?;
    let after = match query.after.as_deref().filter(|a| !a.is_empty()) {
        Some(raw) => service::parse_cursor(raw)?,
        None => None,
    };
    let types: Vec<EventType> = query.event_type.into_iter().collect();
    let page = state.read(bearer, move |conn, ctx| service::feed(conn, ctx, &id, after, &types, limit)).await?;
    let items = page
        .items
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<Event>, _>>()
        .map_err(AppError::internal)?;
    Ok(web::Json(EventFeed { items, next_cursor: page.next_cursor }))
}
