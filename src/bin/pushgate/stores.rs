//! The stores of `pushgate serve`: parsing `--store` values and opening
//! them, with the file store's options, fan-out and the write-ahead log.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use pushgate::client::HttpClient;
use pushgate::store::{
    BoxStore, Encoded, Encoder, FanOut, FileStore, Forwarder, InfluxStore, LogStore, MemoryStore,
    RemoteWriteStore, SyncPolicy,
};

use crate::common::{parse_basic_auth, parse_duration, tls_client};

/// The default of `--store`.
pub const DEFAULT_STORE: &str = "file:./pushgate-data";

/// One `--store` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Log,
    Memory(Option<usize>),
    File(PathBuf),
    Influx(Influx),
    RemoteWrite(String),
}

/// Where `influxdb:URL?...` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Influx {
    /// The server's URL, without the query.
    url: String,
    api: InfluxApi,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum InfluxApi {
    V1 { db: String, rp: Option<String> },
    V2 { org: String, bucket: String },
}

impl FromStr for Influx {
    type Err = String;

    fn from_str(s: &str) -> Result<Influx, String> {
        let usage = "influxdb:URL?db=DB[&rp=RP] (1.x) or influxdb:URL?org=ORG&bucket=BUCKET (2.x)";
        let (url, query) = s
            .split_once('?')
            .ok_or_else(|| format!("expected {usage}"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "expected an http or https URL in {usage}, not {url:?}"
            ));
        }
        let mut fields = std::collections::BTreeMap::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !["db", "rp", "org", "bucket"].contains(&key) {
                return Err(format!("unknown {key:?} in {s:?}: expected {usage}"));
            }
            if value.is_empty() {
                return Err(format!("{key} is empty in {s:?}"));
            }
            fields.insert(key, value.to_owned());
        }
        let mut take = |key| fields.remove(key);
        let api = match (take("db"), take("rp"), take("org"), take("bucket")) {
            (Some(db), rp, None, None) => InfluxApi::V1 { db, rp },
            (None, None, Some(org), Some(bucket)) => InfluxApi::V2 { org, bucket },
            _ => return Err(format!("expected {usage}, not {s:?}")),
        };
        Ok(Influx {
            url: url.to_owned(),
            api,
        })
    }
}

impl fmt::Display for Influx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.api {
            InfluxApi::V1 { db, rp } => {
                write!(f, "{}?db={db}", self.url)?;
                rp.as_ref().map_or(Ok(()), |rp| write!(f, "&rp={rp}"))
            }
            InfluxApi::V2 { org, bucket } => write!(f, "{}?org={org}&bucket={bucket}", self.url),
        }
    }
}

/// Options of the stores that send to a server (InfluxDB, remote write).
#[derive(Clone, Debug, Default, Args)]
pub struct RemoteArgs {
    /// Also trust the CA certificates in this PEM file when a store sends
    /// over HTTPS (the Mozilla roots are trusted too).
    #[arg(long, env = "PUSHGATE_REMOTE_CA_CERT", value_name = "FILE")]
    remote_ca_cert: Option<PathBuf>,

    /// Client certificate (PEM, chain first) that stores present over
    /// HTTPS, for mutual TLS; needs --remote-client-key.
    #[arg(
        long,
        env = "PUSHGATE_REMOTE_CLIENT_CERT",
        value_name = "FILE",
        requires = "remote_client_key"
    )]
    remote_client_cert: Option<PathBuf>,

    /// Private key (PEM) of --remote-client-cert.
    #[arg(
        long,
        env = "PUSHGATE_REMOTE_CLIENT_KEY",
        value_name = "FILE",
        requires = "remote_client_cert"
    )]
    remote_client_key: Option<PathBuf>,

    /// How long a store that sends keeps retrying a write (connection
    /// errors, 429, 5xx) before the push gets 503.
    ///
    /// Keep it under --timeout, or the gateway answers 504 first.
    #[arg(long, env = "PUSHGATE_REMOTE_RETRY_FOR", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    remote_retry_for: Duration,

    /// Bearer token for remote-write stores (Authorization: Bearer).
    #[arg(
        long,
        env = "PUSHGATE_REMOTE_WRITE_BEARER_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        conflicts_with = "remote_write_basic_auth"
    )]
    remote_write_bearer_token: Option<String>,

    /// USER:PASSWORD for remote-write stores (Authorization: Basic).
    #[arg(long, env = "PUSHGATE_REMOTE_WRITE_BASIC_AUTH", value_name = "USER:PASSWORD", hide_env_values = true, value_parser = parse_basic_auth)]
    remote_write_basic_auth: Option<(String, String)>,

    /// A header for remote-write stores, as NAME=VALUE (repeatable), such
    /// as X-Scope-OrgID=tenant for Mimir or Cortex.
    #[arg(long = "remote-write-header", value_name = "NAME=VALUE", value_parser = parse_header)]
    remote_write_headers: Vec<(String, String)>,

    /// InfluxDB 2.x API token (influxdb:URL?org=..&bucket=..).
    #[arg(
        long,
        env = "PUSHGATE_INFLUX_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    influx_token: Option<String>,

    /// InfluxDB 1.x user name (basic auth); the password is
    /// --influx-password.
    #[arg(long, env = "PUSHGATE_INFLUX_USERNAME", value_name = "USER")]
    influx_username: Option<String>,

    /// InfluxDB 1.x password (better given in the environment).
    #[arg(
        long,
        env = "PUSHGATE_INFLUX_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    influx_password: Option<String>,
}

