//! Configuration: the parameter table, redis.conf-syntax files, command-line overrides, and the
//! runtime store behind CONFIG GET / SET / REWRITE.

pub mod params;
pub mod settings;

use std::path::{Path, PathBuf};

use parking_lot::RwLock;

pub use params::{find, normalize, Kind, ParamDef, Settings, PARAMS};
pub use settings::{BufferLimit, OnChange};

/// A configuration error at start-up, naming where it came from.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The running configuration: each parameter's normalised text (what CONFIG GET and REWRITE
/// show) and its typed slot (what the code reads: `config.timeout.u()`, through `Deref`).
#[derive(Debug)]
pub struct Config {
    values: RwLock<Vec<String>>,
    pub file: Option<PathBuf>,
    /// `user <name> <rules...>` lines: ACL users made at startup.
    pub users: Vec<Vec<String>>,
    settings: Settings,
}

impl std::ops::Deref for Config {
    type Target = Settings;

    fn deref(&self) -> &Settings {
        &self.settings
    }
}

/// One directive: a parameter name and its arguments (redis.conf line or `--name args...`).
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// Where it came from, for error messages (`line 12` or `the command line`).
    pub origin: String,
    pub text: String,
}

impl Config {
    /// All defaults.
    pub fn defaults() -> Config {
        let c = Config {
            values: RwLock::new(PARAMS.iter().map(|p| p.default.to_string()).collect()),
            file: None,
            users: Vec::new(),
            settings: Settings::default(),
        };
        c.load_all();
        c
    }

    /// Loads every slot from its text and runs every apply hook (at start-up).
    fn load_all(&self) {
        let values = self.values.read();
        for (def, v) in PARAMS.iter().zip(values.iter()) {
            (def.load)(&self.settings, v);
        }
        for def in PARAMS {
            if let Some(hook) = def.apply {
                hook(&self.settings);
            }
        }
    }

    /// Stores a normalised value in parameter `idx`'s text and slot, then runs its hook.
    fn store(&self, idx: usize, v: String) {
        let def = &PARAMS[idx];
        (def.load)(&self.settings, &v);
        self.values.write()[idx] = v;
        if let Some(hook) = def.apply {
            hook(&self.settings);
        }
    }

