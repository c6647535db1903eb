//! A webhook receiver on 127.0.0.1:0, on its own thread and runtime (so a
//! test may block while the worker delivers to it): it records every request
//! and answers as the test scripts it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub webhook_id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Whether one of the signatures is `secret`'s over this request.
    pub fn signed_by(&self, secret: &str) -> bool {
        let timestamp: i64 = self.timestamp.parse().expect("a Unix timestamp");
        let expected = packrelease::domain::webhooks::sign(secret, &self.webhook_id, timestamp, &self.body).unwrap();
        self.signature.split(' ').any(|s| s == expected)
    }
}

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    /// A status with a `Retry-After` of so many seconds.
    RetryAfter(u16, u64),
    /// Holds the request open this long, then answers 200.
    Hold(Duration),
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<Answer>,
    in_flight: usize,
    most_in_flight: usize,
}

pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// A receiver that answers 200 unless scripted otherwise.
    pub fn start() -> Receiver {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a receiver");
        let port = listener.local_addr().unwrap().port();
        let shared = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new().app_data(web::Data::new(shared.clone())).default_service(web::to(receive))
                })
                .workers(2)
                .listen(listener)
                .expect("listen")
                .shutdown_timeout(1)
                .run();
                tx.send(server.handle()).expect("hand over the handle");
                let _ = server.await;
            })
        });
        let server = rx.recv().expect("the receiver started");
        Receiver { port, state, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next requests get these answers, in order; then 200 again.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The most requests it held at once.
    pub fn most_in_flight(&self) -> usize {
        self.state.lock().unwrap().most_in_flight
    }

    /// Waits (for real I/O, at most 20 s) until `n` requests arrived.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let answer = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            path: req.path().to_string(),
            webhook_id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: body.to_vec(),
        });
        state.in_flight += 1;
        state.most_in_flight = state.most_in_flight.max(state.in_flight);
        state.script.pop_front().unwrap_or(Answer::Status(200))
    };
    let response = match answer {
        Answer::Status(code) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).body("answered")
        }
        Answer::RetryAfter(code, seconds) => HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
            .insert_header(("retry-after", seconds.to_string()))
            .finish(),
        Answer::Hold(duration) => {
            actix_web::rt::time::sleep(duration).await;
            HttpResponse::Ok().body("late")
        }
    };
    state.lock().unwrap().in_flight -= 1;
    response
}
