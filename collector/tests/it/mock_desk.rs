//! A scriptable stand-in for a service desk's HTTP API on 127.0.0.1: every request is
//! recorded, checked by the test's `answer` function (which validates it against the
//! vendor's documented schema and plays the desk), and forced answers (429, 5xx, 400)
//! can be queued ahead of it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One request as the desk received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the desk answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn json(status: u16, body: &Value) -> Answer {
        Answer {
            status,
            body: body.to_string(),
            headers: vec![],
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Answer + Send + Sync;

#[derive(Clone)]
struct DeskState {
    requests: Arc<Mutex<Vec<Request>>>,
    forced: Arc<Mutex<VecDeque<Answer>>>,
    answer: Arc<Handler>,
}

pub struct MockDesk {
    pub base: String,
    state: DeskState,
    stop: Option<oneshot::Sender<()>>,
}

async fn handle(
    State(state): State<DeskState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Request {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri
            .query()
            .and_then(|q| reqwest::Url::parse(&format!("http://desk/?{q}")).ok())
            .map(|url| {
                url.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        },
    };
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(request.clone());
    let forced = state.forced.lock().expect("forced lock").pop_front();
    let answer = forced.unwrap_or_else(|| (state.answer)(&request));
    let mut response = (
        StatusCode::from_u16(answer.status).expect("valid status"),
        answer.body,
    )
        .into_response();
    response.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    for (name, value) in answer.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            axum::http::HeaderValue::from_str(&value).expect("header value"),
        );
    }
    response
}

impl MockDesk {
    pub async fn start(answer: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> MockDesk {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("desk binds");
        let local = listener.local_addr().expect("desk address");
        let state = DeskState {
            requests: Arc::default(),
            forced: Arc::default(),
            answer: Arc::new(answer),
        };
        let app = Router::new().fallback(handle).with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        MockDesk {
            base: format!("http://{local}"),
            state,
            stop: Some(stop),
        }
    }

    /// Answers the next request with `answer`, whatever it is.
    pub fn force(&self, answer: Answer) {
        self.state
            .forced
            .lock()
            .expect("forced lock")
            .push_back(answer);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for MockDesk {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
