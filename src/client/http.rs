//! [`HttpClient`]: the default client of the pusher and the forwarding stores.

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower::Service;

#[cfg(feature = "rustls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "rustls"))]
type Connector = HttpConnector;

/// How long connecting may take by default, TLS handshake aside.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default client of the pusher and of the stores that forward: a
/// `tower::Service<http::Request<Full<Bytes>>>` over hyper-util's pooled
/// client. Cloning shares the connection pool.
///
/// It speaks HTTP/1.1 and HTTP/2, and with the `rustls` feature (on by
/// default) HTTPS too: rustls with the *ring* provider, no OpenSSL.
///
/// With the `rustls` feature it trusts the Mozilla roots bundled
/// by `webpki-roots` and any roots added as PEM (for a private CA, or the
/// system's bundle, e.g. `/etc/ssl/certs/ca-certificates.crt`), and can
/// present a client certificate for mutual TLS. HTTPS connections offer
/// HTTP/2 and HTTP/1.1 by ALPN; plain HTTP uses HTTP/1.1.
///
/// ```no_run
/// use pushgate::push::{HttpClient, Pusher};
/// use pushgate::model::MetricFamily;
///
/// # #[cfg(not(all(feature = "rustls", feature = "push")))] fn main() {}
/// # #[cfg(all(feature = "rustls", feature = "push"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = HttpClient::builder()
///     .root_certificates_pem(std::fs::read("ca.pem")?)
///     .identity_pem(std::fs::read("client.pem")?, std::fs::read("client.key")?)
///     .build()?;
/// let gatherer = || Ok::<_, std::io::Error>(Vec::<MetricFamily>::new());
/// let pusher = Pusher::builder("https://gateway.example:9091", gatherer)
///     .job("backup")
///     .client(client)
///     .build()?;
/// # let _ = pusher;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<Connector, Full<Bytes>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl Default for HttpClient {
    fn default() -> HttpClient {
        HttpClient::new()
    }
}

impl HttpClient {
    /// A client with the default configuration: HTTP, and HTTPS trusting
    /// the webpki roots with the `rustls` feature.
    pub fn new() -> HttpClient {
        HttpClient::builder()
            .build()
            .expect("the default client configuration has roots and no identity to fail on")
    }

    /// A builder, to add roots, a client certificate or timeouts.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            #[cfg(feature = "rustls")]
            tls: TlsOptions {
                webpki_roots: true,
                roots_pem: Vec::new(),
                identity_pem: None,
            },
        }
    }
}

impl Service<Request<Full<Bytes>>> for HttpClient {
    type Response = Response<Incoming>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Service::<Request<Full<Bytes>>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> ResponseFuture {
        self.inner.call(request)
    }
}

/// Configures an [`HttpClient`]; from [`HttpClient::builder`].
#[must_use]
#[derive(Clone)]
pub struct HttpClientBuilder {
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    #[cfg(feature = "rustls")]
    tls: TlsOptions,
}

#[cfg(feature = "rustls")]
#[derive(Clone)]
struct TlsOptions {
    webpki_roots: bool,
    roots_pem: Vec<Vec<u8>>,
    identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HttpClientBuilder");
        d.field("connect_timeout", &self.connect_timeout)
            .field("pool_idle_timeout", &self.pool_idle_timeout);
        #[cfg(feature = "rustls")]
        d.field("webpki_roots", &self.tls.webpki_roots)
            .field("roots_pem", &self.tls.roots_pem.len())
            // Never the key.
            .field("identity", &self.tls.identity_pem.is_some());
        d.finish()
    }
}

/// Why [`HttpClientBuilder::build`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientBuildError {
    /// A root certificate PEM is unreadable or holds no certificate.
    #[error("invalid root certificate PEM: {0}")]
    RootCertificate(String),
    /// No root is trusted: webpki roots off and none added.
    #[error("no trusted root certificates: add some, or keep the webpki roots")]
    NoRoots,
    /// The client certificate chain or key is unreadable, or they do not
    /// match.
    #[error("invalid client identity: {0}")]
    Identity(String),
}

