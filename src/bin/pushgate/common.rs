//! What the subcommands share: logging setup and duration options.

use std::io::IsTerminal;
use std::path::Path;

use pushgate::client::HttpClient;

use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG`, else by `default_filter`.
pub fn init_logging(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

pub use pushgate::time::parse_duration;

/// `USER:PASSWORD` (the user is what comes before the first `:`).
pub fn parse_basic_auth(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, password)) => Ok((user.to_owned(), password.to_owned())),
        // Not the value itself: it may be a password.
        None => Err("expected USER:PASSWORD, with a `:`".into()),
    }
}

/// An HTTP client trusting the extra roots in `ca` (PEM) and presenting
/// `identity` (certificate chain and key, PEM) for mutual TLS; `flags`
/// names the options in messages (`--ca-cert`, ...).
pub fn tls_client(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
    flags: [&str; 3],
) -> Result<HttpClient, String> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
    };
    let mut builder = HttpClient::builder();
    if let Some(path) = ca {
        builder = builder.root_certificates_pem(read(path, flags[0])?);
    }
    if let Some((cert, key)) = identity {
        builder = builder.identity_pem(read(cert, flags[1])?, read(key, flags[2])?);
    }
    builder
        .build()
        .map_err(|e| format!("TLS configuration: {e}"))
}

/// A size in bytes: a number and an optional unit, `B`, `KiB`, `MiB`,
/// `GiB`, `TiB` (powers of 1024) or `kB`, `MB`, `GB`, `TB` (of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size (as in 64MiB)"))?;
    let unit: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        unit => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?}: use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB"
            ))
        }
    };
    let size = number
        .checked_mul(unit)
        .ok_or_else(|| format!("{s:?} is out of range"))?;
    if size == 0 {
        return Err("the size must be more than 0".into());
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("3KiB"), Ok(3072));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1.5GiB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999TiB")
            .unwrap_err()
            .contains("out of range"));
    }
}
