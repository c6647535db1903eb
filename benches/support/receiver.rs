//! A webhook receiver for benchmarks: answers 200 with an empty body to any
//! POST (after reading its body), and `GET /count` with how many POSTs it has
//! answered. Binds only the address it is given (127.0.0.1 in the benches).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// Starts the receiver on `listener` with `workers` threads; the future runs it.
pub fn server(listener: TcpListener, workers: usize) -> std::io::Result<actix_web::dev::Server> {
    let received = web::Data::new(Arc::new(AtomicU64::new(0)));
    Ok(HttpServer::new(move || {
        App::new().app_data(received.clone()).default_service(web::to(
            |request: HttpRequest, body: web::Bytes, received: web::Data<Arc<AtomicU64>>| async move {
                if request.method() == actix_web::http::Method::POST {
                    drop(body);
                    received.fetch_add(1, Ordering::Relaxed);
                    HttpResponse::Ok().finish()
                } else if request.path() == "/count" {
                    HttpResponse::Ok().body(received.load(Ordering::Relaxed).to_string())
                } else {
                    HttpResponse::MethodNotAllowed().finish()
                }
            },
        ))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// How many POSTs the receiver at `addr` (host:port) has answered, by a plain
/// HTTP/1.0 request.
#[allow(dead_code)]
pub fn count(addr: &str) -> std::io::Result<u64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.write_all(format!("GET /count HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    body.trim().parse().map_err(|_| std::io::Error::other(format!("unexpected /count answer: {answer:?}")))
}
