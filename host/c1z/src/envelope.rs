//! The v1 c1z envelope: `C1ZF\0` followed by one zstd frame holding the raw
//! SQLite database file.
//!
//! Threats handled:
//! * a crash or a full disk must never leave a half-written `--file`: the
//!   envelope is written to `<file>.tmp`, fsynced, renamed over `<file>` and
//!   the directory is fsynced, so `<file>` is always either the old or the new
//!   complete artifact;
//! * a file that is not ours must never be overwritten: [`sniff`] classifies
//!   the target before anything is written;
//! * memory stays flat for any size: both directions stream through fixed
//!   buffers, never holding the database in memory;
//! * Go readers refuse zstd windows above 128 MiB, so the encoder uses a plain
//!   level (window well below that), records the content size and writes a
//!   single frame, and our decoder refuses larger windows too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{C1zError, Result};

/// Magic of a v1 (SQLite) c1z.
pub const MAGIC: &[u8; 5] = b"C1ZF\0";
/// Magic of a v3 (Pebble) c1z, which this crate recognises but cannot read.
pub const MAGIC_V3: &[u8; 5] = b"C1Z3\0";
/// First 16 bytes of every SQLite 3 database file.
pub const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// Largest zstd window the Go decoder accepts (128 MiB), as a log2.
pub const MAX_WINDOW_LOG: u32 = 27;
/// Cap on the decompressed size of untrusted input (Baton HEAD: 10 GiB).
pub const DEFAULT_MAX_DECODED: u64 = 10 * 1024 * 1024 * 1024;
/// Suffix of the temporary c1z written before the final rename.
pub const TMP_SUFFIX: &str = ".tmp";
/// zstd level of the c1z files the host publishes: the fastest. Every
/// sync, an incremental one of a few changes too, compresses the whole
/// database; level 1 costs a few percent of file size over level 3 (the Go
/// library's default), see docs/benchmarks.md.
pub const ZSTD_LEVEL: i32 = 1;

const BUF: usize = 1 << 20;

/// What is at a path the writer wants to own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// No file: a new c1z will be created.
    Missing,
    /// A zero-length file counts as new, as in the SDK.
    Empty,
    /// Starts with the v1 magic.
    C1z,
}

/// Classifies `path` by its first bytes. Anything that is neither missing,
/// empty nor a v1 c1z is an error (wrong magic, or a v3 file).
pub fn sniff(path: &Path) -> Result<FileState> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(C1zError::io("opening", path, e)),
    };
    let meta = f
        .metadata()
        .map_err(|e| C1zError::io("reading metadata of", path, e))?;
    if !meta.is_file() {
        return Err(C1zError::WrongMagic {
            path: path.to_path_buf(),
            found: "a non-regular file".into(),
        });
    }
    if meta.len() == 0 {
        return Ok(FileState::Empty);
    }
    let head = read_head(&mut f, path)?;
    check_magic(path, &head)?;
    Ok(FileState::C1z)
}

fn read_head(f: &mut File, path: &Path) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(5);
    Read::by_ref(f)
        .take(5)
        .read_to_end(&mut head)
        .map_err(|e| C1zError::io("reading", path, e))?;
    Ok(head)
}

fn check_magic(path: &Path, head: &[u8]) -> Result<()> {
    if head == MAGIC {
        return Ok(());
    }
    if head == MAGIC_V3 {
        return Err(C1zError::UnsupportedFormat {
            path: path.to_path_buf(),
            detail: "v3 (Pebble) c1z; only v1 (SQLite) files are supported".into(),
        });
    }
    Err(C1zError::WrongMagic {
        path: path.to_path_buf(),
        found: hex_preview(head),
    })
}

fn hex_preview(b: &[u8]) -> String {
    if b.is_empty() {
        return "nothing".into();
    }
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tracks whether an error came from the file or from zstd.
struct TrackingReader<R> {
    inner: R,
    io_error: Option<io::ErrorKind>,
}

impl<R: Read> Read for TrackingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.io_error = Some(e.kind());
        })
    }
}

