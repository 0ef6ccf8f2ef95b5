//! The probe's report and its renderers live in the core crate (`meshbench_core::probe`), so
//! the API, the store and the dashboard read them without loading BPF; they are re-exported
//! here for the probe's users.

pub use meshbench_core::probe::{
    render_csv, render_table, ClosedConnection, FilterReport, HandshakeReport, LifetimeReport,
    Percentiles, ProbeReport, ProbeTimelineEntry, Resets, SampleReport, PROBE_SCHEMA,
};
