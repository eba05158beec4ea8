//! [`Reader`]: the records of a file store's log, in order.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::watch;

use super::frame::{self, Parsed};
use super::{segment, FileStoreError, Position};
use crate::codec::{self, DecodeError, Limits};
use crate::format::Format;
use crate::grouping::PushMethod;
use crate::model::{LabelPair, MetricFamily};

/// One stored push, as a [`Reader`] gives it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// Where it is in the log.
    pub position: Position,
    /// When the gateway received the push.
    pub received: SystemTime,
    /// `POST`, `PUT` or `DELETE` (whose payload is empty).
    pub method: PushMethod,
    /// The grouping key, `job` first.
    pub grouping: Vec<LabelPair>,
    /// The format of `payload`: the store's [`Encoder`](crate::store::Encoder)'s.
    pub format: Format,
    /// The families, encoded in `format`.
    pub payload: Bytes,
}

impl Record {
    /// The families, decoded from the payload (which shares its memory
    /// with them). Line protocol cannot be read back.
    pub fn families(&self) -> Result<Vec<MetricFamily>, DecodeError> {
        // The payload is in memory already: bound a record by its size.
        let limits = Limits {
            max_bytes: self.payload.len(),
        };
        codec::decode(self.format, self.payload.clone(), &limits)
    }
}

/// Reads a file store's records in order, from any [`Position`], across
/// segments.
///
/// [`Reader::open`] reads a directory on its own (another process may be
/// writing it): it gives every whole record on disk and treats an
/// incomplete or bad record at the very end of the newest segment as the
/// end of the log for now. [`FileStore::reader`](super::FileStore::reader)
/// gives a reader that stops at the last record the store acknowledged.
///
/// At the end, [`next_record`](Reader::next_record) answers `Ok(None)`
/// (and the iterator `None`); call it again later for the records
/// appended since: a reader follows a log by polling, or, beside the
/// store, after [`FileStore::wait_for`](super::FileStore::wait_for). A
/// damaged record is an error ([`FileStoreError::Corrupt`], with its
/// segment and offset), answered again on each call: it is never skipped.
/// A segment that retention deleted before it was read is skipped, with a
/// warning, and [`Record::position`] shows the gap.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::model::LabelPair;
/// use pushgate::store::{FileStore, Position, Push, Reader, Store};
///
/// let dir = std::env::temp_dir().join(format!("pushgate-doc-reader-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let store = FileStore::open(&dir).unwrap();
/// for job in ["a", "b", "c"] {
///     store.write(Push::delete(vec![LabelPair::new("job", job)])).await.unwrap();
/// }
/// let mut reader = Reader::open(&dir).unwrap().seek(Position::new(1));
/// let jobs: Vec<String> = reader
///     .by_ref()
///     .map(|r| r.unwrap().grouping[0].value().to_owned())
///     .collect();
/// assert_eq!(jobs, ["b", "c"]);
///
/// // Following: what was appended since.
/// store.write(Push::delete(vec![LabelPair::new("job", "d")])).await.unwrap();
/// assert_eq!(reader.next_record().unwrap().unwrap().position, Position::new(3));
/// assert!(reader.next_record().unwrap().is_none());
/// # store.close().await;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    /// The position of the next record to give.
    next: u64,
    segment: Option<Segment>,
    /// The store's acknowledged end, for a reader beside the store.
    limit: Option<watch::Receiver<u64>>,
    /// Records ahead that abort records take back, to be skipped.
    aborted: Vec<u64>,
}

/// The segment being read.
#[derive(Debug)]
struct Segment {
    first: u64,
    path: PathBuf,
    file: File,
    /// Where `buf` starts in the file.
    offset: u64,
    /// The file from `offset` to its end, as last read.
    buf: Bytes,
    /// The store's acknowledged end before `buf` was read: records below
    /// it in `buf` were acknowledged, so whole and final, when read.
    buf_limit: u64,
}