/// Decompresses the c1z at `src` into a new file `dst` (created or
/// truncated), checks that the result is a SQLite database, and fsyncs it.
/// A payload larger than `max_decoded` bytes is refused. Returns the number
/// of decompressed bytes.
pub fn decompress_to(src: &Path, dst: &Path, max_decoded: u64) -> Result<u64> {
    let mut f = File::open(src).map_err(|e| C1zError::io("opening", src, e))?;
    let len = f
        .metadata()
        .map_err(|e| C1zError::io("reading metadata of", src, e))?
        .len();
    if len == 0 {
        return Err(C1zError::Empty {
            path: src.to_path_buf(),
        });
    }
    let head = read_head(&mut f, src)?;
    check_magic(src, &head)?;
    if len == MAGIC.len() as u64 {
        return Err(C1zError::Zstd {
            path: src.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "no zstd frame after the magic",
            ),
        });
    }

    let tracking = TrackingReader {
        inner: f,
        io_error: None,
    };
    let zstd_err = |e: io::Error| C1zError::Zstd {
        path: src.to_path_buf(),
        source: e,
    };
    let mut dec = zstd::stream::read::Decoder::new(tracking).map_err(zstd_err)?;
    dec.window_log_max(MAX_WINDOW_LOG).map_err(zstd_err)?;

    let out = File::create(dst).map_err(|e| C1zError::io("creating", dst, e))?;
    let mut out = BufWriter::with_capacity(BUF, out);
    let mut buf = vec![0u8; BUF];
    let mut total: u64 = 0;
    let mut header_checked = false;
    let mut header = Vec::with_capacity(16);
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if dec.get_ref().get_ref().io_error.is_some() {
                    return Err(C1zError::io("reading", src, e));
                }
                return Err(zstd_err(e));
            }
        };
        if !header_checked {
            let need = 16 - header.len();
            header.extend_from_slice(&buf[..n.min(need)]);
            if header.len() == 16 {
                if header.as_slice() != SQLITE_HEADER {
                    return Err(C1zError::NotSqlite {
                        path: src.to_path_buf(),
                    });
                }
                header_checked = true;
            }
        }
        total += n as u64;
        if total > max_decoded {
            return Err(zstd_err(io::Error::other(format!(
                "decompressed size exceeds the limit of {max_decoded} bytes"
            ))));
        }
        out.write_all(&buf[..n])
            .map_err(|e| C1zError::io("writing decompressed database", dst, e))?;
    }
    if !header_checked {
        return Err(C1zError::NotSqlite {
            path: src.to_path_buf(),
        });
    }
    let out = out
        .into_inner()
        .map_err(|e| C1zError::io("writing decompressed database", dst, e.into_error()))?;
    out.sync_all()
        .map_err(|e| C1zError::io("syncing", dst, e))?;
    Ok(total)
}

/// A c1z as written: its size and the SHA-256 of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// Compresses the SQLite file `db` into a c1z at `out` (created or
/// truncated): magic, then one zstd frame with content size and checksum.
/// The file is fsynced before returning. Returns the c1z size.
pub fn compress_to(db: &Path, out: &Path, level: i32) -> Result<u64> {
    compress_hashed(db, out, level).map(|w| w.bytes)
}

/// Worker threads zstd compresses with: the machine's cores, at most 4.
/// Publishing is the longest local step of an incremental sync (gigabytes
/// at 100k users), and zstd's multithreaded mode still writes one frame;
/// beyond 4 workers the disk, not the CPU, sets the pace, and a host
/// serving many tenants keeps cores for the others.
fn compression_workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u32)
}

/// [`compress_to`], also hashing the bytes written.
fn compress_hashed(db: &Path, out: &Path, level: i32) -> Result<Written> {
    let src = File::open(db).map_err(|e| C1zError::io("opening", db, e))?;
    let db_len = src
        .metadata()
        .map_err(|e| C1zError::io("reading metadata of", db, e))?
        .len();
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .map_err(|e| C1zError::io("creating", out, e))?;
    let hashing = HashingWriter {
        inner: file,
        hash: Sha256::new(),
    };
    let mut w = BufWriter::with_capacity(BUF, hashing);
    w.write_all(MAGIC)
        .map_err(|e| C1zError::io("writing", out, e))?;

    let zerr = |e: io::Error| C1zError::io("compressing into", out, e);
    // Levels 1..=19 use windows of at most 128 MiB, the Go readers' cap; the
    // "ultra" levels above 19 would exceed it.
    let level = level.clamp(1, 19);
    let mut enc = zstd::stream::write::Encoder::new(w, level).map_err(zerr)?;
    let workers = compression_workers();
    if workers > 1 {
        enc.multithread(workers).map_err(zerr)?;
    }
    enc.include_contentsize(true).map_err(zerr)?;
    enc.include_checksum(true).map_err(zerr)?;
    enc.set_pledged_src_size(Some(db_len)).map_err(zerr)?;

    let tracking = TrackingReader {
        inner: src,
        io_error: None,
    };
    let mut reader = BufReader::with_capacity(BUF, tracking);
    let copied = io::copy(&mut reader, &mut enc).map_err(|e| match reader.get_ref().io_error {
        Some(_) => C1zError::io("reading", db, e),
        None => zerr(e),
    })?;
    if copied != db_len {
        return Err(C1zError::io(
            "reading",
            db,
            io::Error::other("database file changed size while compressing"),
        ));
    }
    let w = enc.finish().map_err(zerr)?;
    let HashingWriter { inner: file, hash } = w
        .into_inner()
        .map_err(|e| C1zError::io("writing", out, e.into_error()))?;
    file.sync_all()
        .map_err(|e| C1zError::io("syncing", out, e))?;
    let bytes = file
        .metadata()
        .map_err(|e| C1zError::io("reading metadata of", out, e))?
        .len();
    Ok(Written {
        bytes,
        sha256: hash.finalize().into(),
    })
}

