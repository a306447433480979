//! The fake checked from the outside with an independent client: reqwest
//! for the token endpoint and tonic's generic `Grpc<Channel>` (no codegen)
//! for BatonService, both trusting only the fake's CA. These tests pin the
//! behaviour end-to-end tests of the real client rely on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use baton_api::method;
use baton_api::v1::finish_task_request::{FinalState, Success};
use baton_api::v1::task::{HelloTask, NoneTask, SyncFullTask, TaskType};
use baton_api::v1::upload_asset_request::{Msg, UploadData, UploadEof, UploadMetadata};
use baton_api::v1::{
    BuildInfo, FinishTaskRequest, FinishTaskResponse, GetTaskRequest, GetTaskResponse,
    HeartbeatRequest, HeartbeatResponse, HelloRequest, HelloResponse, OsInfo, UploadAssetRequest,
    UploadAssetResponse,
};
use c1_fake::FakeC1;
use ed25519_dalek::{Signer, SigningKey};
use http::uri::PathAndQuery;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

const HOST_ID: &str = "selftest-host";
const USER_AGENT: &str = "test-client c1-fake-selftest";

async fn channel(c1: &FakeC1) -> Result<Channel, tonic::transport::Error> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(c1.ca_pem()))
        .domain_name("localhost");
    Endpoint::from_shared(c1.url())?
        .user_agent(USER_AGENT)?
        .connect_timeout(Duration::from_secs(5))
        .tls_config(tls)?
        .connect()
        .await
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii token"),
        );
    }
    request
}

async fn unary<Req, Resp>(
    channel: &Channel,
    path: &'static str,
    token: Option<&str>,
    message: Req,
) -> Result<Resp, Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.unary(
        with_token(message, token),
        PathAndQuery::from_static(path),
        ProstCodec::<Req, Resp>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

async fn upload(
    channel: &Channel,
    token: &str,
    messages: Vec<UploadAssetRequest>,
) -> Result<UploadAssetResponse, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.client_streaming(
        with_token(futures_util::stream::iter(messages), Some(token)),
        PathAndQuery::from_static(method::UPLOAD_ASSET),
        ProstCodec::<UploadAssetRequest, UploadAssetResponse>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// The messages of an upload of `bytes` in `chunk`-sized pieces, with
/// `checksum` in the eof.
fn upload_messages(
    task_id: &str,
    bytes: &[u8],
    chunk: usize,
    checksum: Vec<u8>,
) -> Vec<UploadAssetRequest> {
    let mut messages = vec![UploadAssetRequest {
        msg: Some(Msg::Metadata(UploadMetadata {
            host_id: HOST_ID.into(),
            task_id: task_id.into(),
            annotations: vec![],
        })),
    }];
    messages.extend(bytes.chunks(chunk).map(|piece| UploadAssetRequest {
        msg: Some(Msg::Data(UploadData {
            data: piece.to_vec(),
        })),
    }));
    messages.push(UploadAssetRequest {
        msg: Some(Msg::Eof(UploadEof {
            sha256_checksum: checksum,
            annotations: vec![],
        })),
    });
    messages
}

fn http_client(c1: &FakeC1) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(c1.ca_pem().as_bytes()).expect("CA PEM"),
        )
        .build()
        .expect("HTTP client")
}

async fn post_token_request(
    c1: &FakeC1,
    content_type: &str,
    body: String,
) -> (reqwest::StatusCode, Value) {
    let response = http_client(c1)
        .post(c1.token_url())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("token request");
    let status = response.status();
    (status, response.json().await.expect("JSON reply"))
}

async fn post_assertion(c1: &FakeC1, assertion: &str) -> (reqwest::StatusCode, Value) {
    let form = token_form(&c1.client_id(), assertion);
    post_token_request(c1, "application/x-www-form-urlencoded", form).await
}

/// Why the fake refused a token request for `assertion`.
async fn rejection(c1: &FakeC1, assertion: &str) -> String {
    let (status, body) = post_assertion(c1, assertion).await;
    assert_eq!(status, 401, "{body}");
    body["error_description"].as_str().unwrap().to_string()
}

