//! The BatonService client: one long-lived TLS channel to ConductorOne, a
//! bearer token on every call, and the calls the task loop needs, made
//! through the client generated from `baton.proto` (`baton_api::v1`), so
//! the method paths and codecs come from the one declaration.
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
//!   stream 10 minutes or more for a big file.
//! - The bearer token is attached per call by an async step rather than a
//!   tonic interceptor: fetching or refreshing it is a network call, and an
//!   interceptor cannot await. A token that cannot be had fails the call
//!   before anything is sent.
//! - `UNAUTHENTICATED` from the server drops the cached token, so the
//!   next attempt authenticates afresh.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use baton_api::v1::{
    self, baton_service_client::BatonServiceClient, upload_asset_request as upload,
};
use futures_util::StreamExt as _;
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

use super::credentials::{TokenError, TokenSource, host_without_port};
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
    grpc: BatonServiceClient<Channel>,
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
        let mut tls = ClientTlsConfig::new()
            .with_native_roots()
            .with_webpki_roots()
            .domain_name(host_without_port(api_host));
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
            grpc: BatonServiceClient::new(channel),
            tokens,
            host_id,
        })
    }

    /// Makes one call: the token and `deadline` on the way out; on the way
    /// back, an `UNAUTHENTICATED` answer drops the cached token.
    async fn call<M, R, F>(
        &self,
        message: M,
        deadline: Duration,
        method: impl FnOnce(BatonServiceClient<Channel>, tonic::Request<M>) -> F,
    ) -> Result<R, Status>
    where
        F: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let header = self.tokens.authorization().await.map_err(|e| match e {
            TokenError::Refused(_) => Status::unauthenticated(e.to_string()),
            TokenError::Unreachable(_) => Status::unavailable(e.to_string()),
        })?;
        let mut value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> = header
            .expose_secret()
            .parse()
            .map_err(|_| Status::unauthenticated("the access token is not a valid header value"))?;
        value.set_sensitive(true);
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", value);
        request.set_timeout(deadline);
        match method(self.grpc.clone(), request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(s) => {
                if s.code() == Code::Unauthenticated {
                    self.tokens.invalidate().await;
                }
                // A refusal may quote the token it refused: redact it too.
                Err(Status::new(s.code(), self.tokens.redact(s.message())))
            }
        }
    }

    pub async fn hello(&self, req: v1::HelloRequest) -> Result<v1::HelloResponse, Status> {
        self.call(req, UNARY_DEADLINE, |mut grpc, r| async move {
            grpc.hello(r).await
        })
        .await
    }

    pub async fn get_task(&self) -> Result<v1::GetTaskResponse, Status> {
        let req = v1::GetTaskRequest {
            host_id: self.host_id.clone(),
        };
        self.call(req, UNARY_DEADLINE, |mut grpc, r| async move {
            grpc.get_task(r).await
        })
        .await
    }

    pub async fn heartbeat(&self, task_id: &str) -> Result<v1::HeartbeatResponse, Status> {
        let req = v1::HeartbeatRequest {
            host_id: self.host_id.clone(),
            task_id: task_id.to_string(),
            annotations: vec![],
        };
        self.call(req, UNARY_DEADLINE, |mut grpc, r| async move {
            grpc.heartbeat(r).await
        })
        .await
    }

    pub async fn finish_task(
        &self,
        req: v1::FinishTaskRequest,
    ) -> Result<v1::FinishTaskResponse, Status> {
        self.call(req, FINISH_DEADLINE, |mut grpc, r| async move {
            grpc.finish_task(r).await
        })
        .await
    }

    /// Streams `file` as the task's asset: metadata, 512 KiB chunks read as
    /// they are sent, then the SHA-256 of what was read.
    pub async fn upload_asset(&self, task_id: &str, file: &Path) -> Result<(), Status> {
        // The digest comes first, from its own read, as the eof message
        // must carry it; the second read is the one streamed.
        let failed = |doing: &str, e| Status::internal(format!("{doing} {}: {e}", file.display()));
        let digest = sha256_file(file).await.map_err(|e| failed("reading", e))?;
        let handle = tokio::fs::File::open(file).await;
        let handle = handle.map_err(|e| failed("opening", e))?;
        let size = handle
            .metadata()
            .await
            .map_err(|e| failed("reading", e))?
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
                let mut buf = Vec::with_capacity(UPLOAD_CHUNK);
                let mut chunk = (&mut handle).take(UPLOAD_CHUNK as u64);
                if let Err(e) = chunk.read_to_end(&mut buf).await {
                    // Ending the stream early makes the digest mismatch, so
                    // the server refuses the asset.
                    tracing::error!("reading {} during upload: {e}", path.display());
                    return None;
                }
                if buf.is_empty() {
                    return None;
                }
                let filled = buf.len();
                let msg = v1::UploadAssetRequest {
                    msg: Some(upload::Msg::Data(upload::UploadData { data: buf })),
                };
                Some((msg, (filled == UPLOAD_CHUNK).then_some(handle)))
            }
        });
        let stream = futures_util::stream::once(async { metadata })
            .chain(chunks)
            .chain(futures_util::stream::once(async { eof }));
        let deadline = upload_deadline(size);
        self.call(stream, deadline, |mut grpc, r| async move {
            grpc.upload_asset(r).await
        })
        .await
        .map(|_| ())
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
    use crate::conductorone::credentials::{ClientId, ClientSecret};
    use baton_api::method;
    use baton_api::v1::task::{SyncFullTask, TaskType};
    use c1_fake::FakeC1;
    use secrecy::SecretString;

    async fn client_for(c1: &FakeC1) -> BatonClient {
        let id = ClientId::parse(&c1.client_id()).unwrap();
        let secret = ClientSecret::parse(&SecretString::from(c1.client_secret())).unwrap();
        let roots = vec![c1.ca_pem().into_bytes()];
        let tokens = Arc::new(TokenSource::new(id, secret, &c1.api_host(), &roots).unwrap());
        BatonClient::new(&c1.api_host(), tokens, "client-test-host".into(), &roots).unwrap()
    }

    fn hello_request(host_id: &str) -> v1::HelloRequest {
        v1::HelloRequest {
            host_id: host_id.into(),
            task_id: String::new(),
            build_info: Some(v1::BuildInfo {
                lang_version: "rustc".into(),
                package: "connector-host".into(),
                package_version: "0.1.0".into(),
            }),
            os_info: Some(v1::OsInfo {
                hostname: "host".into(),
                os: "linux".into(),
                platform: "debian".into(),
                platform_version: "13".into(),
                platform_family: "debian".into(),
                kernel_version: "6.1".into(),
                kernel_arch: "x86_64".into(),
                virtualization_system: "none".into(),
            }),
            connector_metadata: Some(Default::default()),
            annotations: vec![],
        }
    }

    #[tokio::test]
    async fn each_call_carries_the_token_and_its_deadline() {
        let c1 = FakeC1::start().await;
        let client = client_for(&c1).await;
        for (deadline, grpc_timeout) in [
            (UNARY_DEADLINE, "60000000u"),
            (FINISH_DEADLINE, "30000000u"),
            (upload_deadline(1 << 30), "4216000m"),
        ] {
            let sent = |_, request: tonic::Request<()>| async move {
                let metadata = request.metadata();
                assert_eq!(metadata.get("grpc-timeout").unwrap(), grpc_timeout);
                let auth = metadata.get("authorization").unwrap();
                assert!(auth.is_sensitive());
                assert!(auth.to_str().unwrap().starts_with("Bearer "));
                Ok(tonic::Response::new(()))
            };
            client.call((), deadline, sent).await.unwrap();
        }
        // The token is fetched once and reused.
        assert_eq!(c1.token_fetches(), 1);
    }

    #[tokio::test]
    async fn the_generated_client_drives_a_task_and_renews_a_refused_token() {
        let c1 = FakeC1::start().await;
        let client = client_for(&c1).await;
        client.hello(hello_request(&client.host_id)).await.unwrap();

        let id = c1.enqueue(TaskType::SyncFull(SyncFullTask::default()));
        let task = client.get_task().await.unwrap().task.unwrap();
        assert_eq!(task.id, id);
        client.heartbeat(&id).await.unwrap();

        // Two full chunks and a partial one, read as they are sent.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        let body: Vec<u8> = (0..UPLOAD_CHUNK * 2 + 1000).map(|i| i as u8).collect();
        std::fs::write(&file, &body).unwrap();
        client.upload_asset(&id, &file).await.unwrap();
        assert_eq!(c1.uploads(&id), vec![body]);
        assert_eq!(
            c1.upload_chunk_sizes(&id),
            vec![vec![UPLOAD_CHUNK, UPLOAD_CHUNK, 1000]]
        );

        // A refused token is dropped and never quoted back; the next call
        // fetches a fresh one.
        c1.expire_all_tokens();
        let refused = client.heartbeat(&id).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        for token in c1.issued_tokens() {
            assert!(!refused.message().contains(&token), "{}", refused.message());
        }
        let finish = v1::FinishTaskRequest {
            host_id: client.host_id.clone(),
            task_id: id.clone(),
            status: None,
            final_state: Some(v1::finish_task_request::FinalState::Success(
                v1::finish_task_request::Success::default(),
            )),
        };
        client.finish_task(finish).await.unwrap();
        assert_eq!(c1.token_fetches(), 2);
        assert_eq!(c1.finishes(&id).len(), 1);
        assert_eq!(c1.unauthenticated_calls(), 1);

        for (path, calls) in [
            (method::HELLO, 1),
            (method::GET_TASK, 1),
            (method::HEARTBEAT, 1),
            (method::UPLOAD_ASSET, 1),
            (method::FINISH_TASK, 1),
        ] {
            assert_eq!(c1.calls(path).len(), calls, "{path}");
        }
        assert_eq!(c1.violations(), Vec::<String>::new());
    }

    #[test]
    fn upload_deadlines_grow_with_the_file() {
        assert_eq!(upload_deadline(0), UPLOAD_DEADLINE_MIN);
        assert_eq!(upload_deadline(50 << 20), UPLOAD_DEADLINE_MIN);
        // 1 GiB at 256 KiB/s is 4,096 s, plus the slack.
        assert_eq!(upload_deadline(1 << 30), Duration::from_secs(4_096 + 120));
        assert!(upload_deadline(u64::MAX) > Duration::from_secs(1 << 40));
    }
}