impl RemoteArgs {
    /// The HTTP client of the stores that send, with the TLS options.
    fn client(&self) -> Result<HttpClient, String> {
        let identity = self
            .remote_client_cert
            .as_deref()
            .zip(self.remote_client_key.as_deref());
        tls_client(
            self.remote_ca_cert.as_deref(),
            identity,
            [
                "--remote-ca-cert",
                "--remote-client-cert",
                "--remote-client-key",
            ],
        )
    }

    fn remote_write(&self, url: &str, client: HttpClient) -> Result<RemoteWriteStore, String> {
        let mut builder = RemoteWriteStore::builder(url)
            .client(client)
            .retry_for(self.remote_retry_for);
        if let Some(token) = &self.remote_write_bearer_token {
            builder = builder.bearer_token(token);
        }
        if let Some((user, password)) = &self.remote_write_basic_auth {
            builder = builder.basic_auth(user, password);
        }
        for (name, value) in &self.remote_write_headers {
            builder = builder.header(name, value);
        }
        builder
            .build()
            .map_err(|e| format!("remote-write:{url}: {e}"))
    }

    fn influx(&self, influx: &Influx, client: HttpClient) -> Result<InfluxStore, String> {
        let builder = match &influx.api {
            InfluxApi::V1 { db, rp } => {
                let mut builder = InfluxStore::v1(influx.url.clone(), db.clone());
                if let Some(rp) = rp {
                    builder = builder.retention_policy(rp.clone());
                }
                if let Some(user) = &self.influx_username {
                    let password = self.influx_password.clone().unwrap_or_default();
                    builder = builder.credentials(user.clone(), password);
                }
                builder
            }
            InfluxApi::V2 { org, bucket } => {
                let token = self.influx_token.clone().ok_or_else(|| {
                    format!("influxdb:{influx} (2.x) needs --influx-token or PUSHGATE_INFLUX_TOKEN")
                })?;
                InfluxStore::v2(influx.url.clone(), org.clone(), bucket.clone(), token)
            }
        };
        builder
            .client(client)
            .retry_for(self.remote_retry_for)
            .build()
            .map_err(|e| format!("influxdb:{influx}: {e}"))
    }
}

impl FromStr for StoreKind {
    type Err = String;

    fn from_str(s: &str) -> Result<StoreKind, String> {
        match s {
            "log" => Ok(StoreKind::Log),
            "memory" => Ok(StoreKind::Memory(None)),
            _ => {
                if let Some(n) = s.strip_prefix("memory:") {
                    n.parse().map(|n| StoreKind::Memory(Some(n))).map_err(|_| {
                        format!("memory:N needs a number of pushes to keep, not {n:?}")
                    })
                } else if let Some(url) = s.strip_prefix("remote-write:") {
                    if url.starts_with("http://") || url.starts_with("https://") {
                        Ok(StoreKind::RemoteWrite(url.to_owned()))
                    } else {
                        Err(format!(
                            "remote-write:URL needs an http or https URL, not {url:?}"
                        ))
                    }
                } else if let Some(influx) = s.strip_prefix("influxdb:") {
                    influx.parse().map(StoreKind::Influx)
                } else if let Some(dir) = s.strip_prefix("file:") {
                    if dir.is_empty() {
                        Err("file:DIR needs a directory".into())
                    } else {
                        Ok(StoreKind::File(dir.into()))
                    }
                } else {
                    Err(format!(
                        "expected file:DIR, log, memory, memory:N, remote-write:URL or influxdb:URL?..., not {s:?}"
                    ))
                }
            }
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreKind::Log => f.write_str("log"),
            StoreKind::Memory(None) => f.write_str("memory"),
            StoreKind::Memory(Some(n)) => write!(f, "memory:{n}"),
            StoreKind::File(dir) => write!(f, "file:{}", dir.display()),
            StoreKind::Influx(influx) => write!(f, "influxdb:{influx}"),
            StoreKind::RemoteWrite(url) => write!(f, "remote-write:{url}"),
        }
    }
}

