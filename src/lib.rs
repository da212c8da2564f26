//! linekeeper: the system of record for an SMS platform's phone numbers.
//!
//! ```text
//! server ──► faces (panel | vn | native) ──► http (the edge) ──► core (rules) ──► store (sqlite | postgres) ──► domain
//! ```
//!
//! `server` assembles the router and is the only module that names every
//! face; no arrow points back up.
pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod domain;
pub mod faces;
pub mod http;
pub mod server;
pub mod store;
