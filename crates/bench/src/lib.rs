//! pagefeed's benchmarks, run against the real thing: the services' release
//! binaries, a real nats-server and the sample site, each pinned to a core
//! when `taskset` is there. Figures and commands are in docs/BENCHMARKS.md.

pub mod chaos;
pub mod extract;
pub mod fetcher;
pub mod procs;
pub mod projector;
mod publish;
mod report;
pub mod scale;
pub mod scrapy;
pub mod web;
