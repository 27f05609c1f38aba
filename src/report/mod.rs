//! What the server reports about itself, gathered from every layer: INFO's sections, the
//! Prometheus `/metrics` page and the CloudWatch-named metrics (with their EMF documents). A
//! view over the whole server sits above all of it, so it is its own layer; the measurements
//! it reads are kept in `metrics`, which depends on nothing above the engine.

pub mod cloudwatch;
pub mod info;
pub mod prometheus;
