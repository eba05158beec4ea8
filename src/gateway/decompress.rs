//! Layer: decompress bodies by `Content-Encoding`, with a hard cap on the
//! output.
//!
//! | `Content-Encoding` | decoder |
//! | --- | --- |
//! | `gzip`, `x-gzip` | gzip, all members (as Go's `gzip.Reader`) |
//! | `deflate` | zlib (RFC 1950, as HTTP defines it); raw deflate when zlib fails |
//! | `zstd` | Zstandard, all frames, window at most 8 MiB (or the limit, if larger) |
//! | `snappy` | the framed snappy format, as the Pushgateway and Python's `prometheus_client` send it |
//! | none, `identity` | the body passes through untouched |
//!
//! Anything else, or more than one coding, is `415 Unsupported Media Type`.
//!
//! A compressed body is read whole (at most `max_bytes` of it), then
//! decompressed into a buffer that may hold `max_bytes`: a body that
//! decompresses to more is refused with `413` once that much has come out,
//! so a compression bomb costs no more than `max_bytes` of memory. A body
//! that is not valid in its coding, or has data after the end of the
//! compressed stream, is `400`. After decompressing, `Content-Encoding` and
//! `Content-Length` are removed from the request, which now carries the
//! decompressed body.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderMap, Request};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::error::TooLarge;
use super::future::StageFuture;
use super::GatewayError;
use crate::format::ContentCoding;
use crate::BoxError;

/// Whether this build decompresses `coding` (`zstd` and `snappy` are
/// features).
pub fn supported(coding: ContentCoding) -> bool {
    match coding {
        ContentCoding::Gzip | ContentCoding::Deflate => true,
        ContentCoding::Zstd => cfg!(feature = "zstd"),
        ContentCoding::Snappy => cfg!(feature = "snappy"),
    }
}

/// The coding of a request from its `Content-Encoding` headers: `None` for
/// none or `identity`; [`GatewayError::UnsupportedEncoding`] for a coding
/// this build does not decompress, or more than one.
pub fn content_coding(headers: &HeaderMap) -> Result<Option<ContentCoding>, GatewayError> {
    let mut found = None;
    for value in headers.get_all(CONTENT_ENCODING) {
        let unsupported = || GatewayError::UnsupportedEncoding {
            encoding: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        };
        let text = value.to_str().map_err(|_| unsupported())?;
        for token in text.split(',').map(str::trim) {
            if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                continue;
            }
            let Some(coding) = ContentCoding::from_token(token).filter(|&c| supported(c)) else {
                return Err(unsupported());
            };
            if found.replace(coding).is_some() {
                return Err(unsupported());
            }
        }
    }
    Ok(found)
}

/// Decompresses `input` into at most `limit` bytes.
pub fn decompress(
    coding: ContentCoding,
    input: &[u8],
    limit: usize,
) -> Result<Bytes, GatewayError> {
    // Compressed metrics text shrinks about tenfold; start there.
    let mut out = Vec::with_capacity(input.len().saturating_mul(8).min(limit));
    let over = match coding {
        ContentCoding::Gzip => {
            read_capped(flate2::bufread::MultiGzDecoder::new(input), &mut out, limit)
        }
        ContentCoding::Deflate => inflate(input, &mut out, limit),
        #[cfg(feature = "zstd")]
        ContentCoding::Zstd => zstd::stream::read::Decoder::with_buffer(input).and_then(|mut d| {
            d.window_log_max(window_log_max(limit))?;
            read_capped(d, &mut out, limit)
        }),
        #[cfg(feature = "snappy")]
        ContentCoding::Snappy => read_capped(snap::read::FrameDecoder::new(input), &mut out, limit),
        // A coding this build lacks: `content_coding` refuses it first.
        #[allow(unreachable_patterns)]
        _ => {
            return Err(GatewayError::UnsupportedEncoding {
                encoding: coding.name().to_owned(),
            })
        }
    };
    match over {
        Ok(false) => Ok(out.into()),
        Ok(true) => Err(GatewayError::PayloadTooLarge {
            limit,
            what: TooLarge::Decompressed(coding),
        }),
        Err(source) => Err(GatewayError::Decompress { coding, source }),
    }
}

