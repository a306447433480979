//! The working database kept after publishing, for the next sync to build on.
//!
//! Decision: an incremental sync changes a few thousand rows of a database
//! that decompresses to gigabytes at 100k users, so
//! decompressing the published c1z again on every run would cost more than
//! the sync itself. With [`crate::WriterOptions::keep_working`] the working
//! database stays beside the target after a publish, with a note,
//! `<working>.published`, that names the c1z it equals by size and SHA-256.
//! The price is disk: the uncompressed database stays next to the c1z.
//!
//! Threats handled:
//! * **The target replaced behind our back** (restored from a backup, copied
//!   over, deleted): the note no longer matches the target, the kept
//!   database is dropped, and the sync starts from the target as if nothing
//!   had been kept.
//! * **A crash after the kept database was written to.** The note is removed,
//!   durably, before the first write, so a database that differs from the
//!   target is never taken for a copy of it. Without a note a working
//!   database is what it always was: newer than the target (an unpublished
//!   or unfinished sync), used as is.
//! * **A note that does not parse** counts as a mismatch.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::envelope::{self, TMP_SUFFIX, Written};
use crate::error::{C1zError, Result};

/// Suffix of the note beside a kept working database.
pub const NOTE_SUFFIX: &str = ".published";

/// What a working database found beside the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// No note: newer than the target (a sync not yet published).
    Unpublished,
    /// A copy of the target as it is now.
    CopyOfTarget,
    /// A copy of a target that has changed since: not to be used.
    Stale,
}

fn note_path(working: &Path) -> PathBuf {
    envelope::with_suffix(working, NOTE_SUFFIX)
}

fn note_text(w: &Written) -> String {
    format!("{} {}\n", w.bytes, hex::encode(w.sha256))
}

/// Classifies the working database `working` against `target`. Hashes the
/// target only when a note is there to compare with.
pub(crate) fn classify(working: &Path, target: &Path) -> Result<Kept> {
    let note = match fs::read_to_string(note_path(working)) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Kept::Unpublished),
        // Unreadable or not text: no proof the copy is current.
        Err(_) => return Ok(Kept::Stale),
    };
    match envelope::fingerprint(target)? {
        Some(now) if note == note_text(&now) => Ok(Kept::CopyOfTarget),
        _ => Ok(Kept::Stale),
    }
}

/// Records that `working` equals the c1z just published as `written`.
/// Written under a temporary name and renamed, so a torn note never
/// exists.
pub(crate) fn write_note(working: &Path, written: &Written) -> Result<()> {
    let note = note_path(working);
    let tmp = envelope::with_suffix(&note, TMP_SUFFIX);
    fs::write(&tmp, note_text(written)).map_err(|e| C1zError::io("writing", &tmp, e))?;
    fs::rename(&tmp, &note).map_err(|e| C1zError::io("renaming into place", &note, e))?;
    envelope::sync_dir(&note)
}

/// Removes the note of `working`, durably, if there is one: from now on the
/// working database is not a copy of the target.
pub(crate) fn forget_note(working: &Path) -> Result<()> {
    let note = note_path(working);
    match fs::remove_file(&note) {
        Ok(()) => envelope::sync_dir(&note),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(C1zError::io("removing", &note, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(bytes: u64, first: u8) -> Written {
        let mut sha256 = [0u8; 32];
        sha256[0] = first;
        Written { bytes, sha256 }
    }

    #[test]
    fn a_note_matches_only_the_target_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.c1z");
        let working = dir.path().join("t.c1z.partial.db");
        fs::write(&target, b"C1ZF\0published bytes").unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Unpublished);

        let now = envelope::fingerprint(&target).unwrap().unwrap();
        write_note(&working, &now).unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::CopyOfTarget);

        // Same size, other bytes: a different file.
        fs::write(&target, b"C1ZF\0published bytez").unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Stale);
        fs::remove_file(&target).unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Stale);

        write_note(&working, &written(3, 7)).unwrap();
        fs::write(note_path(&working), "not a note").unwrap();
        fs::write(&target, b"abc").unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Stale);

        forget_note(&working).unwrap();
        forget_note(&working).unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Unpublished);
    }
}
