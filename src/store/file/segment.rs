//! Segment files: names, listing, and recovery of the newest one.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::frame::{self, Parsed};
use super::FileStoreError;

/// The suffix of segment files.
const SUFFIX: &str = ".seg";

/// `<first sequence number, 20 digits>.seg`: names sort as numbers do.
pub(super) fn name(first: u64) -> String {
    format!("{first:020}{SUFFIX}")
}

/// The segments in `dir`, oldest first, by first sequence number. Other
/// files are left alone.
pub(super) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, FileStoreError> {
    let mut segments = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| FileStoreError::io("reading directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FileStoreError::io("reading directory", dir, e))?;
        let file_name = entry.file_name();
        let Some(first) = file_name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .filter(|n| n.len() == 20)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        segments.push((first, entry.path()));
    }
    segments.sort_unstable_by_key(|&(first, _)| first);
    Ok(segments)
}

/// Makes a new, empty segment, durably (the directory entry too).
pub(super) fn create(dir: &Path, first: u64) -> Result<(File, PathBuf), FileStoreError> {
    let path = dir.join(name(first));
    let file = OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| FileStoreError::io("creating", &path, e))?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// Makes a created or removed file's directory entry durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), FileStoreError> {
    // Directories cannot be opened as files everywhere; where they can
    // (Unix), fsync of the directory is what makes a new name durable.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FileStoreError::io("syncing directory", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// What recovery found in a segment.
#[derive(Debug)]
pub(super) struct Recovered {
    /// Bytes of whole records, where the next one goes.
    pub len: u64,
    /// How many whole records.
    pub records: u64,
}

/// Scans the segment at `path` (whose first record is `first`), keeps
/// every whole record and cuts off a torn tail: an incomplete or corrupt
/// record that no good record follows, as a crash mid-write leaves. A
/// corrupt record that a good one follows is an error, never skipped.
pub(super) fn recover(path: &Path, first: u64) -> Result<Recovered, FileStoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| FileStoreError::io("opening", path, e))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| FileStoreError::io("reading", path, e))?;
    let mut offset = 0;
    let mut records = 0;
    while offset < buf.len() {
        let reason = match frame::parse(&buf[offset..]) {
            Parsed::Record(len) => {
                let seq = u64::from_le_bytes(
                    buf[offset + frame::HEADER..offset + frame::HEADER + 8]
                        .try_into()
                        .expect("8 bytes"),
                );
                if seq != first + records {
                    return Err(FileStoreError::corrupt(
                        path,
                        offset as u64,
                        format!("record {seq} where record {} belongs", first + records),
                    ));
                }
                offset += len;
                records += 1;
                continue;
            }
            Parsed::Incomplete => "incomplete record",
            Parsed::Bad(reason) => reason,
        };
        if frame::good_record_after(&buf[offset..]) {
            return Err(FileStoreError::corrupt(path, offset as u64, reason));
        }
        tracing::warn!(
            segment = %path.display(),
            offset,
            dropped_bytes = buf.len() - offset,
            reason,
            "file store: cutting off a torn tail (a write cut short by a crash)",
        );
        file.set_len(offset as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| FileStoreError::io("truncating", path, e))?;
        break;
    }
    Ok(Recovered {
        len: offset as u64,
        records,
    })
}
