//! A closed-loop HTTP/1.1 push load generator.
//!
//! `connections` tasks each hold one keep-alive HTTP/1.1 connection (hyper's
//! `client::conn::http1`, so the connection count is exact, not a pool's) and
//! send the same body back to back: the next push starts when the previous
//! response has been read in full. Every status is checked; anything but 2xx,
//! a transport error or a request timeout is a failure.
//!
//! Time is split into a warm-up and a measured window. A push counts towards
//! throughput if it *completed* inside the window, and its latency is recorded
//! if it *started* inside the window; pushes still in flight when the window
//! closes are awaited (up to `request_timeout`) for their latency only, so the
//! slowest pushes are not cut off the tail. No push starts after the window.
//!
//! [`Conn`] is the other half: requests one at a time on one connection,
//! each timed and read in full, for what is not load (filling a server
//! first, timing scrapes).
//!
//! Shared by `benches/e2e.rs` via `#[path]`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One load run: where, what and how hard.
#[derive(Clone)]
pub struct Load {
    pub addr: SocketAddr,
    /// The request path of connection `k` (one grouping key per connection,
    /// or the same for all).
    pub path: Arc<dyn Fn(usize) -> String + Send + Sync>,
    pub method: Method,
    pub content_type: &'static str,
    pub body: Bytes,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Bound on one push (connect, send, read the response).
    pub request_timeout: Duration,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub connections: usize,
    pub window: Duration,
    pub body_bytes: usize,
    /// 2xx pushes completed inside the window.
    pub pushes: u64,
    /// Latencies of successful pushes started inside the window, sorted.
    pub latencies: Vec<Duration>,
    /// Failed pushes over the whole run, warm-up included.
    pub failures: u64,
    /// Failures by cause: `"HTTP 400"`, `"transport"`, `"timeout"`, `"connect"`.
    pub failure_kinds: BTreeMap<String, u64>,
    /// The first failure, with the response body or error text.
    pub first_failure: Option<String>,
}

impl Report {
    pub fn pushes_per_sec(&self) -> f64 {
        self.pushes as f64 / self.window.as_secs_f64()
    }

    /// Request body bytes per second (headers not counted).
    pub fn bytes_per_sec(&self) -> f64 {
        self.pushes_per_sec() * self.body_bytes as f64
    }

    /// The `q` quantile (0..=1) of the latencies, nearest rank.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        percentile(&self.latencies, q)
    }

    fn merge(&mut self, other: Report) {
        self.pushes += other.pushes;
        self.latencies.extend(other.latencies);
        self.failures += other.failures;
        for (k, n) in other.failure_kinds {
            *self.failure_kinds.entry(k).or_default() += n;
        }
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    fn fail(&mut self, kind: String, detail: String) {
        self.failures += 1;
        *self.failure_kinds.entry(kind).or_default() += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(detail);
        }
    }
}

/// The `q` quantile (0..=1) of `sorted`, nearest rank.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

type Sender = http1::SendRequest<Full<Bytes>>;

/// An error with its sources: hyper's own text is terse ("connection error").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn connect<B>(addr: SocketAddr) -> Result<http1::SendRequest<B>, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| chain(&e))?;
    // Ends when `sender` is dropped or the server closes the connection.
    tokio::spawn(conn);
    Ok(sender)
}

impl Load {
    /// Runs the load from `start`: warm-up, then the window, then returns.
    pub async fn run(&self, start: Instant) -> Report {
        let from = start + self.warmup;
        let until = from + self.duration;
        let tasks: Vec<_> = (0..self.connections)
            .map(|k| {
                let load = self.clone();
                tokio::spawn(async move { load.connection(k, from, until).await })
            })
            .collect();
        let mut report = Report {
            connections: self.connections,
            window: self.duration,
            body_bytes: self.body.len(),
            ..Report::default()
        };
        for task in tasks {
            match task.await {
                Ok(r) => report.merge(r),
                Err(e) => report.fail("panic".into(), e.to_string()),
            }
        }
        report.latencies.sort_unstable();
        report
    }

