//! Differential test of the text decoder against the Go parser in Debian's
//! `prometheus-pushgateway`.
//!
//! Every `tests/corpus/text/*.txt` is pushed to a fresh gateway (a group of
//! its own, `job=diff/case=<file stem>`), scraped back as delimited protobuf
//! and compared with what `codec::decode(Format::Text, ..)` makes of the same
//! bytes. Every `tests/corpus/text_invalid/*.txt` must be refused by both: the
//! gateway with 400 and a *parse* error (not one of its own consistency
//! checks), and our decoder with an error on the same line.
//!
//! Outside CI a missing gateway skips the tests; with `CI=true` it fails.
//! `PUSHGATEWAY_BIN` names another binary.
//!
//! What the gateway changes, and so what is normalised before comparing
//! (each learnt by pushing to a live 1.5.1 and reading the scrape):
//! - It exposes families of its own: `push_time_seconds`,
//!   `push_failure_time_seconds` per group, and the `go_*`, `process_*` and
//!   `pushgateway_*` families of its own process. Those are dropped (and the
//!   corpus may not use those names).
//! - It adds the grouping labels (`job`, `case`) and `instance=""` to every
//!   metric. Those are removed (and the corpus may not use those label names:
//!   the gateway would overwrite them).
//! - It sorts labels by name, metrics within a family, and families by name.
//!   Both sides are brought to one order: labels by name, metrics by their
//!   labels, families by name.
//! - It does not expose families without metrics (`# HELP x ...` or
//!   `# TYPE x ...` with no samples vanish). Ours without metrics are dropped.
//!
//! Nothing else is normalised: help, type, presence of optional fields
//! (`help: None` vs `Some("")`, a histogram's `sample_count: None` when no
//! `_count` line came), bucket order and the absence of a `+Inf` bucket all
//! come through the gateway's protobuf exposition as Go's parser made them.
//! Values are compared bitwise, except that every NaN equals every NaN (Go's
//! parser yields `math.NaN()`, whose payload differs from Rust's `f64::NAN`).

mod support {
    pub mod http;
    pub mod pushgateway;
}

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use pushgate::codec::{self, Limits};
use pushgate::model::{Metric, MetricFamily};
use pushgate::Format;

use support::http;
use support::pushgateway::{self, Pushgateway};

const JOB: &str = "diff";

/// Label names the gateway sets on every metric it exposes.
const GATEWAY_LABELS: [&str; 3] = ["job", "instance", "case"];

/// Families of the gateway itself, never from a push.
fn is_gateway_family(name: &str) -> bool {
    name == "push_time_seconds"
        || name == "push_failure_time_seconds"
        || ["go_", "process_", "pushgateway_"]
            .iter()
            .any(|p| name.starts_with(p))
}

fn corpus(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.txt in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_str().unwrap().to_owned();
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "corpus file names go into URLs: {name:?}"
            );
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn group_path(case: &str) -> String {
    format!("/metrics/job/{JOB}/case/{case}")
}

fn push(gw: &Pushgateway, case: &str, body: &[u8]) -> http::Response {
    // PUT replaces the group; the gateway answers only once the push is
    // applied (or refused), so a scrape after it sees the new state.
    http::request(
        gw.addr,
        "PUT",
        &group_path(case),
        &[("Content-Type", Format::Text.content_type())],
        body,
    )
    .unwrap_or_else(|e| panic!("pushing {case}: {e}\ngateway log:\n{}", gw.log_text()))
}

fn delete(gw: &Pushgateway, case: &str) {
    // Deletion is queued (202) but applied before any later push, so groups
    // never meet in the gateway's cross-group consistency check.
    let r = http::request(gw.addr, "DELETE", &group_path(case), &[], &[]).unwrap();
    assert_eq!(r.status, 202, "deleting {case}: {}", r.text());
}

/// Sorts labels by name and metrics by their labels.
fn sort_family(mf: &mut MetricFamily) {
    for m in &mut mf.metric {
        m.label.sort_by(|a, b| a.name().cmp(b.name()));
    }
    mf.metric.sort_by_cached_key(metric_key);
}

fn metric_key(m: &Metric) -> Vec<(String, String)> {
    m.label
        .iter()
        .map(|l| (l.name().to_owned(), l.value().to_owned()))
        .collect()
}

/// Our families in comparable form, by name. `Err` if a name repeats (Go's
/// parser keeps one family per name).
fn ours_normalised(families: Vec<MetricFamily>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for mut mf in families {
        if mf.metric.is_empty() {
            continue; // the gateway does not expose families without metrics
        }
        sort_family(&mut mf);
        let name = mf.name().to_owned();
        if out.insert(name.clone(), render(&mf)).is_some() {
            return Err(format!("our decoder returned family {name:?} twice"));
        }
    }
    Ok(out)
}

/// The scraped families of group `case`, with the gateway's additions
/// removed, in comparable form, by name.
fn theirs_normalised(scrape: Vec<MetricFamily>, case: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for mut mf in scrape {
        if is_gateway_family(mf.name()) {
            continue;
        }
        let name = mf.name().to_owned();
        for m in &mut mf.metric {
            let has = |name: &str, value: &str| {
                m.label
                    .iter()
                    .any(|l| l.name() == name && l.value() == value)
            };
            assert!(
                has("job", JOB) && has("case", case) && has("instance", ""),
                "scraped metric of {name:?} is not from group {case}: {m:?}"
            );
            m.label.retain(|l| !GATEWAY_LABELS.contains(&l.name()));
        }
        sort_family(&mut mf);
        assert!(
            out.insert(name.clone(), render(&mf)).is_none(),
            "the gateway exposed {name:?} twice"
        );
    }
    out
}

