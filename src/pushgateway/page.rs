//! The status page at `/`: every group, its times and families, with a
//! delete button per group. Plain server-rendered HTML; the one script is
//! inline, for the button.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::codec;
use crate::grouping;
use crate::model::MetricFamily;
use crate::store::GroupInfo;
use crate::time::rfc3339_millis;
use crate::Format;

/// At most this many series of a family are listed; the rest are counted.
const SERIES_SHOWN: usize = 50;

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:80rem}\
h1 small{font-weight:normal;color:#666;font-size:60%}\
section.group{border:1px solid #ccc;border-radius:6px;padding:0.5rem 1rem;margin:1rem 0}\
.label{display:inline-block;background:#eef;border-radius:4px;padding:0 0.4rem;margin-right:0.3rem;font-family:monospace}\
.times{color:#555;font-size:90%}\
.failed{color:#b00}\
table{border-collapse:collapse;width:100%}\
td,th{text-align:left;padding:0.2rem 0.5rem;border-bottom:1px solid #eee;vertical-align:top}\
pre{margin:0.3rem 0;font-size:85%;white-space:pre-wrap}\
button.delete{float:right;background:#c33;color:#fff;border:0;border-radius:4px;padding:0.3rem 0.8rem;cursor:pointer}";

const SCRIPT: &str = "\
function deleteGroup(button){\
if(!confirm('Delete the group '+button.dataset.group+'?'))return;\
fetch(button.dataset.path,{method:'DELETE'}).then(function(r){\
if(r.ok){location.reload();}else{r.text().then(function(t){alert('Not deleted: '+t);});}\
});}";

/// The page for `groups`.
pub(super) fn render(groups: &[GroupInfo], series: usize, started: SystemTime) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<title>pushgate</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n");
    let _ = write!(
        out,
        "<h1>pushgate <small>{} &middot; Pushgateway mode</small></h1>\n\
         <p id=\"summary\">{} group{}, {series} series. Up since {}. \
         Scrape <a href=\"/metrics\">/metrics</a>; JSON at \
         <a href=\"/api/v1/metrics\">/api/v1/metrics</a> and \
         <a href=\"/api/v1/status\">/api/v1/status</a>.</p>\n",
        env!("CARGO_PKG_VERSION"),
        groups.len(),
        if groups.len() == 1 { "" } else { "s" },
        rfc3339_millis(started),
    );
    if groups.is_empty() {
        out.push_str(
            "<p id=\"empty\">No groups yet. Push one with \
             <code>echo 'some_metric 3.14' | curl --data-binary @- \
             http://HOST/metrics/job/some_job</code>.</p>\n",
        );
    }
    for group in groups {
        render_group(&mut out, group);
    }
    out.push_str("<script>");
    out.push_str(SCRIPT);
    out.push_str("</script></body></html>\n");
    out
}

fn render_group(out: &mut String, group: &GroupInfo) {
    let key: Vec<String> = group
        .labels
        .iter()
        .map(|l| format!("{}=\"{}\"", l.name(), l.value()))
        .collect();
    let key = key.join(", ");
    let mut labels = group.labels.iter();
    let job = labels.next().map_or("", |l| l.value());
    let path = grouping::path(job, labels.map(|l| (l.name(), l.value())));
    let _ = write!(
        out,
        "<section class=\"group\" data-group=\"{}\">\n\
         <button class=\"delete\" data-group=\"{}\" data-path=\"{}\" \
         onclick=\"deleteGroup(this)\">Delete group</button>\n<h2>",
        escape(&key),
        escape(&key),
        escape(&path),
    );
    for label in &group.labels {
        let _ = write!(
            out,
            "<span class=\"label\">{}=\"{}\"</span>",
            escape(label.name()),
            escape(label.value())
        );
    }
    out.push_str("</h2>\n<p class=\"times\">Last push: ");
    out.push_str(&group.pushed.map_or("never".into(), rfc3339_millis));
    match group.failed {
        Some(failed) => {
            let _ = write!(
                out,
                " &middot; <span class=\"failed\">last refused push: {}</span>",
                rfc3339_millis(failed)
            );
        }
        None => out.push_str(" &middot; no refused push"),
    }
    if let Some(expires) = group.expires {
        let _ = write!(out, " &middot; expires: {}", rfc3339_millis(expires));
    }
    out.push_str(
        "</p>\n<table><thead><tr><th>family</th><th>type</th><th>series</th>\
                  <th>pushed</th><th>help</th></tr></thead><tbody>\n",
    );
    for stored in &group.families {
        let family = &stored.family;
        let _ = writeln!(
            out,
            "<tr class=\"family\"><td><details><summary>{}</summary><pre>{}</pre></details></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(family.name()),
            escape(&sample_text(family)),
            crate::store::type_name(family.metric_type()),
            family.metric.len(),
            rfc3339_millis(stored.pushed),
            escape(family.help()),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}

/// The family's first series in the text format, for a look.
fn sample_text(family: &MetricFamily) -> String {
    let shown = MetricFamily {
        metric: family.metric.iter().take(SERIES_SHOWN).cloned().collect(),
        help: None,
        ..family.clone()
    };
    let mut out = Vec::new();
    if codec::encode(Format::Text, &[shown], &mut out).is_err() {
        out.clear();
        codec::encode(Format::Json, std::slice::from_ref(family), &mut out).ok();
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if family.metric.len() > SERIES_SHOWN {
        let _ = writeln!(
            text,
            "… and {} more series",
            family.metric.len() - SERIES_SHOWN
        );
    }
    text
}

/// `text` safe in HTML text and in double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_labels_is_escaped() {
        assert_eq!(
            escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
