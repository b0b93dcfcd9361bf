//! A minimal HTTP/1.1 server on 127.0.0.1 for tests: speaks just enough of
//! the protocol for reqwest (content-length bodies, keep-alive), hands each
//! request to a handler, and records what it received.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    /// A reply that misbehaves on the wire instead of answering.
    pub fn fault(fault: HttpFault) -> Response {
        let name = match fault {
            HttpFault::Drop => "drop",
            HttpFault::Stall => "stall",
            HttpFault::Truncate => "truncate",
        };
        let mut r = Response::json(200, serde_json::json!({"text": "cut off here"}));
        r.headers.push((FAULT_HEADER.into(), name.into()));
        r
    }
}

/// Ways the server misbehaves, as providers and proxies do.
#[derive(Debug, Clone, Copy)]
pub enum HttpFault {
    /// Close the connection without answering.
    Drop,
    /// Never answer (the connection stays open).
    Stall,
    /// Announce the whole body, send half, close.
    Truncate,
}

/// Carries a fault from a handler to the server loop; never sent.
const FAULT_HEADER: &str = "x-test-fault";

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

pub struct TestServer {
    pub base: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve(handler: Handler) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                // Bounded: at most 1000 requests per connection.
                for _ in 0..1000 {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let path = parts.next().unwrap_or("").to_string();
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.push((k.trim().to_string(), v.trim().to_string()));
                        }
                    }
                    let len = headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let request = Request {
                        method,
                        path,
                        headers,
                        body,
                    };
                    let response = handler(&request);
                    seen.lock().unwrap().push(request);
                    let fault = response
                        .headers
                        .iter()
                        .find(|(k, _)| k == FAULT_HEADER)
                        .map(|(_, v)| v.clone());
                    match fault.as_deref() {
                        Some("drop") => return,
                        Some("stall") => {
                            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                            return;
                        }
                        Some(_) => {
                            let half = &response.body[..response.body.len() / 2];
                            let head = format!(
                                "HTTP/1.1 200 X\r\ncontent-length: {}\r\n\r\n",
                                response.body.len()
                            );
                            let _ = write.write_all(head.as_bytes()).await;
                            let _ = write.write_all(half).await;
                            return;
                        }
                        None => {}
                    }
                    let mut out = format!(
                        "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
                        response.status,
                        response.body.len()
                    );
                    for (k, v) in &response.headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let mut bytes = out.into_bytes();
                    bytes.extend(&response.body);
                    if write.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    TestServer {
        base,
        requests,
        task,
    }
}
