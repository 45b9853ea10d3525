//! The projector: replays `PAGEFEED_EVENTS` into a local redb file and serves
//! reads of it. [`store`] owns the tables and the whole apply logic, so that
//! the replica is a function of the log (design invariants 1–4).

pub mod store;
