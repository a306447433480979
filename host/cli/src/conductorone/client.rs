//! The BatonService client: one long-lived TLS channel to ConductorOne, a
//! bearer token on every call, and the calls the task loop needs.
//!
//! Decisions:
//! - One lazily connected channel instead of Baton's connection per call;
//!   the server sees fewer handshakes and nothing else. A dropped
//!   connection is re-dialled by the next call.
//! - TLS always, verified against the system roots, the bundled web roots
//!   and `--ca-bundle` (checked by the host's one CA-bundle loader); there
//!   is no plaintext mode. `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` are
//!   honoured by tunnelling with HTTP CONNECT (`proxy.rs`), as Go's gRPC
//!   does.
//! - Every call has a deadline, so a connection that dies silently
//!   (no FIN, no RST) fails the call instead of hanging the task loop:
//!   FinishTask 30 s (Baton's value), other unary calls 60 s, an upload
//!   stream 10 minutes.
//! - `UNAUTHENTICATED` from the server drops the cached token, so the
//!   next attempt authenticates afresh.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use baton_api::method;
use baton_api::v1::{self, upload_asset_request as upload};
use futures_util::StreamExt as _;
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

use super::credentials::{TokenError, TokenSource};
use super::proxy::ProxyConnector;

/// Baton's chunk size; the proto allows up to 1 MiB per message.
pub const UPLOAD_CHUNK: usize = 512 * 1024;
const FINISH_DEADLINE: Duration = Duration::from_secs(30);
const UNARY_DEADLINE: Duration = Duration::from_secs(60);
/// An upload gets at least 10 minutes, and more for a big file: time for
/// it at 256 KiB/s (a slow corporate proxy), plus 2 minutes. A fixed
/// deadline would fail every upload of a large tenant on a slow link.
const UPLOAD_DEADLINE_MIN: Duration = Duration::from_secs(600);
const UPLOAD_FLOOR_BYTES_PER_SEC: u64 = 256 * 1024;
const UPLOAD_DEADLINE_SLACK: Duration = Duration::from_secs(120);
/// Go's gRPC dial timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

fn upload_deadline(bytes: u64) -> Duration {
    let transfer = Duration::from_secs(bytes.div_ceil(UPLOAD_FLOOR_BYTES_PER_SEC));
    (transfer + UPLOAD_DEADLINE_SLACK).max(UPLOAD_DEADLINE_MIN)
}

#[derive(Clone)]
pub struct BatonClient {
    grpc: tonic::client::Grpc<Channel>,
    tokens: Arc<TokenSource>,
    pub host_id: String,
}

impl BatonClient {
    /// `api_host` is `host[:port]` (port 443 when absent).
    pub fn new(
        api_host: &str,
        tokens: Arc<TokenSource>,
        host_id: String,
        extra_roots_pem: &[Vec<u8>],
    ) -> anyhow::Result<Self> {
        let authority = if api_host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            api_host.to_string()
        } else {
            format!("{api_host}:443")
        };
        let domain = authority
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .unwrap_or(&authority)
            .to_string();
        let mut tls = ClientTlsConfig::new()
            .with_native_roots()
            .with_webpki_roots()
            .domain_name(domain);
        for pem in extra_roots_pem {
            // The host's one CA-bundle loader vets it; tonic reads the PEM.
            connector_runtime::capabilities::http::ca_bundle_certificates(pem)?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        let user_agent = format!(
            "{} connector-host/{}",
            tokens.client_id().name,
            env!("CARGO_PKG_VERSION")
        );
        let endpoint = Endpoint::from_shared(format!("https://{authority}"))
            .map_err(|e| anyhow::anyhow!("ConductorOne API host {api_host:?}: {e}"))?
            .tls_config(tls)?
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(user_agent)?;
        let channel = endpoint.connect_with_connector_lazy(ProxyConnector::from_env());
        Ok(Self {
            grpc: tonic::client::Grpc::new(channel),
            tokens,
            host_id,
        })
    }

    async fn authorize<T>(
        &self,
        mut request: tonic::Request<T>,
    ) -> Result<tonic::Request<T>, Status> {
        let header = self.tokens.authorization().await.map_err(|e| match e {
            TokenError::Refused(_) => Status::unauthenticated(e.to_string()),
            TokenError::Unreachable(_) => Status::unavailable(e.to_string()),
        })?;
        let mut value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> = header
            .expose_secret()
            .parse()
            .map_err(|_| Status::unauthenticated("the access token is not a valid header value"))?;
        value.set_sensitive(true);
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }

