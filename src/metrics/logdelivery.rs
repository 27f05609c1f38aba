//! ElastiCache's log delivery formats, so a CloudWatch agent can ship ferrocache's logs into the
//! same log groups and queries as a managed node's:
//! - the engine log (`log-format elasticache-json | elasticache-text`): `CacheClusterId`,
//!   `CacheNodeId`, `LogLevel`, `Role`, `Time` ("22 Nov 2026 14:57:01.123 UTC"), `Message`;
//! - the slow log (`slowlog-delivery-file`, in `slowlog-delivery-format` json or text):
//!   `CacheClusterId`, `CacheNodeId`, `Id`, `Timestamp`, `Duration (us)`, `Command` (only the
//!   command's name, the rest summarised as "(N more arguments)" so no key or value leaves the
//!   node), `ClientAddress`, `ClientName`.

use std::fmt::Write as _;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::slowlog::Entry;

/// Month abbreviations, as log times and certificate dates print them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day) of a day count since 1970-01-01 (Hinnant's civil-from-days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// ElastiCache's engine-log time: `22 Nov 2026 14:57:01.123 UTC`.
pub fn engine_time(unix_ms: u64) -> String {
    let secs = (unix_ms / 1000) as i64;
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{d:02} {} {y} {:02}:{:02}:{:02}.{:03} UTC",
        MONTHS[m as usize - 1],
        s / 3600,
        s / 60 % 60,
        s % 60,
        unix_ms % 1000
    )
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The command as the slow log delivers it: its name, then how many arguments were left out.
fn summary(e: &Entry) -> String {
    let name = e
        .args
        .first()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .unwrap_or_default();
    match e.args.len().saturating_sub(1) {
        0 => name,
        n => format!("{name} ... ({n} more arguments)"),
    }
}

/// One slow-log entry as a delivered line (without the newline).
pub fn slowlog_line(e: &Entry, cluster: &str, node: &str, json: bool) -> String {
    let name = String::from_utf8_lossy(&e.name);
    if json {
        format!(
            "{{\"CacheClusterId\":{},\"CacheNodeId\":{},\"Id\":{},\"Timestamp\":{},\"Duration (us)\":{},\
             \"Command\":{},\"ClientAddress\":{},\"ClientName\":{}}}",
            json_str(cluster),
            json_str(node),
            e.id,
            e.time,
            e.usec,
            json_str(&summary(e)),
            json_str(&e.addr),
            json_str(&name)
        )
    } else {
        format!(
            "{cluster},{node},{},{},{},{},{},{name}",
            e.id,
            e.time,
            e.usec,
            summary(e),
            e.addr
        )
    }
}

/// The engine log in ElastiCache's shape, for `tracing_subscriber`.
pub struct EngineFormat {
    pub cluster: String,
    pub node: String,
    pub json: bool,
}

/// Collects an event's message and other fields as text.
#[derive(Default)]
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}

impl<S, N> FormatEvent<S, N> for EngineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let (level, mark) = match *event.metadata().level() {
            Level::ERROR | Level::WARN => ("WARNING", '#'),
            Level::INFO => ("NOTICE", '*'),
            Level::DEBUG | Level::TRACE => ("VERBOSE", '-'),
        };
        let mut msg = Message::default();
        event.record(&mut msg);
        let time = engine_time(crate::engine::now_ms());
        // The role: M for a primary (replicas are not there yet).
        if self.json {
            writeln!(
                w,
                "{{\"CacheClusterId\":{},\"CacheNodeId\":{},\"LogLevel\":\"{level}\",\"Role\":\"M\",\"Time\":\"{time}\",\"Message\":{}}}",
                json_str(&self.cluster),
                json_str(&self.node),
                json_str(&msg.0)
            )
        } else {
            writeln!(
                w,
                "{}/{}:M {time} {mark} {}",
                self.cluster, self.node, msg.0
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_elasticache_writes_them() {
        assert_eq!(engine_time(0), "01 Jan 1970 00:00:00.000 UTC");
        assert_eq!(
            engine_time(1_795_359_421_123),
            "22 Nov 2026 14:57:01.123 UTC"
        );
        assert_eq!(engine_time(951_782_400_000), "29 Feb 2000 00:00:00.000 UTC");
    }

    #[test]
    fn slow_log_lines_hide_keys_and_values() {
        let e = Entry {
            id: 7,
            time: 1_795_359_421,
            usec: 12_345,
            args: vec![b"SET".to_vec(), b"secret-key".to_vec(), b"v".to_vec()],
            addr: "127.0.0.1:5000".into(),
            name: b"app".to_vec(),
        };
        assert_eq!(
            slowlog_line(&e, "c1", "0001", true),
            "{\"CacheClusterId\":\"c1\",\"CacheNodeId\":\"0001\",\"Id\":7,\"Timestamp\":1795359421,\
             \"Duration (us)\":12345,\"Command\":\"SET ... (2 more arguments)\",\
             \"ClientAddress\":\"127.0.0.1:5000\",\"ClientName\":\"app\"}"
        );
        assert_eq!(
            slowlog_line(&e, "c1", "0001", false),
            "c1,0001,7,1795359421,12345,SET ... (2 more arguments),127.0.0.1:5000,app"
        );
    }
}