/// A family as text for comparison and messages. `Debug` prints every `f64`
/// in its shortest round-tripping form, so equal text means bitwise equal
/// values (`-0.0` and `0.0` differ), except that all NaNs print as `NaN`.
fn render(mf: &MetricFamily) -> String {
    format!("{mf:#?}")
}

fn check_corpus_names(case: &str, families: &[MetricFamily]) -> Result<(), String> {
    for mf in families {
        if is_gateway_family(mf.name()) {
            return Err(format!(
                "family {:?} has a name the gateway uses for its own families",
                mf.name()
            ));
        }
        for m in &mf.metric {
            if let Some(l) = m.label.iter().find(|l| GATEWAY_LABELS.contains(&l.name())) {
                return Err(format!(
                    "{case}: label {:?} of {:?} is one the gateway sets itself",
                    l.name(),
                    mf.name()
                ));
            }
        }
    }
    Ok(())
}

/// Compares one case; `Err` describes every difference.
fn compare_case(gw: &Pushgateway, case: &str, body: &[u8]) -> Result<(), String> {
    let pushed = push(gw, case, body);
    if pushed.status != 200 {
        delete(gw, case);
        return Err(format!(
            "the gateway refused a corpus case, fix the corpus ({}): {}",
            pushed.status,
            pushed.text().trim()
        ));
    }
    let scraped = gw.scrape();
    delete(gw, case);
    // Earlier groups were deleted: everything not the gateway's own is ours.
    let theirs = theirs_normalised(scraped?, case);

    let ours = codec::decode(
        Format::Text,
        Bytes::copy_from_slice(body),
        &Limits::default(),
    )
    .map_err(|e| format!("Go's parser accepted it, our decoder refused it: {e}"))?;
    check_corpus_names(case, &ours)?;
    let ours = ours_normalised(ours)?;

    let mut diff = String::new();
    for name in theirs
        .keys()
        .chain(ours.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (ours.get(name), theirs.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                let _ = writeln!(
                    diff,
                    "family {name:?} differs\n--- ours:\n{a}\n--- Go's:\n{b}"
                );
            }
            (Some(a), None) => {
                let _ = writeln!(diff, "family {name:?} only in ours:\n{a}");
            }
            (None, Some(b)) => {
                let _ = writeln!(diff, "family {name:?} only in Go's:\n{b}");
            }
            (None, None) => unreachable!(),
        }
    }
    if diff.is_empty() {
        Ok(())
    } else {
        Err(diff)
    }
}

#[test]
fn text_decoder_agrees_with_the_pushgateway_on_valid_payloads() {
    let Some(bin) = pushgateway::binary_or_skip("text_decoder_agrees_with_the_pushgateway") else {
        return;
    };
    let gw = Pushgateway::start(&bin);
    let cases = corpus("text");
    let mut failures = Vec::new();
    for (case, body) in &cases {
        if let Err(e) = compare_case(&gw, case, body) {
            failures.push(format!("=== tests/corpus/text/{case}.txt: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the Pushgateway:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Every group was deleted again: nothing of ours is left exposed.
    let left: Vec<_> = gw
        .scrape()
        .unwrap()
        .into_iter()
        .filter(|mf| !is_gateway_family(mf.name()))
        .map(|mf| mf.name().to_owned())
        .collect();
    assert!(left.is_empty(), "families left in the gateway: {left:?}");
}

/// The line of a Go parse error: "text format parsing error in line 3: ...".
fn go_error_line(message: &str) -> Option<usize> {
    let rest = message.split_once("in line ")?.1;
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}

#[test]
fn text_decoder_and_pushgateway_both_refuse_invalid_payloads() {
    let Some(bin) = pushgateway::binary_or_skip("text_decoder_and_pushgateway_both_refuse") else {
        return;
    };
    let gw = Pushgateway::start(&bin);
    let cases = corpus("text_invalid");
    let mut failures = Vec::new();
    for (case, body) in &cases {
        let r = push(&gw, case, body);
        delete(&gw, case);
        let theirs = r.text();
        // A parse error, not a consistency check: the case must test the parser.
        if r.status != 400 || !theirs.contains("text format parsing error") {
            failures.push(format!(
                "=== {case}: not a parse error for the gateway, fix the corpus ({}): {}",
                r.status,
                theirs.trim()
            ));
            continue;
        }
        match codec::decode(Format::Text, Bytes::copy_from_slice(body), &Limits::default()) {
            // Both refuse it; they must also agree on the line.
            Err(ours) if ours.line() == go_error_line(&theirs) => {}
            Err(ours) => failures.push(format!(
                "=== {case}: both refuse it, at different lines: ours {ours}; Go's {}",
                theirs.trim()
            )),
            Ok(families) => failures.push(format!(
                "=== {case}: Go's parser refused it ({}), our decoder accepted it as:\n{families:#?}",
                theirs.trim()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid cases were not refused by both:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
