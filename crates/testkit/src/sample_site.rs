//! The sample site (being written).
