//! One delivery attempt: a signed POST to the endpoint, to a checked address
//! only, without redirects or proxies, and whatever happens, an `Attempt` to
//! record (never an error, never a panic).

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::redirect::Policy;
use reqwest::{Certificate, Client, Response, StatusCode};

use super::dns::{ConnectRefusal, PolicyResolver};
use super::resolver::Resolver;
use crate::domain::webhooks::{check_url_syntax, parse_retry_after, signature_header, AddressPolicy};

/// How much of a receiver's answer is kept with the attempt (2 KiB).
pub const EXCERPT_LIMIT: usize = 2048;

const USER_AGENT: &str = concat!("packrelease-webhooks/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub policy: AddressPolicy,
    pub connect_timeout: Duration,
    /// The whole attempt: connect, send, and reading the answer's excerpt.
    pub request_timeout: Duration,
    /// PEM certificates trusted in addition to the bundled web roots, so tests
    /// and development can deliver over HTTPS to a receiver with a private CA.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl SenderConfig {
    /// The documented defaults: connect within 5 s, the whole attempt in 15 s.
    pub fn new(policy: AddressPolicy) -> Self {
        Self {
            policy,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            extra_ca_pem: None,
        }
    }
}

/// Sends delivery attempts. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Sender {
    client: Client,
    policy: Arc<AddressPolicy>,
}

/// One message to one endpoint, as the delivery job hands it over.
#[derive(Clone)]
pub struct OutboundMessage {
    pub url: String,
    /// The event id, the same on every attempt, so consumers can dedupe.
    pub webhook_id: String,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
    /// The current secret first, then a rotated-out one that is still valid.
    pub secrets: Vec<String>,
    pub body: Vec<u8>,
}

/// Secrets are never logged, so `{:?}` shows how many there are, not what.
impl fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("url", &self.url)
            .field("webhook_id", &self.webhook_id)
            .field("timestamp", &self.timestamp)
            .field("secrets", &format_args!("[{} redacted]", self.secrets.len()))
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<AttemptError>,
    /// The first 2 KiB of the answer, lossy UTF-8.
    pub response_excerpt: String,
    /// The receiver's `Retry-After`, read on 429 and 503 only.
    pub retry_after: Option<Duration>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|code| (200..300).contains(&code))
    }

    /// The receiver says the endpoint is gone for good: disable it.
    pub fn gone(&self) -> bool {
        self.status_code == Some(StatusCode::GONE.as_u16())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptError {
    /// The address policy refused the destination; nothing was sent.
    Blocked,
    Dns,
    Connect,
    Timeout,
    Tls,
    /// A 3xx: redirects are not followed, so the delivery did not arrive.
    Redirect,
    /// Any other status outside 2xx.
    Status,
    Other,
}

impl AttemptError {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Blocked => "blocked",
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::Redirect => "redirect",
            Self::Status => "http_status",
            Self::Other => "other",
        }
    }
}

