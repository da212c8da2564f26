//! The HTTP test suite: every test runs a real server over a fresh database.
mod cli_admin;
mod helpers;
mod panel_numbers;
mod vn_auth;
mod vn_common;
mod vn_lists;
mod vn_purchase;
mod vn_unsubscribe;
