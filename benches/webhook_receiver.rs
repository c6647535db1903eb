//! A tiny webhook receiver for `benches/delivery_drain.sh`: answers 200 to any
//! POST on 127.0.0.1:`BENCH_RECEIVER_PORT` (default 18080), `GET /count` with
//! how many POSTs it answered; prints `ready 127.0.0.1:PORT` once listening.
//! `BENCH_RECEIVER_WORKERS` sets its threads (default: one per core).
//!
//! `cargo bench --bench webhook_receiver` runs it until killed.

use std::net::TcpListener;

#[path = "support/receiver.rs"]
mod receiver;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("BENCH_RECEIVER_PORT").ok().and_then(|v| v.parse().ok()).unwrap_or(18080);
    let workers = std::env::var("BENCH_RECEIVER_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    actix_web::rt::System::new().block_on(async move {
        let server = receiver::server(listener, workers)?;
        println!("ready {addr}");
        // Runs until killed (SIGTERM or SIGINT end the process).
        server.await
    })
}
