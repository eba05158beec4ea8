//! The sending side: gathering a `prometheus::Registry` into pushgate's
//! model, and a whole push (gather, encode, HTTP over loopback with the
//! default hyper-util client) to pushgate's gateway on this machine.
//!
//! Run: `cargo bench --bench push`. The registry holds 100 families of 10
//! series each (counters, gauges, 10-bucket histograms), like the codec
//! benches' medium payload; `gather/registry-only` is the registry's own
//! `gather()`, so the conversion's cost is the difference to `gather/convert`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prometheus::{CounterVec, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry};
use pushgate::gateway::PushGateway;
use pushgate::push::{Gatherer, Pusher};
use pushgate::store::MemoryStore;
use pushgate::Format;

const FAMILIES: usize = 100;
const SERIES: usize = 10;

/// 100 families x 10 series: a third each counters, gauges, histograms.
fn registry() -> Registry {
    let registry = Registry::new();
    let labels = ["method", "code"];
    for f in 0..FAMILIES {
        let help = format!("Family {f}, as an app would describe it.");
        let label_values = |s: usize| [format!("m{s}"), format!("{}", 200 + s)];
        match f % 3 {
            0 => {
                let v =
                    CounterVec::new(Opts::new(format!("app_requests_{f}_total"), help), &labels)
                        .unwrap();
                for s in 0..SERIES {
                    let [a, b] = label_values(s);
                    v.with_label_values(&[&a, &b]).inc_by((f * s) as f64 + 0.5);
                }
                registry.register(Box::new(v)).unwrap();
            }
            1 => {
                let v = GaugeVec::new(Opts::new(format!("app_queue_{f}"), help), &labels).unwrap();
                for s in 0..SERIES {
                    let [a, b] = label_values(s);
                    v.with_label_values(&[&a, &b]).set(s as f64 * 1.25);
                }
                registry.register(Box::new(v)).unwrap();
            }
            _ => {
                let opts = HistogramOpts::new(format!("app_latency_{f}_seconds"), help)
                    .buckets(prometheus::exponential_buckets(0.001, 2.0, 10).unwrap());
                let v = HistogramVec::new(opts, &labels).unwrap();
                for s in 0..SERIES {
                    let [a, b] = label_values(s);
                    let h = v.with_label_values(&[&a, &b]);
                    for i in 0..20 {
                        h.observe(0.0007 * (i * (s + 1)) as f64);
                    }
                }
                registry.register(Box::new(v)).unwrap();
            }
        }
    }
    registry
}

fn gather(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = registry();
    let mut group = c.benchmark_group("gather");
    group.throughput(Throughput::Elements((FAMILIES * SERIES) as u64));
    group.bench_function("registry-only", |b| b.iter(|| registry.gather()));
    group.bench_function("convert", |b| {
        b.iter(|| rt.block_on(Gatherer::gather(&registry)).unwrap())
    });
    group.finish();
}

fn push(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = MemoryStore::with_capacity_limit(1);
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let gateway = PushGateway::builder(store.clone()).build().unwrap();
        tokio::spawn(pushgate::server::serve(
            listener,
            gateway,
            std::future::pending(),
        ));
        url
    });
    let mut group = c.benchmark_group("push/medium");
    group.throughput(Throughput::Elements(1));
    for format in [Format::Protobuf, Format::Text] {
        let pusher = Pusher::builder(url.clone(), registry())
            .job("bench")
            .format(format)
            .build()
            .unwrap();
        group.bench_function(format.to_string(), |b| {
            b.iter(|| rt.block_on(pusher.push()).unwrap())
        });
    }
    group.finish();
    assert!(!store.pushes().is_empty(), "the pushes were stored");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = gather, push
}
criterion_main!(benches);