impl Sender {
    pub fn new(config: SenderConfig, resolver: Arc<dyn Resolver>) -> Result<Sender, String> {
        let policy = Arc::new(config.policy);
        let mut builder = Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(USER_AGENT)
            .https_only(matches!(*policy, AddressPolicy::Public))
            .dns_resolver(Arc::new(PolicyResolver { policy: Arc::clone(&policy), resolver }));
        if let Some(pem) = &config.extra_ca_pem {
            let certificates = Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the extra CA certificates are unreadable: {e}"))?;
            if certificates.is_empty() {
                return Err("the extra CA file holds no PEM certificate".into());
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder.build().map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Sender { client, policy })
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// POSTs the message, signed, and reports what happened.
    pub async fn send(&self, message: &OutboundMessage) -> Attempt {
        let started = Instant::now();
        let outcome = self.exchange(message).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match outcome {
            Ok(answer) => Attempt {
                status_code: Some(answer.status.as_u16()),
                duration_ms,
                error: status_error(answer.status),
                response_excerpt: answer.excerpt,
                retry_after: answer.retry_after,
            },
            Err(error) => Attempt {
                status_code: None,
                duration_ms,
                error: Some(error),
                response_excerpt: String::new(),
                retry_after: None,
            },
        }
    }

    async fn exchange(&self, message: &OutboundMessage) -> Result<Answer, AttemptError> {
        // The client resolves names through the policy, but connects to IP
        // literals directly: this check is what stands in front of those.
        let checked = check_url_syntax(&message.url, &self.policy).map_err(|refusal| {
            tracing::warn!(code = refusal.code, reason = %refusal, "webhook destination refused");
            AttemptError::Blocked
        })?;
        let secrets: Vec<&str> = message.secrets.iter().map(String::as_str).collect();
        let signature =
            signature_header(&secrets, &message.webhook_id, message.timestamp, &message.body).map_err(|e| {
                tracing::error!(webhook_id = %message.webhook_id, "cannot sign the webhook: {e}");
                AttemptError::Other
            })?;
        let response = self
            .client
            .post(&checked.url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", &message.webhook_id)
            .header("webhook-timestamp", message.timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body.clone())
            .send()
            .await
            .map_err(|error| {
                let kind = classify(&error);
                tracing::info!(host = %checked.host, kind = kind.as_str(), "webhook attempt failed: {}", chain(&error));
                kind
            })?;
        Ok(Answer::read(response).await)
    }
}

/// The part of a receiver's answer an attempt keeps.
struct Answer {
    status: StatusCode,
    excerpt: String,
    retry_after: Option<Duration>,
}

impl Answer {
    async fn read(mut response: Response) -> Answer {
        let status = response.status();
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, Utc::now())),
            _ => None,
        };
        // Read at most the excerpt, then drop the connection: a receiver must
        // not make us hold megabytes. A body that breaks off is no failure;
        // the status already said how the delivery went.
        let mut body = Vec::with_capacity(EXCERPT_LIMIT);
        while body.len() < EXCERPT_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_LIMIT - body.len())]),
                Ok(None) | Err(_) => break,
            }
        }
        Answer { status, excerpt: excerpt(&body), retry_after }
    }
}

/// Lossy UTF-8 of `body`, never longer than `EXCERPT_LIMIT` bytes (a character
/// cut in half becomes U+FFFD, which is longer than the bytes it replaces).
fn excerpt(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if text.len() > EXCERPT_LIMIT {
        let mut end = EXCERPT_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn status_error(status: StatusCode) -> Option<AttemptError> {
    if status.is_success() {
        None
    } else if status.is_redirection() {
        Some(AttemptError::Redirect)
    } else {
        Some(AttemptError::Status)
    }
}

/// Which kind of failure a client error is, most specific cause first.
fn classify(error: &reqwest::Error) -> AttemptError {
    let causes = || std::iter::successors(Some(error as &(dyn Error + 'static)), |&e| cause_of(e));
    if let Some(refusal) = causes().find_map(|e| e.downcast_ref::<ConnectRefusal>()) {
        return if refusal.is_lookup_failure() { AttemptError::Dns } else { AttemptError::Blocked };
    }
    if error.is_timeout() {
        return AttemptError::Timeout;
    }
    if causes().any(|e| e.is::<rustls::Error>()) {
        return AttemptError::Tls;
    }
    if error.is_connect() {
        return AttemptError::Connect;
    }
    if error.is_redirect() {
        return AttemptError::Redirect;
    }
    AttemptError::Other
}

/// The next error down. `io::Error` wraps what the TLS layer and the
/// connector report, but its `source()` skips that error: step into it.
fn cause_of<'e>(error: &'e (dyn Error + 'static)) -> Option<&'e (dyn Error + 'static)> {
    match error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
        Some(inner) => Some(inner),
        None => error.source(),
    }
}

/// The causes of a client error on one line, for the log; the top error is
/// left out because it shows the URL, whose query may hold a token.
fn chain(error: &reqwest::Error) -> String {
    let causes = std::iter::successors(cause_of(error), |&e| cause_of(e));
    causes.map(|cause| cause.to_string()).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests;