/// `--sync`: `always`, `never` or an interval.
pub fn parse_sync(s: &str) -> Result<SyncPolicy, String> {
    match s {
        "always" => Ok(SyncPolicy::Always),
        "never" => Ok(SyncPolicy::Never),
        _ => parse_duration(s)
            .map(SyncPolicy::Every)
            .map_err(|e| format!("expected always, never or an interval such as 100ms: {e}")),
    }
}

/// How file stores (and the write-ahead log) are opened.
#[derive(Clone, Copy, Debug)]
pub struct FileOptions {
    pub sync: SyncPolicy,
    pub segment_size: Option<u64>,
    pub retention_size: Option<u64>,
    pub retention_age: Option<Duration>,
}

impl FileOptions {
    fn open(&self, dir: &Path, encoder: Option<Encoder>) -> Result<FileStore, String> {
        let mut builder = FileStore::builder(dir).sync(self.sync);
        if let Some(encoder) = encoder {
            builder = builder.encoder(encoder);
        }
        if let Some(size) = self.segment_size {
            builder = builder.segment_size(size);
        }
        if let Some(size) = self.retention_size {
            builder = builder.retention_size(size);
        }
        if let Some(age) = self.retention_age {
            builder = builder.retention_age(age);
        }
        builder
            .open()
            .map_err(|e| format!("cannot open the file store in {}: {e}", dir.display()))
    }
}

/// The opened stores: what the gateway writes to, and what must be stopped
/// and closed on shutdown.
pub struct Stores {
    /// What the gateway writes to.
    pub store: BoxStore,
    /// How the log line at start describes it.
    pub description: String,
    files: Vec<FileStore>,
    forwarders: Vec<Forwarder>,
    remote_writes: Vec<RemoteWriteStore>,
}

impl Stores {
    /// Opens `kinds` (the default store if none). With `wal`, the gateway
    /// writes to a file store there and a forwarder per kind delivers to
    /// it; without, to all kinds at once (a fan-out if more than one).
    pub fn open(
        kinds: &[StoreKind],
        wal: Option<&PathBuf>,
        encoder: Option<Encoder>,
        files: FileOptions,
        remote: &RemoteArgs,
    ) -> Result<Stores, String> {
        let default = [DEFAULT_STORE.parse().expect("the default store parses")];
        let kinds = match (kinds.is_empty(), wal) {
            (true, Some(_)) => return Err("--wal needs at least one --store to forward to".into()),
            (true, None) => &default[..],
            (false, _) => kinds,
        };
        if wal.is_some() && encoder == Some(Encoder::Format(pushgate::Format::LineProtocol)) {
            return Err(
                "--wal cannot keep pushes as line protocol, which cannot be read back to forward: \
                 choose another --format"
                    .into(),
            );
        }
        let mut stores = Stores {
            store: BoxStore::new(FanOut::new()),
            description: String::new(),
            files: Vec::new(),
            forwarders: Vec::new(),
            remote_writes: Vec::new(),
        };
        let mut opened = Vec::with_capacity(kinds.len());
        for kind in kinds {
            // Behind a WAL, a target's encoder is its own: --format is the
            // log's.
            let encoder = if wal.is_some() { None } else { encoder };
            opened.push((kind, stores.open_one(kind, encoder, files, remote)?));
        }
        match wal {
            Some(dir) => {
                let log = files.open(dir, encoder)?;
                for (kind, target) in opened {
                    let forwarder = Forwarder::builder(&log, forwarder_name(kind), target)
                        .start()
                        .map_err(|e| format!("cannot start forwarding to {kind}: {e}"))?;
                    stores.forwarders.push(forwarder);
                }
                stores.description = format!(
                    "file:{} as a write-ahead log, forwarding to {}",
                    dir.display(),
                    list(kinds, encoder)
                );
                stores.store = BoxStore::new(log.clone());
                stores.files.push(log);
            }
            None if opened.len() == 1 => {
                stores.description = list(kinds, encoder);
                stores.store = opened.pop().expect("one store").1;
            }
            None => {
                stores.description = format!("all of {}", list(kinds, encoder));
                let fan_out = opened.into_iter().fold(FanOut::new(), |f, (kind, store)| {
                    f.store(kind.to_string(), store)
                });
                stores.store = BoxStore::new(fan_out);
            }
        }
        Ok(stores)
    }

    fn open_one(
        &mut self,
        kind: &StoreKind,
        encoder: Option<Encoder>,
        files: FileOptions,
        remote: &RemoteArgs,
    ) -> Result<BoxStore, String> {
        Ok(match kind {
            StoreKind::Log => {
                BoxStore::new(Encoded::new(LogStore::new(), encoder.unwrap_or_default()))
            }
            StoreKind::File(dir) => {
                let store = files.open(dir, encoder)?;
                self.files.push(store.clone());
                BoxStore::new(store)
            }
            StoreKind::Memory(None) => BoxStore::new(MemoryStore::new()),
            StoreKind::Memory(Some(n)) => BoxStore::new(MemoryStore::with_capacity_limit(*n)),
            StoreKind::Influx(influx) => BoxStore::new(remote.influx(influx, remote.client()?)?),
            StoreKind::RemoteWrite(url) => {
                let store = remote.remote_write(url, remote.client()?)?;
                self.remote_writes.push(store.clone());
                BoxStore::new(store)
            }
        })
    }

