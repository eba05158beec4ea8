use super::*;

// ---- helpers ------------------------------------------------------------

fn decode_str(text: &str) -> Vec<MetricFamily> {
    decode(Bytes::from(text.to_owned())).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn decode_err(text: &str) -> DecodeError {
    match decode(Bytes::from(text.to_owned())) {
        Ok(f) => panic!("decoded, expected an error: {text:?}\n{f:?}"),
        Err(e) => e,
    }
}

fn encode_str(families: &[MetricFamily]) -> String {
    let mut out = Vec::new();
    encode(families, &mut out).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(out).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs.iter().map(|&(n, v)| LabelPair::new(n, v)).collect()
}

fn family(
    name: &str,
    help: Option<&str>,
    ty: MetricType,
    unit: Option<&str>,
    metric: Vec<Metric>,
) -> MetricFamily {
    MetricFamily {
        name: Some(name.into()),
        help: help.map(Str::from),
        r#type: Some(ty as i32),
        metric,
        unit: unit.map(Str::from),
    }
}

fn ts(seconds: i64, nanos: i32) -> Timestamp {
    Timestamp { seconds, nanos }
}

fn exemplar(pairs: &[(&str, &str)], value: f64, timestamp: Option<Timestamp>) -> Exemplar {
    Exemplar {
        label: labels(pairs),
        value: Some(value),
        timestamp,
    }
}

fn counter(
    pairs: &[(&str, &str)],
    value: f64,
    created: Option<Timestamp>,
    ex: Option<Exemplar>,
) -> Metric {
    Metric {
        label: labels(pairs),
        counter: Some(Counter {
            value: Some(value),
            exemplar: ex.map(Box::new),
            created_timestamp: created,
        }),
        ..Default::default()
    }
}

fn gauge(pairs: &[(&str, &str)], value: f64) -> Metric {
    Metric {
        label: labels(pairs),
        gauge: Some(Gauge { value: Some(value) }),
        ..Default::default()
    }
}

fn untyped(pairs: &[(&str, &str)], value: f64) -> Metric {
    Metric {
        label: labels(pairs),
        untyped: Some(Untyped { value: Some(value) }),
        ..Default::default()
    }
}

fn bucket(le: f64, count: u64, ex: Option<Exemplar>) -> Bucket {
    Bucket {
        cumulative_count: Some(count),
        upper_bound: Some(le),
        exemplar: ex.map(Box::new),
        ..Default::default()
    }
}

fn histogram(
    pairs: &[(&str, &str)],
    buckets: Vec<Bucket>,
    count: u64,
    sum: Option<f64>,
    created: Option<Timestamp>,
) -> Metric {
    Metric {
        label: labels(pairs),
        histogram: Some(Box::new(Histogram {
            sample_count: Some(count),
            sample_sum: sum,
            bucket: buckets,
            created_timestamp: created,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn summary(
    pairs: &[(&str, &str)],
    quantiles: &[(f64, f64)],
    count: Option<u64>,
    sum: Option<f64>,
    created: Option<Timestamp>,
) -> Metric {
    Metric {
        label: labels(pairs),
        summary: Some(Box::new(Summary {
            sample_count: count,
            sample_sum: sum,
            quantile: quantiles
                .iter()
                .map(|&(q, v)| Quantile {
                    quantile: Some(q),
                    value: Some(v),
                })
                .collect(),
            created_timestamp: created,
        })),
        ..Default::default()
    }
}

fn at(mut m: Metric, ms: i64) -> Metric {
    m.timestamp_ms = Some(ms);
    m
}

// ---- golden inputs from Python's prometheus_client ----------------------

/// `prometheus_client` 0.26.0 `openmetrics.exposition.generate_latest` of a
/// registry with instrumented metrics (the clock fixed at 1700000000.25).
const PYTHON_INSTRUMENTED: &str = r#"# HELP http_requests Requests \"served\"\nby path \\ method.
# TYPE http_requests counter
http_requests_total{method="GET",path="/api"} 3.0
http_requests_created{method="GET",path="/api"} 1.70000000025e+09
http_requests_total{method="POST",path="/a\"b\\c\nd"} 1.5 # {trace_id="abc123"} 1.5 1700000000.25
http_requests_created{method="POST",path="/a\"b\\c\nd"} 1.70000000025e+09
# HELP queue_depth_bytes Items in the queue.
# TYPE queue_depth_bytes gauge
# UNIT queue_depth_bytes bytes
queue_depth_bytes -2.5
# HELP latency_seconds Request latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.005",route="x"} 1.0
latency_seconds_bucket{le="0.1",route="x"} 2.0 # {trace_id="e1"} 0.05 1700000000.25
latency_seconds_bucket{le="1.0",route="x"} 2.0
latency_seconds_bucket{le="10.0",route="x"} 3.0
latency_seconds_bucket{le="+Inf",route="x"} 3.0
latency_seconds_count{route="x"} 3.0
latency_seconds_sum{route="x"} 3.0509999999999997
latency_seconds_created{route="x"} 1.70000000025e+09
# HELP payload_bytes Payload sizes.
# TYPE payload_bytes summary
payload_bytes_count 2.0
payload_bytes_sum 128.0
payload_bytes_created 1.70000000025e+09
# HELP build Build information.
# TYPE build info
build_info{commit="abc",version="1.2.3"} 1.0
# HELP task_state Task state.
# TYPE task_state stateset
task_state{task_state="starting"} 0.0
task_state{task_state="running"} 1.0
task_state{task_state="stopped"} 0.0
# EOF
"#;

/// `generate_latest` of a custom collector yielding every OpenMetrics type,
/// units, timestamps and NaN/±Inf.
const PYTHON_CUSTOM: &str = r#"# HELP queue_wait_seconds Wait time of queued items.
# TYPE queue_wait_seconds gaugehistogram
# UNIT queue_wait_seconds seconds
queue_wait_seconds_bucket{le="0.5",q="a"} 2.0
queue_wait_seconds_bucket{le="1.0",q="a"} 5.0
queue_wait_seconds_bucket{le="+Inf",q="a"} 7.0
queue_wait_seconds_gcount{q="a"} 7.0
queue_wait_seconds_gsum{q="a"} 4.25
# HELP events Events.
# TYPE events counter
events_total{kind="x"} 10.0 1700000001.125
events_created{kind="x"} 1.6000000005e+09 1700000001.125
# HELP temperature_celsius Temperature.
# TYPE temperature_celsius gauge
# UNIT temperature_celsius celsius
temperature_celsius{room="a"} NaN
temperature_celsius{room="b"} +Inf
temperature_celsius{room="c"} -Inf 1700000002.005000000
# HELP mystery Unknown value.
# TYPE mystery unknown
mystery{k="v"} 42.0
# HELP feature Feature flags.
# TYPE feature stateset
feature{env="prod",feature="a"} 1.0
feature{env="prod",feature="b"} 0.0
# HELP target Target metadata.
# TYPE target info
target_info{env="prod",region="eu"} 1.0
# HELP size_bytes Sizes.
# TYPE size_bytes histogram
# UNIT size_bytes bytes
size_bytes_bucket{k="a",le="1.0"} 1.0 # {id="x"} 0.5 1700000003.250000000
size_bytes_bucket{k="a",le="+Inf"} 3.0
size_bytes_count{k="a"} 3.0
size_bytes_sum{k="a"} 7.0
# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds summary
# UNIT rpc_seconds seconds
rpc_seconds_count{m="get"} 4.0
rpc_seconds_sum{m="get"} 1.5
rpc_seconds{m="get",quantile="0.5"} 0.25
# EOF
"#;

#[test]
fn python_instrumented_metrics_decode() {
    let created = Some(ts(1_700_000_000, 250_000_000));
    let want = vec![
        family(
            "http_requests_total",
            Some("Requests \"served\"\nby path \\ method."),
            MetricType::Counter,
            None,
            vec![
                counter(&[("method", "GET"), ("path", "/api")], 3.0, created, None),
                counter(
                    &[("method", "POST"), ("path", "/a\"b\\c\nd")],
                    1.5,
                    created,
                    Some(exemplar(&[("trace_id", "abc123")], 1.5, created)),
                ),
            ],
        ),
        family(
            "queue_depth_bytes",
            Some("Items in the queue."),
            MetricType::Gauge,
            Some("bytes"),
            vec![gauge(&[], -2.5)],
        ),
        family(
            "latency_seconds",
            Some("Request latency."),
            MetricType::Histogram,
            None,
            vec![histogram(
                &[("route", "x")],
                vec![
                    bucket(0.005, 1, None),
                    bucket(0.1, 2, Some(exemplar(&[("trace_id", "e1")], 0.05, created))),
                    bucket(1.0, 2, None),
                    bucket(10.0, 3, None),
                    bucket(f64::INFINITY, 3, None),
                ],
                3,
                Some(3.0509999999999997),
                created,
            )],
        ),
        family(
            "payload_bytes",
            Some("Payload sizes."),
            MetricType::Summary,
            None,
            vec![summary(&[], &[], Some(2), Some(128.0), created)],
        ),
        family(
            "build_info",
            Some("Build information."),
            MetricType::Gauge,
            None,
            vec![gauge(&[("commit", "abc"), ("version", "1.2.3")], 1.0)],
        ),
        family(
            "task_state",
            Some("Task state."),
            MetricType::Gauge,
            None,
            vec![
                gauge(&[("task_state", "starting")], 0.0),
                gauge(&[("task_state", "running")], 1.0),
                gauge(&[("task_state", "stopped")], 0.0),
            ],
        ),
    ];
    assert_eq!(decode_str(PYTHON_INSTRUMENTED), want);
}

#[test]
fn python_custom_collector_decodes() {
    let got = decode_str(PYTHON_CUSTOM);
    let mut gh = histogram(
        &[("q", "a")],
        vec![
            bucket(0.5, 2, None),
            bucket(1.0, 5, None),
            bucket(f64::INFINITY, 7, None),
        ],
        7,
        Some(4.25),
        None,
    );
    gh.timestamp_ms = None;
    let want_without_nan = [
        family(
            "queue_wait_seconds",
            Some("Wait time of queued items."),
            MetricType::GaugeHistogram,
            Some("seconds"),
            vec![gh],
        ),
        family(
            "events_total",
            Some("Events."),
            MetricType::Counter,
            None,
            vec![at(
                counter(
                    &[("kind", "x")],
                    10.0,
                    Some(ts(1_600_000_000, 500_000_000)),
                    None,
                ),
                1_700_000_001_125,
            )],
        ),
    ];
    assert_eq!(got[..2], want_without_nan[..]);

    // NaN is not equal to itself: compare the temperature family by parts.
    let temp = &got[2];
    assert_eq!(temp.name(), "temperature_celsius");
    assert_eq!(temp.unit(), "celsius");
    assert_eq!(temp.metric_type(), MetricType::Gauge);
    let values: Vec<f64> = temp
        .metric
        .iter()
        .map(|m| m.gauge.unwrap().value.unwrap())
        .collect();
    assert!(values[0].is_nan());
    assert_eq!(values[1..], [f64::INFINITY, f64::NEG_INFINITY]);
    assert_eq!(temp.metric[2].label, labels(&[("room", "c")]));
    assert_eq!(temp.metric[2].timestamp_ms, Some(1_700_000_002_005));
    assert_eq!(temp.metric[0].timestamp_ms, None);

    let want_rest = [
        family(
            "mystery",
            Some("Unknown value."),
            MetricType::Untyped,
            None,
            vec![untyped(&[("k", "v")], 42.0)],
        ),
        family(
            "feature",
            Some("Feature flags."),
            MetricType::Gauge,
            None,
            vec![
                gauge(&[("env", "prod"), ("feature", "a")], 1.0),
                gauge(&[("env", "prod"), ("feature", "b")], 0.0),
            ],
        ),
        family(
            "target_info",
            Some("Target metadata."),
            MetricType::Gauge,
            None,
            vec![gauge(&[("env", "prod"), ("region", "eu")], 1.0)],
        ),
        family(
            "size_bytes",
            Some("Sizes."),
            MetricType::Histogram,
            Some("bytes"),
            vec![histogram(
                &[("k", "a")],
                vec![
                    bucket(
                        1.0,
                        1,
                        Some(exemplar(
                            &[("id", "x")],
                            0.5,
                            Some(ts(1_700_000_003, 250_000_000)),
                        )),
                    ),
                    bucket(f64::INFINITY, 3, None),
                ],
                3,
                Some(7.0),
                None,
            )],
        ),
        family(
            "rpc_seconds",
            Some("RPC latency."),
            MetricType::Summary,
            Some("seconds"),
            vec![summary(
                &[("m", "get")],
                &[(0.5, 0.25)],
                Some(4),
                Some(1.5),
                None,
            )],
        ),
    ];
    assert_eq!(got[3..], want_rest[..]);
}

// ---- decoding, type by type ---------------------------------------------

#[test]
fn counter_with_created_and_exemplars() {
    let got = decode_str(
        "# TYPE foo counter\n\
         # HELP foo Foos.\n\
         foo_total{a=\"1\"} 17.0 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
         foo_created{a=\"1\"} 1520430000.123\n\
         foo_total{a=\"2\"} 0 # {} 1 1520879607.789\n\
         # EOF\n",
    );
    let want = vec![family(
        "foo_total",
        Some("Foos."),
        MetricType::Counter,
        None,
        vec![
            counter(
                &[("a", "1")],
                17.0,
                Some(ts(1_520_430_000, 123_000_000)),
                Some(exemplar(&[("trace_id", "KOO5S4vxi0o")], 0.67, None)),
            ),
            counter(
                &[("a", "2")],
                0.0,
                None,
                Some(exemplar(&[], 1.0, Some(ts(1_520_879_607, 789_000_000)))),
            ),
        ],
    )];
    assert_eq!(got, want);
}

#[test]
fn counter_with_timestamp_and_created_from_the_spec() {
    let got = decode_str(
        "# TYPE foo counter\nfoo_total 17.0 1520879607.789\nfoo_created 1520430000.123 1520879607.789\n# EOF",
    );
    let want = vec![family(
        "foo_total",
        None,
        MetricType::Counter,
        None,
        vec![at(
            counter(&[], 17.0, Some(ts(1_520_430_000, 123_000_000)), None),
            1_520_879_607_789,
        )],
    )];
    assert_eq!(got, want);
}

#[test]
fn counter_with_unit() {
    let got = decode_str(
        "# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n# HELP process_cpu_seconds CPU time.\nprocess_cpu_seconds_total 4.20072246e+06\n# EOF\n",
    );
    let want = vec![family(
        "process_cpu_seconds_total",
        Some("CPU time."),
        MetricType::Counter,
        Some("seconds"),
        vec![counter(&[], 4_200_722.46, None, None)],
    )];
    assert_eq!(got, want);
}

#[test]
fn gauge_and_unknown() {
    let got = decode_str(
        "# TYPE g gauge\ng{a=\"bb\"} 17.0\ng{a=\"ccc\"} -1e-3\n# TYPE u unknown\nu 42.23\nnotype 1\n# EOF\n",
    );
    let want = vec![
        family(
            "g",
            None,
            MetricType::Gauge,
            None,
            vec![gauge(&[("a", "bb")], 17.0), gauge(&[("a", "ccc")], -0.001)],
        ),
        family(
            "u",
            None,
            MetricType::Untyped,
            None,
            vec![untyped(&[], 42.23)],
        ),
        family(
            "notype",
            None,
            MetricType::Untyped,
            None,
            vec![untyped(&[], 1.0)],
        ),
    ];
    assert_eq!(got, want);
}

#[test]
fn histogram_from_the_spec() {
    let got = decode_str(
        "# TYPE foo histogram\n\
         foo_bucket{le=\"0.0\"} 0\n\
         foo_bucket{le=\"1e-05\"} 0\n\
         foo_bucket{le=\"0.0001\"} 5\n\
         foo_bucket{le=\"0.1\"} 8 # {} 0.054\n\
         foo_bucket{le=\"1.0\"} 10 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
         foo_bucket{le=\"10.0\"} 11 # {trace_id=\"oHg5SJYRHA0\"} 9.8 1520879607.789\n\
         foo_bucket{le=\"100000.0\"} 11\n\
         foo_bucket{le=\"1e+06\"} 15\n\
         foo_bucket{le=\"1e+23\"} 16\n\
         foo_bucket{le=\"1.1e+23\"} 17\n\
         foo_bucket{le=\"+Inf\"} 17\n\
         foo_count 17\n\
         foo_sum 324789.3\n\
         foo_created 1520430000.123\n\
         # EOF\n",
    );
    let want = vec![family(
        "foo",
        None,
        MetricType::Histogram,
        None,
        vec![histogram(
            &[],
            vec![
                bucket(0.0, 0, None),
                bucket(1e-5, 0, None),
                bucket(0.0001, 5, None),
                bucket(0.1, 8, Some(exemplar(&[], 0.054, None))),
                bucket(
                    1.0,
                    10,
                    Some(exemplar(&[("trace_id", "KOO5S4vxi0o")], 0.67, None)),
                ),
                bucket(
                    10.0,
                    11,
                    Some(exemplar(
                        &[("trace_id", "oHg5SJYRHA0")],
                        9.8,
                        Some(ts(1_520_879_607, 789_000_000)),
                    )),
                ),
                bucket(100_000.0, 11, None),
                bucket(1e6, 15, None),
                bucket(1e23, 16, None),
                bucket(1.1e23, 17, None),
                bucket(f64::INFINITY, 17, None),
            ],
            17,
            Some(324_789.3),
            Some(ts(1_520_430_000, 123_000_000)),
        )],
    )];
    assert_eq!(got, want);
}

#[test]
fn histogram_without_count_takes_it_from_the_inf_bucket() {
    let got = decode_str(
        "# TYPE h histogram\nh_bucket{x=\"1\",le=\"-1\"} 1\nh_bucket{le=\"+Inf\",x=\"1\"} 4\n# EOF\n",
    );
    let want = vec![family(
        "h",
        None,
        MetricType::Histogram,
        None,
        vec![histogram(
            &[("x", "1")],
            vec![bucket(-1.0, 1, None), bucket(f64::INFINITY, 4, None)],
            4,
            None,
            None,
        )],
    )];
    assert_eq!(got, want);
}

#[test]
fn gaugehistogram_from_the_spec() {
    let got = decode_str(
        "# TYPE foo gaugehistogram\n\
         foo_bucket{le=\"0.01\"} 20.0\n\
         foo_bucket{le=\"0.1\"} 25.0\n\
         foo_bucket{le=\"1\"} 34.0\n\
         foo_bucket{le=\"10\"} 34.0\n\
         foo_bucket{le=\"+Inf\"} 42.0\n\
         foo_gcount 42.0\n\
         foo_gsum 3289.3\n\
         # EOF\n",
    );
    let want = vec![family(
        "foo",
        None,
        MetricType::GaugeHistogram,
        None,
        vec![histogram(
            &[],
            vec![
                bucket(0.01, 20, None),
                bucket(0.1, 25, None),
                bucket(1.0, 34, None),
                bucket(10.0, 34, None),
                bucket(f64::INFINITY, 42, None),
            ],
            42,
            Some(3289.3),
            None,
        )],
    )];
    assert_eq!(got, want);
}

#[test]
fn summary_with_quantiles_count_sum_created() {
    let got = decode_str(
        "# TYPE foo summary\n\
         foo{a=\"x\",quantile=\"0.95\"} 123.7\n\
         foo{quantile=\"0.99\",a=\"x\"} 150.0\n\
         foo_count{a=\"x\"} 17\n\
         foo_sum{a=\"x\"} 324789.3\n\
         foo_created{a=\"x\"} 1520430000.123\n\
         foo{a=\"y\",quantile=\"0.5\"} NaN\n\
         # EOF\n",
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name(), "foo");
    assert_eq!(got[0].metric_type(), MetricType::Summary);
    assert_eq!(
        got[0].metric[0],
        summary(
            &[("a", "x")],
            &[(0.95, 123.7), (0.99, 150.0)],
            Some(17),
            Some(324_789.3),
            Some(ts(1_520_430_000, 123_000_000)),
        )
    );
    let s = got[0].metric[1].summary.as_ref().unwrap();
    assert_eq!(got[0].metric[1].label, labels(&[("a", "y")]));
    assert_eq!(s.quantile[0].quantile, Some(0.5));
    assert!(s.quantile[0].value.unwrap().is_nan());
    assert_eq!((s.sample_count, s.sample_sum), (None, None));
}

#[test]
fn info_becomes_a_gauge_named_with_info() {
    let got = decode_str(
        "# TYPE foo info\n# HELP foo Versions.\nfoo_info{entity=\"controller\",name=\"pretty name\",version=\"8.2.7\"} 1.0\nfoo_info{entity=\"replica\",name=\"prettier name\",version=\"8.1.9\"} 1\n# EOF\n",
    );
    let want = vec![family(
        "foo_info",
        Some("Versions."),
        MetricType::Gauge,
        None,
        vec![
            gauge(
                &[
                    ("entity", "controller"),
                    ("name", "pretty name"),
                    ("version", "8.2.7"),
                ],
                1.0,
            ),
            gauge(
                &[
                    ("entity", "replica"),
                    ("name", "prettier name"),
                    ("version", "8.1.9"),
                ],
                1.0,
            ),
        ],
    )];
    assert_eq!(got, want);
}

#[test]
fn stateset_becomes_one_gauge_per_state() {
    let got = decode_str(
        "# TYPE foo stateset\n\
         foo{entity=\"controller\",foo=\"a\"} 1.0\n\
         foo{entity=\"controller\",foo=\"bb\"} 0.0\n\
         foo{foo=\"ccc\",entity=\"controller\"} 0\n\
         foo{entity=\"replica\",foo=\"a\"} 1.0\n\
         foo{entity=\"replica\",foo=\"bb\"} 0.0\n\
         # EOF\n",
    );
    let want = vec![family(
        "foo",
        None,
        MetricType::Gauge,
        None,
        vec![
            gauge(&[("entity", "controller"), ("foo", "a")], 1.0),
            gauge(&[("entity", "controller"), ("foo", "bb")], 0.0),
            gauge(&[("foo", "ccc"), ("entity", "controller")], 0.0),
            gauge(&[("entity", "replica"), ("foo", "a")], 1.0),
            gauge(&[("entity", "replica"), ("foo", "bb")], 0.0),
        ],
    )];
    assert_eq!(got, want);
}

#[test]
fn escapes_in_label_values_and_help() {
    let got = decode_str(concat!(
        "# HELP a he\\n\\\\l\\tp \"q\" \\\"r\\\"\n",
        "a{foo=\"b\\\"a\\nr\",bar=\"b\\\\a\\z\",e=\"\",u=\"Björn 佖佥\"} 1\n",
        "# EOF\n",
    ));
    assert_eq!(got[0].help(), "he\n\\l\\tp \"q\" \"r\"");
    assert_eq!(
        got[0].metric[0].label,
        labels(&[
            ("foo", "b\"a\nr"),
            ("bar", "b\\a\\z"),
            ("e", ""),
            ("u", "Björn 佖佥")
        ])
    );
}

#[test]
fn label_values_may_hold_braces_commas_and_hashes() {
    let got = decode_str(
        "# TYPE a counter\na_total{foo=\"b{a}z\",bar=\"x, # {y} 1\"} 1 # {t=\"}\"} 2\n# EOF\n",
    );
    let want = counter(
        &[("foo", "b{a}z"), ("bar", "x, # {y} 1")],
        1.0,
        None,
        Some(exemplar(&[("t", "}")], 2.0, None)),
    );
    assert_eq!(got[0].metric, vec![want]);
}

#[test]
fn special_values() {
    let got = decode_str(
        "a{x=\"1\"} NaN\na{x=\"2\"} +Inf\na{x=\"3\"} -Inf\na{x=\"4\"} inf\na{x=\"5\"} -infinity\na{x=\"6\"} nan\na{x=\"7\"} 0042\na{x=\"8\"} 1.5e3\na{x=\"9\"} .5\n# EOF\n",
    );
    let v: Vec<f64> = got[0]
        .metric
        .iter()
        .map(|m| m.untyped.unwrap().value.unwrap())
        .collect();
    assert!(v[0].is_nan() && v[5].is_nan());
    assert_eq!(
        v[1..5],
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY
        ]
    );
    assert_eq!(v[6..], [42.0, 1500.0, 0.5]);
}

#[test]
fn timestamps_are_read_exactly() {
    let got = decode_str(
        "a{x=\"1\"} 1 000\n\
         a{x=\"2\"} 1 0.0\n\
         a{x=\"3\"} 1 1.1\n\
         a{x=\"4\"} 1 1520879607.789\n\
         a{x=\"5\"} 1 1.5e3\n\
         a{x=\"6\"} 1 -1.5\n\
         a{x=\"7\"} 1 1604676851.123456789\n\
         a{x=\"8\"} 1 1.520879607789e+09\n\
         # EOF\n",
    );
    let ms: Vec<Option<i64>> = got[0].metric.iter().map(|m| m.timestamp_ms).collect();
    assert_eq!(
        ms,
        [
            Some(0),
            Some(0),
            Some(1100),
            Some(1_520_879_607_789),
            Some(1_500_000),
            Some(-1500),
            Some(1_604_676_851_123),
            Some(1_520_879_607_789),
        ]
    );
}

#[test]
fn created_timestamps_keep_nanoseconds() {
    let got = decode_str(
        "# TYPE c counter\nc_total{a=\"1\"} 1\nc_created{a=\"1\"} 1604676851.123456789\nc_total{a=\"2\"} 1\nc_created{a=\"2\"} -0.25\n# EOF\n",
    );
    let created: Vec<_> = got[0]
        .metric
        .iter()
        .map(|m| m.counter.as_ref().unwrap().created_timestamp)
        .collect();
    assert_eq!(
        created,
        [
            Some(ts(1_604_676_851, 123_456_789)),
            Some(ts(-1, 750_000_000))
        ]
    );
}

#[test]
fn parse_nanos_rounds_and_bounds() {
    assert_eq!(parse_nanos(b"1.0000000005"), Ok(1_000_000_001));
    assert_eq!(parse_nanos(b"1.0000000004"), Ok(1_000_000_000));
    assert_eq!(parse_nanos(b"-1.0000000005"), Ok(-1_000_000_001));
    assert_eq!(parse_nanos(b"1e-20"), Ok(0));
    assert_eq!(parse_nanos(b"5."), Ok(5_000_000_000));
    assert_eq!(parse_nanos(b"+.5"), Ok(500_000_000));
    assert_eq!(parse_nanos(b"1E3"), Ok(1_000_000_000_000));
    assert_eq!(
        parse_nanos(b"123456789012345678901234567890123456789012e-30"),
        Ok(123_456_789_012_345_678_901)
    );
    for bad in [
        &b""[..],
        b".",
        b"-",
        b"1e",
        b"1e+",
        b"NaN",
        b"Inf",
        b"1_0",
        b"0x10",
        b"1.2.3",
        b"1 ",
    ] {
        assert!(
            parse_nanos(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(parse_nanos(b"1e400").is_err());
}

#[test]
fn empty_help_and_unit_count_as_absent() {
    let got = decode_str("# TYPE a_s gauge\n# HELP a_s \n# UNIT a_s \na_s 1\n# EOF\n");
    assert_eq!(
        got,
        vec![family(
            "a_s",
            None,
            MetricType::Gauge,
            None,
            vec![gauge(&[], 1.0)]
        )]
    );
}

#[test]
fn metadata_in_any_order_and_empty_families_dropped() {
    let got = decode_str(
        "# HELP a help\n# TYPE a counter\n# UNIT b_c c\n# HELP b_c x\n# TYPE d gauge\n# EOF\n",
    );
    assert!(got.is_empty());
    let got = decode_str("# HELP a help\n# TYPE a counter\na_total 1\n# EOF");
    assert_eq!(
        got,
        vec![family(
            "a_total",
            Some("help"),
            MetricType::Counter,
            None,
            vec![counter(&[], 1.0, None, None)]
        )]
    );
}

#[test]
fn empty_exposition_and_empty_braces() {
    assert!(decode_str("# EOF").is_empty());
    assert!(decode_str("# EOF\n").is_empty());
    let got = decode_str("# TYPE a counter\na_total{} 1\n# EOF\n");
    assert_eq!(got[0].metric, vec![counter(&[], 1.0, None, None)]);
}

#[test]
fn several_points_of_one_metric_become_several_metrics() {
    let got = decode_str(
        "# TYPE foo_seconds summary\n# UNIT foo_seconds seconds\n\
         foo_seconds_count{a=\"bb\"} 0 123\n\
         foo_seconds_sum{a=\"bb\"} 0 123\n\
         foo_seconds_count{a=\"bb\"} 0 456\n\
         foo_seconds_sum{a=\"bb\"} 0 456\n\
         foo_seconds_count{a=\"ccc\"} 0 123\n\
         foo_seconds_sum{a=\"ccc\"} 0 123\n\
         # EOF\n",
    );
    let m = |a, t| at(summary(&[("a", a)], &[], Some(0), Some(0.0), None), t);
    assert_eq!(
        got[0].metric,
        vec![m("bb", 123_000), m("bb", 456_000), m("ccc", 123_000)]
    );
    assert_eq!(got[0].unit(), "seconds");
}

#[test]
fn long_names_and_values_borrow_from_the_body() {
    // Longer than `Str::INLINE_CAPACITY`: shared with the body, not copied.
    let body = Bytes::from_static(
        b"# TYPE requests_handled_by_the_frontend_proxy counter\n\
          # HELP requests_handled_by_the_frontend_proxy Requests handled by the proxy, by path.\n\
          requests_handled_by_the_frontend_proxy_total{path=\"/api/v1/query_range/with/a/long/path/to/it\",esc=\"a\\\\b\"} 1\n# EOF\n",
    );
    let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
    let got = decode(body.clone()).unwrap();
    let inside = |s: &Str| range.contains(&(s.as_ptr() as usize));
    let mf = &got[0];
    assert!(inside(mf.name.as_ref().unwrap()));
    assert!(inside(mf.help.as_ref().unwrap()));
    let l = &mf.metric[0].label;
    assert!(inside(l[0].value.as_ref().unwrap()));
    // Short strings are held in the `Str` itself.
    assert!(!inside(l[0].name.as_ref().unwrap()));
    assert_eq!(l[0].name(), "path");
    // An escaped value is unescaped into its own memory.
    assert!(!inside(l[1].value.as_ref().unwrap()));
    assert_eq!(l[1].value(), "a\\b");
}

// ---- decoding errors ----------------------------------------------------

#[track_caller]
fn assert_error(text: &str, line: usize, needle: &str) {
    let e = decode_err(text);
    assert_eq!(e.format, Format::OpenMetrics);
    assert_eq!(e.line(), Some(line), "{text:?}: {e}");
    assert!(
        e.message.contains(needle),
        "{text:?}: {e} (wanted {needle:?})"
    );
}

#[test]
fn eof_errors() {
    assert_error("", 1, "expected # EOF");
    assert_error("a 1\n", 2, "expected # EOF");
    assert_error("a 1", 2, "expected # EOF");
    assert_error("a 1\n# EOF\nblah", 3, "after # EOF");
    assert_error("a 1\n# EOF\n\n", 3, "after # EOF");
    assert_error("# EOF\n# EOF\n", 2, "after # EOF");
    assert_error(
        "a 1\n# EOFblah\n",
        2,
        "expected # HELP, # TYPE, # UNIT or # EOF",
    );
    assert_error(
        "a 1\n# EOF \n",
        2,
        "expected # HELP, # TYPE, # UNIT or # EOF",
    );
}

#[test]
fn line_errors() {
    assert_error("a 1\n\n# EOF\n", 2, "empty line");
    assert_error("a 1\r\n# EOF\n", 1, "carriage return");
    assert_error(
        "# a comment\n# EOF\n",
        1,
        "no other lines may start with '#'",
    );
    assert_error(" # HELP a meh\n# EOF\n", 1, "expected a metric name");
    assert_error("a 1\n\u{feff}b 1\n# EOF\n", 2, "expected a metric name");
}

#[test]
fn invalid_utf8_names_its_line() {
    let body = Bytes::from_static(b"a 1\nb{x=\"\xff\"} 1\n# EOF\n");
    let e = decode(body).unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert!(e.message.contains("UTF-8"), "{e}");
}

#[test]
fn metadata_errors() {
    assert_error("# HELP\n# EOF\n", 1, "expected # HELP");
    assert_error("# HELP \n# EOF\n", 1, "expected a metric name after # HELP");
    assert_error("# HELP a\n# EOF\n", 1, "expected a space and the help text");
    assert_error(
        "# HELP a\t\n# EOF\n",
        1,
        "expected a space after the metric name",
    );
    assert_error("# TYPE\n# EOF\n", 1, "expected # HELP");
    assert_error("# TYPE a\n# EOF\n", 1, "expected a space and the type");
    assert_error("# TYPE a meh\n# EOF\n", 1, "unknown type `meh`");
    assert_error("# TYPE a gauge \n# EOF\n", 1, "unknown type `gauge `");
    assert_error("# TYPE a untyped\n# EOF\n", 1, "unknown type `untyped`");
    assert_error("# TYPE a Gauge\n# EOF\n", 1, "unknown type");
    assert_error(
        "# TYPE 0a gauge\n# EOF\n",
        1,
        "expected a metric name after # TYPE",
    );
    assert_error("# UNIT a\n# EOF\n", 1, "expected a space and the unit");
    assert_error("# UNIT a seconds\n# EOF\n", 1, "must be the suffix");
    assert_error(
        "# UNIT a_seconds seconds \n# EOF\n",
        1,
        "invalid character ' ' in unit",
    );
    assert_error("# UNIT seconds seconds\n# EOF\n", 1, "must be the suffix");
    assert_error(
        "# TYPE x_u info\n# UNIT x_u u\n# EOF\n",
        2,
        "must not have a unit",
    );
    assert_error(
        "# UNIT x_u u\n# TYPE x_u stateset\n# EOF\n",
        2,
        "must not have",
    );
}

#[test]
fn repeated_or_late_metadata() {
    assert_error(
        "# TYPE a gauge\n# TYPE a gauge\n# EOF\n",
        2,
        "a second # TYPE line",
    );
    assert_error("# HELP a x\n# HELP a y\n# EOF\n", 2, "a second # HELP line");
    assert_error("# HELP a \n# HELP a y\n# EOF\n", 2, "a second # HELP line");
    assert_error(
        "# UNIT a_s s\n# UNIT a_s s\n# EOF\n",
        2,
        "a second # UNIT line",
    );
    assert_error(
        "# TYPE a gauge\na 1\n# HELP a x\n# EOF\n",
        3,
        "after its samples",
    );
    assert_error("a 1\n# TYPE a gauge\n# EOF\n", 2, "after its samples");
}

#[test]
fn interleaved_families() {
    assert_error("a 1\nb 1\na 2\n# EOF\n", 3, "`a` appears a second time");
    assert_error(
        "# TYPE a gauge\n# HELP b x\n# TYPE a gauge\n# EOF\n",
        3,
        "appears a second time",
    );
    assert_error(
        "# TYPE a counter\na_total 1\nb 1\na_total 2\n# EOF\n",
        4,
        "clashes with the samples of the earlier counter family `a`",
    );
    assert_error(
        "# TYPE a counter\na_total 1\n# TYPE a_created gauge\na_created 1\n# EOF\n",
        3,
        "clashes",
    );
    assert_error(
        "# TYPE a_bucket gauge\n# TYPE a histogram\n# EOF\n",
        2,
        "`a_bucket` of histogram family `a` clashes",
    );
    assert_error("# TYPE a_info gauge\n# TYPE a info\n# EOF\n", 2, "clashes");
    // Names that only look alike do not clash.
    decode_str("# TYPE a gauge\na 1\n# TYPE a_created gauge\na_created 1\n# EOF\n");
    decode_str("# TYPE a gaugehistogram\n# TYPE a_created gauge\n# TYPE a_sum gauge\n# EOF\n");
}

#[test]
fn interleaved_metrics() {
    assert_error(
        "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"1\"} 2\n# EOF\n",
        4,
        "metric {x=\"1\"} of family `a` appeared earlier",
    );
    assert_error(
        "# TYPE h histogram\nh_bucket{x=\"1\",le=\"+Inf\"} 1\nh_bucket{x=\"2\",le=\"+Inf\"} 1\nh_count{x=\"1\"} 1\n# EOF\n",
        4,
        "appeared earlier",
    );
    // Another label order is the same metric.
    assert_error(
        "a{x=\"1\",y=\"2\"} 1\na{z=\"1\"} 1\na{y=\"2\",x=\"1\"} 1\n# EOF\n",
        3,
        "appeared earlier",
    );
    assert_error(
        "# TYPE a gauge\na 1\na 2\n# EOF\n",
        3,
        "duplicate sample `a`",
    );
    assert_error(
        "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n# EOF\n",
        2,
        "duplicate sample",
    );
    assert_error("a 1 2\na 1 1\n# EOF\n", 2, "older than the previous sample");
    assert_error(
        "a 1 2\na 1\n# EOF\n",
        2,
        "some samples of this metric have a timestamp",
    );
    assert_error(
        "# TYPE c counter\nc_total 1 5\nc_created 1\n# EOF\n",
        3,
        "some samples of this metric have a timestamp",
    );
}

#[test]
fn label_syntax_errors() {
    assert_error(
        "a{a=1} 1\n# EOF\n",
        1,
        "expected '\"' to open the value of label `a`",
    );
    assert_error("a{a=\"1} 1\n# EOF\n", 1, "has no closing '\"'");
    assert_error("a{a='1'} 1\n# EOF\n", 1, "expected '\"'");
    assert_error(
        "a{a=\"1\"b=\"2\"} 1\n# EOF\n",
        1,
        "expected ',' or '}' after a label",
    );
    assert_error(
        "a{a=\"1\",,b=\"2\"} 1\n# EOF\n",
        1,
        "expected a label name, found ','",
    );
    assert_error("a{a=\"1\",b=\"2\",} 1\n# EOF\n", 1, "trailing comma");
    assert_error(
        "a{a=\"1\", b=\"2\"} 1\n# EOF\n",
        1,
        "expected a label name, found ' '",
    );
    assert_error("a{1a=\"x\"} 1\n# EOF\n", 1, "expected a label name");
    assert_error(
        "a{a:b=\"x\"} 1\n# EOF\n",
        1,
        "expected '=' after label name `a`",
    );
    assert_error(
        "a{a=\"1\",a=\"2\"} 1\n# EOF\n",
        1,
        "duplicate label name `a`",
    );
    assert_error("a{a=\"\\\"} 1\n# EOF\n", 1, "has no closing");
    assert_error(
        "a{a=\"1\"}1\n# EOF\n",
        1,
        "expected a space after the labels",
    );
}

#[test]
fn sample_syntax_errors() {
    assert_error("0a 1\n# EOF\n", 1, "expected a metric name");
    assert_error("a.b 1\n# EOF\n", 1, "unexpected '.' in metric name");
    assert_error("a-b 1\n# EOF\n", 1, "unexpected '-' in metric name");
    assert_error("{\"a\"} 1\n# EOF\n", 1, "expected a metric name");
    assert_error("a\n# EOF\n", 1, "expected a space and a value");
    assert_error("a \n# EOF\n", 1, "expected a value after the space");
    assert_error("a  1\n# EOF\n", 1, "exactly one space");
    assert_error("a\t1\n# EOF\n", 1, "unexpected '\\t' in metric name");
    assert_error("a a\n# EOF\n", 1, "invalid value `a`");
    assert_error("a 1\t\n# EOF\n", 1, "invalid value");
    assert_error("a 1_000\n# EOF\n", 1, "invalid value");
    assert_error("a 0x1p3\n# EOF\n", 1, "invalid value");
    assert_error("a +NaN\n# EOF\n", 1, "invalid value");
    assert_error("a 1 \n# EOF\n", 1, "expected a timestamp or an exemplar");
    assert_error("a 1 z\n# EOF\n", 1, "invalid timestamp `z`");
    assert_error("a 1 1z\n# EOF\n", 1, "invalid timestamp");
    assert_error("a 1 1.1.1\n# EOF\n", 1, "invalid timestamp");
    assert_error("a 1 NaN\n# EOF\n", 1, "invalid timestamp");
    assert_error("a 1 +Inf\n# EOF\n", 1, "invalid timestamp");
    assert_error("a 1 1e400\n# EOF\n", 1, "out of range");
    assert_error("a 1 1e17\n# EOF\n", 1, "timestamp out of range");
    assert_error("a 1 1 1\n# EOF\n", 1, "expected an exemplar");
}

#[test]
fn exemplar_errors() {
    let h = |line: &str| format!("# TYPE a histogram\n{line}\n# EOF\n");
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 #"),
        2,
        "expected an exemplar after '#'",
    );
    assert_error(&h("a_bucket{le=\"+Inf\"} 1# {} 1"), 2, "invalid value `1#`");
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 #{} 1"),
        2,
        "expected an exemplar after '#'",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 # {}1"),
        2,
        "expected a space and a value",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 # {} 1 "),
        2,
        "exemplar's timestamp",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 # {} 1 1 "),
        2,
        "unexpected content",
    );
    assert_error(&h("a_bucket{le=\"+Inf\"} 1 # {} "), 2, "exemplar's value");
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 # {} x"),
        2,
        "invalid exemplar value `x`",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 # {} 1 x"),
        2,
        "invalid exemplar timestamp",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 # {a=\"1\",a=\"2\"} 1"),
        2,
        "duplicate label name",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1 # {a=\"1\"}"),
        2,
        "expected a space and a value",
    );
    let long = "x".repeat(126);
    assert_error(
        &h(&format!(
            "a_bucket{{le=\"+Inf\"}} 1 # {{ab=\"{long}\",c=\"\"}} 1"
        )),
        2,
        "129 characters",
    );
    // 128 is fine.
    decode_str(&h(&format!(
        "a_bucket{{le=\"+Inf\"}} 1 # {{a=\"{long}\",c=\"\"}} 1"
    )));
    assert_error(
        "# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\n",
        2,
        "exemplars are only allowed",
    );
    assert_error(
        "# TYPE a counter\na_created 1 # {} 1\n# EOF\n",
        2,
        "only allowed",
    );
    assert_error(
        "# TYPE a histogram\na_count 1 # {} 1\n# EOF\n",
        2,
        "only allowed",
    );
}

#[test]
fn counter_errors() {
    assert_error(
        "# TYPE a counter\na_total NaN\n# EOF\n",
        2,
        "non-negative number",
    );
    assert_error(
        "# TYPE a counter\na_total -1\n# EOF\n",
        2,
        "non-negative number",
    );
    assert_error(
        "# TYPE a counter\na_created 1\n# EOF\n",
        2,
        "no `a_total` sample",
    );
    assert_error(
        "# TYPE a counter\na_created 1\na_total 1\na_created 2\n# EOF\n",
        4,
        "duplicate sample `a_created`",
    );
    assert_error(
        "# TYPE a counter\na_total 1\na_created abc\n# EOF\n",
        3,
        "invalid value `abc`",
    );
    assert_error(
        "# TYPE a counter\na_total 1\na_created NaN\n# EOF\n",
        3,
        "invalid created timestamp",
    );
    // A bare name is no counter sample: it starts a family of its own.
    assert_error(
        "# TYPE a counter\na 1\n# EOF\n",
        2,
        "`a` appears a second time",
    );
}

#[test]
fn histogram_errors() {
    let h = |body: &str| format!("# TYPE a histogram\n{body}# EOF\n");
    assert_error(
        &h("a_bucket{le=\"1\"} 0\n"),
        2,
        "no `a_bucket{le=\"+Inf\"}` sample",
    );
    assert_error(&h("a_count 0\na_sum 0\n"), 3, "no `a_bucket{le=\"+Inf\"}`");
    assert_error(&h("a_bucket 1\n"), 2, "`a_bucket` needs an `le` label");
    for le in ["x", "NaN", "inf", "+inf", "Inf", ""] {
        assert_error(
            &h(&format!("a_bucket{{le=\"{le}\"}} 1\n")),
            2,
            "invalid `le` label",
        );
    }
    assert_error(
        &h("a_bucket{le=\"2\"} 0\na_bucket{le=\"1\"} 0\n"),
        3,
        "increasing order of `le`",
    );
    assert_error(
        &h("a_bucket{le=\"1\"} 0\na_bucket{le=\"1.0\"} 0\n"),
        3,
        "increasing order",
    );
    assert_error(
        &h("a_bucket{le=\"1\"} 2\na_bucket{le=\"+Inf\"} 1\n"),
        3,
        "must not decrease",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 1.5\n"),
        2,
        "non-negative integer, not `1.5`",
    );
    assert_error(&h("a_bucket{le=\"+Inf\"} -1\n"), 2, "non-negative integer");
    assert_error(&h("a_bucket{le=\"+Inf\"} NaN\n"), 2, "non-negative integer");
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_count 4\na_sum 1\n"),
        4,
        "`a_count` is 4 but the +Inf bucket is 3",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_sum 1\n"),
        3,
        "`a_sum` needs a `a_count` sample",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_count 3\n"),
        3,
        "`a_count` needs a `a_sum` sample",
    );
    assert_error(
        &h("a_bucket{le=\"-1\"} 1\na_bucket{le=\"+Inf\"} 3\na_count 3\na_sum 1\n"),
        5,
        "negative bucket bounds",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_count 3\na_sum NaN\n"),
        4,
        "must not be NaN",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_count 3\na_sum -1\n"),
        4,
        "must not be negative",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_count{le=\"1\"} 3\n"),
        3,
        "must not have an `le` label",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_count 3\na_count 3\n"),
        4,
        "duplicate sample `a_count`",
    );
    // `a_gsum` is no histogram sample: it is a family of its own.
    let got = decode_str(&h("a_bucket{le=\"+Inf\"} 3\na_gsum 3\n"));
    assert_eq!(
        (got[1].name(), got[1].metric_type()),
        ("a_gsum", MetricType::Untyped)
    );
    // The error of a histogram's last point is found when it ends.
    assert_error(
        &h("a_bucket{x=\"1\",le=\"1\"} 0\na_bucket{x=\"2\",le=\"+Inf\"} 0\n"),
        2,
        "no `a_bucket{le=\"+Inf\"}`",
    );
}

#[test]
fn gaugehistogram_errors() {
    let h = |body: &str| format!("# TYPE a gaugehistogram\n{body}# EOF\n");
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_gcount 3\na_gsum -1\n"),
        4,
        "`a_gsum` is negative",
    );
    decode_str(&h(
        "a_bucket{le=\"-1\"} 1\na_bucket{le=\"+Inf\"} 3\na_gcount 3\na_gsum -1\n",
    ));
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_gsum 1\n"),
        3,
        "`a_gsum` needs a `a_gcount` sample",
    );
    assert_error(
        &h("a_bucket{le=\"+Inf\"} 3\na_gcount 2\na_gsum 1\n"),
        4,
        "`a_gcount` is 2",
    );
    // _count and _sum are no gauge histogram samples.
    let got = decode_str(&h("a_bucket{le=\"+Inf\"} 3\na_count 3\n"));
    assert_eq!(got[1].name(), "a_count");
}

#[test]
fn summary_errors() {
    let s = |body: &str| format!("# TYPE a summary\n{body}# EOF\n");
    assert_error(&s("a 1\n"), 2, "needs a `quantile` label");
    for q in ["1.5", "-0.1", "NaN", "x", "+Inf"] {
        assert_error(
            &s(&format!("a{{quantile=\"{q}\"}} 1\n")),
            2,
            "invalid `quantile` label",
        );
    }
    assert_error(&s("a{quantile=\"0.5\"} -1\n"), 2, "must not be negative");
    assert_error(
        &s("a{quantile=\"0.5\"} 1\na{quantile=\"0.50\"} 1\n"),
        3,
        "duplicate sample",
    );
    assert_error(
        &s("a_count{quantile=\"0.5\"} 1\n"),
        2,
        "must not have a `quantile` label",
    );
    assert_error(&s("a_count 1.5\n"), 2, "non-negative integer");
    assert_error(&s("a_sum -1\n"), 2, "must not be negative");
    assert_error(&s("a_sum NaN\n"), 2, "must not be NaN");
}

#[test]
fn info_and_stateset_errors() {
    assert_error("# TYPE a info\na_info 2\n# EOF\n", 2, "must be 1");
    assert_error(
        "# TYPE a info\na_info{x=\"1\"} 1\na_info{x=\"1\"} 1\n# EOF\n",
        3,
        "duplicate sample",
    );
    assert_error("# TYPE a info\na 1\n# EOF\n", 2, "appears a second time");
    assert_error(
        "# TYPE a stateset\na{a=\"x\"} 0.5\n# EOF\n",
        2,
        "must be 0 or 1",
    );
    assert_error(
        "# TYPE a stateset\na{b=\"x\"} 1\n# EOF\n",
        2,
        "needs a label named `a`",
    );
    assert_error(
        "# TYPE a stateset\na{a=\"x\"} 1\na{a=\"x\"} 0\n# EOF\n",
        3,
        "duplicate state `x`",
    );
    assert_error(
        "# TYPE a stateset\na{e=\"1\",a=\"x\"} 1\na{e=\"2\",a=\"x\"} 1\na{e=\"1\",a=\"y\"} 1\n# EOF\n",
        4,
        "appeared earlier",
    );
}

// ---- encoding -----------------------------------------------------------

#[test]
fn encodes_counters_as_go_does() {
    let fams = [family(
        "http_requests_total",
        Some("Requests \"served\".\nPer path \\ method."),
        MetricType::Counter,
        None,
        vec![
            counter(
                &[("path", "/a")],
                3.0,
                Some(ts(1_700_000_000, 250_000_000)),
                Some(exemplar(
                    &[("trace_id", "abc")],
                    1.0,
                    Some(ts(1_700_000_000, 500_000_000)),
                )),
            ),
            at(
                counter(&[("path", "x\"y\\z\nw")], 0.5, None, None),
                1_700_000_001_125,
            ),
            // An exemplar without labels is not written, as in Go.
            counter(&[("path", "b")], 1e21, None, Some(exemplar(&[], 1.0, None))),
        ],
    )];
    // Go's float64 would turn the created timestamp into
    // 1.7000000002499998e+09; everything else is Go's bytes.
    let want = r#"# HELP http_requests Requests \"served\".\nPer path \\ method.
# TYPE http_requests counter
http_requests_total{path="/a"} 3.0 # {trace_id="abc"} 1.0 1.7000000005e+09
http_requests_created{path="/a"} 1.70000000025e+09
http_requests_total{path="x\"y\\z\nw"} 0.5 1.700000001125e+09
http_requests_total{path="b"} 1e+21
# EOF
"#;
    assert_eq!(encode_str(&fams), want);
}

#[test]
fn timestamps_are_written_as_go_writes_them_but_exactly() {
    let secs = |nanos: i128| {
        let mut out = Vec::new();
        write_seconds(&mut out, nanos);
        String::from_utf8(out).unwrap()
    };
    // What Go's writeOpenMetricsFloat(float64(nanos) / 1e9) writes.
    assert_eq!(secs(0), "0.0");
    assert_eq!(secs(1_000_000_000), "1.0");
    assert_eq!(secs(-1_000_000_000), "-1.0");
    assert_eq!(secs(12_345_600_000_000), "12345.6");
    assert_eq!(secs(123_456_000_000_000), "123456.0");
    assert_eq!(secs(1_234_567_000_000_000), "1.234567e+06");
    assert_eq!(secs(1_234_567_890_000_000), "1.23456789e+06");
    assert_eq!(secs(1_520_879_607_789_000_000), "1.520879607789e+09");
    assert_eq!(secs(-1_500_000_000), "-1.5");
    assert_eq!(secs(100_000), "0.0001");
    assert_eq!(secs(10_000), "1e-05");
    assert_eq!(secs(1), "1e-09");
    assert_eq!(secs(1_700_000_000_500_000_000), "1.7000000005e+09");
    // Where float64 cannot hold the nanoseconds Go writes
    // 1.7000000002499998e+09; this keeps them.
    assert_eq!(secs(1_700_000_000_250_000_000), "1.70000000025e+09");
    assert_eq!(secs(1_604_676_851_123_456_789), "1.604676851123456789e+09");
}

#[test]
fn encodes_units_gauges_untyped_as_go_does() {
    let fams = [
        family(
            "queue_depth",
            Some("Depth."),
            MetricType::Gauge,
            Some("bytes"),
            vec![
                gauge(&[], -2.5),
                gauge(&[("a", "1")], 100_000.0),
                gauge(&[("a", "2")], 1_234_567.0),
                gauge(&[("a", "3")], -1.0),
                gauge(&[("a", "4")], -0.0),
                gauge(&[("a", "5")], 0.0001),
                gauge(&[("a", "6")], 0.00001),
            ],
        ),
        family(
            "cpu_seconds_total",
            None,
            MetricType::Counter,
            Some("seconds"),
            vec![counter(&[], 1.5, None, None)],
        ),
        family(
            "mystery",
            None,
            MetricType::Untyped,
            None,
            vec![
                untyped(&[], f64::NEG_INFINITY),
                untyped(&[("k", "v")], f64::NAN),
            ],
        ),
    ];
    let want = r#"# HELP queue_depth_bytes Depth.
# TYPE queue_depth_bytes gauge
# UNIT queue_depth_bytes bytes
queue_depth_bytes -2.5
queue_depth_bytes{a="1"} 100000.0
queue_depth_bytes{a="2"} 1.234567e+06
queue_depth_bytes{a="3"} -1.0
queue_depth_bytes{a="4"} 0.0
queue_depth_bytes{a="5"} 0.0001
queue_depth_bytes{a="6"} 1e-05
# TYPE cpu_seconds counter
# UNIT cpu_seconds seconds
cpu_seconds_total 1.5
# TYPE mystery unknown
mystery -Inf
mystery{k="v"} NaN
# EOF
"#;
    assert_eq!(encode_str(&fams), want);
}

#[test]
fn encodes_summaries_and_histograms_as_go_does() {
    let created = Some(ts(12345, 600_000_000));
    let fams = [
        family(
            "rpc_seconds",
            Some("RPC latency."),
            MetricType::Summary,
            None,
            vec![
                summary(
                    &[],
                    &[(0.5, 1.23), (0.9, 0.2342354), (0.99, 0.0)],
                    Some(42),
                    Some(3.4567),
                    created,
                ),
                summary(
                    &[("m", "get")],
                    &[(0.5, 1.0)],
                    Some(4711),
                    Some(2010.1971),
                    None,
                ),
            ],
        ),
        family(
            "request_duration_microseconds",
            Some("The response latency."),
            MetricType::Histogram,
            Some("microseconds"),
            vec![
                histogram(
                    &[],
                    vec![
                        bucket(100.0, 123, None),
                        bucket(
                            120.0,
                            412,
                            Some(exemplar(&[("foo", "bar")], 119.9, created)),
                        ),
                        bucket(
                            144.0,
                            592,
                            Some(exemplar(&[("foo", "baz"), ("dings", "bums")], 140.14, None)),
                        ),
                        bucket(172.8, 1524, None),
                    ],
                    2693,
                    Some(1_756_047.3),
                    created,
                ),
                at(
                    histogram(
                        &[("a", "b")],
                        vec![bucket(f64::INFINITY, 1, None)],
                        1,
                        Some(0.5),
                        None,
                    ),
                    1_234_567_890,
                ),
            ],
        ),
    ];
    let want = r#"# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 1.23
rpc_seconds{quantile="0.9"} 0.2342354
rpc_seconds{quantile="0.99"} 0.0
rpc_seconds_sum 3.4567
rpc_seconds_count 42
rpc_seconds_created 12345.6
rpc_seconds{m="get",quantile="0.5"} 1.0
rpc_seconds_sum{m="get"} 2010.1971
rpc_seconds_count{m="get"} 4711
# HELP request_duration_microseconds The response latency.
# TYPE request_duration_microseconds histogram
# UNIT request_duration_microseconds microseconds
request_duration_microseconds_bucket{le="100.0"} 123
request_duration_microseconds_bucket{le="120.0"} 412 # {foo="bar"} 119.9 12345.6
request_duration_microseconds_bucket{le="144.0"} 592 # {foo="baz",dings="bums"} 140.14
request_duration_microseconds_bucket{le="172.8"} 1524
request_duration_microseconds_bucket{le="+Inf"} 2693
request_duration_microseconds_sum 1.7560473e+06
request_duration_microseconds_count 2693
request_duration_microseconds_created 12345.6
request_duration_microseconds_bucket{a="b",le="+Inf"} 1 1.23456789e+06
request_duration_microseconds_sum{a="b"} 0.5 1.23456789e+06
request_duration_microseconds_count{a="b"} 1 1.23456789e+06
# EOF
"#;
    assert_eq!(encode_str(&fams), want);
    // Decoding gives the families back, with the +Inf bucket Go added.
    let mut back = fams.to_vec();
    if let Some(h) = back[1].metric[0].histogram.as_mut() {
        h.bucket.push(bucket(f64::INFINITY, 2693, None));
    }
    assert_eq!(decode_str(want), back);
}

#[test]
fn encodes_names_that_are_not_legacy_quoted_as_go_does() {
    let fams = [
        family(
            "name.with.dots",
            Some("boring help"),
            MetricType::Counter,
            None,
            vec![
                counter(
                    &[("labelname", "val1"), ("basename", "basevalue")],
                    42.0,
                    None,
                    None,
                ),
                at(counter(&[], 0.23, None, None), 1_234_567_890),
            ],
        ),
        family(
            "gauge.name\"",
            None,
            MetricType::Gauge,
            None,
            vec![gauge(&[("name.1", "Björn"), ("name*2", "佖佥")], 3.14e42)],
        ),
    ];
    let want = r#"# HELP "name.with.dots" boring help
# TYPE "name.with.dots" unknown
{"name.with.dots",labelname="val1",basename="basevalue"} 42.0
{"name.with.dots"} 0.23 1.23456789e+06
# TYPE "gauge.name\"" gauge
{"gauge.name\"","name.1"="Björn","name*2"="佖佥"} 3.14e+42
# EOF
"#;
    assert_eq!(encode_str(&fams), want);
}

#[test]
fn encoding_deviates_from_go_where_go_is_not_openmetrics() {
    let fams = [
        // Go writes _count/_sum for gauge histograms; OpenMetrics says _gcount/_gsum.
        family(
            "queue_wait_seconds",
            None,
            MetricType::GaugeHistogram,
            None,
            vec![histogram(
                &[],
                vec![bucket(1.0, 2, Some(exemplar(&[("id", "1")], 0.5, None)))],
                5,
                Some(4.25),
                Some(ts(1, 0)),
            )],
        ),
        // A created line repeats the metric's timestamp.
        family(
            "events_total",
            None,
            MetricType::Counter,
            None,
            vec![at(
                counter(&[], 10.0, Some(ts(1_600_000_000, 500_000_000)), None),
                1_700_000_001_125,
            )],
        ),
        // A counter without _total is unknown, without created line or exemplar.
        family(
            "jobs",
            None,
            MetricType::Counter,
            None,
            vec![counter(
                &[],
                1.0,
                Some(ts(1, 0)),
                Some(exemplar(&[("a", "b")], 1.0, None)),
            )],
        ),
        // Absent sums and counts are not written as zeros.
        family(
            "s",
            None,
            MetricType::Summary,
            None,
            vec![summary(&[], &[(0.5, 1.0)], None, None, None)],
        ),
        family(
            "h",
            None,
            MetricType::Histogram,
            Some(""),
            vec![histogram(
                &[],
                vec![bucket(f64::INFINITY, 3, None)],
                3,
                None,
                None,
            )],
        ),
    ];
    let want = r#"# TYPE queue_wait_seconds gaugehistogram
queue_wait_seconds_bucket{le="1.0"} 2 # {id="1"} 0.5
queue_wait_seconds_bucket{le="+Inf"} 5
queue_wait_seconds_gsum 4.25
queue_wait_seconds_gcount 5
# TYPE events counter
events_total 10.0 1.700000001125e+09
events_created 1.6000000005e+09 1.700000001125e+09
# TYPE jobs unknown
jobs 1.0
# TYPE s summary
s{quantile="0.5"} 1.0
# TYPE h histogram
h_bucket{le="+Inf"} 3
# EOF
"#;
    assert_eq!(encode_str(&fams), want);
    decode_str(want);
}

#[test]
fn encode_writes_one_eof_for_all_families() {
    assert_eq!(encode_str(&[]), "# EOF\n");
    let g = family("a", None, MetricType::Gauge, None, vec![]);
    assert_eq!(
        encode_str(&[g.clone(), g]),
        "# TYPE a gauge\n# TYPE a gauge\n# EOF\n"
    );
}

#[test]
fn encode_errors() {
    let cases: Vec<(MetricFamily, &str)> = vec![
        (
            family("", None, MetricType::Gauge, None, vec![]),
            "has no name",
        ),
        (
            family(
                "a",
                None,
                MetricType::Counter,
                None,
                vec![untyped(&[], 1.0)],
            ),
            "expected a counter in a metric of family `a`",
        ),
        (
            family("a", None, MetricType::Gauge, None, vec![untyped(&[], 1.0)]),
            "expected a gauge",
        ),
        (
            family("a", None, MetricType::Untyped, None, vec![gauge(&[], 1.0)]),
            "expected an untyped value",
        ),
        (
            family("a", None, MetricType::Summary, None, vec![gauge(&[], 1.0)]),
            "expected a summary",
        ),
        (
            family(
                "a",
                None,
                MetricType::Histogram,
                None,
                vec![gauge(&[], 1.0)],
            ),
            "expected a histogram",
        ),
        (
            MetricFamily {
                name: Some("a".into()),
                r#type: Some(42),
                ..Default::default()
            },
            "unknown metric type 42",
        ),
        (
            family(
                "a",
                None,
                MetricType::Histogram,
                None,
                vec![Metric {
                    histogram: Some(Box::new(Histogram {
                        sample_count_float: Some(3.0),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
            ),
            "float histogram",
        ),
        (
            family(
                "a_total",
                None,
                MetricType::Counter,
                None,
                vec![counter(
                    &[],
                    1.0,
                    None,
                    Some(exemplar(&[("a", "b")], 1.0, Some(ts(0, 1_000_000_000)))),
                )],
            ),
            "invalid exemplar timestamp",
        ),
    ];
    for (mf, needle) in cases {
        let mut out = b"kept".to_vec();
        let ok = family("ok", None, MetricType::Gauge, None, vec![gauge(&[], 1.0)]);
        let e = encode(&[ok, mf], &mut out).unwrap_err();
        assert_eq!(e.format, Format::OpenMetrics);
        assert!(e.message.contains(needle), "{e} (wanted {needle:?})");
        assert_eq!(out, b"kept", "nothing is appended on error");
    }
}

#[test]
fn absent_type_encodes_as_counter() {
    let mf = MetricFamily {
        name: Some("a_total".into()),
        metric: vec![counter(&[], 2.0, None, None)],
        ..Default::default()
    };
    assert_eq!(encode_str(&[mf]), "# TYPE a counter\na_total 2.0\n# EOF\n");
}

// ---- round trips --------------------------------------------------------

#[track_caller]
fn round_trip(text: &str) -> String {
    let first = decode_str(text);
    let encoded = encode_str(&first);
    let second = decode_str(&encoded);
    // NaN breaks `==`: compare the encodings too.
    assert_eq!(encode_str(&second), encoded);
    if !encoded.contains("NaN") {
        assert_eq!(second, first, "{encoded}");
    }
    encoded
}

#[test]
fn python_output_round_trips() {
    round_trip(PYTHON_INSTRUMENTED);
    let custom = round_trip(PYTHON_CUSTOM);
    // Info and stateset come back as gauges; the rest keeps its type.
    assert!(
        custom.contains("# TYPE target_info gauge\ntarget_info{env=\"prod\",region=\"eu\"} 1.0\n")
    );
    assert!(custom.contains("# TYPE queue_wait_seconds gaugehistogram\n"));
    assert!(custom.contains("events_created{kind=\"x\"} 1.6000000005e+09 1.700000001125e+09\n"));
}

#[test]
fn go_shaped_text_round_trips_byte_for_byte() {
    let text = r#"# HELP http_requests Requests.
# TYPE http_requests counter
http_requests_total{path="/a"} 3.0 # {trace_id="abc"} 1.0 1.7000000005e+09
http_requests_created{path="/a"} 1.70000000025e+09
http_requests_total{path="x\"y\\z\nw"} 0.5 1.700000001125e+09
# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
# UNIT lat_seconds seconds
lat_seconds_bucket{le="0.1"} 1
lat_seconds_bucket{le="+Inf"} 2
lat_seconds_sum 0.25
lat_seconds_count 2
lat_seconds_created 1.5e+09
# TYPE g gauge
g{a="1"} 1e-05
g{a="2"} -Inf
# TYPE s summary
s{quantile="0.5"} 0.0
s_sum 1.0
s_count 1
# EOF
"#;
    assert_eq!(round_trip(text), text);
}

#[test]
fn decode_encode_decode_keeps_every_family() {
    for text in [
        "# TYPE foo stateset\nfoo{foo=\"a\"} 1\nfoo{foo=\"b\"} 0\n# EOF\n",
        "# TYPE foo info\nfoo_info{v=\"1\"} 1\n# EOF\n",
        "# TYPE foo gaugehistogram\nfoo_bucket{le=\"-1\"} 1\nfoo_bucket{le=\"+Inf\"} 2\nfoo_gcount 2\nfoo_gsum -3\n# EOF\n",
        "# TYPE foo_seconds summary\n# UNIT foo_seconds seconds\nfoo_seconds_count{a=\"bb\"} 0 123\nfoo_seconds_sum{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"bb\"} 0 456\nfoo_seconds_sum{a=\"bb\"} 0 456\n# EOF\n",
        "# TYPE c counter\nc_total 1 -1.5\nc_created 0.000000001 -1.5\n# EOF\n",
        "a{x=\"\\\\a\\nb\\\"c\\d\"} NaN\n# EOF\n",
    ] {
        round_trip(text);
    }
}

// ---- properties ---------------------------------------------------------

mod properties {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn legacy_label_name() -> impl Strategy<Value = String> {
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}".prop_filter("reserved", |n| n != "le" && n != "quantile")
    }

    /// Label sets with unique names and any UTF-8 values, escapes included.
    fn label_set() -> impl Strategy<Value = Vec<LabelPair>> {
        vec(
            (
                legacy_label_name(),
                r#"(\\|\n|"|\n|[a-z]|é|\{|\}|,|#| ){0,8}"#,
            ),
            0..4,
        )
        .prop_map(|pairs| {
            let mut seen = std::collections::HashSet::new();
            pairs
                .into_iter()
                .filter(|(n, _)| seen.insert(n.clone()))
                .map(|(n, v)| LabelPair::new(n, v))
                .collect()
        })
    }

    fn timestamp() -> impl Strategy<Value = Timestamp> {
        (-10_000_000_000i64..10_000_000_000, 0i32..1_000_000_000).prop_map(|(s, n)| ts(s, n))
    }

    fn counter_family() -> impl Strategy<Value = MetricFamily> {
        let metric = (
            label_set(),
            0.0f64..1e300,
            proptest::option::of(timestamp()),
            proptest::option::of((label_set(), any::<f64>(), proptest::option::of(timestamp()))),
            proptest::option::of(-1_000_000_000_000i64..10_000_000_000_000),
        )
            .prop_map(|(label, v, created, ex, ms)| {
                let exemplar =
                    ex.filter(|(l, _, _)| !l.is_empty())
                        .map(|(label, value, timestamp)| {
                            Box::new(Exemplar {
                                label,
                                value: Some(if value.is_nan() { 0.0 } else { value }),
                                timestamp,
                            })
                        });
                Metric {
                    label,
                    counter: Some(Counter {
                        value: Some(v),
                        exemplar,
                        created_timestamp: created,
                    }),
                    timestamp_ms: ms,
                    ..Default::default()
                }
            });
        (vec(metric, 1..4), proptest::option::of("[ -~é\n]{1,20}")).prop_map(|(metrics, help)| {
            // One metric per label set: later duplicates would be interleaving.
            let mut metrics: Vec<Metric> = metrics;
            let mut seen: Vec<Vec<LabelPair>> = Vec::new();
            metrics.retain(|m| {
                let mut l = m.label.clone();
                l.sort();
                let fresh = !seen.contains(&l);
                seen.push(l);
                fresh
            });
            family(
                "prop_total",
                help.as_deref(),
                MetricType::Counter,
                None,
                metrics,
            )
        })
    }

    proptest! {
        #[test]
        fn millisecond_timestamps_are_written_as_go_writes_them(ms in -4_000_000_000_000_000i64..4_000_000_000_000_000) {
            // Below 2^42 seconds (year 141,000) Go's float64(ms)/1000 keeps
            // every millisecond, so its shortest %g is the exact decimal.
            let mut exact = Vec::new();
            write_seconds(&mut exact, i128::from(ms) * 1_000_000);
            let mut go = Vec::new();
            Dialect::OpenMetrics.write_float(&mut go, ms as f64 / 1000.0);
            prop_assert_eq!(String::from_utf8(exact).unwrap(), String::from_utf8(go).unwrap());
        }

        #[test]
        fn nanosecond_timestamps_read_back_exactly(t in timestamp()) {
            let mut out = Vec::new();
            write_seconds(&mut out, unix_nanos(t));
            let nanos = parse_nanos(&out).unwrap();
            prop_assert_eq!(to_timestamp(nanos), Some(t));
        }

        #[test]
        fn counters_round_trip(mf in counter_family()) {
            let text = encode_str(std::slice::from_ref(&mf));
            let back = decode(Bytes::from(text.clone()));
            prop_assert_eq!(back, Ok(vec![mf]), "{}", text);
        }

        #[test]
        fn gauges_round_trip(values in vec((label_set(), any::<f64>()), 1..5)) {
            let mut seen: Vec<Vec<LabelPair>> = Vec::new();
            let metrics: Vec<Metric> = values
                .into_iter()
                .filter(|(l, _)| {
                    let mut l = l.clone();
                    l.sort();
                    let fresh = !seen.contains(&l);
                    seen.push(l);
                    fresh
                })
                .map(|(l, v)| Metric {
                    label: l,
                    gauge: Some(Gauge { value: Some(if v.is_nan() { 1.5 } else { v }) }),
                    ..Default::default()
                })
                .collect();
            let mf = family("g", None, MetricType::Gauge, Some("g"), vec![]);
            let mf = MetricFamily { name: Some("x_g".into()), metric: metrics, ..mf };
            let text = encode_str(std::slice::from_ref(&mf));
            prop_assert_eq!(decode(Bytes::from(text.clone())), Ok(vec![mf]), "{}", text);
        }

        #[test]
        fn decoding_never_panics(text in r#"(# (HELP|TYPE|UNIT|EOF) ?)?[a-z_]{0,3}(\{[a-z]{0,2}=?"?[^\n]{0,6}"?,?\}?)? ?[0-9.e+-]{0,4}( [#\{\}0-9a-z=" ]{0,10})?\n?(# EOF\n)?"#) {
            let _ = decode(Bytes::from(text));
        }
    }
}
