//! frontdoor-ivr: the flow model, its loading and validation, the region
//! and centre data, schedules, and the sans-IO interpreter that runs a call
//! through a flow.

pub mod regions;
pub mod schedule;
