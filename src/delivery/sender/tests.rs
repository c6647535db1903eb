//! The sender against tiny local receivers, plain and TLS, that record what
//! reached them.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{crypto::ring, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::delivery::resolver::{StaticResolver, SystemResolver};
use crate::domain::webhooks::{new_secret, sign};

/// What the receiver answers to every request.
#[derive(Clone)]
enum Reply {
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Reads the request and never answers.
    Silent,
}

fn answer(status: u16) -> Reply {
    Reply::Answer { status, headers: Vec::new(), body: b"ok".to_vec() }
}

struct Recorded {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Receiver {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Receiver {
    async fn start(reply: Reply, tls: Option<TlsAcceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver =
            Receiver { address: listener.local_addr().unwrap(), connections: Arc::default(), requests: Arc::default() };
        let (connections, requests) = (Arc::clone(&receiver.connections), Arc::clone(&receiver.requests));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let (reply, requests, tls) = (reply.clone(), Arc::clone(&requests), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, reply, requests).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, reply, requests).await;
                            }
                        }
                    }
                });
            }
        });
        receiver
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn port(&self) -> u16 {
        self.address.port()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        self.requests.lock().unwrap()
    }
}

/// One HTTP/1.1 exchange: the head, a `content-length` body, then the reply.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, reply: Reply, requests: Arc<Mutex<Vec<Recorded>>>) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = received[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buffer[..n]),
        }
    }
    requests.lock().unwrap().push(Recorded { request_line, headers, body });
    match reply {
        Reply::Silent => std::future::pending::<()>().await,
        Reply::Answer { status, headers, body } => {
            let mut response = format!("HTTP/1.1 {status} Whatever\r\ncontent-length: {}\r\n", body.len());
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("connection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
    }
}

fn loopback_policy() -> AddressPolicy {
    AddressPolicy::Allowlist("127.0.0.0/8".parse().unwrap())
}

fn sender_with(config: SenderConfig) -> Sender {
    Sender::new(config, Arc::new(SystemResolver)).unwrap()
}

fn sender() -> Sender {
    sender_with(SenderConfig::new(loopback_policy()))
}

fn message(url: String) -> OutboundMessage {
    OutboundMessage {
        url,
        webhook_id: "evt_01TEST".into(),
        timestamp: 1_767_225_600,
        secrets: vec![new_secret(), new_secret()],
        body: br#"{"type":"webhook.test"}"#.to_vec(),
    }
}

#[tokio::test]
async fn a_2xx_is_a_success_with_signed_standard_webhooks_headers() {
    let receiver = Receiver::start(answer(204), None).await;
    let message = message(receiver.url("/hook?team=7"));
    let attempt = sender().send(&message).await;
    assert_eq!((attempt.status_code, attempt.error), (Some(204), None));
    assert!(attempt.succeeded() && !attempt.gone());
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.request_line, "POST /hook?team=7 HTTP/1.1");
    assert_eq!(request.body, message.body);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some(USER_AGENT));
    assert_eq!(request.header("webhook-id"), Some("evt_01TEST"));
    assert_eq!(request.header("webhook-timestamp"), Some("1767225600"));
    let signatures: Vec<&str> = request.header("webhook-signature").unwrap().split(' ').collect();
    let expected: Vec<String> =
        message.secrets.iter().map(|s| sign(s, "evt_01TEST", 1_767_225_600, &request.body).unwrap()).collect();
    assert_eq!(signatures, expected);
}

#[tokio::test]
async fn a_500_is_a_status_failure_with_the_answer_kept() {
    let receiver = Receiver::start(answer(500), None).await;
    let attempt = sender().send(&message(receiver.url("/"))).await;
    assert_eq!((attempt.status_code, attempt.error), (Some(500), Some(AttemptError::Status)));
    assert_eq!(attempt.error.unwrap().as_str(), "http_status");
    assert_eq!(attempt.response_excerpt, "ok");
    assert_eq!(attempt.retry_after, None);
    assert!(!attempt.succeeded());
}

