//! Wire formats and `Content-Type` negotiation, and the `Content-Encoding`s
//! a push may be compressed with.

use std::fmt;
use std::str::FromStr;

/// A wire format for metric families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf messages.
    Protobuf,
    /// Prometheus text exposition format 0.0.4.
    Text,
    /// OpenMetrics text 1.0.0.
    OpenMetrics,
    /// The JSON shape of Go's client_model structs.
    Json,
    /// InfluxDB line protocol (encode only).
    LineProtocol,
}

/// The `Content-Type` of length-delimited protobuf, as Go's `expfmt` writes it.
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
/// The `Content-Type` of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of the JSON format.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// The `Content-Type` of InfluxDB line protocol.
pub const LINE_PROTOCOL_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// A `Content-Type` that names no format pushgate can decode (HTTP 415).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported content type {0:?}: push Prometheus text, OpenMetrics text, JSON or delimited protobuf")]
pub struct UnsupportedMediaType(pub String);

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 5] = [
        Format::Protobuf,
        Format::Text,
        Format::OpenMetrics,
        Format::Json,
        Format::LineProtocol,
    ];

    /// The format of a request body, from its `Content-Type` header.
    ///
    /// As the Prometheus Pushgateway does, a missing header, `text/plain` and
    /// curl's default `application/x-www-form-urlencoded` mean text 0.0.4, so
    /// `curl --data-binary @metrics.txt URL` works. Protobuf must say
    /// `proto=io.prometheus.client.MetricFamily; encoding=delimited`.
    ///
    /// ```
    /// use pushgate::Format;
    /// assert_eq!(Format::from_content_type(None), Ok(Format::Text));
    /// assert_eq!(
    ///     Format::from_content_type(Some("application/openmetrics-text; version=1.0.0")),
    ///     Ok(Format::OpenMetrics)
    /// );
    /// assert!(Format::from_content_type(Some("image/png")).is_err());
    /// ```
    pub fn from_content_type(header: Option<&str>) -> Result<Format, UnsupportedMediaType> {
        let Some(header) = header else {
            return Ok(Format::Text);
        };
        let unsupported = || UnsupportedMediaType(header.to_owned());
        let mut parts = header.split(';');
        let essence = parts.next().unwrap_or("").trim();
        let param = |key: &str| {
            header.split(';').skip(1).find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case(key)
                    .then(|| v.trim().trim_matches('"'))
            })
        };
        let is = |s: &str| essence.eq_ignore_ascii_case(s);
        if essence.is_empty() || is("application/x-www-form-urlencoded") {
            Ok(Format::Text)
        } else if is("text/plain") {
            match param("version") {
                None | Some("0.0.4") => Ok(Format::Text),
                Some(_) => Err(unsupported()),
            }
        } else if is("application/openmetrics-text") {
            match param("version") {
                None | Some("1.0.0") | Some("0.0.1") => Ok(Format::OpenMetrics),
                Some(_) => Err(unsupported()),
            }
        } else if is("application/vnd.google.protobuf") {
            let proto_ok = param("proto") == Some("io.prometheus.client.MetricFamily");
            let delimited = param("encoding") == Some("delimited");
            if proto_ok && delimited {
                Ok(Format::Protobuf)
            } else {
                Err(unsupported())
            }
        } else if is("application/json") {
            Ok(Format::Json)
        } else {
            Err(unsupported())
        }
    }

    /// The format to answer a scrape in, from its `Accept` header: the
    /// media range with the highest `q` among delimited protobuf,
    /// OpenMetrics and text (earlier wins a tie), and text when nothing
    /// else matches or there is no header, as Go's `expfmt.Negotiate` does.
    ///
    /// ```
    /// use pushgate::Format;
    /// // What Prometheus sends.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    /// let protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3";
    /// assert_eq!(Format::negotiate(Some(protobuf)), Format::Protobuf);
    /// assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
    /// assert_eq!(Format::negotiate(None), Format::Text);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best = (Format::Text, -1.0_f64);
        for range in accept.split(',') {
            let q = range
                .split(';')
                .skip(1)
                .find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("q")
                        .then(|| v.trim().parse::<f64>().ok())?
                })
                .unwrap_or(1.0);
            // The q parameter is not part of the media type.
            let media: String = range
                .split(';')
                .filter(|p| !p.trim_start().to_ascii_lowercase().starts_with("q="))
                .collect::<Vec<_>>()
                .join(";");
            let essence = media.split(';').next().unwrap_or("").trim();
            let format = if essence == "*/*" || essence.eq_ignore_ascii_case("text/*") {
                Some(Format::Text)
            } else {
                Format::from_content_type(Some(&media))
                    .ok()
                    .filter(|f| matches!(f, Format::Protobuf | Format::OpenMetrics | Format::Text))
                    // An empty or form type is no scrape format.
                    .filter(|_| {
                        essence.contains('/')
                            && !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
                    })
            };
            if let Some(format) = format {
                if q > 0.0 && q > best.1 {
                    best = (format, q);
                }
            }
        }
        best.0
    }

    /// The `Content-Type` to send a body of this format with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF_CONTENT_TYPE,
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Json => JSON_CONTENT_TYPE,
            Format::LineProtocol => LINE_PROTOCOL_CONTENT_TYPE,
        }
    }

    /// The short name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Protobuf => "protobuf",
            Format::Text => "text",
            Format::OpenMetrics => "openmetrics",
            Format::Json => "json",
            Format::LineProtocol => "line",
        }
    }

    /// Whether pushgate can decode this format (line protocol is encode only).
    pub fn can_decode(self) -> bool {
        self != Format::LineProtocol
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown format name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: expected protobuf, text, openmetrics, json or line")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// A `Content-Encoding` of a push body.
///
/// Which of them the gateway decompresses depends on the crate's features:
/// gzip and deflate always, `zstd` and `snappy` with the features of those
/// names (both on for `pushgate serve`).
///
/// ```
/// use pushgate::format::ContentCoding;
///
/// assert_eq!(ContentCoding::from_token("x-gzip"), Some(ContentCoding::Gzip));
/// assert_eq!(ContentCoding::Zstd.to_string(), "zstd");
/// assert_eq!(ContentCoding::from_token("br"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentCoding {
    /// `gzip` (or `x-gzip`).
    Gzip,
    /// `deflate`: zlib, or raw deflate.
    Deflate,
    /// `zstd`.
    Zstd,
    /// `snappy`, framed.
    Snappy,
}

