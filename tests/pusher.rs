//! The pusher end to end, with its default client (hyper-util, rustls)
//! over TCP on loopback: to pushgate's own gateway, served by
//! `pushgate::server` over plain HTTP, and by a test server over HTTPS
//! with mutual TLS (certificates made by rcgen at test time).

mod support {
    pub mod inproc;
    pub mod tls;
}

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use pushgate::gateway::PushGateway;
use pushgate::grouping::PushMethod;
use pushgate::model::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use pushgate::push::{PushError, Pusher, Retry};
use pushgate::store::{MemoryStore, Push, Store, StoreError, StoreService};
use pushgate::Format;

use support::inproc::Gateway;

fn families() -> Vec<MetricFamily> {
    let mut jobs = MetricFamily {
        name: Some("jobs_total".into()),
        help: Some("Jobs run.".into()),
        ..Default::default()
    };
    jobs.set_metric_type(MetricType::Counter);
    for (queue, value) in [("a", 3.0), ("b", 5.0)] {
        jobs.metric.push(Metric {
            label: vec![LabelPair::new("queue", queue)],
            counter: Some(Counter {
                value: Some(value),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let mut last = MetricFamily {
        name: Some("backup_last_success_seconds".into()),
        help: Some("When the last backup succeeded.".into()),
        ..Default::default()
    };
    last.set_metric_type(MetricType::Gauge);
    last.metric.push(Metric {
        gauge: Some(Gauge { value: Some(1.7e9) }),
        ..Default::default()
    });
    vec![jobs, last]
}

fn gatherer(
    families: Vec<MetricFamily>,
) -> impl Fn() -> Result<Vec<MetricFamily>, std::io::Error> + Send + Sync {
    move || Ok(families.clone())
}

/// `families` as the gateway stores them: every metric with the grouping
/// labels, labels sorted, no timestamp (the gateway's is removed).
fn as_stored(families: &[MetricFamily], grouping: &[(&str, &str)]) -> Vec<MetricFamily> {
    let mut out = families.to_vec();
    for family in &mut out {
        for metric in &mut family.metric {
            metric
                .label
                .extend(grouping.iter().map(|(n, v)| LabelPair::new(*n, *v)));
            metric.label.sort();
        }
    }
    out
}

/// The families of a stored message, timestamps removed, labels sorted.
fn stored_families(message: &Push) -> Vec<MetricFamily> {
    let mut families = message.families.clone();
    for family in &mut families {
        for metric in &mut family.metric {
            assert!(
                metric.timestamp_ms.is_some(),
                "the gateway stamps each metric"
            );
            metric.timestamp_ms = None;
            metric.label.sort();
        }
    }
    families
}

#[tokio::test]
async fn push_and_put_to_the_gateway_over_tcp() {
    let gateway = Gateway::start();
    let pusher = Pusher::builder(gateway.url(), gatherer(families()))
        .job("backup")
        .grouping("instance", "db 1")
        .grouping("path", "/var/tmp")
        .build()
        .unwrap();
    let pushed = pusher.push().await.unwrap();
    assert_eq!(pushed.status, Some(StatusCode::ACCEPTED));
    assert_eq!((pushed.families, pushed.attempts), (2, 1));
    pusher.put().await.unwrap();

    let messages = gateway.store.pushes();
    assert_eq!(messages.len(), 2);
    let grouping = [
        ("job", "backup"),
        ("instance", "db 1"),
        ("path", "/var/tmp"),
    ];
    let key: Vec<(&str, &str)> = messages[0]
        .grouping
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect();
    assert_eq!(key, grouping);
    assert_eq!(
        (messages[0].method, messages[1].method),
        (PushMethod::Post, PushMethod::Put)
    );
    for message in &messages {
        assert_eq!(stored_families(message), as_stored(&families(), &grouping));
    }
}

#[tokio::test]
async fn a_ttl_travels_in_its_header() {
    let gateway = Gateway::start();
    let ttl = std::time::Duration::from_secs(26 * 3600);
    let pusher = Pusher::builder(gateway.url(), gatherer(families()))
        .job("nightly")
        .ttl(ttl)
        .build()
        .unwrap();
    pusher.put().await.unwrap();
    assert_eq!(gateway.store.pushes()[0].ttl, Some(ttl));
}

#[tokio::test]
async fn every_format_and_gzip_reach_the_gateway() {
    let gateway = Gateway::start();
    for format in [Format::Protobuf, Format::Text, Format::OpenMetrics] {
        for gzip in [false, true] {
            let pusher = Pusher::builder(gateway.url(), gatherer(families()))
                .job("batch")
                .format(format)
                .gzip(gzip)
                .build()
                .unwrap();
            pusher
                .push()
                .await
                .unwrap_or_else(|e| panic!("{format} gzip={gzip}: {e}"));
            let message = gateway.store.take().pop().unwrap();
            assert_eq!(
                stored_families(&message),
                as_stored(&families(), &[("job", "batch")]),
                "{format} gzip={gzip}"
            );
        }
    }
}

#[tokio::test]
async fn a_refusal_surfaces_with_the_gateway_s_reason() {
    let gateway = Gateway::start();
    let mut stamped = families();
    stamped[1].metric[0].timestamp_ms = Some(1);
    let pusher = Pusher::builder(gateway.url(), gatherer(stamped))
        .job("batch")
        .build()
        .unwrap();
    let error = pusher.push().await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(
        error.to_string(),
        format!(
            "POST {}/metrics/job/batch answered 400 Bad Request: pushed metrics must not have timestamp",
            gateway.url()
        )
    );

    // A delete is handed to the store, and accepted.
    assert!(gateway.store.is_empty());
    let deleted = pusher.delete().await.unwrap();
    assert_eq!(
        (deleted.status, deleted.attempts),
        (StatusCode::ACCEPTED, 1)
    );
    assert_eq!(gateway.store.take()[0].method, PushMethod::Delete);

    let small = Gateway::with(|b| b.max_bytes(100));
    let mut big = families();
    big[0].help = Some("x".repeat(200).into());
    let pusher = Pusher::builder(small.url(), gatherer(big))
        .job("batch")
        .format(Format::Text)
        .build()
        .unwrap();
    let error = pusher.push().await.unwrap_err();
    let PushError::Status {
        status,
        body,
        attempts,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!((*status, *attempts), (StatusCode::PAYLOAD_TOO_LARGE, 1));
    assert!(
        body.starts_with("request body of ") && body.ends_with("exceeds the limit of 100 bytes"),
        "{body}"
    );
    assert!(small.store.is_empty());
}

#[tokio::test]
async fn no_gateway_is_a_transport_error_after_the_retries() {
    // A port that was free a moment ago.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let pusher = Pusher::builder(format!("http://{addr}"), gatherer(families()))
        .job("batch")
        .retry(Retry::attempts(3).base_delay(Duration::from_millis(10)))
        .build()
        .unwrap();
    let error = pusher.push().await.unwrap_err();
    assert!(
        matches!(error, PushError::Transport { attempts: 3, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "POST http://{addr}/metrics/job/batch failed (3 attempts): "
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
}

/// A store that is overloaded for its first `busy` writes.
struct Busy {
    busy: usize,
    writes: AtomicUsize,
    inner: MemoryStore,
}

impl Store for Busy {
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if n < self.busy {
            // The first refusal asks for a second's pause.
            let retry_after = (n == 0).then_some(Duration::from_secs(1));
            return Err(StoreError::Overloaded { retry_after });
        }
        self.inner.write(push).await
    }
}

/// Serves `gateway` on a free loopback port, on this test's runtime.
async fn serve<S: Store>(gateway: PushGateway<StoreService<S>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(pushgate::server::serve(
        listener,
        gateway,
        std::future::pending(),
    ));
    addr
}

#[tokio::test]
async fn a_busy_gateway_is_retried_until_it_stores() {
    let store = Arc::new(Busy {
        busy: 2,
        writes: AtomicUsize::new(0),
        inner: MemoryStore::new(),
    });
    let addr = serve(PushGateway::builder(store.clone()).build().unwrap()).await;
    let pusher = Pusher::builder(format!("http://{addr}"), gatherer(families()))
        .job("batch")
        .retry(
            Retry::attempts(3)
                .base_delay(Duration::from_millis(50))
                .jitter(0.0),
        )
        .build()
        .unwrap();
    let start = Instant::now();
    let pushed = pusher.push().await.unwrap();
    assert_eq!(pushed.attempts, 3);
    assert_eq!(store.writes.load(Ordering::SeqCst), 3);
    assert_eq!(store.inner.len(), 1);
    // The gateway's Retry-After: 1 was honoured (then 100 ms of backoff).
    assert!(
        start.elapsed() >= Duration::from_millis(1100),
        "{:?}",
        start.elapsed()
    );

    // With one attempt fewer, the 503 is the error.
    let store = Arc::new(Busy {
        busy: 2,
        writes: AtomicUsize::new(0),
        inner: MemoryStore::new(),
    });
    let addr = serve(PushGateway::builder(store.clone()).build().unwrap()).await;
    let pusher = Pusher::builder(format!("http://{addr}"), gatherer(families()))
        .job("batch")
        .retry(Retry::attempts(2).base_delay(Duration::from_millis(50)))
        .build()
        .unwrap();
    let error = pusher.push().await.unwrap_err();
    assert!(
        matches!(
            error,
            PushError::Status {
                status: StatusCode::SERVICE_UNAVAILABLE,
                attempts: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(store.inner.is_empty());
}

#[cfg(feature = "rustls")]
mod tls {
    //! HTTPS with mutual TLS: a CA, a server certificate for 127.0.0.1 and
    //! a client certificate, all made here; the server requires a client
    //! certificate signed by the CA.

    use super::*;

    use std::sync::Mutex;

    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use pushgate::push::HttpClient;
    use tower::ServiceExt;

    use crate::support::tls::{accept, mtls_server_config, pki, Pki};

    /// A gateway behind TLS that requires a client certificate from the
    /// CA; records the HTTP version of each request it serves.
    async fn serve_mtls(
        pki: &Pki,
        store: MemoryStore,
    ) -> (SocketAddr, Arc<Mutex<Vec<http::Version>>>) {
        let acceptor = tokio_rustls::TlsAcceptor::from(mtls_server_config(pki));

        let gateway = PushGateway::builder(store).build().unwrap();
        let versions = Arc::new(Mutex::new(Vec::new()));
        let seen = versions.clone();
        let service = tower::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            seen.lock().unwrap().push(request.version());
            gateway.clone().oneshot(request)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, service) = (acceptor.clone(), service.clone());
                tokio::spawn(async move {
                    // A refused handshake ends this connection only.
                    let Some(tls) = accept(&acceptor, tcp).await else {
                        return;
                    };
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                        .await;
                });
            }
        });
        (addr, versions)
    }

    #[tokio::test]
    async fn mutual_tls_with_a_private_ca() {
        let pki = pki();
        let store = MemoryStore::new();
        let (addr, versions) = serve_mtls(&pki, store.clone()).await;
        let url = format!("https://{addr}");

        let client = HttpClient::builder()
            .webpki_roots(false)
            .root_certificates_pem(pki.ca_pem.clone())
            .identity_pem(pki.client_cert_pem.clone(), pki.client_key_pem.clone())
            .build()
            .unwrap();
        let pusher = Pusher::builder(&url, gatherer(families()))
            .job("secure")
            .client(client)
            .build()
            .unwrap();
        let pushed = pusher.push().await.unwrap();
        assert_eq!(pushed.status, Some(StatusCode::ACCEPTED));
        assert_eq!(
            stored_families(&store.pushes()[0]),
            as_stored(&families(), &[("job", "secure")])
        );
        // ALPN chose HTTP/2.
        assert_eq!(*versions.lock().unwrap(), [http::Version::HTTP_2]);

        // Without the client certificate the server ends the handshake.
        let client = HttpClient::builder()
            .root_certificates_pem(pki.ca_pem.clone())
            .build()
            .unwrap();
        let pusher = Pusher::builder(&url, gatherer(families()))
            .job("secure")
            .client(client)
            .retry(Retry::never())
            .build()
            .unwrap();
        let error = pusher.push().await.unwrap_err();
        assert!(matches!(error, PushError::Transport { .. }), "{error:?}");
        // TLS 1.3: the client learns of it from the server's alert.
        assert!(error.to_string().contains("CertificateRequired"), "{error}");

        // Without the CA, the server's certificate is not trusted.
        let client = HttpClient::builder()
            .identity_pem(pki.client_cert_pem.clone(), pki.client_key_pem.clone())
            .build()
            .unwrap();
        let pusher = Pusher::builder(&url, gatherer(families()))
            .job("secure")
            .client(client)
            .retry(Retry::never())
            .build()
            .unwrap();
        let error = pusher.push().await.unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, PushError::Transport { .. }), "{error:?}");
        assert!(text.contains("UnknownIssuer"), "{text}");

        assert_eq!(store.len(), 1);
    }
}