/// A token fetched over HTTPS with a correctly signed assertion.
async fn fetch_token(c1: &FakeC1) -> String {
    let (status, body) = post_assertion(c1, &sign_assertion(c1)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

// ----- Signing as the SDK does (the fake only verifies) -----

/// The fake's client ID's host without port: every assertion's `aud`.
const AUDIENCE: &str = "localhost";

/// The key inside a `secret-token:conductorone.com:v1:<jwk>` secret, whose
/// JWK holds exactly `kty`, `crv`, `x` and `d`.
fn signing_key(client_secret: &str) -> SigningKey {
    let jwk = client_secret
        .strip_prefix("secret-token:conductorone.com:v1:")
        .expect("a v1 client secret");
    let jwk: Value = serde_json::from_slice(&B64.decode(jwk).unwrap()).unwrap();
    assert_eq!(jwk.as_object().unwrap().len(), 4, "{jwk}");
    assert_eq!(
        (&jwk["kty"], &jwk["crv"]),
        (&json!("OKP"), &json!("Ed25519"))
    );
    let field = |name: &str| -> [u8; 32] {
        let text = jwk[name].as_str().unwrap();
        B64.decode(text).unwrap().try_into().unwrap()
    };
    let key = SigningKey::from_bytes(&field("d"));
    assert_eq!(
        key.verifying_key().as_bytes(),
        &field("x"),
        "JWK x matches d"
    );
    key
}

/// A compact JWS over arbitrary `header` and `claims`.
fn sign_jwt(client_secret: &str, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = signing_key(client_secret).sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature.to_bytes()))
}

/// The SDK's header: `alg: EdDSA` and a fresh 32-hex nonce.
fn jwt_header() -> Value {
    json!({"alg": "EdDSA", "nonce": hex::encode(rand::random::<[u8; 16]>())})
}

/// The SDK's claims, issued at `now`: `iss = sub = client_id`, `exp`/`nbf`
/// ±120 s.
fn jwt_claims(client_id: &str, now: i64) -> Value {
    json!({"iss": client_id, "sub": client_id, "aud": AUDIENCE,
        "exp": now + 120, "nbf": now - 120, "iat": now})
}

/// A client assertion exactly as the SDK builds it, issued now.
fn sign_assertion(c1: &FakeC1) -> String {
    let claims = jwt_claims(&c1.client_id(), unix_now());
    sign_jwt(&c1.client_secret(), &jwt_header(), &claims)
}