    /// Builds the configuration from an optional file and command-line directives.
    pub fn load(file: Option<&Path>, overrides: &[Directive]) -> Result<Config, ConfigError> {
        let mut c = Config::defaults();
        let mut directives = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!(
                    "Fatal error, can't open config file '{}': {e}",
                    path.display()
                ))
            })?;
            directives = parse_text(&text)?;
            c.file = Some(path.to_path_buf());
        }
        directives.extend_from_slice(overrides);
        // Save points accumulate over `save` lines, as in redis.conf (`save ""` clears them).
        let mut points: Vec<String> = Vec::new();
        for d in &mut directives {
            if d.name == "user" {
                c.users.push(d.args.clone());
                continue;
            }
            if d.name.eq_ignore_ascii_case("save") {
                if d.args.iter().all(|a| a.is_empty()) {
                    points.clear();
                } else {
                    points.extend(d.args.iter().cloned());
                }
                d.args = if points.is_empty() {
                    vec![String::new()]
                } else {
                    points.clone()
                };
            }
            c.apply_directive(d)?;
        }
        Ok(c)
    }

    fn apply_directive(&self, d: &Directive) -> Result<(), ConfigError> {
        let fail = |msg: &str| {
            ConfigError(format!(
                "\n*** FATAL CONFIG FILE ERROR (ferrocache {}) ***\nReading the configuration file, at {}\n>>> '{}'\n{}",
                env!("CARGO_PKG_VERSION"),
                d.origin,
                d.text,
                msg
            ))
        };
        let idx =
            find(&d.name).ok_or_else(|| fail("Bad directive or wrong number of arguments"))?;
        let def = &PARAMS[idx];
        let joined = d.args.join(" ");
        // Multi-word values are only meaningful for these (as in redis.conf).
        let multi = matches!(
            def.name,
            "bind"
                | "save"
                | "client-output-buffer-limit"
                | "replicaof"
                | "latency-tracking-info-percentiles"
                | "oom-score-adj-values"
                | "shutdown-on-sigterm"
                | "shutdown-on-sigint"
        );
        if d.args.len() != 1 && !multi {
            return Err(fail("wrong number of arguments"));
        }
        let v = normalize(def, &joined).map_err(|e| fail(&e))?;
        self.store(idx, v);
        Ok(())
    }

    /// Name/value pairs of every parameter matching any of the glob patterns (CONFIG GET).
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        let mut out = Vec::new();
        for (i, def) in PARAMS.iter().enumerate() {
            let names = std::iter::once(def.name).chain(def.alias);
            for name in names {
                if patterns
                    .iter()
                    .any(|p| crate::engine::glob::matches(p, name.as_bytes(), true))
                {
                    out.push((name, values[i].clone()));
                }
            }
        }
        out
    }

    /// Sets several parameters at once: all are validated first, and none change unless all
    /// are valid (CONFIG SET). Errors are the text after `ERR `.
    pub fn set_many(&self, pairs: &[(&str, &str)]) -> Result<(), String> {
        let mut staged: Vec<(usize, String)> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let Some(idx) = find(name) else {
                return Err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            let def = &PARAMS[idx];
            let fail = |e: &str| {
                format!("CONFIG SET failed (possibly related to argument '{name}') - {e}")
            };
            if staged.iter().any(|(i, _)| *i == idx) {
                return Err(fail("duplicate parameter"));
            }
            if !def.mutable {
                return Err(fail("can't set immutable config"));
            }
            staged.push((idx, normalize(def, value).map_err(|e| fail(&e))?));
        }
        for (idx, v) in staged {
            self.store(idx, v);
        }
        Ok(())
    }

    /// Rewrites the config file with the current values (CONFIG REWRITE): lines for changed
    /// parameters are replaced in place, comments are kept, new settings are appended.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self
            .file
            .as_ref()
            .ok_or_else(|| "The server is running without a config file".to_string())?;
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let values = self.values.read().clone();
        let mut written = vec![false; PARAMS.len()];
        let mut out = String::new();
        for line in old.lines() {
            let idx = parse_line(line).ok().flatten().and_then(|d| find(&d.name));
            match idx {
                Some(i) if written[i] => continue,
                Some(i) => {
                    written[i] = true;
                    out.push_str(&render(PARAMS[i].name, &values[i]));
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        let mut header = false;
        for (i, def) in PARAMS.iter().enumerate() {
            if !written[i] && values[i] != def.default {
                if !header {
                    out.push_str("# Generated by CONFIG REWRITE\n");
                    header = true;
                }
                out.push_str(&render(def.name, &values[i]));
                out.push('\n');
            }
        }
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, out)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("Rewriting config file: {e}"))
    }
}

/// A value as a config-file line: quoted when empty or containing spaces (except bind/save).
fn render(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{name} \"\"")
    } else if matches!(name, "bind" | "save") || !value.contains([' ', '"', '\'']) {
        format!("{name} {value}")
    } else {
        format!(
            "{name} \"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

/// Parses one config-file line; `Ok(None)` for blanks and comments.
fn parse_line(line: &str) -> Result<Option<Directive>, ()> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let mut scratch = Vec::new();
    let mut ranges = Vec::new();
    crate::protocol::parser::split_inline_args(t.as_bytes(), &mut scratch, &mut ranges)?;
    let mut words = ranges
        .iter()
        .map(|r| String::from_utf8_lossy(&scratch[r.clone()]).into_owned());
    let Some(name) = words.next() else {
        return Ok(None);
    };
    Ok(Some(Directive {
        name: name.to_ascii_lowercase(),
        args: words.collect(),
        origin: String::new(),
        text: t.to_string(),
    }))
}

/// Parses redis.conf-syntax text into directives.
pub fn parse_text(text: &str) -> Result<Vec<Directive>, ConfigError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(mut d)) => {
                d.origin = format!("line {}", n + 1);
                out.push(d);
            }
            Ok(None) => {}
            Err(()) => {
                return Err(ConfigError(format!(
                    "\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line {}\n>>> '{}'\nUnbalanced quotes in configuration line",
                    n + 1,
                    line.trim()
                )))
            }
        }
    }
    Ok(out)
}

