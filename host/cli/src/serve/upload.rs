//! Publishing a finished sync: to a local directory, or by HTTP(S) PUT.
//!
//! Decision: only complete syncs are ever published, and a reader never sees
//! half a file. A directory target gets a temporary file in the same
//! directory, fsync'd, then renamed over `<tenant>.c1z` (atomic on POSIX);
//! an interrupted copy leaves the previous artifact intact. A URL target
//! (e.g. a presigned object-store URL) gets the whole file in one PUT,
//! retried with backoff on connection errors, 408, 429 and 5xx; object
//! stores make a PUT atomic on their side. The URL may carry a signature in
//! its query, so errors and logs show only its scheme, host and path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::serve::tenants::UploadTarget;

/// Attempts of one PUT: 5 attempts with 1, 2, 4, 8 s between them ride out
/// a ~15 s blip of an object store without stalling a tenant for minutes.
const PUT_ATTEMPTS: u32 = 5;
/// A c1z of a 100k-user tenant is ~20 MB; 10 minutes is ample even on a
/// slow link and still frees the tenant's slot if the server hangs.
const PUT_TIMEOUT: Duration = Duration::from_secs(600);

/// `https://host/path` without query, fragment or user info.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "<invalid url>".into(),
    }
}

pub async fn publish(
    target: &UploadTarget,
    tenant: &str,
    file: &Path,
    client: &reqwest::Client,
) -> anyhow::Result<String> {
    match target {
        UploadTarget::Directory { directory } => {
            let dest = directory.join(format!("{tenant}.c1z"));
            let (src, dir, d) = (file.to_path_buf(), directory.clone(), dest.clone());
            tokio::task::spawn_blocking(move || copy_atomically(&src, &dir, &d)).await??;
            Ok(dest.display().to_string())
        }
        UploadTarget::Url { url } => {
            put_with_retries(client, url, file).await?;
            Ok(redact_url(url))
        }
    }
}

fn copy_atomically(src: &Path, dir: &Path, dest: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload");
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut out = std::fs::File::create(&tmp)?;
        let mut input = std::fs::File::open(src)?;
        std::io::copy(&mut input, &mut out)?;
        out.flush()?;
        out.sync_all()?;
        std::fs::rename(&tmp, dest)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("publishing to {}: {e}", dest.display());
    }
    Ok(())
}

async fn put_with_retries(client: &reqwest::Client, url: &str, file: &Path) -> anyhow::Result<()> {
    let shown = redact_url(url);
    let body = tokio::fs::read(file)
        .await
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    let mut last = String::new();
    for attempt in 0..PUT_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let sent = client
            .put(url)
            .timeout(PUT_TIMEOUT)
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) => {
                let status = resp.status();
                last = format!("HTTP {status}");
                let retryable = status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                if !retryable {
                    break;
                }
            }
            // reqwest errors can quote the URL: keep only the kind.
            Err(e) if e.is_timeout() => last = "timed out".into(),
            Err(e) if e.is_connect() => last = "connection failed".into(),
            Err(_) => last = "the connection broke".into(),
        }
        tracing::warn!(target = %shown, attempt = attempt + 1, "upload failed: {last}");
    }
    anyhow::bail!("uploading to {shown}: {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_signature() {
        assert_eq!(
            redact_url("https://user:pw@bucket.example/t/a.c1z?X-Amz-Signature=abc#f"),
            "https://bucket.example/t/a.c1z"
        );
        assert_eq!(redact_url("not a url"), "<invalid url>");
    }

    #[tokio::test]
    async fn a_directory_target_is_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.c1z");
        std::fs::write(&src, b"new").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("t1.c1z"), b"old").unwrap();
        let target = UploadTarget::Directory {
            directory: out.clone(),
        };
        let client = reqwest::Client::new();
        publish(&target, "t1", &src, &client).await.unwrap();
        assert_eq!(std::fs::read(out.join("t1.c1z")).unwrap(), b"new");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert_eq!(names.len(), 1);
        // A missing source leaves the old artifact as it was.
        let e = publish(&target, "t1", &dir.path().join("missing"), &client)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("t1.c1z"), "{e}");
        assert_eq!(std::fs::read(out.join("t1.c1z")).unwrap(), b"new");
    }

    #[tokio::test]
    async fn a_put_is_retried_and_errors_hide_the_signature() {
        use axum::routing::put;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, Ordering};
        let hits = Arc::new(AtomicU32::new(0));
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let app = axum::Router::new().route(
            "/ok/a.c1z",
            put({
                let (hits, got) = (hits.clone(), got.clone());
                move |body: axum::body::Bytes| async move {
                    if hits.fetch_add(1, Ordering::SeqCst) == 0 {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    *got.lock().unwrap() = body.to_vec();
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.c1z");
        std::fs::write(&src, b"artifact").unwrap();
        let client = reqwest::Client::new();
        let ok = UploadTarget::Url {
            url: format!("http://{addr}/ok/a.c1z?sig=SECRET"),
        };
        let shown = publish(&ok, "t", &src, &client).await.unwrap();
        assert_eq!(shown, format!("http://{addr}/ok/a.c1z"));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(*got.lock().unwrap(), b"artifact");
        let missing = UploadTarget::Url {
            url: format!("http://{addr}/nope?sig=SECRET"),
        };
        let e = publish(&missing, "t", &src, &client).await.unwrap_err();
        assert!(
            e.to_string().contains("404") && !e.to_string().contains("SECRET"),
            "{e}"
        );
    }
}
