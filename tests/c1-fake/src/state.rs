//! What the fake remembers and how BatonService behaves: the settings tests
//! change, the records tests read, the task table, and one method per RPC
//! that validates a decoded request, updates the records and builds the
//! reply.
//!
//! Decisions:
//! - Everything lives in one `State` behind one mutex (see `lib.rs`); RPCs
//!   are short and synchronous once decoded, so no lock is held across an
//!   await and ordering in `events` is exactly the order of handling.
//! - A broken field rule is answered with INVALID_ARGUMENT *and* recorded in
//!   `violations`; a protocol misuse the real server might tolerate (a
//!   duplicate FinishTask, a FinishTask for a hello task, a Hello fact left
//!   empty) is only recorded; a task ID the fake never handed out is
//!   answered with NOT_FOUND and recorded. Tests assert `violations` is
//!   empty.
//! - A task is done once its first FinishTask arrives (for a hello task:
//!   its Hello; a `none` task once handed out); a later upload is refused.
//! - Counters and events record calls that were handled; `calls` records
//!   every authenticated call with its arrival time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use baton_api::v1::upload_asset_request::UploadMetadata;
use baton_api::v1::{
    FinishTaskRequest, FinishTaskResponse, GetTaskRequest, GetTaskResponse, HeartbeatRequest,
    HeartbeatResponse, HelloRequest, HelloResponse, Task, finish_task_request::FinalState,
    task::TaskType,
};
use tonic::{Code, Status};

use base64::Engine;

use crate::{USER_AGENT_PREFIX, token, validate};

/// One task the fake knows about, queued or handed out.
#[derive(Default)]
pub(crate) struct TaskRecord {
    pub task: Task,
    pub handed_out: bool,
    /// No longer in flight: finished, or (hello task) answered with Hello.
    pub done: bool,
    pub heartbeats: usize,
    pub cancelled: bool,
    pub finishes: Vec<FinishTaskRequest>,
    pub uploads: Vec<Vec<u8>>,
    pub chunk_sizes: Vec<Vec<usize>>,
}

impl TaskRecord {
    fn type_name(&self) -> &'static str {
        self.task.task_type.as_ref().map_or("untyped", |t| t.name())
    }
}

#[derive(Default)]
pub(crate) struct State {
    // Settings.
    pub fail_tokens: usize,
    pub next_poll: Duration,
    pub next_heartbeat: Duration,
    /// Uploads that begin are then never read (a stalled link).
    pub stall_uploads: bool,
    /// Uploads that began, by task id.
    pub uploads_begun: Vec<String>,

    // Records.
    pub tokens: HashMap<String, Instant>,
    pub nonces: HashSet<String>,
    pub token_fetches: usize,
    pub token_rejections: Vec<String>,
    pub unauthenticated_calls: usize,
    pub user_agents: Vec<String>,
    pub violations: Vec<String>,
    pub events: Vec<String>,
    pub calls: Vec<(String, Instant)>,
    pub hellos: Vec<HelloRequest>,
    pub queue: VecDeque<String>,
    pub tasks: HashMap<String, TaskRecord>,
}

/// The RPC name at the end of a method path, for messages and events.
pub(crate) fn rpc_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A fresh task ID: 27 random ASCII alphanumerics, like a KSUID.
pub(crate) fn fresh_task_id() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(validate::TASK_ID_LEN)
        .map(char::from)
        .collect()
}

impl State {
    pub fn new() -> Self {
        State {
            next_poll: Duration::from_millis(100),
            next_heartbeat: Duration::from_secs(1),
            ..Default::default()
        }
    }

    /// Issues a token valid for the current TTL.
    pub fn mint_token(&mut self) -> String {
        let token = token::B64.encode(rand::random::<[u8; 32]>());
        let expiry = Instant::now() + Duration::from_secs(token::TOKEN_TTL_SECS);
        self.tokens.insert(token.clone(), expiry);
        token
    }