    async fn unary<Req, Resp>(
        &self,
        path: &'static str,
        message: Req,
        deadline: Duration,
    ) -> Result<Resp, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut request = self.authorize(tonic::Request::new(message)).await?;
        request.set_timeout(deadline);
        let mut grpc = self.grpc.clone();
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("connecting to ConductorOne: {e}")))?;
        let result = grpc
            .unary(
                request,
                http::uri::PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::default(),
            )
            .await;
        self.after(result).await.map(|r| r.into_inner())
    }

    async fn after<T>(&self, result: Result<T, Status>) -> Result<T, Status> {
        match result {
            Err(s) => {
                if s.code() == Code::Unauthenticated {
                    self.tokens.invalidate().await;
                }
                // A refusal may quote the token it refused: redact it too.
                Err(Status::new(s.code(), self.tokens.redact(s.message())))
            }
            ok => ok,
        }
    }

    pub async fn hello(&self, req: v1::HelloRequest) -> Result<v1::HelloResponse, Status> {
        self.unary(method::HELLO, req, UNARY_DEADLINE).await
    }

    pub async fn get_task(&self) -> Result<v1::GetTaskResponse, Status> {
        let req = v1::GetTaskRequest {
            host_id: self.host_id.clone(),
        };
        self.unary(method::GET_TASK, req, UNARY_DEADLINE).await
    }

    pub async fn heartbeat(&self, task_id: &str) -> Result<v1::HeartbeatResponse, Status> {
        let req = v1::HeartbeatRequest {
            host_id: self.host_id.clone(),
            task_id: task_id.to_string(),
            annotations: vec![],
        };
        self.unary(method::HEARTBEAT, req, UNARY_DEADLINE).await
    }

    pub async fn finish_task(
        &self,
        req: v1::FinishTaskRequest,
    ) -> Result<v1::FinishTaskResponse, Status> {
        self.unary(method::FINISH_TASK, req, FINISH_DEADLINE).await
    }

    /// Streams `file` as the task's asset: metadata, 512 KiB chunks read as
    /// they are sent, then the SHA-256 of what was read.
    pub async fn upload_asset(&self, task_id: &str, file: &Path) -> Result<(), Status> {
        // The digest comes first, from its own read, as the eof message
        // must carry it; the second read is the one streamed.
        let digest = sha256_file(file)
            .await
            .map_err(|e| Status::internal(format!("reading {}: {e}", file.display())))?;
        let handle = tokio::fs::File::open(file)
            .await
            .map_err(|e| Status::internal(format!("opening {}: {e}", file.display())))?;
        let size = handle
            .metadata()
            .await
            .map_err(|e| Status::internal(format!("reading {}: {e}", file.display())))?
            .len();
        let metadata = v1::UploadAssetRequest {
            msg: Some(upload::Msg::Metadata(upload::UploadMetadata {
                host_id: self.host_id.clone(),
                task_id: task_id.to_string(),
                annotations: vec![],
            })),
        };
        let eof = v1::UploadAssetRequest {
            msg: Some(upload::Msg::Eof(upload::UploadEof {
                sha256_checksum: digest.to_vec(),
                annotations: vec![],
            })),
        };
        let path = file.to_path_buf();
        let chunks = futures_util::stream::unfold(Some(handle), move |state| {
            let path = path.clone();
            async move {
                let mut handle = state?;
                let mut buf = vec![0u8; UPLOAD_CHUNK];
                let mut filled = 0;
                while filled < buf.len() {
                    match handle.read(&mut buf[filled..]).await {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) => {
                            // Ending the stream early makes the digest
                            // mismatch, so the server refuses the asset.
                            tracing::error!("reading {} during upload: {e}", path.display());
                            return None;
                        }
                    }
                }
                if filled == 0 {
                    return None;
                }
                buf.truncate(filled);
                let msg = v1::UploadAssetRequest {
                    msg: Some(upload::Msg::Data(upload::UploadData { data: buf })),
                };
                Some((msg, (filled == UPLOAD_CHUNK).then_some(handle)))
            }
        });
        let stream = futures_util::stream::once(async { metadata })
            .chain(chunks)
            .chain(futures_util::stream::once(async { eof }));
        let mut request = self.authorize(tonic::Request::new(stream)).await?;
        request.set_timeout(upload_deadline(size));
        let mut grpc = self.grpc.clone();
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("connecting to ConductorOne: {e}")))?;
        let result = grpc
            .client_streaming::<_, _, v1::UploadAssetResponse, _>(
                request,
                http::uri::PathAndQuery::from_static(method::UPLOAD_ASSET),
                tonic_prost::ProstCodec::default(),
            )
            .await;
        self.after(result).await.map(|_| ())
    }
}

async fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; UPLOAD_CHUNK];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_deadlines_grow_with_the_file() {
        assert_eq!(upload_deadline(0), UPLOAD_DEADLINE_MIN);
        assert_eq!(upload_deadline(50 << 20), UPLOAD_DEADLINE_MIN);
        // 1 GiB at 256 KiB/s is 4,096 s, plus the slack.
        assert_eq!(upload_deadline(1 << 30), Duration::from_secs(4_096 + 120));
        assert!(upload_deadline(u64::MAX) > Duration::from_secs(1 << 40));
    }
}
