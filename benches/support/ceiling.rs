//! The ceiling: the fastest a push server can be on this machine, over
//! the same loopback HTTP/1.1 and the same load.
//!
//! A bare hyper HTTP/1.1 server on one current-thread tokio runtime: it
//! reads each request body to the end, parses nothing, keeps nothing, and
//! answers 202 with an empty body (GET: 200, its health check). What a
//! real server does beyond that — decoding, validation, storing — is what
//! separates its push/s from this one's.
//!
//! `benches/e2e.rs` runs it in a process of its own (the bench binary again,
//! with `E2E_CEILING_SERVE=ADDR`), so that it is pinned with `taskset` and
//! measured through `/proc` like the other servers.
//!
//! Used by `benches/e2e.rs` via `#[path]`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The environment variable that makes the bench binary this server.
pub const SERVE_ENV: &str = "E2E_CEILING_SERVE";

/// Serves on `addr` until killed; `Err` if it cannot listen.
pub fn serve(addr: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(accept(addr))
}

/// Accepts connections, one task each, as pushgate's server does (and
/// with `TCP_NODELAY`, as it sets).
async fn accept(addr: &str) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

/// 200 to a GET; to anything else, 202 once the body is read to its end,
/// frame by frame and dropped (not gathered: no copy, no allocation to
/// hold it); 400 if the body broke off.
async fn answer(request: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let mut status = if request.method() == Method::GET {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            status = StatusCode::BAD_REQUEST;
            break;
        }
    }
    let mut response = Response::new(Empty::new());
    *response.status_mut() = status;
    Ok(response)
}
