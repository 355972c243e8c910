//! A recording HTTP server on loopback for the integration tests, and clients pointed at it.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::Request, response::Response};
use preventor::{
    BiometricsClient, ComplianceClient, EndUserContext, HttpOptions, OAuthCredentials, RetryPolicy,
    Tenant,
};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The client end of the connection the request came on.
    pub peer: SocketAddr,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// What the server answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

type Responder = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

struct Inner {
    requests: Mutex<Vec<Recorded>>,
    responder: Box<Responder>,
}

/// A server that records every request and answers with `responder(request, index)`.
#[derive(Clone)]
pub struct MockServer {
    pub url: String,
    inner: Arc<Inner>,
}

impl MockServer {
    pub async fn start(
        responder: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        raise_fd_limit();
        let inner = Arc::new(Inner {
            requests: Mutex::new(Vec::new()),
            responder: Box::new(responder),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MockServer {
            url: format!("http://{addr}"),
            inner,
        }
    }

    /// A server answering every operation like Preventor would, with the page's examples.
    pub async fn preventor() -> Self {
        Self::start(|r, _| default_reply(r)).await
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// The requests that reached `path`, in order.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// How many connections the requests came on.
    pub fn connections(&self) -> usize {
        let peers: std::collections::HashSet<_> =
            self.requests().into_iter().map(|r| r.peer).collect();
        peers.len()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests_to(path).len()
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    request: Request<axum::body::Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let recorded = Recorded {
        peer,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("<binary>").to_string()))
            .collect(),
        body,
    };
    let index = {
        let mut all = inner.requests.lock().unwrap();
        all.push(recorded.clone());
        all.iter().filter(|r| r.path == recorded.path).count() - 1
    };
    let reply = (inner.responder)(&recorded, index);
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::builder().status(reply.status);
    for (n, v) in reply.headers {
        response = response.header(n, v);
    }
    response.body(reply.body.into()).unwrap()
}

/// Raises this process's soft limit on open files to its hard limit, once: some tests run a
/// thousand concurrent calls, each end of each connection a descriptor, and a developer laptop's
/// default soft limit (256 on macOS) would fail them for a reason unrelated to the SDK.
pub fn raise_fd_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rlimit::increase_nofile_limit(u64::MAX);
    });
}

/// The document's example for a response or request, by JSON pointer into the YAML.
pub fn spec_example(document: &str, pointer: &str) -> serde_json::Value {
    let path = format!("{}/openapi/{document}.yaml", env!("CARGO_MANIFEST_DIR"));
    let yaml: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    yaml.pointer(pointer)
        .unwrap_or_else(|| panic!("{document}.yaml has no {pointer}"))
        .clone()
}

pub fn customer_example() -> serde_json::Value {
    spec_example("compliance", "/components/examples/CustomerCreate/value")
}

pub fn enroll_example() -> serde_json::Value {
    spec_example("biometrics", "/components/examples/EnrollResult/value")
}

pub fn token(n: usize, expires_in: u64) -> Reply {
    Reply::json(
        200,
        serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "bearer", "expires_in": expires_in, "scope": "read"}),
    )
}

pub fn default_reply(r: &Recorded) -> Reply {
    use serde_json::json;
    match r.path.as_str() {
        "/security/oauth/token" => token(0, 3600),
        "/onboarding/getCustomer" => Reply::json(200, customer_example()),
        p if p.starts_with("/onboarding/") => {
            Reply::json(200, json!({"status": "200", "message": "OK"}))
        }
        "/v1/auth/token" => Reply::json(200, json!({"token": "bio-token"})),
        "/v1/workflow/enroll/user" => Reply::json(
            200,
            json!({"userId": "4fc897ce-7879-47e4-9e5c-5de91ded4dea", "create": "2020-09-29T16:02:48.109Z"}),
        ),
        p if p.ends_with("/upload") => Reply::json(
            200,
            json!({"ticket": "bf47fb71-81ac-4625-887d-ef37e078038a"}),
        ),
        p if p.contains("/ticket/") => Reply::json(200, enroll_example()),
        _ => Reply::json(404, json!({"status": 404, "message": "no such path"})),
    }
}

pub const API_KEY: &str = "api-key-1";
pub const CLIENT_SECRET: &str = "client-secret-1";
pub const PASSWORD: &str = "password-1";
pub const API_SECRET: &str = "api-secret-1";

pub fn fast_retries() -> HttpOptions {
    HttpOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        },
        ..HttpOptions::default()
    }
}

pub fn tenant() -> Tenant {
    Tenant {
        api_key: API_KEY.into(),
        tenant: "tenant-1".into(),
        env: "env-1".into(),
        banknu: "banknu-1".into(),
    }
}

pub fn credentials() -> OAuthCredentials {
    OAuthCredentials {
        client_id: "client-1".into(),
        client_secret: CLIENT_SECRET.into(),
        username: "user@example.com".into(),
        password: PASSWORD.into(),
        scope: "read".into(),
    }
}

pub fn compliance(server: &MockServer) -> ComplianceClient {
    ComplianceClient::builder()
        .base_url(&server.url)
        .tenant(tenant())
        .credentials(credentials())
        .http_options(fast_retries())
        .context(EndUserContext::default().lang("es").tzone("America/Lima"))
        .build()
        .unwrap()
}

pub fn biometrics(server: &MockServer) -> BiometricsClient {
    BiometricsClient::builder()
        .base_url(&server.url)
        .tenant(tenant())
        .api_secret(API_SECRET)
        .http_options(fast_retries())
        .context(EndUserContext::default().ip("203.0.113.7"))
        .build()
        .unwrap()
}

/// A small real JPEG (the one in the biometrics document's upload example).
pub fn jpeg() -> Vec<u8> {
    use base64::Engine;
    let uri = spec_example(
        "biometrics",
        "/paths/~1v1~1workflow~1enroll~1user~1{userId}~1upload/post/requestBody/content/application~1json/example/portraits/picture1",
    );
    let b64 = uri
        .as_str()
        .unwrap()
        .trim_start_matches("data:image/jpeg;base64,");
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// A log sink for tracing subscribers; `text()` is everything written so far.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `n` tasks made by `task` at once and returns their results, in order.
pub async fn concurrently<F, T>(n: usize, task: impl Fn() -> F) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(task())).collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}