/// Compresses the SQLite file `db` into `<target>.tmp`, renames that over
/// `target` and fsyncs the directory, so the rename itself survives a power
/// cut. On error `target` is untouched and the temporary file removed.
pub fn compress_and_publish(db: &Path, target: &Path) -> Result<Written> {
    let tmp = with_suffix(target, TMP_SUFFIX);
    let published = compress_hashed(db, &tmp, ZSTD_LEVEL).and_then(|written| {
        fs::rename(&tmp, target).map_err(|e| C1zError::io("renaming into place", target, e))?;
        sync_dir(target).map(|_| written)
    });
    if published.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    published
}

/// The size and SHA-256 of the file at `path`, or `None` if there is none.
pub fn fingerprint(path: &Path) -> Result<Option<Written>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(C1zError::io("opening", path, e)),
    };
    let mut w = HashingWriter {
        inner: io::sink(),
        hash: Sha256::new(),
    };
    let bytes = io::copy(&mut BufReader::with_capacity(BUF, f), &mut w)
        .map_err(|e| C1zError::io("reading", path, e))?;
    Ok(Some(Written {
        bytes,
        sha256: w.hash.finalize().into(),
    }))
}

/// Hashes what passes through to `inner`.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// fsyncs the directory holding `path` (`.` for a bare file name).
pub fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .map_err(|e| C1zError::io("opening directory", dir, e))?
        .sync_all()
        .map_err(|e| C1zError::io("syncing directory", dir, e))
}

/// `path` with `suffix` appended to its file name (`a.c1z` → `a.c1z.tmp`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_classifies() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.c1z");
        assert_eq!(sniff(&p).unwrap(), FileState::Missing);
        fs::write(&p, b"").unwrap();
        assert_eq!(sniff(&p).unwrap(), FileState::Empty);
        fs::write(&p, b"C1ZF\0rest").unwrap();
        assert_eq!(sniff(&p).unwrap(), FileState::C1z);
        fs::write(&p, b"C1Z3\0rest").unwrap();
        assert!(matches!(
            sniff(&p).unwrap_err(),
            C1zError::UnsupportedFormat { .. }
        ));
        fs::write(&p, b"hello world").unwrap();
        let e = sniff(&p).unwrap_err();
        assert!(matches!(e, C1zError::WrongMagic { .. }));
        assert!(e.to_string().contains("68 65 6c 6c 6f"), "{e}");
        assert!(matches!(
            sniff(dir.path()).unwrap_err(),
            C1zError::WrongMagic { .. }
        ));
    }

    #[test]
    fn roundtrip_and_frame_header() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let mut content = SQLITE_HEADER.to_vec();
        content.extend((0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()));
        fs::write(&db, &content).unwrap();
        let c1z = dir.path().join("x.c1z");
        compress_to(&db, &c1z, 3).unwrap();
        let raw = fs::read(&c1z).unwrap();
        assert_eq!(&raw[..5], MAGIC);
        assert_eq!(&raw[5..9], &[0x28, 0xb5, 0x2f, 0xfd]);
        // Frame header descriptor: content-size flag set, checksum flag set.
        let fhd = raw[9];
        assert_ne!(fhd >> 6, 0, "frame content size recorded");
        assert_eq!((fhd >> 2) & 1, 1, "checksum recorded");
        let back = dir.path().join("back");
        let n = decompress_to(&c1z, &back, DEFAULT_MAX_DECODED).unwrap();
        assert_eq!(n, content.len() as u64);
        assert_eq!(fs::read(&back).unwrap(), content);
        let small = 1000;
        assert!(matches!(
            decompress_to(&c1z, &back, small).unwrap_err(),
            C1zError::Zstd { .. }
        ));
    }

    #[test]
    fn decompress_rejects_each_layer() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let p = dir.path().join("bad.c1z");

        fs::write(&p, b"C1ZF\0this is not zstd at all").unwrap();
        let e = decompress_to(&p, &out, DEFAULT_MAX_DECODED).unwrap_err();
        assert!(matches!(e, C1zError::Zstd { .. }), "{e}");
        assert!(
            e.to_string().starts_with("corrupt c1z: zstd stream:"),
            "{e}"
        );

        let mut raw = MAGIC.to_vec();
        raw.extend(zstd::encode_all(&b"definitely not sqlite, just text"[..], 3).unwrap());
        fs::write(&p, &raw).unwrap();
        let e = decompress_to(&p, &out, DEFAULT_MAX_DECODED).unwrap_err();
        assert!(matches!(e, C1zError::NotSqlite { .. }), "{e}");

        let mut raw = MAGIC.to_vec();
        let mut frame = zstd::encode_all(&SQLITE_HEADER.repeat(1000)[..], 3).unwrap();
        frame.truncate(frame.len() - 3);
        raw.extend(frame);
        fs::write(&p, &raw).unwrap();
        let e = decompress_to(&p, &out, DEFAULT_MAX_DECODED).unwrap_err();
        assert!(matches!(e, C1zError::Zstd { .. }), "truncated: {e}");

        fs::write(&p, MAGIC).unwrap();
        let e = decompress_to(&p, &out, DEFAULT_MAX_DECODED).unwrap_err();
        assert!(matches!(e, C1zError::Zstd { .. }), "{e}");
    }
}
