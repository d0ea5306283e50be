//! frontdoor-ivr: the flow model, its loading and validation, the region
//! and centre data, schedules, and the sans-IO interpreter that runs a call
//! through a flow.
//!
//! - [`flowset`]: a flow set (flows, centres, regions, prompt catalog)
//!   compiled from its files with every problem as `file:line:col: message`:
//!   the model in `flowset/mod.rs`, reading (`load.rs`), YAML errors
//!   (`yaml.rs`), compiling (`compile.rs`, `node.rs`) and the whole-set
//!   checks (`check.rs`).
//! - [`interp`]: one call's walk through a flow set, inputs in, outputs out.
//! - [`Fact`]: what the interpreter learns about the call (caller, language,
//!   region and its source, centre, topic, crisis, the flow's variables).
//! - [`HoldKeys`]: what a caller waiting in a queue can press, as the flow
//!   declares it (its crisis key, a route's callback key); each
//!   [`Route`] carries them.
//! - [`sim`]: the simulator and the flow test runner.
//! - [`diagram`]: a flow set drawn as SVG.
//! - [`regions`], [`schedule`]: the caller's region and the opening hours.

pub mod diagram;
mod fact;
pub mod flowset;
pub mod interp;
mod model;
pub mod regions;
pub mod schedule;
pub mod sim;

#[cfg(test)]
mod check_tests;

pub use fact::Fact;
pub use flowset::{Diagnostic, Diagnostics, FlowSet, HoldKeys, Lang, Priority};
pub use interp::{Call, CallInfo, Input, Output, Prompt, Route, Target};
pub use regions::{Caller, RegionSource};
