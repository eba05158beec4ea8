//! Snapshots of a [`GroupStore`]: every group in one file, written
//! atomically, so that a gateway that keeps groups survives a restart.
//!
//! The file is `pushgate-groups 1\n`, then one record per group (a
//! little-endian `u32` length and a JSON header: grouping labels, push,
//! failure and expiry times, each family's push time; a `u32` length and
//! the families as delimited protobuf), then the CRC-32C of all that. A
//! file that does not check out is refused whole: a store is never loaded
//! in part.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{count_types, series_key, sorted_labels, GroupStore, State, StoredFamily};
use crate::codec::{self, Limits};
use crate::model::LabelPair;
use crate::Format;

const MAGIC: &[u8] = b"pushgate-groups 1\n";

/// Why a snapshot could not be written or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS's reason.
        #[source]
        source: io::Error,
    },
    /// The file is not a whole snapshot of this version.
    #[error("{} is not a valid snapshot: {reason}", path.display())]
    Corrupt {
        /// The file (empty for bytes given to [`GroupStore::restore`]).
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Header {
    labels: Vec<(String, String)>,
    pushed: Option<u64>,
    failed: Option<u64>,
    expires: Option<u64>,
    /// The push time of each family, in the order of the record's families.
    families: Vec<u64>,
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn time(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

impl GroupStore {
    /// Every group, as the bytes of a snapshot file.
    pub fn snapshot(&self) -> Vec<u8> {
        let state = self.view();
        let mut out = MAGIC.to_vec();
        let mut body = Vec::new();
        for group in state.groups.values() {
            let header = Header {
                labels: group
                    .labels
                    .iter()
                    .map(|l| (l.name().to_owned(), l.value().to_owned()))
                    .collect(),
                pushed: group.pushed.map(nanos),
                failed: group.failed.map(nanos),
                expires: group.expires.map(nanos),
                families: group.families.values().map(|f| nanos(f.pushed)).collect(),
            };
            let header = serde_json::to_vec(&header).expect("a header serialises");
            body.clear();
            for stored in group.families.values() {
                codec::encode(
                    Format::Protobuf,
                    std::slice::from_ref(&stored.family),
                    &mut body,
                )
                .expect("protobuf encodes every family");
            }
            for part in [&header, &body] {
                let len = u32::try_from(part.len()).expect("a group under 4 GiB");
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(part);
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Writes a [`snapshot`](Self::snapshot) to `path` atomically (a
    /// temporary file beside it, synced, renamed over it, the directory
    /// synced): a crash leaves the old snapshot or the new one, whole.
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let bytes = self.snapshot();
        super::super::atomic::write(path, &bytes).map_err(|(action, source)| SnapshotError::Io {
            action,
            path: path.to_owned(),
            source,
        })
    }

    /// Replaces every group with those of the snapshot at `path`; answers
    /// how many there are, or `None` (and changes nothing) when there is no
    /// file.
    pub fn load(&self, path: &Path) -> Result<Option<usize>, SnapshotError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SnapshotError::Io {
                    action: "reading",
                    path: path.to_owned(),
                    source,
                })
            }
        };
        self.restore(&bytes).map(Some).map_err(|e| match e {
            SnapshotError::Corrupt { reason, .. } => SnapshotError::Corrupt {
                path: path.to_owned(),
                reason,
            },
            other => other,
        })
    }

    /// Replaces every group with those of a [`snapshot`](Self::snapshot);
    /// answers how many there are. Nothing changes if the bytes are not a
    /// whole, consistent snapshot.
    pub fn restore(&self, bytes: &[u8]) -> Result<usize, SnapshotError> {
        let state = parse(bytes).map_err(|reason| SnapshotError::Corrupt {
            path: PathBuf::new(),
            reason,
        })?;
        let groups = state.groups.len();
        let mut current = self.lock();
        let generation = current.generation + 1;
        *current = State {
            generation,
            ..state
        };
        Ok(groups)
    }
}

fn parse(bytes: &[u8]) -> Result<State, String> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return Err("it does not start with `pushgate-groups 1`".into());
    };
    let Some(split) = bytes.len().checked_sub(4).filter(|&n| n >= MAGIC.len()) else {
        return Err("it is cut short".into());
    };
    let (content, crc) = bytes.split_at(split);
    let crc = u32::from_le_bytes(crc.try_into().expect("four bytes"));
    if crc32c::crc32c(content) != crc {
        return Err("its checksum does not match (a torn or changed file)".into());
    }
    let mut rest = &rest[..rest.len() - 4];
    let mut state = State::default();
    let mut index = 0;
    while !rest.is_empty() {
        let at = format!("group {index}");
        let header = take(&mut rest).ok_or_else(|| format!("{at}: header cut short"))?;
        let body = take(&mut rest).ok_or_else(|| format!("{at}: families cut short"))?;
        let header: Header =
            serde_json::from_slice(header).map_err(|e| format!("{at}: header: {e}"))?;
        let limits = Limits {
            max_bytes: body.len().max(1),
        };
        let families = codec::decode(
            Format::Protobuf,
            bytes::Bytes::copy_from_slice(body),
            &limits,
        )
        .map_err(|e| format!("{at}: families: {e}"))?;
        if families.len() != header.families.len() {
            return Err(format!(
                "{at}: {} families but {} push times",
                families.len(),
                header.families.len()
            ));
        }
        let labels: Vec<LabelPair> = header
            .labels
            .iter()
            .map(|(n, v)| LabelPair::new(n.as_str(), v.as_str()))
            .collect();
        let key = sorted_labels(&labels);
        let mut group = state.new_group(labels);
        let mut stored = BTreeMap::new();
        let mut buf = Vec::new();
        for (mut family, pushed) in families.into_iter().zip(header.families) {
            let name = family.name().to_owned();
            for metric in &mut family.metric {
                // Stored sorted; the index relies on it.
                metric.label.sort_by(|a, b| a.name().cmp(b.name()));
                let one = series_key(&mut buf, &name, &metric.label);
                if state.series.insert(one.into(), (group.id, 0)).is_some() {
                    return Err(format!("{at}: series {name} is in two groups"));
                }
            }
            if state
                .types
                .get(&name)
                .is_some_and(|&(kind, _)| kind != family.metric_type())
            {
                return Err(format!("{at}: family {name} has two types"));
            }
            stored.insert(
                name,
                StoredFamily {
                    family,
                    pushed: time(pushed),
                },
            );
        }
        let expires = header.expires.map(time);
        if let Some(at) = expires {
            state.expiries.insert((at, key.clone()));
        }
        count_types(&mut state.types, stored.values().map(|f| &f.family));
        group.families = stored;
        group.pushed = header.pushed.map(time);
        group.failed = header.failed.map(time);
        group.expires = expires;
        if state.groups.insert(key, group).is_some() {
            return Err(format!("{at}: a group twice"));
        }
        index += 1;
    }
    Ok(state)
}

/// The next length-prefixed part of `rest`.
fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let part = rest.get(4..4 + len)?;
    *rest = &rest[4 + len..];
    Some(part)
}