impl HttpClientBuilder {
    /// How long a TCP connect may take (5 s by default; `None`: no limit
    /// but the pusher's timeout).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> HttpClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// How long an idle connection is kept for the next push (90 s by
    /// default; `None`: as long as the server keeps it). A reporter that
    /// pushes less often than this opens a connection each time.
    pub fn pool_idle_timeout(mut self, timeout: Option<Duration>) -> HttpClientBuilder {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Also trusts every certificate in `pem` (one or more `CERTIFICATE`
    /// blocks), for a gateway behind a private CA.
    #[cfg(feature = "rustls")]
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> HttpClientBuilder {
        self.tls.roots_pem.push(pem.into());
        self
    }

    /// Whether to trust the Mozilla roots of `webpki-roots` (yes by
    /// default). Without them, only roots added with
    /// [`root_certificates_pem`](Self::root_certificates_pem) are trusted.
    #[cfg(feature = "rustls")]
    pub fn webpki_roots(mut self, trust: bool) -> HttpClientBuilder {
        self.tls.webpki_roots = trust;
        self
    }

    /// Presents a client certificate (mutual TLS): `cert_chain_pem` holds
    /// the certificate then any intermediates, `key_pem` its private key
    /// (PKCS#8, PKCS#1 or SEC1).
    #[cfg(feature = "rustls")]
    pub fn identity_pem(
        mut self,
        cert_chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> HttpClientBuilder {
        self.tls.identity_pem = Some((cert_chain_pem.into(), key_pem.into()));
        self
    }

    /// The client.
    pub fn build(self) -> Result<HttpClient, ClientBuildError> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(self.connect_timeout);
        // Pushes are written at once: do not hold them back.
        http.set_nodelay(true);
        #[cfg(feature = "rustls")]
        let connector = {
            // The TLS connector below enforces the scheme.
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls_config(&self.tls)?)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http)
        };
        #[cfg(not(feature = "rustls"))]
        let connector = http;
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .build(connector);
        Ok(HttpClient { inner })
    }
}

#[cfg(feature = "rustls")]
fn tls_config(options: &TlsOptions) -> Result<rustls::ClientConfig, ClientBuildError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let mut roots = rustls::RootCertStore::empty();
    if options.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for pem in &options.roots_pem {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClientBuildError::RootCertificate(e.to_string()))?;
        if certs.is_empty() {
            return Err(ClientBuildError::RootCertificate(
                "no CERTIFICATE block".into(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ClientBuildError::RootCertificate(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(ClientBuildError::NoRoots);
    }
    // The provider is named rather than taken from the process default, so
    // another crate enabling aws-lc-rs cannot make this ambiguous.
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots);
    match &options.identity_pem {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key)) => {
            let identity = |e: &dyn fmt::Display| ClientBuildError::Identity(e.to_string());
            let chain = CertificateDer::pem_slice_iter(chain)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| identity(&e))?;
            if chain.is_empty() {
                return Err(identity(&"no CERTIFICATE block in the chain"));
            }
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| identity(&e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| identity(&e))
        }
    }
}

#[cfg(all(test, feature = "rustls"))]
mod tests {
    use super::*;

    #[test]
    fn default_client_builds() {
        let _ = HttpClient::new();
        let _ = HttpClient::builder()
            .connect_timeout(None)
            .pool_idle_timeout(None)
            .build()
            .unwrap();
    }

    #[test]
    fn bad_tls_material_is_refused() {
        let err = HttpClient::builder()
            .root_certificates_pem("not a pem")
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ClientBuildError::RootCertificate("no CERTIFICATE block".into())
        );
        let err = HttpClient::builder()
            .webpki_roots(false)
            .build()
            .unwrap_err();
        assert_eq!(err, ClientBuildError::NoRoots);
        let err = HttpClient::builder()
            .identity_pem("", "")
            .build()
            .unwrap_err();
        assert!(matches!(err, ClientBuildError::Identity(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "invalid client identity: no CERTIFICATE block in the chain"
        );
    }
}
