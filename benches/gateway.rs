//! A push through the whole gateway stack (decode, validate, grouping,
//! timestamps, encode, store) on the small, medium and large payloads.
//!
//! Run: `cargo bench --bench gateway`. Compare with `cargo bench --bench codec`:
//! the gateway's own work is the difference, measured alone by `stages/*`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::{Method, Request};
use http_body_util::Full;
use pushgate::gateway::PushGateway;
use pushgate::store::MemoryStore;
use pushgate::{codec, Format};
use tower::ServiceExt;

#[path = "support/payload.rs"]
mod payload;

/// A push of `body` in `format`.
fn push(method: Method, path: &str, format: Format, body: &Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", format.content_type())
        .body(Full::new(body.clone()))
        .unwrap()
}

/// Sends `req` through `gateway` and checks the 202.
fn assert_accepted<S>(rt: &tokio::runtime::Runtime, gateway: &S, req: Request<Full<Bytes>>)
where
    S: tower::Service<
            Request<Full<Bytes>>,
            Response = http::Response<pushgate::gateway::GatewayBody>,
        > + Clone,
    S::Error: std::fmt::Debug,
{
    let response = rt.block_on(gateway.clone().oneshot(req)).unwrap();
    assert_eq!(response.status(), http::StatusCode::ACCEPTED);
}

fn pushes(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for size in payload::SIZES {
        let families = payload::families(size);
        let mut group = c.benchmark_group(format!("gateway/{}", size.name));
        for format in [Format::Text, Format::Protobuf] {
            let mut body = Vec::new();
            codec::encode(format, &families, &mut body).unwrap();
            let body = Bytes::from(body);
            let store = MemoryStore::with_capacity_limit(1);
            let gateway = PushGateway::builder(store).build().unwrap();
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter(format), &body, |b, body| {
                b.iter(|| {
                    let req = push(Method::POST, "/metrics/job/bench/zone/z1", format, body);
                    assert_accepted(&rt, &gateway, req);
                })
            });
        }
        group.finish();
    }
}

/// The gateway's own work beside the codecs: validation, and grouping plus
/// timestamps, on the decoded medium payload.
fn stages(c: &mut Criterion) {
    use pushgate::gateway::transform::apply_grouping;
    use pushgate::model::LabelPair;
    use pushgate::transform::{AddTimestamps, Transformer};
    use pushgate::validate::validate;

    let families = payload::families(payload::MEDIUM);
    let grouping = [LabelPair::new("job", "bench"), LabelPair::new("zone", "z1")];
    let mut group = c.benchmark_group("stages/medium");
    group.bench_function("validate", |b| {
        b.iter(|| validate(std::hint::black_box(&families), &grouping).unwrap())
    });
    let stamp = AddTimestamps::new();
    group.bench_function("grouping+timestamps", |b| {
        b.iter_batched_ref(
            || families.clone(),
            |f| {
                apply_grouping(f, &grouping);
                stamp.transform(f);
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The Pushgateway mode: a medium push into a `GroupGateway` holding 32
/// groups of the same shape (as 32 pushers do), each push replacing one of
/// them; and a scrape of that store right after a push (uncached).
fn pushgateway(c: &mut Criterion) {
    use pushgate::pushgateway::GroupGateway;
    use pushgate::store::GroupStore;

    const GROUPS: usize = 32;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let families = payload::families(payload::MEDIUM);
    let mut group = c.benchmark_group("pushgateway/medium");
    for format in [Format::Protobuf, Format::Text] {
        let mut body = Vec::new();
        codec::encode(format, &families, &mut body).unwrap();
        let body = Bytes::from(body);
        let gateway = GroupGateway::builder(GroupStore::builder())
            .build()
            .unwrap();
        let put = |k: usize| {
            let req = push(
                Method::PUT,
                &format!("/metrics/job/bench/conn/c{k}"),
                format,
                &body,
            );
            assert_accepted(&rt, &gateway, req);
        };
        (0..GROUPS).for_each(put);
        group.throughput(Throughput::Bytes(body.len() as u64));
        let mut k = 0;
        group.bench_function(BenchmarkId::new("put", format), |b| {
            b.iter(|| {
                k = (k + 1) % GROUPS;
                put(k);
            })
        });
        if format == Format::Protobuf {
            for accept in [Format::Text, Format::Protobuf] {
                group.bench_function(BenchmarkId::new("scrape-after-put", accept), |b| {
                    b.iter(|| {
                        put(0);
                        let req = Request::get("/metrics")
                            .header("accept", accept.content_type())
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        let gw = gateway.clone();
                        rt.block_on(async move {
                            let body = gw.oneshot(req).await.unwrap().into_body();
                            http_body_util::BodyExt::collect(body)
                                .await
                                .unwrap()
                                .to_bytes()
                                .len()
                        })
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = pushes, stages, pushgateway
}
criterion_main!(benches);
