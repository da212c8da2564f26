//! The wire faces. Each parses requests into core calls and renders the
//! core's outcomes in its own envelope; they share no wire code.
pub mod console;
pub mod native;
pub mod panel;
pub mod vn;