impl ContentCoding {
    /// The coding's name in `Content-Encoding`.
    pub fn name(self) -> &'static str {
        match self {
            ContentCoding::Gzip => "gzip",
            ContentCoding::Deflate => "deflate",
            ContentCoding::Zstd => "zstd",
            ContentCoding::Snappy => "snappy",
        }
    }

    /// The coding one `Content-Encoding` token names, ignoring case
    /// (`identity` is no coding, and not one of these).
    pub fn from_token(token: &str) -> Option<ContentCoding> {
        let is = |s: &str| token.eq_ignore_ascii_case(s);
        if is("gzip") || is("x-gzip") {
            Some(ContentCoding::Gzip)
        } else if is("deflate") {
            Some(ContentCoding::Deflate)
        } else if is("zstd") {
            Some(ContentCoding::Zstd)
        } else if is("snappy") {
            Some(ContentCoding::Snappy)
        } else {
            None
        }
    }
}

impl fmt::Display for ContentCoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_the_fallback_for_curl_and_missing_headers() {
        for h in [
            None,
            Some(""),
            Some("application/x-www-form-urlencoded"),
            Some("text/plain"),
            Some("text/plain; version=0.0.4"),
            Some("TEXT/PLAIN; charset=utf-8; version=0.0.4"),
        ] {
            assert_eq!(Format::from_content_type(h), Ok(Format::Text), "{h:?}");
        }
    }

    #[test]
    fn protobuf_needs_the_delimited_family_parameters() {
        assert_eq!(
            Format::from_content_type(Some(PROTOBUF_CONTENT_TYPE)),
            Ok(Format::Protobuf)
        );
        assert_eq!(
            Format::from_content_type(Some(
                "application/vnd.google.protobuf;encoding=delimited;proto=\"io.prometheus.client.MetricFamily\""
            )),
            Ok(Format::Protobuf)
        );
        assert!(Format::from_content_type(Some("application/vnd.google.protobuf")).is_err());
        assert!(Format::from_content_type(Some(
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text"
        ))
        .is_err());
    }

    #[test]
    fn other_types_are_unsupported() {
        for h in [
            "image/png",
            "text/html",
            "text/plain; version=9",
            "application/xml",
        ] {
            let err = Format::from_content_type(Some(h)).unwrap_err();
            assert_eq!(err.0, h);
        }
    }

    #[test]
    fn every_decodable_content_type_negotiates_back() {
        for f in Format::ALL.into_iter().filter(|f| f.can_decode()) {
            assert_eq!(Format::from_content_type(Some(f.content_type())), Ok(f));
        }
    }

    #[test]
    fn names_parse() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!("xml".parse::<Format>().is_err());
    }
}
