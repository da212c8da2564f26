//! The wire faces. Each parses requests into core calls and renders the
//! core's outcomes in its own envelope; they share no wire code.
pub mod console;
pub mod native;
/// Not a wire face: the outbox's publisher to NATS JetStream.
pub mod nats;
pub mod panel;
pub mod vn;
