//! Persistence: the RDB format (values for DUMP/RESTORE, whole files for snapshots) and the
//! snapshots on disk. The AOF will come here too.

pub mod rdb;
pub mod snapshot;
