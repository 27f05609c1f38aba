//! The wire protocol: a stateful request parser (RESP arrays and inline commands) and the reply
//! encoder. Knows bytes, never keys.

pub mod parser;
pub mod reply;

pub use crate::num::parse_i64;
pub use reply::{format_double, Reply};