    /// Checks a request's field rules in order: the first broken one is
    /// recorded and answered with INVALID_ARGUMENT.
    fn check_fields(
        &mut self,
        rpc: &str,
        rules: impl IntoIterator<Item = Result<(), String>>,
    ) -> Result<(), Status> {
        rules
            .into_iter()
            .collect::<Result<(), String>>()
            .map_err(|problem| {
                self.violations.push(format!("{rpc}: {problem}"));
                Status::invalid_argument(problem)
            })
    }

    /// Records a call naming a task the fake never handed out.
    fn unknown_task(&mut self, rpc: &str, task_id: &str) -> Status {
        self.violations
            .push(format!("{rpc}: task {task_id} was never handed out"));
        Status::not_found(format!("task {task_id} not found"))
    }

    /// Records a task of `task_type` under a fresh ID, not yet queued;
    /// returns the ID.
    pub fn record_task(&mut self, task_type: TaskType) -> String {
        let id = fresh_task_id();
        let task = Task {
            id: id.clone(),
            task_type: Some(task_type),
            ..Default::default()
        };
        self.tasks.insert(
            id.clone(),
            TaskRecord {
                task,
                ..Default::default()
            },
        );
        id
    }

    /// The gate in front of every gRPC call: user agent, bearer token.
    pub fn admit(
        &mut self,
        path: &str,
        user_agent: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<(), Status> {
        let now = Instant::now();
        let ua = user_agent.unwrap_or("").to_string();
        if !self.user_agents.contains(&ua) {
            if !ua.starts_with(USER_AGENT_PREFIX) {
                self.violations.push(format!(
                    "user-agent {ua:?} does not start with {USER_AGENT_PREFIX:?}"
                ));
            }
            self.user_agents.push(ua);
        }
        let token = authorization.and_then(|v| v.strip_prefix("Bearer "));
        // Like some real servers, an expired token is quoted back: the host
        // must not log it.
        let problem = match token.map(|t| (t, self.tokens.get(t))) {
            None => Some("no bearer token".to_string()),
            Some((_, None)) => Some("unknown bearer token".to_string()),
            Some((t, Some(expiry))) if now >= *expiry => Some(format!("expired bearer token {t}")),
            Some((_, Some(_))) => None,
        };
        if let Some(problem) = problem {
            self.unauthenticated_calls += 1;
            self.events
                .push(format!("unauthenticated:{}", rpc_name(path)));
            return Err(Status::unauthenticated(problem));
        }
        self.calls.push((path.to_string(), now));
        Ok(())
    }

    pub fn hello(&mut self, req: HelloRequest) -> Result<HelloResponse, Status> {
        const RPC: &str = "Hello";
        self.check_fields(
            RPC,
            [
                validate::host_id(&req.host_id),
                match req.task_id.as_str() {
                    "" => Ok(()),
                    id => validate::task_id(id),
                },
                validate::annotations("annotations", &req.annotations),
                match req.connector_metadata {
                    Some(_) => Ok(()),
                    None => Err("connector_metadata is missing".to_string()),
                },
            ],
        )?;
        for problem in validate::hello_facts(&req) {
            self.violations.push(format!("{RPC}: {problem}"));
        }
        if req.task_id.is_empty() {
            self.events.push("hello".to_string());
        } else {
            let id = req.task_id.clone();
            let Some(record) = self.tasks.get_mut(&id).filter(|r| r.handed_out) else {
                return Err(self.unknown_task(RPC, &id));
            };
            if !matches!(record.task.task_type, Some(TaskType::Hello(_))) {
                let kind = record.type_name();
                self.violations
                    .push(format!("{RPC}: task {id} is a {kind} task"));
            } else if record.done {
                self.violations
                    .push(format!("{RPC}: second Hello for hello task {id}"));
            } else {
                record.done = true;
            }
            self.events.push(format!("hello:{id}"));
        }
        self.hellos.push(req);
        Ok(HelloResponse::default())
    }

    pub fn get_task(&mut self, req: GetTaskRequest) -> Result<GetTaskResponse, Status> {
        self.check_fields("GetTask", [validate::host_id(&req.host_id)])?;
        self.events.push("get_task".to_string());
        let task = self.queue.pop_front().map(|id| {
            let record = self.tasks.get_mut(&id).expect("queued tasks are recorded");
            record.handed_out = true;
            let task = record.task.clone();
            if matches!(task.task_type, Some(TaskType::None(_))) {
                record.done = true;
            }
            self.events.push(format!("task:{id}"));
            task
        });
        Ok(GetTaskResponse {
            task,
            next_poll: self.next_poll.try_into().ok(),
            next_heartbeat: None,
            annotations: Vec::new(),
        })
    }

    pub fn heartbeat(&mut self, req: HeartbeatRequest) -> Result<HeartbeatResponse, Status> {
        const RPC: &str = "Heartbeat";
        self.check_fields(
            RPC,
            [
                validate::host_id(&req.host_id),
                validate::task_id(&req.task_id),
                validate::annotations("annotations", &req.annotations),
            ],
        )?;
        let Some(record) = self.tasks.get_mut(&req.task_id).filter(|r| r.handed_out) else {
            return Err(self.unknown_task(RPC, &req.task_id));
        };
        // A heartbeat after FinishTask is tolerated: the SDK may send one.
        record.heartbeats += 1;
        let cancelled = record.cancelled;
        self.events.push(format!("heartbeat:{}", req.task_id));
        Ok(HeartbeatResponse {
            next_heartbeat: self.next_heartbeat.try_into().ok(),
            cancelled,
            annotations: Vec::new(),
        })
    }

    pub fn finish_task(&mut self, req: FinishTaskRequest) -> Result<FinishTaskResponse, Status> {
        const RPC: &str = "FinishTask";
        let annotations = match &req.final_state {
            Some(FinalState::Success(s)) => {
                validate::annotations("success.annotations", &s.annotations)
            }
            Some(FinalState::Error(e)) => {
                validate::annotations("error.annotations", &e.annotations)
            }
            None => Err("final_state is not set".to_string()),
        };
        self.check_fields(
            RPC,
            [
                validate::host_id(&req.host_id),
                validate::task_id(&req.task_id),
                annotations,
            ],
        )?;
        let id = req.task_id.clone();
        let Some(record) = self.tasks.get_mut(&id).filter(|r| r.handed_out) else {
            return Err(self.unknown_task(RPC, &id));
        };
        if matches!(
            record.task.task_type,
            Some(TaskType::Hello(_) | TaskType::None(_))
        ) {
            let kind = record.type_name();
            self.violations
                .push(format!("{RPC}: FinishTask for {kind} task {id}"));
        }
        if !record.finishes.is_empty() {
            self.violations
                .push(format!("{RPC}: duplicate FinishTask for task {id}"));
        }
        record.done = true;
        record.finishes.push(req);
        self.events.push(format!("finish:{id}"));
        Ok(FinishTaskResponse::default())
    }

    /// Checks an upload's metadata.
    pub fn begin_upload(&mut self, meta: &UploadMetadata) -> Result<(), Status> {
        const RPC: &str = "UploadAsset";
        self.check_fields(
            RPC,
            [
                validate::host_id(&meta.host_id),
                validate::task_id(&meta.task_id),
                validate::annotations("metadata.annotations", &meta.annotations),
            ],
        )?;
        let Some(record) = self.tasks.get(&meta.task_id).filter(|r| r.handed_out) else {
            return Err(self.unknown_task(RPC, &meta.task_id));
        };
        if record.done {
            let problem = format!("upload for task {} after it finished", meta.task_id);
            self.violations.push(format!("{RPC}: {problem}"));
            return Err(Status::failed_precondition(problem));
        }
        self.uploads_begun.push(meta.task_id.clone());
        Ok(())
    }

    /// Stores a verified upload.
    pub fn complete_upload(&mut self, task_id: &str, bytes: Vec<u8>, chunk_sizes: Vec<usize>) {
        if let Some(record) = self.tasks.get_mut(task_id) {
            record.uploads.push(bytes);
            record.chunk_sizes.push(chunk_sizes);
        }
        self.events.push(format!("upload:{task_id}"));
    }

    /// Records a broken upload rule and returns the status for it.
    pub fn reject_upload(&mut self, code: Code, problem: String) -> Status {
        self.violations.push(format!("UploadAsset: {problem}"));
        Status::new(code, problem)
    }
}
