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
    // From this test's address, through PeerAddrLayer and ConnectInfo.
    assert!(
        page.starts_with("1 pushes stored\nlast, from 127.0.0.1:"),
        "{page}"
    );
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
    // The gateway's own metrics, counting the push and the refusal.
    let r = http::request(server.addr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.contains("pushgate_pushes_total{outcome=\"stored\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("pushgate_pushes_total{outcome=\"bad_request\"} 1\n"),
        "{text}"
    );
}

#[test]
fn hyper_example() {
    let server = start("hyper");
    push(&server);
    // LogStore: the push is in the example's log, peer address included
    // for a refused one.
    let r = http::request(server.addr, "PATCH", "/metrics/job/example", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, PUT, DELETE"));
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

/// The reporter example, run as a user runs it: pushing to a gateway in
/// this test process every 100 ms, then stopped with SIGINT (Ctrl-C).
#[cfg(unix)]
mod reporter {
    use std::process::Stdio;
    use std::time::Duration;

    use pushgate::gateway::PushGateway;
    use pushgate::store::MemoryStore;

    use super::support::process::example;

    #[tokio::test]
    async fn reporter_example() {
        let store = MemoryStore::new();
        let gateway = PushGateway::builder(store.clone()).build().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(pushgate::server::serve(
            listener,
            gateway,
            std::future::pending(),
        ));

        let mut child = tokio::process::Command::new(example("reporter"))
            .arg(&url)
            .env("REPORTER_INTERVAL_MS", "100")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();

        // Two scheduled pushes; the limit only keeps a broken example from
        // hanging the test.
        let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
        while store.len() < 2 {
            if let Some(status) = child.try_wait().unwrap() {
                let output = child.wait_with_output().await.unwrap();
                panic!(
                    "the example exited ({status}) after {} pushes:\n{}{}",
                    store.len(),
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "only {} pushes stored",
                store.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("the example did not stop on SIGINT")
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{}\n{log}", output.status);

        // Every push, the final one included, stored; none failed.
        let messages = store.pushes();
        assert!(messages.len() >= 3, "{log}");
        let summary = format!(
            "reporter stopped: {0} pushes, {0} succeeded, 0 failed",
            messages.len()
        );
        assert!(log.contains(&summary), "{summary:?} not in:\n{log}");
        assert!(log.contains("Ctrl-C: stopping after a final push"), "{log}");
        assert_eq!(
            log.matches("reported metrics").count(),
            messages.len(),
            "{log}"
        );

        // Only the filtered families, under the example's grouping key.
        for message in &messages {
            let key: Vec<(&str, &str)> = message
                .grouping
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            assert_eq!(key, [("job", "reporter_example"), ("instance", "demo")]);
            let families = message.families.clone();
            let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
            assert_eq!(
                names,
                ["app_job_seconds", "app_jobs_total", "app_queue_length"]
            );
        }
    }
}
