//! The sending side: gather families, keep a chosen subset, push them to a
//! gateway (the seed's `Pusher` and `Reporter`).
//!
//! * [`Gatherer`]: where the families come from (a `prometheus::Registry`,
//!   a closure, a [`Filter`](crate::matcher::Filter) over either).
//! * [`grouping`]: how a job and grouping labels are written into the URL.

mod gatherer;
pub mod grouping;

pub use gatherer::{GatherError, Gatherer};
