//! Persistence formats. So far the RDB value encoding, which DUMP and RESTORE carry; snapshots
//! and the AOF will build on it.

pub mod rdb;
