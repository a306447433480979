//! The generated BatonService client, which the host calls ConductorOne
//! with, uses the method paths the tests' fake service routes by
//! (`baton_api::method`): both come from the one `baton.proto`, and this
//! pins that they agree.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use baton_api::method;
use baton_api::v1::{self, baton_service_client::BatonServiceClient};
use tonic::codegen::{Service, http, tokio_stream};

/// A transport that records each request's path and fails it.
#[derive(Clone, Default)]
struct PathRecorder(Arc<Mutex<Vec<String>>>);

impl Service<http::Request<tonic::body::Body>> for PathRecorder {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        self.0.lock().unwrap().push(req.uri().path().to_string());
        std::future::ready(Err(std::io::Error::other("recorded")))
    }
}

#[tokio::test]
async fn generated_client_uses_the_declared_method_paths() {
    let recorder = PathRecorder::default();
    let mut client = BatonServiceClient::new(recorder.clone());
    assert!(client.hello(v1::HelloRequest::default()).await.is_err());
    assert!(
        client
            .get_task(v1::GetTaskRequest::default())
            .await
            .is_err()
    );
    assert!(
        client
            .heartbeat(v1::HeartbeatRequest::default())
            .await
            .is_err()
    );
    assert!(
        client
            .finish_task(v1::FinishTaskRequest::default())
            .await
            .is_err()
    );
    let upload = tokio_stream::iter(vec![v1::UploadAssetRequest::default()]);
    assert!(client.upload_asset(upload).await.is_err());
    assert_eq!(
        *recorder.0.lock().unwrap(),
        vec![
            method::HELLO,
            method::GET_TASK,
            method::HEARTBEAT,
            method::FINISH_TASK,
            method::UPLOAD_ASSET,
        ]
    );
}
