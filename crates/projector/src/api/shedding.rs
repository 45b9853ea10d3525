//! Load shedding: a group of routes under one timeout and one concurrency
//! limit, refusing at once with 503 what is over them rather than queueing.

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use tower::ServiceBuilder;

use super::error::ApiError;

/// `router` under a timeout and a concurrency limit shared by all its
/// routes (one semaphore however many routes it is layered on), refusing
/// at once what is over it.
pub(super) fn limited<S>(router: Router<S>, requests: usize, timeout: Duration) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(refused))
            .timeout(timeout)
            .load_shed()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                requests.max(1),
            )),
    )
}

/// The answer to a request the limits refused.
async fn refused(e: BoxError) -> Response {
    let message = if e.is::<tower::timeout::error::Elapsed>() {
        "the request took too long"
    } else if e.is::<tower::load_shed::error::Overloaded>() {
        "too many requests at once; try again"
    } else {
        tracing::error!(error = %e, "request failed");
        "internal error"
    };
    ApiError::unavailable(message).into_response()
}
