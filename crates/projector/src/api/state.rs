//! What every handler shares ([`ApiState`]: the store, the live status,
//! the read threads, the options, the sites' time zones) and [`read`], the one way a handler
//! reads the store: on the API's own read threads.

use std::sync::Arc;

use axum::http::StatusCode;

use crate::api::reads::{ReadError, ReadPool};
use crate::feeds::ValidatorCache;
use crate::store::{Store, StoreError};
use crate::zones::Zones;

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
    /// Each site's time zone, for what is shown to people (the web view,
    /// the feeds); the JSON API answers in UTC.
    pub(super) zones: Arc<Zones>,
    /// The feeds' validators as of an applied sequence.
    pub(crate) feeds: Arc<ValidatorCache>,
}

impl ApiState {
    /// The API's state, and its read threads started; every site's times
    /// are shown in UTC until [`ApiState::with_zones`] says otherwise.
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
            zones: Arc::default(),
            feeds: Arc::new(ValidatorCache::default()),
        })
    }

    /// The state with the sites' time zones (from the config).
    pub fn with_zones(self, zones: Arc<Zones>) -> ApiState {
        ApiState { zones, ..self }
    }

    /// Each site's time zone.
    pub fn zones(&self) -> &Arc<Zones> {
        &self.zones
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