    /// Stops the forwarders (each writes its position), then closes the
    /// remote-write stores (each sends what is queued) and the file stores
    /// (each syncs).
    pub async fn shutdown(self) {
        for forwarder in self.forwarders {
            forwarder.stop().await;
        }
        for remote in self.remote_writes {
            remote.close().await;
        }
        for file in self.files {
            file.close().await;
        }
    }
}

/// `NAME=VALUE`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or("expected NAME=VALUE")?;
    let name = name.trim();
    http::HeaderName::try_from(name).map_err(|_| format!("{name:?} is not a header name"))?;
    http::HeaderValue::try_from(value.trim())
        .map_err(|_| format!("the value of {name} is not a header value"))?;
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// How the start-up log names the stores.
fn list(kinds: &[StoreKind], encoder: Option<Encoder>) -> String {
    kinds
        .iter()
        .map(|kind| match kind {
            StoreKind::Log => format!("log as {}", encoder.unwrap_or_default()),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A forwarder's name from its target: stable across restarts, so that it
/// finds its position again, and a file name.
fn forwarder_name(kind: &StoreKind) -> String {
    kind.to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores() {
        assert_eq!("log".parse(), Ok(StoreKind::Log));
        assert_eq!("memory".parse(), Ok(StoreKind::Memory(None)));
        assert_eq!("memory:5".parse(), Ok(StoreKind::Memory(Some(5))));
        assert!("memory:x".parse::<StoreKind>().is_err());
        assert!("disk".parse::<StoreKind>().is_err());
        assert_eq!("file:./data".parse(), Ok(StoreKind::File("./data".into())));
        assert!("file:".parse::<StoreKind>().is_err());
        assert_eq!(StoreKind::File("d".into()).to_string(), "file:d");
        assert_eq!(StoreKind::Memory(Some(5)).to_string(), "memory:5");
        for influx in [
            "influxdb:http://127.0.0.1:8086?db=telemetry",
            "influxdb:https://influx.example/prefix?db=t&rp=week",
            "influxdb:http://127.0.0.1:8086?org=acme&bucket=telemetry",
        ] {
            let kind: StoreKind = influx.parse().unwrap();
            assert_eq!(kind.to_string(), influx);
        }
        assert_eq!(
            "remote-write:http://127.0.0.1:9090/api/v1/write".parse(),
            Ok(StoreKind::RemoteWrite(
                "http://127.0.0.1:9090/api/v1/write".into()
            ))
        );
        for (bad, why) in [
            ("remote-write:127.0.0.1:9090", "needs an http or https URL"),
            ("influxdb:http://h:8086", "expected influxdb:URL?db=DB"),
            ("influxdb:h:8086?db=t", "expected an http or https URL"),
            (
                "influxdb:http://h?db=t&org=o",
                "expected influxdb:URL?db=DB",
            ),
            ("influxdb:http://h?org=o", "expected influxdb:URL?db=DB"),
            ("influxdb:http://h?db=", "db is empty"),
            ("influxdb:http://h?database=t", "unknown \"database\""),
        ] {
            let err = bad.parse::<StoreKind>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn auth_and_headers() {
        assert_eq!(parse_basic_auth("u:p:q"), Ok(("u".into(), "p:q".into())));
        assert!(parse_basic_auth("u").is_err());
        assert_eq!(
            parse_header("X-Scope-OrgID = tenant"),
            Ok(("X-Scope-OrgID".into(), "tenant".into()))
        );
        assert!(parse_header("bad name=x")
            .unwrap_err()
            .contains("not a header name"));
        assert!(parse_header("novalue").is_err());
    }

    #[test]
    fn sync_policies() {
        assert_eq!(parse_sync("always"), Ok(SyncPolicy::Always));
        assert_eq!(parse_sync("never"), Ok(SyncPolicy::Never));
        assert_eq!(
            parse_sync("100ms"),
            Ok(SyncPolicy::Every(Duration::from_millis(100)))
        );
        assert!(parse_sync("sometimes")
            .unwrap_err()
            .contains("expected always, never"));
    }

    #[test]
    fn forwarder_names_are_file_names() {
        assert_eq!(
            forwarder_name(&StoreKind::File("./a/b".into())),
            "file_._a_b"
        );
        assert_eq!(forwarder_name(&StoreKind::Memory(Some(3))), "memory_3");
    }
}
