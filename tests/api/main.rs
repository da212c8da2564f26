//! The HTTP test suite: every test runs a real server over a fresh database.
mod crash;
mod helpers;
mod panel_numbers;
mod races;
