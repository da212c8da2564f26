//! The HTTP test suite: every test runs a real server over a fresh database.
mod cli;
mod expect;
mod helpers;
mod panel_auth;
mod panel_grants;
mod panel_input;
mod panel_list;
mod panel_numbers;
mod panel_property;
mod panel_refs;
mod panel_seed;
mod panel_users;
