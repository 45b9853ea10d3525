//! `/api/status` and `/metrics`: both answered from what the replication
//! loop published ([`super::Live`]), never from a read of the file.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::state::ApiState;

/// The node's figures, as `/api/status` and the web view show them.
#[derive(Serialize)]
pub(crate) struct StatusBody {
    pub(crate) node: String,
    pub(crate) applied_seq: u64,
    pub(crate) stream_last_seq: u64,
    pub(crate) lag: u64,
    pub(crate) digest: String,
    pub(crate) pages: u64,
    pub(crate) entries: u64,
    pub(crate) rejected: u64,
    /// `"ok"`, or `"stalled"` while commits fail (a full disk): reads are
    /// still served, and applying resumes by itself.
    pub(crate) applying: &'static str,
    /// Why applying is stalled; `null` while it goes on.
    pub(crate) apply_error: Option<String>,
}

impl StatusBody {
    /// From what the replication loop published: never waits for a read.
    pub(crate) fn of(state: &ApiState) -> StatusBody {
        let replica = state.live.replica();
        let stream_last_seq = state.live.stream_last_seq.load(Ordering::Relaxed);
        let apply_error = state.live.stalled();
        StatusBody {
            node: state.live.node.clone(),
            applied_seq: replica.applied_seq,
            stream_last_seq,
            lag: stream_last_seq.saturating_sub(replica.applied_seq),
            digest: replica.digest,
            pages: replica.pages,
            entries: replica.entries,
            rejected: replica.rejected,
            applying: if apply_error.is_some() {
                "stalled"
            } else {
                "ok"
            },
            apply_error,
        }
    }
}

pub(super) async fn status(State(state): State<ApiState>) -> Json<StatusBody> {
    Json(StatusBody::of(&state))
}

/// From what the replication loop published, like the status.
pub(super) async fn metrics(State(state): State<ApiState>) -> Response {
    match crate::api::metrics::render(&state.live) {
        Ok(text) => (
            [(header::CONTENT_TYPE, crate::api::metrics::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding the metrics failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
