//! The examples, run as a user runs them: each binary (built by `cargo
//! test`) started on a free port, pushed to over TCP, then killed.

mod support {
    pub mod http;
    pub mod process;
}

use std::process::Command;

use support::http;
use support::process::{example, Server};

const BODY: &[u8] = b"# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\n";

fn start(name: &str) -> Server {
    let mut command = Command::new(example(name));
    command
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    Server::start(command)
}

/// Pushes `BODY` to `/metrics/job/example/instance/i1` and expects 202.
fn push(server: &Server) {
    let r = http::request(
        server.addr,
        "POST",
        "/metrics/job/example/instance/i1",
        &[],
        BODY,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}\n{}", r.text(), server.output());
    assert_eq!(r.text(), "stored 1 families, 1 series\n");
}

#[test]
fn axum_example() {
    let server = start("axum");
    let r = http::request(server.addr, "GET", "/hello", &[], b"").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello\n"));
    let r = http::request(server.addr, "GET", "/", &[], b"").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "0 pushes stored\n"));

    push(&server);

    // The app's own page sees the push in its MemoryStore.
    let r = http::request(server.addr, "GET", "/", &[], b"").unwrap();
    let page = r.text();
    assert!(page.starts_with("1 pushes stored\nlast:\n"), "{page}");
    assert!(
        page.contains("jobs_total{instance=\"i1\",job=\"example\",queue=\"a\"} 3 "),
        "{page}"
    );
    // A bad push is refused by the gateway, not the app.
    let r = http::request(server.addr, "POST", "/metrics/job/x", &[], b"x{").unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("line 1"), "{}", r.text());
    // Paths outside the gateway's stay the app's.
    let r = http::request(server.addr, "POST", "/nowhere", &[], BODY).unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn hyper_example() {
    let server = start("hyper");
    push(&server);
    // LogStore: the push is in the example's log, peer address included
    // for a refused one.
    let r = http::request(server.addr, "DELETE", "/metrics/job/example", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, PUT"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = server.output();
        if log.contains("jobs_total{instance=\"i1\",job=\"example\",queue=\"a\"} 3")
            && log.contains("peer=127.0.0.1:")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "push not logged:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test]
async fn tonic_example() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let server = start("tonic");
    let addr = server.addr;
    // The push, over HTTP/1.1 (a blocking client: off the runtime's threads).
    let pushed = tokio::task::spawn_blocking(move || {
        http::request(addr, "PUT", "/metrics/job/example/instance/i1", &[], BODY).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(pushed.status, 202, "{}\n{}", pushed.text(), server.output());

    // The gRPC health check, over HTTP/2 on the same port.
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let response = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.status(), ServingStatus::Serving);
    // A service it does not know is NOT_FOUND, as the health protocol says.
    let status = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
}
