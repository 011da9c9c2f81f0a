//! A load generator for CloudShop: shopper journeys against the gateway and
//! the storefront, in closed loop (N users, each starting its next step when
//! the last one answered) or open loop (steps started at a fixed rate,
//! whatever the answers; latency counts from when a step was due, so a slow
//! server cannot hide its queue).
//!
//! Results per endpoint: requests/s, p50/p95/p99/max latency and errors, as
//! a Markdown table ([`Report::table`]), JSON (`serde`), and an SVG chart
//! ([`chart::svg`]).

pub mod chart;
pub mod journey;
pub mod stats;

pub use journey::{Journey, Mix, Shop, closed_loop, open_loop};
pub use stats::{EndpointStats, Recorder, Report};
