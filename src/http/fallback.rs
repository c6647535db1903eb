//! Answers for requests no route takes: 405 with `Allow` when the path exists
//! in the contract under other methods, 404 otherwise — both as problem+json.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::path::Operation;
use utoipa::openapi::OpenApi;

use super::problem::Problem;

/// A path template's segments, and its methods with whether each takes `If-Match`.
type Template = (Vec<String>, Vec<(Method, bool)>);

/// The contract's path templates.
pub struct RouteTable {
    routes: Vec<Template>,
}

impl RouteTable {
    pub fn new(openapi: &OpenApi) -> Self {
        let routes = openapi
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let takes_if_match =
                    |operation: &Operation| operation.parameters.iter().flatten().any(|p| p.name == "If-Match");
                let methods = [
                    (Method::GET, &item.get),
                    (Method::POST, &item.post),
                    (Method::PUT, &item.put),
                    (Method::PATCH, &item.patch),
                    (Method::DELETE, &item.delete),
                ]
                .into_iter()
                .filter_map(|(method, operation)| operation.as_ref().map(|op| (method, takes_if_match(op))))
                .collect();
                (path.split('/').map(str::to_string).collect(), methods)
            })
            .collect();
        Self { routes }
    }

    /// The operations of the templates this path matches.
    fn operations<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a (Method, bool)> + 'a {
        let segments: Vec<String> = path.split('/').map(str::to_string).collect();
        self.routes
            .iter()
            .filter(move |(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
            })
            .flat_map(|(_, methods)| methods)
    }

    /// The methods the contract allows on this path, if the path exists.
    fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let mut allowed: Vec<Method> = Vec::new();
        for (method, _) in self.operations(path) {
            if !allowed.contains(method) {
                allowed.push(method.clone());
            }
        }
        (!allowed.is_empty()).then_some(allowed)
    }

    /// Whether the operation takes `If-Match`; `None` when the contract has no such operation.
    pub fn takes_if_match(&self, method: &Method, path: &str) -> Option<bool> {
        self.operations(path).filter(|(m, _)| m == method).map(|(_, takes)| *takes).reduce(|a, b| a || b)
    }
}

/// The path as the router matches it: percent-decoded (`/%74okens` is
/// `/tokens`), unlike `req.path()`. Anything that decides by route uses this,
/// so it decides about the handler that will answer.
pub fn routed_path(req: &HttpRequest) -> &str {
    req.match_info().as_str()
}

pub async fn unmatched(req: HttpRequest, routes: web::Data<RouteTable>) -> HttpResponse {
    match routes.allowed(routed_path(&req)) {
        Some(methods) => {
            let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            let detail = format!("{} is not allowed here; allowed: {allow}", req.method());
            let mut response = Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", detail).response();
            if let Ok(value) = header::HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        None => Problem::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {}", req.path())).response(),
    }
}
