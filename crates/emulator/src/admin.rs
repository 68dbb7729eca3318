//! The admin HTTP API under `/_emulator`, for the binary and demos.
//!
//! It lets a human or script inspect state (never secrets) and turn the same knobs the
//! in-process `Emulator` methods turn: faults, clock, page size, rate limit, latency, a set's
//! last use, whether answers show access key ids, paging mode and `limit` maximum, and it
//! which holders refuse role credential sets, and it writes error logs and adds VPGs.
//! Admin calls are not recorded, counted, faulted or rate limited.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::State as AxumState;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::{Fault, RoleRefusal};
use crate::logs::LogEntry;
use crate::paging::PagingMode;
use crate::ratelimit::RateLimit;
use crate::reply::{codes, ApiError, Reply};
use crate::server::{lock, to_response, Shared};

/// The admin routes.
pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/state", get(state))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/clock", post(clock))
        .route("/page-size", post(page_size))
        .route("/rate-limit", post(rate_limit))
        .route("/latency", post(latency))
        .route("/stats", get(stats))
        .route("/credential-used", post(credential_used))
        .route("/omit-access-key-id", post(omit_access_key_id))
        .route("/paging", post(paging))
        .route("/logs", post(emit_log))
        .route("/vpgs", post(add_vpg))
        .route("/max-limit", post(max_limit))
        .route("/role-refusals", post(role_refusals))
}

fn ok() -> Response {
    to_response(Reply::empty(204))
}

fn bad(e: JsonRejection) -> Response {
    to_response(Reply::json(
        400,
        ApiError::bad_request(e.body_text()).body(Default::default()),
    ))
}

async fn state(AxumState(shared): AxumState<Shared>) -> Response {
    let st = lock(&shared);
    // What the API shows, access key ids included whatever the omit knob says.
    let credentials: Vec<Value> = st.credentials.values().map(|c| c.model(true)).collect();
    let handlers: Vec<&Value> = st.event_handlers.values().collect();
    to_response(Reply::json(
        200,
        json!({
            "credentials": credentials,
            "groups": st.group_models(),
            "eventHandlers": handlers,
            "virtualPrivateGateways": st.vpg_models(),
            "logs": st.log_models(),
        }),
    ))
}

async fn add_fault(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<Fault>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(fault)) => {
            lock(&shared).faults.add(fault);
            ok()
        }
        Err(e) => bad(e),
    }
}

async fn clear_faults(AxumState(shared): AxumState<Shared>) -> Response {
    lock(&shared).faults.clear();
    ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Clock {
    now_ms: Option<i64>,
}

async fn clock(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<Clock>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(c)) => {
            lock(&shared).fixed_now_ms = c.now_ms;
            ok()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageSize {
    page_size: usize,
}

async fn page_size(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<PageSize>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(p)) => {
            lock(&shared).page_size = p.page_size.max(1);
            ok()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitBody {
    limit: u32,
    window_seconds: u64,
}

async fn rate_limit(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<Option<RateLimitBody>>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(r)) => {
            lock(&shared).rate.set(r.map(|r| RateLimit {
                limit: r.limit,
                window: Duration::from_secs(r.window_seconds.max(1)),
            }));
            ok()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct Latency {
    ms: u64,
}

async fn latency(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<Latency>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(l)) => {
            lock(&shared).latency = Duration::from_millis(l.ms);
            ok()
        }
        Err(e) => bad(e),
    }
}

async fn stats(AxumState(shared): AxumState<Shared>) -> Response {
    let st = lock(&shared);
    let mut statuses = std::collections::BTreeMap::<String, u64>::new();
    for r in &st.requests {
        *statuses.entry(r.status.to_string()).or_insert(0) += 1;
    }
    to_response(Reply::json(
        200,
        json!({"callCounts": st.counts, "statusCounts": statuses}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialUsed {
    credentials_id: String,
    at_ms: i64,
}

/// Sets a set's `lastUsedDateTime`; 404 when there is no such set.
async fn credential_used(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<CredentialUsed>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(u)) => match lock(&shared).credentials.get_mut(&u.credentials_id) {
            Some(c) => {
                c.last_used_ms = u.at_ms;
                ok()
            }
            None => to_response(Reply::json(
                404,
                ApiError::new(404, codes::CREDENTIAL_NOT_FOUND, "no such credential set")
                    .body(Default::default()),
            )),
        },
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct Omit {
    omit: bool,
}

async fn omit_access_key_id(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<Omit>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(o)) => {
            lock(&shared).omit_access_key_id = o.omit;
            ok()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct Paging {
    mode: PagingMode,
}

async fn paging(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<Paging>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(p)) => {
            lock(&shared).paging = p.mode;
            ok()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaxLimit {
    max_limit: Option<usize>,
}

async fn max_limit(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<MaxLimit>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(m)) => {
            lock(&shared).max_limit = m.max_limit;
            ok()
        }
        Err(e) => bad(e),
    }
}

async fn emit_log(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<LogEntry>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(entry)) => {
            lock(&shared).emit_log(entry);
            ok()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddVpg {
    vpg_id: String,
    #[serde(default)]
    inspection: Option<serde_json::Map<String, Value>>,
}

async fn add_vpg(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<AddVpg>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(v)) => {
            lock(&shared).add_vpg(&v.vpg_id, v.inspection);
            ok()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct RoleRefusals {
    holders: Vec<RoleRefusal>,
}

/// Replaces the holders that refuse role credential sets (`[]`: none).
async fn role_refusals(
    AxumState(shared): AxumState<Shared>,
    body: Result<Json<RoleRefusals>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(r)) => {
            lock(&shared).role_refusals = r.holders;
            ok()
        }
        Err(e) => bad(e),
    }
}