#[tokio::test]
async fn retry_after_is_read_on_a_503() {
    let reply = Reply::Answer { status: 503, headers: vec![("retry-after", "7".into())], body: Vec::new() };
    let receiver = Receiver::start(reply, None).await;
    let attempt = sender().send(&message(receiver.url("/"))).await;
    assert_eq!((attempt.status_code, attempt.error), (Some(503), Some(AttemptError::Status)));
    assert_eq!(attempt.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn retry_after_is_ignored_on_other_statuses() {
    let reply = Reply::Answer { status: 500, headers: vec![("retry-after", "7".into())], body: Vec::new() };
    let receiver = Receiver::start(reply, None).await;
    assert_eq!(sender().send(&message(receiver.url("/"))).await.retry_after, None);
}

#[tokio::test]
async fn a_410_means_the_endpoint_is_gone() {
    let receiver = Receiver::start(answer(410), None).await;
    let attempt = sender().send(&message(receiver.url("/"))).await;
    assert!(attempt.gone());
    assert!(!attempt.succeeded());
    assert_eq!(attempt.error, Some(AttemptError::Status));
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_not_followed() {
    let elsewhere = Receiver::start(answer(200), None).await;
    let location = elsewhere.url("/elsewhere");
    let reply = Reply::Answer { status: 302, headers: vec![("location", location)], body: Vec::new() };
    let receiver = Receiver::start(reply, None).await;
    let attempt = sender().send(&message(receiver.url("/hook"))).await;
    assert_eq!((attempt.status_code, attempt.error), (Some(302), Some(AttemptError::Redirect)));
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(elsewhere.connections(), 0, "the Location was requested");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let receiver = Receiver::start(Reply::Silent, None).await;
    let config = SenderConfig { request_timeout: Duration::from_millis(300), ..SenderConfig::new(loopback_policy()) };
    let attempt = sender_with(config).send(&message(receiver.url("/"))).await;
    assert_eq!((attempt.status_code, attempt.error), (None, Some(AttemptError::Timeout)));
    assert!(attempt.duration_ms >= 300, "{}", attempt.duration_ms);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let attempt = sender().send(&message(format!("http://127.0.0.1:{port}/"))).await;
    assert_eq!((attempt.status_code, attempt.error), (None, Some(AttemptError::Connect)));
}

#[tokio::test]
async fn an_address_outside_the_allowlist_is_blocked_before_connecting() {
    let receiver = Receiver::start(answer(200), None).await;
    let config = SenderConfig::new(AddressPolicy::Allowlist("10.0.0.0/8".parse().unwrap()));
    for url in [receiver.url("/"), format!("http://[::ffff:127.0.0.1]:{}/", receiver.port())] {
        let attempt = sender_with(config.clone()).send(&message(url)).await;
        assert_eq!((attempt.status_code, attempt.error), (None, Some(AttemptError::Blocked)));
        assert_eq!(attempt.error.unwrap().as_str(), "blocked");
    }
    assert_eq!(receiver.connections(), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_blocked_at_connect_time() {
    let receiver = Receiver::start(answer(200), None).await;
    let resolver = StaticResolver::new().with("hooks.example.test", [IpAddr::from([127, 0, 0, 1])]);
    let sender = Sender::new(SenderConfig::new(AddressPolicy::Public), Arc::new(resolver)).unwrap();
    let url = format!("https://hooks.example.test:{}/", receiver.port());
    let attempt = sender.send(&message(url)).await;
    assert_eq!((attempt.status_code, attempt.error), (None, Some(AttemptError::Blocked)));
    assert_eq!(receiver.connections(), 0);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_failure() {
    let sender = Sender::new(SenderConfig::new(AddressPolicy::Public), Arc::new(StaticResolver::new())).unwrap();
    let attempt = sender.send(&message("https://nowhere.example.test/".into())).await;
    assert_eq!(attempt.error, Some(AttemptError::Dns));
}

#[tokio::test]
async fn a_production_sender_refuses_plain_http_and_literals() {
    let receiver = Receiver::start(answer(200), None).await;
    let sender = Sender::new(SenderConfig::new(AddressPolicy::Public), Arc::new(StaticResolver::new())).unwrap();
    for url in [receiver.url("/"), format!("https://127.0.0.1:{}/", receiver.port())] {
        assert_eq!(sender.send(&message(url)).await.error, Some(AttemptError::Blocked));
    }
    assert_eq!(receiver.connections(), 0);
}

#[tokio::test]
async fn an_unusable_secret_fails_without_sending() {
    let receiver = Receiver::start(answer(200), None).await;
    let mut message = message(receiver.url("/"));
    message.secrets = vec!["not-a-secret".into()];
    assert_eq!(sender().send(&message).await.error, Some(AttemptError::Other));
    assert_eq!(receiver.connections(), 0);
}

#[tokio::test]
async fn only_the_first_2_kib_of_a_large_answer_is_kept() {
    let reply = Reply::Answer { status: 200, headers: Vec::new(), body: vec![b'x'; 1 << 20] };
    let receiver = Receiver::start(reply, None).await;
    let attempt = sender().send(&message(receiver.url("/"))).await;
    assert!(attempt.succeeded());
    assert_eq!(attempt.response_excerpt.len(), EXCERPT_LIMIT);
}

#[test]
fn an_excerpt_cut_inside_a_character_stays_within_the_limit() {
    let mut body = vec![b'a'; EXCERPT_LIMIT - 1];
    body.push(0xC3); // the first byte of "é"
    let text = excerpt(&body);
    assert!(text.len() <= EXCERPT_LIMIT);
    assert!(text.starts_with("aaa"));
}

/// A CA made for one test, and a receiver certificate for `localhost` it signed.
fn throwaway_tls() -> (Vec<u8>, TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &*ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(server_cert.der().to_vec())], key)
        .unwrap();
    (ca.pem().into_bytes(), TlsAcceptor::from(Arc::new(config)))
}

#[tokio::test]
async fn https_succeeds_when_the_extra_ca_is_trusted() {
    let (ca_pem, acceptor) = throwaway_tls();
    let receiver = Receiver::start(answer(200), Some(acceptor)).await;
    let config = SenderConfig { extra_ca_pem: Some(ca_pem), ..SenderConfig::new(loopback_policy()) };
    let attempt = sender_with(config).send(&message(format!("https://localhost:{}/hook", receiver.port()))).await;
    assert_eq!((attempt.status_code, attempt.error), (Some(200), None));
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn https_to_an_untrusted_certificate_is_a_tls_failure() {
    let (_, acceptor) = throwaway_tls();
    let receiver = Receiver::start(answer(200), Some(acceptor)).await;
    let attempt = sender().send(&message(format!("https://localhost:{}/hook", receiver.port()))).await;
    assert_eq!((attempt.status_code, attempt.error), (None, Some(AttemptError::Tls)));
    assert_eq!(receiver.requests().len(), 0);
}

#[test]
fn an_extra_ca_file_without_certificates_is_refused() {
    let config =
        SenderConfig { extra_ca_pem: Some(b"not a certificate".to_vec()), ..SenderConfig::new(loopback_policy()) };
    assert!(Sender::new(config, Arc::new(SystemResolver)).is_err());
}

#[test]
fn a_message_never_shows_its_secrets_in_debug_output() {
    let message = message("http://127.0.0.1/".into());
    let shown = format!("{message:?}");
    assert!(shown.contains("[2 redacted]"), "{shown}");
    assert!(message.secrets.iter().all(|secret| !shown.contains(secret.as_str())), "{shown}");
}

#[test]
fn error_kinds_have_stable_words() {
    let words: Vec<&str> = [
        AttemptError::Blocked,
        AttemptError::Dns,
        AttemptError::Connect,
        AttemptError::Timeout,
        AttemptError::Tls,
        AttemptError::Redirect,
        AttemptError::Status,
        AttemptError::Other,
    ]
    .into_iter()
    .map(AttemptError::as_str)
    .collect();
    assert_eq!(words, ["blocked", "dns", "connect", "timeout", "tls", "redirect", "http_status", "other"]);
}