/// Turns `--port 6380 --save "" --bind a b` into directives, as redis-server does.
pub fn parse_args(args: &[String]) -> Result<Vec<Directive>, ConfigError> {
    let mut out: Vec<Directive> = Vec::new();
    for a in args {
        if let Some(name) = a.strip_prefix("--") {
            out.push(Directive {
                name: name.to_ascii_lowercase(),
                args: vec![],
                origin: "the command line".into(),
                text: a.clone(),
            });
        } else if let Some(d) = out.last_mut() {
            d.args.push(a.clone());
            d.text.push(' ');
            d.text.push_str(a);
        } else {
            return Err(ConfigError(format!(
                "Unexpected argument '{a}': options are written --name value"
            )));
        }
    }
    // `--save` alone means an empty value, like `save ""`.
    for d in &mut out {
        if d.args.is_empty() {
            d.args.push(String::new());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README says every parameter is in the shipped file, set or shown commented out.
    #[test]
    fn the_shipped_file_lists_every_parameter() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ferrocache.conf");
        let text = std::fs::read_to_string(path).unwrap();
        let listed: std::collections::HashSet<&str> = text
            .lines()
            .map(|l| l.trim_start_matches("# ").trim())
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let missing: Vec<&str> = PARAMS
            .iter()
            .map(|p| p.name)
            .filter(|n| !listed.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "not in config/ferrocache.conf: {missing:?}"
        );
    }

    #[test]
    fn file_then_args_override() {
        let dir = std::env::temp_dir().join(format!("fc-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.conf");
        std::fs::write(
            &path,
            "# comment\nport 7000\ntimeout 5\nrequirepass \"a b\"\n",
        )
        .unwrap();
        let args = parse_args(&["--port".into(), "7001".into()]).unwrap();
        let c = Config::load(Some(&path), &args).unwrap();
        assert_eq!(c.port.get(), 7001);
        assert_eq!(c.timeout.get(), 5);
        assert_eq!(&*c.requirepass.get(), "a b");
        c.set_many(&[("timeout", "9")]).unwrap();
        c.rewrite().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# comment"));
        assert!(text.contains("timeout 9"));
        assert!(text.contains("requirepass \"a b\""));
    }

    #[test]
    fn bad_line_is_named() {
        let err =
            Config::load(None, &parse_args(&["--nosuch".into(), "1".into()]).unwrap()).unwrap_err();
        assert!(err.0.contains("Bad directive"), "{}", err.0);
        let e = match parse_text("port 1\nport abc\n").map(|d| {
            let c = Config::defaults();
            d.iter().try_for_each(|d| c.apply_directive(d))
        }) {
            Ok(Err(e)) => e.0,
            _ => panic!(),
        };
        assert!(e.contains("line 2") && e.contains("port abc"), "{e}");
    }

    #[test]
    fn set_many_is_all_or_nothing() {
        let c = Config::defaults();
        let err = c
            .set_many(&[("timeout", "5"), ("maxclients", "x")])
            .unwrap_err();
        assert!(err.contains("maxclients"));
        assert_eq!(c.timeout.get(), 0);
        assert!(c
            .set_many(&[("port", "1")])
            .unwrap_err()
            .contains("immutable"));
        assert!(c
            .set_many(&[("nosuch", "1")])
            .unwrap_err()
            .starts_with("Unknown option"));
    }
}