impl Reader {
    /// A reader of the log in `dir`, from the oldest record kept.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Reader, FileStoreError> {
        let dir = dir.into();
        let next = segment::list(&dir)?.first().map_or(0, |s| s.0);
        Ok(Reader {
            dir,
            next,
            segment: None,
            limit: None,
            aborted: Vec::new(),
        })
    }

    pub(super) fn with_limit(dir: PathBuf, limit: watch::Receiver<u64>) -> Reader {
        let next = segment::list(&dir)
            .ok()
            .and_then(|s| s.first().map(|s| s.0))
            .unwrap_or(0);
        Reader {
            dir,
            next,
            segment: None,
            limit: Some(limit),
            aborted: Vec::new(),
        }
    }

    /// Goes to `position`: the next record given is the one there (or,
    /// if retention deleted it, the oldest kept; if it is not written
    /// yet, the one there once it is).
    #[must_use]
    pub fn seek(mut self, position: Position) -> Reader {
        self.next = position.0;
        self.segment = None;
        self
    }

    /// The position of the next record to read.
    pub fn position(&self) -> Position {
        Position(self.next)
    }

    /// The next record, or `Ok(None)` at the end of the log for now.
    pub fn next_record(&mut self) -> Result<Option<Record>, FileStoreError> {
        loop {
            let limit = self.limit.as_ref().map_or(u64::MAX, |l| *l.borrow());
            if self.next >= limit {
                if let Some(segment) = &mut self.segment {
                    // Past the acknowledged end: what follows may change.
                    segment.buf = Bytes::new();
                }
                return Ok(None);
            }
            let Some(segment) = self.segment.as_mut() else {
                if self.open_segment()? {
                    continue;
                }
                return Ok(None);
            };
            if segment.buf_limit > self.next {
                if let Parsed::Record(len) = frame::parse(&segment.buf) {
                    let offset = segment.offset;
                    let frame = segment.buf.split_to(len);
                    segment.offset += len as u64;
                    if frame::aborted(&frame).is_some() {
                        // Seen by `fill` already; it has a position of its own.
                        self.next = self.next.max(frame::sequence(&frame) + 1);
                        continue;
                    }
                    let record = decode(frame, &segment.path, offset)?;
                    if record.position.0 < self.next {
                        // Before a position sought: skip.
                        continue;
                    }
                    if record.position.0 != self.next {
                        return Err(FileStoreError::corrupt(
                            &segment.path,
                            offset,
                            format!(
                                "record {} where record {} belongs",
                                record.position, self.next
                            ),
                        ));
                    }
                    self.next += 1;
                    if let Some(i) = self.aborted.iter().position(|&a| a == record.position.0) {
                        // Its write was dropped while being written: it
                        // was never acknowledged, so it is not given.
                        self.aborted.swap_remove(i);
                        continue;
                    }
                    return Ok(Some(record));
                }
            }
            // Read afresh: what is buffered may be cut short, or past what
            // was acknowledged when read.
            segment.fill(limit)?;
            note_aborts(&segment.buf, self.next, &mut self.aborted);
            let reason = match frame::parse(&segment.buf) {
                Parsed::Record(_) => continue,
                Parsed::Incomplete => "incomplete record",
                Parsed::Bad(reason) => reason,
            };
            if frame::good_record_after(&segment.buf) {
                return Err(FileStoreError::corrupt(
                    &segment.path,
                    segment.offset,
                    reason,
                ));
            }
            // The end of this segment, or a record being written.
            let Some(newer) = newer_segment(&self.dir, segment.first)? else {
                return Ok(None);
            };
            // A newer segment exists, so this one is closed: read once more.
            segment.fill(limit)?;
            note_aborts(&segment.buf, self.next, &mut self.aborted);
            match frame::parse(&segment.buf) {
                Parsed::Record(_) => continue,
                _ if segment.buf.is_empty() => {}
                Parsed::Incomplete => {
                    return Err(FileStoreError::corrupt(
                        &segment.path,
                        segment.offset,
                        "closed segment ends in an incomplete record",
                    ))
                }
                Parsed::Bad(reason) => {
                    return Err(FileStoreError::corrupt(
                        &segment.path,
                        segment.offset,
                        reason,
                    ))
                }
            }
            if newer > self.next {
                tracing::warn!(
                    dir = %self.dir.display(),
                    from = self.next,
                    to = newer,
                    "file store reader: records deleted before they were read",
                );
                self.next = newer;
            }
            self.segment = None;
        }
    }

    /// Opens the segment holding `next`, or the oldest. `false` if there
    /// is none.
    fn open_segment(&mut self) -> Result<bool, FileStoreError> {
        // Retention may delete a segment between listing and opening.
        for _ in 0..3 {
            let segments = segment::list(&self.dir)?;
            let Some(i) = segments
                .iter()
                .rposition(|s| s.0 <= self.next)
                .or((!segments.is_empty()).then_some(0))
            else {
                return Ok(false);
            };
            let (first, path) = segments[i].clone();
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(FileStoreError::io("opening", &path, e)),
            };
            if first > self.next {
                tracing::debug!(
                    from = self.next,
                    to = first,
                    "file store reader: starting at the oldest record kept"
                );
                self.next = first;
            }
            self.segment = Some(Segment {
                first,
                path,
                file,
                offset: 0,
                buf: Bytes::new(),
                buf_limit: 0,
            });
            return Ok(true);
        }
        Ok(false)
    }
}

impl Segment {
    /// Reads the file from `offset` to its end, noting `limit` (read
    /// before).
    fn fill(&mut self, limit: u64) -> Result<(), FileStoreError> {
        let mut buf = Vec::new();
        self.file
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| self.file.read_to_end(&mut buf))
            .map_err(|e| FileStoreError::io("reading", &self.path, e))?;
        self.buf = buf.into();
        self.buf_limit = limit;
        Ok(())
    }
}

/// Notes in `aborted` the records at or after `next` that abort records
/// among the whole records of `buf` take back. An abort follows the record
/// it takes back in the same segment, and the store acknowledges both
/// together, so a reader sees it no later than that record.
fn note_aborts(buf: &[u8], next: u64, aborted: &mut Vec<u64>) {
    let mut rest = buf;
    while let Parsed::Record(len) = frame::parse(rest) {
        if let Some(target) = frame::aborted(&rest[..len]) {
            if target >= next && !aborted.contains(&target) {
                aborted.push(target);
            }
        }
        rest = &rest[len..];
    }
}

/// The first sequence number of the segment after the one starting at
/// `first`, if there is one.
fn newer_segment(dir: &Path, first: u64) -> Result<Option<u64>, FileStoreError> {
    Ok(segment::list(dir)?
        .into_iter()
        .map(|s| s.0)
        .find(|&f| f > first))
}

fn decode(frame: Bytes, path: &Path, offset: u64) -> Result<Record, FileStoreError> {
    let fields =
        frame::fields(frame).map_err(|reason| FileStoreError::corrupt(path, offset, reason))?;
    Ok(Record {
        position: Position(fields.seq),
        received: fields.received,
        method: fields.method,
        grouping: fields.grouping,
        format: fields.format,
        payload: fields.payload,
    })
}

impl Iterator for Reader {
    type Item = Result<Record, FileStoreError>;

    /// [`next_record`](Reader::next_record); `None` at the end for now (not
    /// fused: a later call may give records appended since).
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}
