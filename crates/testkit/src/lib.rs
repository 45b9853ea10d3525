//! Test harness for pagefeed: a real `nats-server` per test (single node or a
//! three-node loopback cluster, each with its own temporary store), the
//! services run as real processes under one handle, configs for tests,
//! reading streams back, waiting with a deadline, a TCP proxy a test can cut
//! to partition a client, a small filesystem to fill up, a headless
//! browser for the web view, and the sample site that the demo, the tests
//! and the benchmarks crawl.

pub mod browser;
pub mod config;
pub mod in_process;
pub mod logs;
pub mod nats;
pub mod nested_pages;
pub mod permissions;
pub mod process;
pub mod projector_api;
pub mod proxy;
pub mod sample_site;
pub mod services;
pub mod streams;
pub mod tmpfs;
pub mod wait;
