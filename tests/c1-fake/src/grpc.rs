//! BatonService over gRPC without generated code: tonic's server-side
//! framing (`tonic::server::Grpc` with `tonic_prost::ProstCodec`) driven by
//! closures, dispatched on the request path.
//!
//! Decisions:
//! - The gate (`State::admit`: user agent, bearer token) and the method
//!   check run on the raw HTTP request, before the body is read,
//!   so a rejected client-streaming call costs nothing and an unknown path
//!   answers UNIMPLEMENTED like a real gRPC server.
//! - Unary RPCs are synchronous calls into `State` under its lock; only
//!   UploadAsset awaits (the client's stream) and it takes the lock only to
//!   check the metadata and to store the finished upload.
//! - Upload order is strict: exactly one metadata first, then data
//!   messages of 1 B–1 MiB, then one eof, then the end of the stream. A
//!   checksum mismatch is DATA_LOSS; other broken rules INVALID_ARGUMENT.
//!   A stream the client abandons (a transport error) is not a violation.

use std::future::ready;
use std::sync::Arc;

use baton_api::method;
use baton_api::v1::upload_asset_request::Msg;
use baton_api::v1::{UploadAssetRequest, UploadAssetResponse};
use http::header;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use tonic::body::Body;
use tonic::server::Grpc;
use tonic::{Code, Status, Streaming};
use tonic_prost::ProstCodec;
use tower::service_fn;

use crate::Inner;
use crate::state::State;

/// Largest `UploadData.data` the proto allows.
pub const MAX_UPLOAD_CHUNK: usize = 1024 * 1024;

/// Serves one gRPC request.
pub(crate) async fn dispatch(
    inner: Arc<Inner>,
    req: http::Request<Incoming>,
) -> http::Response<Body> {
    let path = req.uri().path().to_string();
    let text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (user_agent, authorization) = (text(header::USER_AGENT), text(header::AUTHORIZATION));
    if let Err(status) =
        inner.update(|s| s.admit(&path, user_agent.as_deref(), authorization.as_deref()))
    {
        return status.into_http();
    }
    match path.as_str() {
        method::HELLO => unary(inner, req, State::hello).await,
        method::GET_TASK => unary(inner, req, State::get_task).await,
        method::HEARTBEAT => unary(inner, req, State::heartbeat).await,
        method::FINISH_TASK => unary(inner, req, State::finish_task).await,
        method::UPLOAD_ASSET => {
            let upload = service_fn(move |request: tonic::Request<_>| {
                let inner = inner.clone();
                async move {
                    receive_upload(&inner, request.into_inner())
                        .await
                        .map(tonic::Response::new)
                }
            });
            Grpc::new(ProstCodec::<UploadAssetResponse, UploadAssetRequest>::default())
                .client_streaming(upload, req)
                .await
        }
        _ => inner
            .update(|s| {
                s.violations
                    .push(format!("call to unimplemented method {path}"));
                Status::unimplemented(format!("{path} is not implemented"))
            })
            .into_http(),
    }
}

/// A unary RPC answered by a `State` method under the lock.
async fn unary<Req, Resp>(
    inner: Arc<Inner>,
    req: http::Request<Incoming>,
    handler: fn(&mut State, Req) -> Result<Resp, Status>,
) -> http::Response<Body>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
{
    let service = service_fn(move |request: tonic::Request<Req>| {
        let message = request.into_inner();
        ready(
            inner
                .update(|s| handler(s, message))
                .map(tonic::Response::new),
        )
    });
    Grpc::new(ProstCodec::<Resp, Req>::default())
        .unary(service, req)
        .await
}

async fn receive_upload(
    inner: &Inner,
    mut stream: Streaming<UploadAssetRequest>,
) -> Result<UploadAssetResponse, Status> {
    let invalid = |problem: &str| {
        inner.update(|s| s.reject_upload(Code::InvalidArgument, problem.to_string()))
    };
    let meta = match stream.message().await? {
        Some(UploadAssetRequest {
            msg: Some(Msg::Metadata(meta)),
        }) => meta,
        Some(_) => return Err(invalid("the first message is not metadata")),
        None => return Err(invalid("the stream is empty")),
    };
    inner.update(|s| s.begin_upload(&meta))?;
    if inner.read(|s| s.stall_uploads) {
        // Never read on; the stream ends when the client gives up.
        std::future::pending::<()>().await;
    }
    let mut bytes = Vec::new();
    let mut chunk_sizes = Vec::new();
    loop {
        let msg = match stream.message().await? {
            Some(UploadAssetRequest { msg: Some(msg) }) => msg,
            Some(UploadAssetRequest { msg: None }) => {
                return Err(invalid("a message without its oneof set"));
            }
            None => return Err(invalid("the stream ended without eof")),
        };
        match msg {
            Msg::Metadata(_) => return Err(invalid("a second metadata message")),
            Msg::Data(data) => {
                let n = data.data.len();
                if n == 0 || n > MAX_UPLOAD_CHUNK {
                    return Err(invalid(&format!(
                        "a data message of {n} bytes, not 1-{MAX_UPLOAD_CHUNK}"
                    )));
                }
                chunk_sizes.push(n);
                bytes.extend_from_slice(&data.data);
            }
            Msg::Eof(eof) => {
                if eof.sha256_checksum.len() != 32 {
                    return Err(invalid(&format!(
                        "eof checksum has {} bytes, not 32",
                        eof.sha256_checksum.len()
                    )));
                }
                if eof.annotations.len() > crate::validate::MAX_ANNOTATIONS {
                    return Err(invalid("eof has more than 16 annotations"));
                }
                if stream.message().await?.is_some() {
                    return Err(invalid("a message after eof"));
                }
                let digest = Sha256::digest(&bytes);
                if digest.as_slice() != eof.sha256_checksum.as_slice() {
                    let problem = format!(
                        "SHA-256 of {} received bytes is {}, eof says {}",
                        bytes.len(),
                        hex::encode(digest),
                        hex::encode(&eof.sha256_checksum)
                    );
                    return Err(inner.update(|s| s.reject_upload(Code::DataLoss, problem)));
                }
                inner.update(|s| s.complete_upload(&meta.task_id, bytes, chunk_sizes));
                return Ok(UploadAssetResponse::default());
            }
        }
    }
}