/// Reads `r` to its end into `out`, stopping with `Ok(true)` when it would
/// produce more than `limit` bytes (after at most `limit` bytes in `out`
/// and one more byte read).
fn read_capped(mut r: impl Read, out: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    r.by_ref().take(limit as u64).read_to_end(out)?;
    if out.len() < limit {
        return Ok(false);
    }
    let mut probe = [0u8; 1];
    loop {
        match r.read(&mut probe) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `deflate`: zlib first; if that fails, raw deflate; the zlib error if
/// both fail. Data after the stream's end is an error.
fn inflate(input: &[u8], out: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    fn whole<R: Read>(
        mut d: R,
        rest: impl FnOnce(R) -> usize,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> io::Result<bool> {
        let over = read_capped(&mut d, out, limit)?;
        if !over && rest(d) > 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "data after the end of the compressed stream",
            ));
        }
        Ok(over)
    }
    let zlib = flate2::bufread::ZlibDecoder::new(input);
    match whole(zlib, |d| d.into_inner().len(), out, limit) {
        Ok(over) => Ok(over),
        Err(zlib_error) => {
            out.clear();
            let raw = flate2::bufread::DeflateDecoder::new(input);
            whole(raw, |d| d.into_inner().len(), out, limit).map_err(|_| zlib_error)
        }
    }
}

#[cfg(feature = "zstd")]
/// The largest zstd window accepted: 8 MiB (what the format recommends
/// decoders support), or enough for `limit` bytes if that is more.
fn window_log_max(limit: usize) -> u32 {
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(23, 31)
}

/// Decompresses request bodies, refusing more than `max_bytes` of output.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::io::Write;
/// use http_body_util::{BodyExt, Full};
/// use pushgate::gateway::decompress::{DecompressBody, DecompressLayer};
/// use pushgate::gateway::GatewayError;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let read_all = service_fn(|req: http::Request<DecompressBody<Full<bytes::Bytes>>>| async move {
///     let body = req.into_body().collect().await.map_err(GatewayError::from_body_error)?;
///     Ok::<_, GatewayError>(body.to_bytes())
/// });
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
/// gz.write_all(b"up 1\n").unwrap();
/// let req = http::Request::builder()
///     .header("content-encoding", "gzip")
///     .body(Full::new(bytes::Bytes::from(gz.finish().unwrap())))
///     .unwrap();
/// let body = DecompressLayer::new(1024).layer(read_all).oneshot(req).await.unwrap();
/// assert_eq!(body, "up 1\n");
/// # });
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct DecompressLayer {
    max_bytes: usize,
}

impl DecompressLayer {
    /// Compressed bodies may be up to `max_bytes`, and decompress to as much.
    pub fn new(max_bytes: usize) -> DecompressLayer {
        DecompressLayer { max_bytes }
    }
}

impl Default for DecompressLayer {
    /// [`crate::DEFAULT_MAX_BYTES`].
    fn default() -> DecompressLayer {
        DecompressLayer::new(crate::DEFAULT_MAX_BYTES)
    }
}

impl<S> Layer<S> for DecompressLayer {
    type Service = Decompress<S>;
    fn layer(&self, inner: S) -> Decompress<S> {
        Decompress {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// The service of [`DecompressLayer`].
#[derive(Clone, Debug)]
pub struct Decompress<S> {
    inner: S,
    max_bytes: usize,
}

impl<S> Decompress<S> {
    /// Decompresses the bodies of requests to `inner`, up to `max_bytes`.
    pub fn new(inner: S, max_bytes: usize) -> Decompress<S> {
        Decompress { inner, max_bytes }
    }

    /// A layer of this service.
    pub fn layer(max_bytes: usize) -> DecompressLayer {
        DecompressLayer::new(max_bytes)
    }

    inner_accessors!();
}

impl<S, B> Service<Request<B>> for Decompress<S>
where
    S: Service<Request<DecompressBody<B>>, Error = GatewayError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = StageFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let coding = match content_coding(req.headers()) {
            Ok(c) => c,
            Err(e) => return StageFuture::error(e),
        };
        let (mut parts, body) = req.into_parts();
        let state = match coding {
            None => State::Identity,
            Some(coding) => {
                parts.headers.remove(CONTENT_ENCODING);
                parts.headers.remove(CONTENT_LENGTH);
                State::Collecting {
                    coding,
                    input: Input::default(),
                    limit: self.max_bytes,
                }
            }
        };
        let body = DecompressBody { inner: body, state };
        StageFuture::inner(self.inner.call(Request::from_parts(parts, body)))
    }
}

pin_project! {
    /// A request body, decompressed when it was sent compressed.
    ///
    /// A compressed body yields its whole decompressed content as one frame
    /// once the compressed body has been read to the end.
    pub struct DecompressBody<B> {
        #[pin]
        inner: B,
        state: State,
    }
}

enum State {
    Identity,
    Collecting {
        coding: ContentCoding,
        input: Input,
        limit: usize,
    },
    Done,
}

/// The compressed body, kept as sent when it comes in one chunk.
#[derive(Default)]
struct Input {
    first: Bytes,
    joined: Option<BytesMut>,
}

impl Input {
    fn len(&self) -> usize {
        self.joined.as_ref().map_or(self.first.len(), BytesMut::len)
    }

