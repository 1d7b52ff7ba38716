//! End-to-end tests: a real server on a free port, driven over HTTP. Every test runs on
//! SQLite and, when a PostgreSQL server is configured, again on PostgreSQL.

// A test binary: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api_keys;
mod audit;
mod bad_input;
mod boundary;
mod consistency;
mod deletion;
mod endpoints;
mod groups;
mod guesses;
mod imports;
mod introspection;
mod isolation;
mod lifecycle;
mod limits;
mod lockout;
mod login;
mod mail;
mod mfa;
mod organization_deletion;
mod organizations;
mod persisted_queries;
mod preferences;
mod project_roles;
mod races;
mod refusals;
mod request_errors;
mod resources;
mod roles;
mod secrets;
mod sessions;
mod sharing;
mod smtp_sink;
mod ssh_keys;
mod support;
mod tokens;
mod transport;
mod users_list;
