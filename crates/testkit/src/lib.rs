//! Test harness for pagefeed: a real `nats-server` per test (single node or a
//! three-node loopback cluster, each with its own temporary store), a TCP
//! proxy a test can cut to partition a client from it, and the sample site
//! that the demo, the tests and the benchmarks crawl.

pub mod nats;
pub mod nested_pages;
pub mod proxy;
pub mod sample_site;