    fn push(&mut self, mut data: impl Buf) {
        if self.joined.is_none() && self.first.is_empty() {
            self.first = data.copy_to_bytes(data.remaining());
            return;
        }
        let joined = self.joined.get_or_insert_with(|| {
            let mut j = BytesMut::with_capacity(2 * self.first.len() + data.remaining());
            j.extend_from_slice(&self.first);
            j
        });
        while data.has_remaining() {
            let chunk = data.chunk();
            let n = chunk.len();
            joined.extend_from_slice(chunk);
            data.advance(n);
        }
    }

    fn as_slice(&self) -> &[u8] {
        self.joined.as_deref().unwrap_or(&self.first)
    }
}

impl<B> Body for DecompressBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = GatewayError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, GatewayError>>> {
        let mut this = self.project();
        loop {
            match this.state {
                State::Done => return Poll::Ready(None),
                State::Identity => {
                    let frame = ready!(this.inner.as_mut().poll_frame(cx));
                    return Poll::Ready(frame.map(|r| match r {
                        Ok(frame) => Ok(frame.map_data(|mut d| d.copy_to_bytes(d.remaining()))),
                        Err(e) => Err(GatewayError::from_body_error(e)),
                    }));
                }
                State::Collecting {
                    coding,
                    input,
                    limit,
                } => {
                    match ready!(this.inner.as_mut().poll_frame(cx)) {
                        Some(Ok(frame)) => {
                            // Trailers of a compressed body are dropped.
                            if let Ok(data) = frame.into_data() {
                                if input.len() + data.remaining() > *limit {
                                    let limit = *limit;
                                    *this.state = State::Done;
                                    return Poll::Ready(Some(Err(GatewayError::PayloadTooLarge {
                                        limit,
                                        what: TooLarge::Body,
                                    })));
                                }
                                input.push(data);
                            }
                        }
                        Some(Err(e)) => {
                            *this.state = State::Done;
                            return Poll::Ready(Some(Err(GatewayError::from_body_error(e))));
                        }
                        None => {
                            let result = decompress(*coding, input.as_slice(), *limit);
                            *this.state = State::Done;
                            return Poll::Ready(match result {
                                Ok(data) if data.is_empty() => None,
                                Ok(data) => Some(Ok(Frame::data(data))),
                                Err(e) => Some(Err(e)),
                            });
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self.state {
            State::Identity => self.inner.is_end_stream(),
            State::Collecting { .. } => false,
            State::Done => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Identity => self.inner.size_hint(),
            State::Collecting { .. } => SizeHint::default(),
            State::Done => SizeHint::with_exact(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    #[cfg(all(feature = "zstd", feature = "snappy"))]
    fn every_coding_round_trips() {
        let data = b"# TYPE up gauge\nup{job=\"a\"} 1\n".repeat(50);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).unwrap();
        let mut snappy = snap::write::FrameEncoder::new(Vec::new());
        snappy.write_all(&data).unwrap();
        let cases = [
            (ContentCoding::Gzip, gzip(&data)),
            (ContentCoding::Deflate, zlib.finish().unwrap()),
            (ContentCoding::Deflate, raw.finish().unwrap()),
            (ContentCoding::Zstd, zstd::encode_all(&data[..], 3).unwrap()),
            (ContentCoding::Snappy, snappy.into_inner().unwrap()),
        ];
        for (coding, compressed) in cases {
            assert_eq!(
                decompress(coding, &compressed, data.len()).unwrap(),
                data,
                "{coding}"
            );
            let err = decompress(coding, &compressed, data.len() - 1).unwrap_err();
            assert!(
                matches!(err, GatewayError::PayloadTooLarge { what: TooLarge::Decompressed(c), .. } if c == coding),
                "{coding}: {err}"
            );
        }
    }

    #[test]
    fn concatenated_gzip_members_are_read() {
        let mut both = gzip(b"a 1\n");
        both.extend(gzip(b"b 2\n"));
        assert_eq!(
            decompress(ContentCoding::Gzip, &both, 100).unwrap(),
            "a 1\nb 2\n"
        );
    }

    #[test]
    #[cfg(all(feature = "zstd", feature = "snappy"))]
    fn garbage_is_a_decompress_error() {
        for coding in [
            ContentCoding::Gzip,
            ContentCoding::Deflate,
            ContentCoding::Zstd,
            ContentCoding::Snappy,
        ] {
            let err = decompress(coding, b"definitely not compressed", 100).unwrap_err();
            assert!(
                matches!(err, GatewayError::Decompress { .. }),
                "{coding}: {err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid {coding} body: ")),
                "{err}"
            );
        }
        let mut trailing = gzip(b"a 1\n");
        trailing.extend_from_slice(b"junk");
        assert!(decompress(ContentCoding::Gzip, &trailing, 100).is_err());
        let mut truncated = gzip(b"a 1\n");
        truncated.truncate(truncated.len() - 3);
        assert!(decompress(ContentCoding::Gzip, &truncated, 100).is_err());
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 10_000, "{}", bomb.len());
        let err = decompress(ContentCoding::Gzip, &bomb, 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gzip-decompressed request body exceeds the limit of 1048576 bytes"
        );
    }

    #[test]
    #[cfg(all(feature = "zstd", feature = "snappy"))]
    fn header_parsing() {
        let parse = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(CONTENT_ENCODING, v.parse().unwrap());
            }
            content_coding(&h)
        };
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["identity"]).unwrap(), None);
        assert_eq!(parse(&["GZIP"]).unwrap(), Some(ContentCoding::Gzip));
        assert_eq!(parse(&["x-gzip"]).unwrap(), Some(ContentCoding::Gzip));
        assert_eq!(
            parse(&["identity, zstd"]).unwrap(),
            Some(ContentCoding::Zstd)
        );
        assert_eq!(parse(&["snappy"]).unwrap(), Some(ContentCoding::Snappy));
        assert_eq!(parse(&["deflate"]).unwrap(), Some(ContentCoding::Deflate));
        let err = parse(&["br"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported content encoding \"br\": use gzip, deflate, zstd or snappy"
        );
        assert!(parse(&["gzip, gzip"]).is_err());
        assert!(parse(&["gzip", "zstd"]).is_err());
    }

    #[test]
    #[cfg(feature = "zstd")]
    fn window_log() {
        assert_eq!(window_log_max(1_024_000), 23);
        assert_eq!(window_log_max(64 << 20), 26);
        assert_eq!(window_log_max(usize::MAX), 31);
    }

    #[test]
    #[cfg(not(all(feature = "zstd", feature = "snappy")))]
    fn codings_left_out_of_the_build_are_unsupported() {
        let mut h = HeaderMap::new();
        for coding in [ContentCoding::Zstd, ContentCoding::Snappy] {
            if supported(coding) {
                continue;
            }
            h.insert(CONTENT_ENCODING, coding.name().parse().unwrap());
            let err = content_coding(&h).unwrap_err();
            assert_eq!(
                err.status(),
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{coding}"
            );
        }
    }

    #[test]
    fn one_chunk_is_not_copied() {
        let mut input = Input::default();
        let data = Bytes::from_static(b"abc");
        input.push(data.clone());
        assert_eq!(input.as_slice().as_ptr(), data.as_ptr());
        input.push(Bytes::from_static(b"de"));
        assert_eq!(input.as_slice(), b"abcde");
        assert_eq!(input.len(), 5);
    }
}
