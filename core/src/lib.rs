//! Domain types and shared machinery for every socialscalr role: plans, identifiers,
//! events and their wire format, webhook signing, secrets at rest, API tokens, retry
//! schedules, delivery target policy, configuration and the store.

#![allow(
    clippy::duplicate_mod,
    reason = "the queries in store/sql are compiled once for each SQL backend"
)]

pub mod config;
pub mod crypto;
pub mod duration;
pub mod event;
pub mod ids;
pub mod model;
pub mod plan;
pub mod process;
pub mod ratelimit;
pub mod retry;
pub mod signing;
pub mod store;
pub mod target;
pub mod tenancy;
pub mod testing;
pub mod time;
pub mod token;
