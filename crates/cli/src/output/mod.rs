//! How a result is shown: a table for people, CSV for spreadsheets, an HdrHistogram log
//! for HdrHistogram's own tools. JSON is serde's rendering of the result itself.

pub mod csv;
pub mod hdrlog;
pub mod table;
