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
//! Decision: the note also records the published file's identity (device,
//! inode, size, modification and change times). While all of them are
//! unchanged nothing has written, replaced or touched the file (any write,
//! rename onto it or `touch` sets its change time, which only a change of
//! the system clock could forge), so the hash is not recomputed: that is
//! hundreds of megabytes at 100k users, read on every incremental sync.
//! Any difference (a restore, a copy to another disk) falls back to the
//! hash, which alone decides. A file system that keeps whole seconds only
//! could hide a rewrite in the same second: there the hash always decides.
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

/// The note's first line: size and SHA-256.
fn note_text(w: &Written) -> String {
    format!("{} {}\n", w.bytes, hex::encode(w.sha256))
}

/// The file's identity as the file system keeps it, where it tells one:
/// device, inode, size, and modification and change times to the
/// nanosecond.
fn identity(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(path).ok()?;
        if m.mtime_nsec() == 0 && m.ctime_nsec() == 0 {
            return None; // whole seconds: too coarse to tell a rewrite
        }
        Some(format!(
            "{} {} {} {}.{} {}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Classifies the working database `working` against `target`. Hashes the
/// target only when a note is there to compare with and the target's
/// identity is not the one the note recorded.
pub(crate) fn classify(working: &Path, target: &Path) -> Result<Kept> {
    let note = match fs::read_to_string(note_path(working)) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Kept::Unpublished),
        // Unreadable or not text: no proof the copy is current.
        Err(_) => return Ok(Kept::Stale),
    };
    let mut lines = note.split_inclusive('\n');
    let (Some(content), recorded) = (lines.next(), lines.next()) else {
        return Ok(Kept::Stale);
    };
    if recorded.is_some_and(|r| identity(target).is_some_and(|now| r.trim_end() == now)) {
        return Ok(Kept::CopyOfTarget);
    }
    match envelope::fingerprint(target)? {
        Some(now) if content == note_text(&now) => Ok(Kept::CopyOfTarget),
        _ => Ok(Kept::Stale),
    }
}

/// Records that `working` equals the c1z just published at `target` as
/// `written`. Written under a temporary name and renamed, so a torn note
/// never exists.
pub(crate) fn write_note(working: &Path, target: &Path, written: &Written) -> Result<()> {
    let note = note_path(working);
    let tmp = envelope::with_suffix(&note, TMP_SUFFIX);
    let mut text = note_text(written);
    if let Some(id) = identity(target) {
        text.push_str(&id);
        text.push('\n');
    }
    fs::write(&tmp, text).map_err(|e| C1zError::io("writing", &tmp, e))?;
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
        write_note(&working, &target, &now).unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::CopyOfTarget);

        // Same size, other bytes: a different file.
        fs::write(&target, b"C1ZF\0published bytez").unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Stale);
        fs::remove_file(&target).unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Stale);

        write_note(&working, &target, &written(3, 7)).unwrap();
        fs::write(note_path(&working), "not a note").unwrap();
        fs::write(&target, b"abc").unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Stale);

        forget_note(&working).unwrap();
        forget_note(&working).unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Unpublished);
    }

    /// The identity spares the hash only while the file is untouched; the
    /// hash alone decides once it differs. The note names a hash the bytes
    /// do not have, so only the identity can match it.
    #[test]
    fn the_identity_skips_the_hash_only_while_the_file_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.c1z");
        let working = dir.path().join("t.c1z.partial.db");
        fs::write(&target, b"C1ZF\0published bytes").unwrap();
        let real = envelope::fingerprint(&target).unwrap().unwrap();
        let other = Written {
            bytes: real.bytes,
            sha256: [9; 32],
        };
        write_note(&working, &target, &other).unwrap();
        let expected = match identity(&target) {
            Some(_) => Kept::CopyOfTarget,
            None => Kept::Stale,
        };
        assert_eq!(classify(&working, &target).unwrap(), expected);

        // Rewritten with the same bytes: a new change time, so the hash
        // decides (and names other bytes).
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&target, b"C1ZF\0published bytes").unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::Stale);

        // A copy of the published bytes put in its place: another inode,
        // the hash decides, and it matches.
        write_note(&working, &target, &real).unwrap();
        let copy = dir.path().join("copy");
        fs::copy(&target, &copy).unwrap();
        fs::rename(&copy, &target).unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::CopyOfTarget);

        // A note of the older format (no identity line) still works.
        fs::write(note_path(&working), note_text(&real)).unwrap();
        assert_eq!(classify(&working, &target).unwrap(), Kept::CopyOfTarget);
    }
}