/// The form body of a token request carrying `assertion`.
fn token_form(client_id: &str, assertion: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_assertion", assertion)
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_id", client_id)
        .append_pair("grant_type", "client_credentials")
        .finish()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hello_request(task_id: &str) -> HelloRequest {
    HelloRequest {
        host_id: HOST_ID.into(),
        task_id: task_id.into(),
        build_info: Some(BuildInfo {
            lang_version: "rustc 1.95".into(),
            package: "c1-fake-selftest".into(),
            package_version: "0.1.0".into(),
        }),
        os_info: Some(OsInfo {
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

/// GetTask calls the fake handled (not those refused).
fn get_task_calls(c1: &FakeC1) -> usize {
    c1.events().iter().filter(|e| *e == "get_task").count()
}

fn get_task() -> GetTaskRequest {
    GetTaskRequest {
        host_id: HOST_ID.into(),
    }
}

fn success(task_id: &str) -> FinishTaskRequest {
    FinishTaskRequest {
        host_id: HOST_ID.into(),
        task_id: task_id.into(),
        status: None,
        final_state: Some(FinalState::Success(Success::default())),
    }
}

#[tokio::test]
async fn the_token_endpoint_checks_the_assertion() {
    let c1 = FakeC1::start().await;
    assert_eq!(c1.client_id(), "test-client@localhost/pcc");
    assert_eq!(c1.api_host(), format!("127.0.0.1:{}", c1.addr().port()));
    assert!(
        c1.client_secret()
            .starts_with("secret-token:conductorone.com:v1:")
    );

    let assertion = sign_assertion(&c1);
    let (status, body) = post_assertion(&c1, &assertion).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["access_token"].as_str().unwrap().is_empty());
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);

    // The same assertion again: the nonce is spent.
    let (status, _) = post_assertion(&c1, &assertion).await;
    assert_eq!(status, 401);

    // Signed by a key that is not the client's.
    let stranger = FakeC1::start().await;
    let now = unix_now();
    let forged = sign_jwt(
        &stranger.client_secret(),
        &json!({"alg": "EdDSA", "nonce": "00112233445566778899aabbccddeeff"}),
        &json!({"iss": c1.client_id(), "sub": c1.client_id(), "aud": "localhost",
                "exp": now + 120, "nbf": now - 120, "iat": now}),
    );
    let (status, body) = post_assertion(&c1, &forged).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");

    // The audience is the client ID's host, not the API host override.
    let wrong_aud = sign_jwt(
        &c1.client_secret(),
        &json!({"alg": "EdDSA", "nonce": "ffeeddccbbaa99887766554433221100"}),
        &json!({"iss": c1.client_id(), "sub": c1.client_id(), "aud": "127.0.0.1",
                "exp": now + 120, "nbf": now - 120, "iat": now}),
    );
    let (status, _) = post_assertion(&c1, &wrong_aud).await;
    assert_eq!(status, 401);

    let rejections = c1.token_rejections();
    assert_eq!(rejections.len(), 3, "{rejections:?}");
    assert!(rejections[0].contains("nonce"), "{rejections:?}");
    assert!(rejections[1].contains("signature"), "{rejections:?}");
    assert!(rejections[2].contains("aud"), "{rejections:?}");

    // An injected failure.
    c1.fail_tokens(1);
    assert_eq!(post_assertion(&c1, &sign_assertion(&c1)).await.0, 401);
    assert_eq!(post_assertion(&c1, &sign_assertion(&c1)).await.0, 200);
    // HTTP/1.1 shares the listener with gRPC's HTTP/2.
    let response = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(c1.ca_pem().as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap()
        .post(c1.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(token_form(&c1.client_id(), &sign_assertion(&c1)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.status(), 200);
    assert_eq!(c1.token_fetches(), 7);
    assert_eq!(c1.token_rejections().len(), 3);
}

#[tokio::test]
async fn each_token_request_rule_is_enforced() {
    let c1 = FakeC1::start().await;
    let form = token_form(&c1.client_id(), &sign_assertion(&c1));
    let (status, body) = post_token_request(&c1, "application/json", form.clone()).await;
    assert_eq!(status, 401);
    assert!(body.to_string().contains("content type"), "{body}");
    let form_type = "application/x-www-form-urlencoded";
    let (_, body) = post_token_request(&c1, form_type, format!("{form}&scope=x")).await;
    assert!(body.to_string().contains("scope"), "{body}");

    let now = unix_now();
    let claims = jwt_claims(&c1.client_id(), now);
    let secret = c1.client_secret();
    let mut header = jwt_header();
    header["alg"] = json!("HS256");
    let why = rejection(&c1, &sign_jwt(&secret, &header, &claims)).await;
    assert!(why.contains("alg"), "{why}");
    header = json!({"alg": "EdDSA", "nonce": "0123456789ABCDEF0123456789ABCDEF"});
    let why = rejection(&c1, &sign_jwt(&secret, &header, &claims)).await;
    assert!(why.contains("nonce"), "{why}");
    for (claim, value, named) in [
        ("aud", json!([AUDIENCE]), "aud"),
        ("sub", json!("someone-else"), "sub"),
        ("exp", json!(now + 300), "exp - iat"),
        ("nbf", json!(now - 60), "iat - nbf"),
    ] {
        let mut broken = claims.clone();
        broken[claim] = value;
        let why = rejection(&c1, &sign_jwt(&secret, &jwt_header(), &broken)).await;
        assert!(why.contains(named), "{claim}: {why}");
    }
    assert_eq!(post_assertion(&c1, &sign_assertion(&c1)).await.0, 200);
}

#[tokio::test]
async fn a_task_goes_round_trip() {
    let c1 = FakeC1::start().await;
    let token = fetch_token(&c1).await;
    let ch = channel(&c1).await.expect("connect");

    let _: HelloResponse = unary(&ch, method::HELLO, Some(&token), hello_request(""))
        .await
        .expect("Hello");
    assert_eq!(c1.hellos().len(), 1);
    assert_eq!(c1.hellos()[0].host_id, HOST_ID);

    // An empty queue: no task, but always a next_poll.
    let reply: GetTaskResponse = unary(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    assert!(reply.task.is_none());
    assert_eq!(reply.next_poll.unwrap().nanos, 100_000_000);

    let id = c1.enqueue(TaskType::SyncFull(SyncFullTask {
        skip_expand_grants: true,
        ..Default::default()
    }));
    assert_eq!(id.len(), 27);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    let reply: GetTaskResponse = unary(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    let task = reply.task.expect("the queued task");
    assert_eq!(task.id, id);
    assert!(matches!(task.task_type, Some(TaskType::SyncFull(ref s)) if s.skip_expand_grants));

    let hb = HeartbeatRequest {
        host_id: HOST_ID.into(),
        task_id: id.clone(),
        annotations: vec![],
    };
    let reply: HeartbeatResponse = unary(&ch, method::HEARTBEAT, Some(&token), hb.clone())
        .await
        .unwrap();
    assert_eq!(reply.next_heartbeat.unwrap().seconds, 1);
    assert!(!reply.cancelled);

    // A good upload in 3 chunks, then one with a wrong checksum.
    let bytes: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
    let digest = Sha256::digest(&bytes).to_vec();
    upload(&ch, &token, upload_messages(&id, &bytes, 1000, digest))
        .await
        .expect("upload");
    assert_eq!(c1.uploads(&id), vec![bytes.clone()]);
    assert_eq!(c1.upload_chunk_sizes(&id), vec![vec![1000, 1000, 500]]);
    let err = upload(&ch, &token, upload_messages(&id, &bytes, 1000, vec![0; 32]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DataLoss, "{err:?}");
    assert_eq!(c1.uploads(&id).len(), 1);
    assert_eq!(c1.violations().len(), 1, "{:?}", c1.violations());

    // A wait started before FinishTask sees it.
    let waiter = {
        let c1 = c1.clone();
        let id = id.clone();
        tokio::spawn(async move { c1.wait_finished(&id, Duration::from_secs(10)).await })
    };
    let _: FinishTaskResponse = unary(&ch, method::FINISH_TASK, Some(&token), success(&id))
        .await
        .unwrap();
    let finished = waiter.await.unwrap().expect("FinishTask recorded");
    assert!(matches!(finished.final_state, Some(FinalState::Success(_))));

    // A late heartbeat is tolerated; a second FinishTask is not.
    let _: HeartbeatResponse = unary(&ch, method::HEARTBEAT, Some(&token), hb)
        .await
        .unwrap();
    let _: FinishTaskResponse = unary(&ch, method::FINISH_TASK, Some(&token), success(&id))
        .await
        .unwrap();
    let violations = c1.violations();
    assert!(
        violations[1].contains("duplicate FinishTask"),
        "{violations:?}"
    );
    assert_eq!(c1.heartbeats(&id), 2);
    assert_eq!(
        c1.events(),
        vec![
            "token".to_string(),
            "hello".into(),
            "get_task".into(),
            "get_task".into(),
            format!("task:{id}"),
            format!("heartbeat:{id}"),
            format!("upload:{id}"),
            format!("finish:{id}"),
            format!("heartbeat:{id}"),
            format!("finish:{id}"),
        ]
    );
    assert_eq!(c1.user_agents().len(), 1);
    assert!(c1.user_agents()[0].starts_with(USER_AGENT));
}

#[tokio::test]
async fn hello_tasks_cancellation_and_none_tasks() {
    let c1 = FakeC1::start().await;
    let token = c1.mint_token();
    let ch = channel(&c1).await.unwrap();

    let hello_id = c1.enqueue(TaskType::Hello(HelloTask::default()));
    let sync_id = c1.enqueue(TaskType::SyncFull(SyncFullTask::default()));
    for _ in 0..2 {
        let _: GetTaskResponse = unary(&ch, method::GET_TASK, Some(&token), get_task())
            .await
            .unwrap();
    }
    let _: HelloResponse = unary(&ch, method::HELLO, Some(&token), hello_request(&hello_id))
        .await
        .unwrap();

    assert!(c1.cancel_task(&sync_id));
    let hb = HeartbeatRequest {
        host_id: HOST_ID.into(),
        task_id: sync_id.clone(),
        annotations: vec![],
    };
    let reply: HeartbeatResponse = unary(&ch, method::HEARTBEAT, Some(&token), hb)
        .await
        .unwrap();
    assert!(reply.cancelled);

    c1.enqueue(TaskType::None(NoneTask::default()));
    c1.set_next_poll(Duration::from_secs(2));
    let reply: GetTaskResponse = unary(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    assert!(matches!(
        reply.task.unwrap().task_type,
        Some(TaskType::None(NoneTask { .. }))
    ));
    assert_eq!(reply.next_poll.unwrap().seconds, 2);
    assert_eq!(c1.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let c1 = FakeC1::start().await;
    let ch = channel(&c1).await.unwrap();

    let err = unary::<_, GetTaskResponse>(&ch, method::GET_TASK, None, get_task())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = unary::<_, GetTaskResponse>(&ch, method::GET_TASK, Some("made-up"), get_task())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let token = fetch_token(&c1).await;
    unary::<_, GetTaskResponse>(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    c1.expire_all_tokens();
    let err = upload(&ch, &token, upload_messages("x", b"", 1, vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(c1.unauthenticated_calls(), 3);
    assert_eq!(get_task_calls(&c1), 1);
}

#[tokio::test]
async fn validation_and_injected_faults() {
    let c1 = FakeC1::start().await;
    let token = c1.mint_token();
    let ch = channel(&c1).await.unwrap();

    // Field rules.
    let err = unary::<_, GetTaskResponse>(
        &ch,
        method::GET_TASK,
        Some(&token),
        GetTaskRequest { host_id: "".into() },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut no_metadata = hello_request("");
    no_metadata.connector_metadata = None;
    let err = unary::<_, HelloResponse>(&ch, method::HELLO, Some(&token), no_metadata)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut unfinished = success("");
    unfinished.final_state = None;
    let err = unary::<_, FinishTaskResponse>(&ch, method::FINISH_TASK, Some(&token), unfinished)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut empty_facts = hello_request("");
    empty_facts
        .os_info
        .as_mut()
        .unwrap()
        .virtualization_system
        .clear();
    unary::<_, HelloResponse>(&ch, method::HELLO, Some(&token), empty_facts)
        .await
        .unwrap();
    // A heartbeat for a task never handed out.
    let err = unary::<_, HeartbeatResponse>(
        &ch,
        method::HEARTBEAT,
        Some(&token),
        HeartbeatRequest {
            host_id: HOST_ID.into(),
            task_id: "0".repeat(27),
            annotations: vec![],
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let violations = c1.violations();
    assert_eq!(violations.len(), 5, "{violations:?}");
    assert!(violations[3].contains("virtualization_system"));

    // Calls answered with a validation error are recorded but not handled.
    unary::<_, GetTaskResponse>(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    assert_eq!(c1.calls(method::GET_TASK).len(), 2);
    assert_eq!(get_task_calls(&c1), 1);

    // An upload with chunks that do not divide it evenly.
    let id = c1.enqueue(TaskType::SyncFull(SyncFullTask::default()));
    unary::<_, GetTaskResponse>(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    let bytes = vec![7u8; 3000];
    let digest = Sha256::digest(&bytes).to_vec();
    upload(&ch, &token, upload_messages(&id, &bytes, 1024, digest))
        .await
        .unwrap();
    assert_eq!(c1.uploads(&id), vec![bytes]);

    // Strict order: data before metadata.
    let mut out_of_order = upload_messages(&id, b"abc", 3, vec![0; 32]);
    out_of_order.swap(0, 1);
    let err = upload(&ch, &token, out_of_order).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // A method the fake does not implement.
    let err = unary::<_, HelloResponse>(
        &ch,
        "/c1.connectorapi.baton.v1.BatonService/StartDebugging",
        Some(&token),
        GetTaskRequest::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(c1.violations().len(), 7, "{:?}", c1.violations());
}

#[tokio::test]
async fn connections_can_be_dropped_and_refused() {
    let c1 = FakeC1::start().await;
    let token = c1.mint_token();
    let ch = channel(&c1).await.unwrap();
    unary::<_, GetTaskResponse>(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    assert_eq!(c1.connections_accepted(), 1);

    // An upload left hanging after its metadata dies with the connection.
    let id = c1.enqueue(TaskType::SyncFull(SyncFullTask::default()));
    unary::<_, GetTaskResponse>(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    let hanging = {
        use futures_util::StreamExt;
        let first = upload_messages(&id, b"", 1, vec![]).remove(0);
        let stream = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
        let mut grpc = tonic::client::Grpc::new(ch.clone());
        tokio::spawn(async move {
            grpc.ready().await.unwrap();
            grpc.client_streaming(
                with_token(stream, Some(&token)),
                PathAndQuery::from_static(method::UPLOAD_ASSET),
                ProstCodec::<UploadAssetRequest, UploadAssetResponse>::default(),
            )
            .await
        })
    };
    assert!(
        c1.wait_until(Duration::from_secs(5), |c| c
            .calls(method::UPLOAD_ASSET)
            .len()
            == 1)
            .await
    );
    c1.drop_connections();
    let outcome = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .expect("the upload ends with the connection")
        .unwrap();
    assert!(outcome.is_err());
    let token = c1.mint_token();

    c1.set_refuse_connections(true);
    assert!(channel(&c1).await.is_err());
    assert!(
        c1.wait_until(Duration::from_secs(5), |c| c.connections_accepted() >= 2)
            .await
    );

    c1.set_refuse_connections(false);
    let ch = channel(&c1).await.unwrap();
    unary::<_, GetTaskResponse>(&ch, method::GET_TASK, Some(&token), get_task())
        .await
        .unwrap();
    assert_eq!(get_task_calls(&c1), 3);
    assert_eq!(c1.violations(), Vec::<String>::new());
}
