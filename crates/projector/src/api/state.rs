//! What every handler shares ([`ApiState`]: the store, the live status,
//! the read threads, the options) and [`read`], the one way a handler
//! reads the store: on the API's own read threads.

use std::sync::Arc;

use axum::http::StatusCode;

use crate::api::reads::{ReadError, ReadPool};
use crate::store::{Store, StoreError};

use super::error::ApiError;
use super::live::Live;
use super::options::ApiOptions;

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) store: Arc<Store>,
    pub(crate) live: Arc<Live>,
    reads: ReadPool,
    pub(crate) options: Arc<ApiOptions>,
}

impl ApiState {
    /// The API's state, and its read threads started.
    pub fn new(
        store: Arc<Store>,
        live: Arc<Live>,
        options: ApiOptions,
    ) -> std::io::Result<ApiState> {
        // Enough queue for every admitted request, and as many again for
        // reads whose request timed out before a thread took them (they
        // are skipped when their turn comes).
        let reads = ReadPool::start(options.read_threads, 2 * options.heavy_requests.max(1))?;
        Ok(ApiState {
            store,
            live,
            reads,
            options: Arc::new(options),
        })
    }
}

/// Runs a store read on the API's read threads.
pub(crate) async fn read<T, F>(state: &ApiState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    match state.reads.run(move || f(&store)).await {
        Ok(result) => Ok(result?),
        Err(ReadError::Busy) => Err(ApiError::unavailable("too many reads at once; try again")),
        Err(e) => {
            tracing::error!(error = %e, "store read task failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
    }
}