    async fn connection(&self, k: usize, from: Instant, until: Instant) -> Report {
        let path = (self.path)(k);
        let host = self.addr.to_string();
        let mut report = Report::default();
        let mut sender: Option<Sender> = None;
        while Instant::now() < until {
            let t0 = Instant::now();
            let request = Request::builder()
                .method(self.method.clone())
                .uri(&path)
                .header(HOST, &host)
                .header(CONTENT_TYPE, self.content_type)
                .body(Full::new(self.body.clone()))
                .expect("valid request");
            let existing = sender.take();
            let attempt = async move {
                let mut s = match existing {
                    Some(s) => s,
                    None => connect(self.addr).await.map_err(|e| ("connect", e))?,
                };
                s.ready().await.map_err(|e| ("transport", chain(&e)))?;
                let response = s
                    .send_request(request)
                    .await
                    .map_err(|e| ("transport", chain(&e)))?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| ("transport", chain(&e)))?
                    .to_bytes();
                Ok::<_, (&str, String)>((s, status, body))
            };
            match tokio::time::timeout(self.request_timeout, attempt).await {
                Ok(Ok((s, status, body))) => {
                    let t1 = Instant::now();
                    sender = Some(s);
                    if status.is_success() {
                        if t0 >= from {
                            report.latencies.push(t1 - t0);
                        }
                        if t1 >= from && t1 < until {
                            report.pushes += 1;
                        }
                    } else {
                        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
                        report.fail(
                            format!("HTTP {}", status.as_u16()),
                            format!("{path}: HTTP {status}: {}", text.trim()),
                        );
                    }
                }
                Ok(Err((kind, e))) => {
                    report.fail(kind.into(), format!("{path}: {kind}: {e}"));
                    // Do not spin on a dead server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(_) => report.fail(
                    "timeout".into(),
                    format!("{path}: no response in {:?}", self.request_timeout),
                ),
            }
        }
        report
    }
}

/// One GET on a fresh connection: the status, or why there is none.
pub async fn get_status(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, String> {
    let attempt = async {
        let mut s = connect::<Empty<Bytes>>(addr).await?;
        let request = Request::get(path)
            .header(HOST, addr.to_string())
            .body(Empty::new())
            .expect("valid request");
        let response = s.send_request(request).await.map_err(|e| chain(&e))?;
        let status = response.status().as_u16();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| chain(&e))?;
        Ok(status)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no response in {timeout:?}")))
}

/// How much of an answer's body [`Conn::send`] keeps.
pub const HEAD_BYTES: usize = 1024;

/// One keep-alive connection for requests one after another, each read in
/// full before the next: for what is not load (filling a server before it,
/// timing scrapes), where the order matters and one request at a time
/// makes each one's time its own.
pub struct Conn {
    addr: SocketAddr,
    /// `None` after a failure: the next request connects again.
    sender: Option<Sender>,
}

/// An answer read in full.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    /// The body's first [`HEAD_BYTES`] bytes, for messages.
    pub head: Bytes,
    /// The body's length.
    pub len: usize,
    /// From sending the request (connecting included, if it had to) to the
    /// last byte of the body.
    pub elapsed: Duration,
}

impl Conn {
    /// A connection to `addr`, made by the first request.
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, sender: None }
    }

    /// Sends one request and reads the answer, whatever its status; no
    /// answer (transport error, nothing in `timeout`) is an `Err` saying why.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.addr.to_string());
        for &(name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("{path}: {e}"))?;
        let t0 = Instant::now();
        let existing = self.sender.take();
        let addr = self.addr;
        let attempt = async move {
            let mut s = match existing {
                Some(s) => s,
                None => connect(addr).await.map_err(|e| format!("connect: {e}"))?,
            };
            s.ready().await.map_err(|e| chain(&e))?;
            let response = s.send_request(request).await.map_err(|e| chain(&e))?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            // Read to the end, keeping only the start: a scrape of tens of
            // MB collected into one buffer cost the client more than some
            // servers take to answer (a fresh allocation, page faults and a
            // copy per scrape), and a message needs no more.
            let mut body = response.into_body();
            let mut head = Vec::new();
            let mut len = 0;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| chain(&e))?;
                if let Some(data) = frame.data_ref() {
                    len += data.len();
                    let room = HEAD_BYTES.saturating_sub(head.len());
                    head.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Ok::<_, String>((s, status, content_type, (Bytes::from(head), len)))
        };
        let (s, status, content_type, body) = tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| format!("{path}: no answer in {timeout:?}"))?
            .map_err(|e| format!("{path}: {e}"))?;
        let elapsed = t0.elapsed();
        self.sender = Some(s);
        let (head, len) = body;
        Ok(Answer {
            status,
            content_type,
            head,
            len,
            elapsed,
        })
    }
}
