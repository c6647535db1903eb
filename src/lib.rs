//! packrelease: publish integration packs — versioned bundles of process and
//! API service components — and release them, now or on a date, to every
//! subscriber account that has the pack installed.
//!
//! Dependencies point one way: `http` → `service` → `store` → `schema`,
//! with `domain` (rules, no I/O) and `clock` used throughout. The binaries only wire.

pub mod app;
pub mod clock;
pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod failpoint;
pub mod http;
pub mod log_format;
pub mod log_writer;
pub mod schema;
pub mod service;
pub mod store;
pub mod worker;
