//! Replacing a small file whole: a crash leaves the old contents or the new,
//! never a mix.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path`: a temporary file beside it (`<path>.tmp`),
/// synced, renamed over it, and the directory synced. On failure, says
/// what was being done.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), (&'static str, io::Error)> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp).map_err(|e| ("creating a temporary file for", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| ("writing", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| ("renaming onto", e))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ("syncing the directory of", e))
}
