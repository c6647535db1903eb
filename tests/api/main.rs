//! The integration tests: one binary, every test on SQLite and on PostgreSQL.

mod helpers;

mod idempotency;
mod legacy;

mod accounts;
mod components;
mod conditional;
mod contract;
mod delivery;
mod delivery_crash;
mod drafts;
mod errors;
mod findings;
mod metrics;
mod migrations;
mod packs;
mod process_exit;
mod races;
mod receiver;
mod releases;
mod rollouts;
mod seed;
mod subscribers;
mod worker;
