//! A minimal HTTP/1.1 server on 127.0.0.1:0 that records what the agent POSTs and
//! answers from a script. One request per connection (`Connection: close`), which is
//! all the shipper needs; the agent itself must not depend on a server framework.

use harbinger_shared::Batch;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the server answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    /// A collector's acknowledgement of `batch`.
    pub fn ack(batch: &Batch) -> Self {
        Self {
            status: 200,
            headers: vec![("Content-Type", "application/json".into())],
            body: format!(
                r#"{{"host_id":"{}","seq":{},"duplicate":false}}"#,
                batch.agent.host_id, batch.seq
            ),
        }
    }

    /// Never answers: the connection stays open and silent.
    pub fn hang() -> Self {
        Self::status(0)
    }

    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

/// One request as received.
#[derive(Clone)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub batch: Batch,
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Script = dyn Fn(usize, &Batch) -> Reply + Send + Sync;

pub struct Stub {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    notify: Arc<Notify>,
}

impl Stub {
    /// Starts the server; `script(n, batch)` answers the n-th request (from 0).
    pub async fn start(script: impl Fn(usize, &Batch) -> Reply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let notify = Arc::new(Notify::new());
        let script: Arc<Script> = Arc::new(script);
        let (rec, note) = (received.clone(), notify.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (rec, note, script) = (rec.clone(), note.clone(), script.clone());
                tokio::spawn(async move { serve(stream, rec, note, script).await });
            }
        });
        Stub {
            url,
            received,
            notify,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("stub lock").clone()
    }

    /// Waits until at least `n` requests were answered (panics after 10 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.notify.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {n} requests, got {}",
                got.len()
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    notify: Arc<Notify>,
    script: Arc<Script>,
) {
    let at = Instant::now();
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .expect("the agent sends a Content-Length");
    while data.len() < header_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &data[header_end..header_end + length];
    let zstd = headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v == "zstd");
    let batch = Batch::decode(body, zstd, 64 << 20).expect("the agent sends a valid batch");
    let index = received.lock().expect("stub lock").len();
    let reply = script(index, &batch);
    let mut response = format!(
        "HTTP/1.1 {} Stub\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&reply.body);
    received.lock().expect("stub lock").push(Received {
        at,
        method,
        path,
        headers,
        batch,
        status: reply.status,
    });
    if reply.status == 0 {
        notify.notify_waiters();
        // Hold the connection open without answering; the runtime drops this at the end.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    notify.notify_waiters();
}
