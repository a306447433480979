//! Pins the encoding of the oneof-heavy messages against bytes worked out by
//! hand from `baton.proto`'s field numbers: the client and the tests' fake
//! service share these types, so only an outside reference catches a typo.

use baton_api::v1::{self, finish_task_request, task, upload_asset_request};
use prost::Message;

#[test]
fn finish_task_success_uses_field_101() {
    let req = v1::FinishTaskRequest {
        host_id: "h".into(),
        task_id: "t".into(),
        status: None,
        final_state: Some(finish_task_request::FinalState::Success(
            finish_task_request::Success::default(),
        )),
    };
    // 1:"h", 2:"t", 101 (key (101<<3)|2 = 810 = 0xAA 0x06) with an empty body.
    assert_eq!(
        req.encode_to_vec(),
        vec![0x0A, 1, b'h', 0x12, 1, b't', 0xAA, 0x06, 0]
    );
}

#[test]
fn finish_task_error_carries_status_and_non_retryable() {
    let req = v1::FinishTaskRequest {
        host_id: String::new(),
        task_id: String::new(),
        status: Some(baton_api::rpc::Status {
            code: 5,
            message: String::new(),
            details: vec![],
        }),
        final_state: Some(finish_task_request::FinalState::Error(
            finish_task_request::Error {
                non_retryable: true,
                ..Default::default()
            },
        )),
    };
    // 3:{1:5}, 100 (key 802 = 0xA2 0x06):{1:true}.
    assert_eq!(
        req.encode_to_vec(),
        vec![0x1A, 2, 0x08, 5, 0xA2, 0x06, 2, 0x08, 1]
    );
}

#[test]
fn upload_messages_use_fields_100_to_102() {
    let eof = v1::UploadAssetRequest {
        msg: Some(upload_asset_request::Msg::Eof(
            upload_asset_request::UploadEof {
                sha256_checksum: vec![7],
                annotations: vec![],
            },
        )),
    };
    // 102 (key 818 = 0xB2 0x06):{1:[7]}.
    assert_eq!(eof.encode_to_vec(), vec![0xB2, 0x06, 3, 0x0A, 1, 7]);
    let meta = v1::UploadAssetRequest {
        msg: Some(upload_asset_request::Msg::Metadata(
            upload_asset_request::UploadMetadata {
                host_id: "h".into(),
                task_id: "t".into(),
                annotations: vec![],
            },
        )),
    };
    assert_eq!(
        meta.encode_to_vec(),
        vec![0xA2, 0x06, 6, 0x0A, 1, b'h', 0x12, 1, b't']
    );
}

#[test]
fn tasks_decode_by_oneof_number_and_unknown_types_decode_to_none() {
    // id "k", sync_full (102, key 818) {skip_grants (6): true}.
    let bytes = [0x0A, 1, b'k', 0xB2, 0x06, 2, 0x30, 1];
    let t = v1::Task::decode(&bytes[..]).unwrap();
    assert_eq!(t.id, "k");
    match t.task_type {
        Some(task::TaskType::SyncFull(s)) => assert!(s.skip_grants),
        other => panic!("{other:?}"),
    }
    // list_ticket_schemas (111, key 890 = 0xFA 0x06) is not modelled: no task type.
    let bytes = [0x0A, 1, b'k', 0xFA, 0x06, 0];
    let t = v1::Task::decode(&bytes[..]).unwrap();
    assert_eq!(t.task_type, None);
    // grant (103, key 826 = 0xBA 0x06) {principal (2): {display_name (3): "p"}}.
    let bytes = [0xBA, 0x06, 5, 0x12, 3, 0x1A, 1, b'p'];
    match v1::Task::decode(&bytes[..]).unwrap().task_type {
        Some(task::TaskType::Grant(g)) => {
            assert_eq!(g.principal.unwrap().display_name, "p");
            assert!(g.entitlement.is_none());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn heartbeat_response_cancelled_is_field_2() {
    let r = v1::HeartbeatResponse::decode(&[0x10, 1][..]).unwrap();
    assert!(r.cancelled);
}
