//! linekeeper: the system of record for an SMS platform's phone numbers.
//!
//! ```text
//! HTTP ──► faces (panel | vn) ──► core (rules) ──► store (Tx; sqlite)
//! ```
pub mod app;
pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod domain;
pub mod faces;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod store;
