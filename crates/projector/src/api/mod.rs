//! The projector's HTTP API: JSON reads of the replica (status, pages,
//! entries, search) and Prometheus metrics, each concept in its own file;
//! [`router()`] puts them together under the limits that bound their cost.

mod auth;
pub(crate) mod cursor;
pub(crate) mod entries;
pub(crate) mod error;
mod live;
mod metrics;
mod options;
mod pages;
pub(crate) mod query;
mod reads;
pub mod request_line;
mod router;
pub(crate) mod search;
mod shedding;
pub(crate) mod state;
pub(crate) mod status;

pub use auth::ApiToken;
pub use live::Live;
pub use options::ApiOptions;
pub use router::{router, serve};
pub use state::ApiState;
