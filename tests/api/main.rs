//! The HTTP test suite: every test runs a real server over a fresh database.
mod helpers;
mod panel_numbers;
mod panel_users;
