//! ferrocache: a Redis-protocol-compatible in-memory cache server.
//!
//! Layers, from the socket inwards: `server` (listeners, connections) → `protocol` (parse
//! requests, encode replies) → `command` (the command table, one module per family) →
//! `engine` (the sharded keyspace, which never sees a socket). `config` and `metrics` serve all.

pub mod acl;
pub mod clients;
pub mod command;
pub mod config;
pub mod engine;
pub mod journal;
pub mod metrics;
pub mod num;
pub mod persistence;
pub mod protocol;
pub mod replication;
pub mod report;
pub mod scripting;
pub mod server;
