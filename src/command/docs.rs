//! Turns a command's syntax line (`key value [NX | XX] [EX seconds | PX milliseconds]`) into the
//! argument tree COMMAND DOCS returns, which redis-cli uses for its hints.
//!
//! Conventions of the syntax line: UPPER-CASE words are tokens (a token followed by a
//! lower-case word is a token with a value), lower-case words are arguments, `[...]` is
//! optional, `a | b` is a choice, and `...` after an item means it repeats.

use crate::protocol::Reply;

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: String,
    /// Redis's argument types: key, string, integer, double, pure-token, block, oneof.
    pub kind: &'static str,
    pub token: Option<String>,
    pub optional: bool,
    pub multiple: bool,
    pub children: Vec<Arg>,
}

impl Arg {
    fn leaf(name: &str, kind: &'static str, token: Option<&str>) -> Arg {
        Arg {
            name: name.to_string(),
            kind,
            token: token.map(str::to_string),
            optional: false,
            multiple: false,
            children: vec![],
        }
    }
}

fn tokenize(s: &str) -> Vec<String> {
    let spaced = s
        .replace('[', " [ ")
        .replace(']', " ] ")
        .replace('|', " | ");
    let mut out = Vec::new();
    for w in spaced.split_whitespace() {
        if let Some(base) = w.strip_suffix("...").filter(|b| !b.is_empty()) {
            out.push(base.to_string());
            out.push("...".to_string());
        } else {
            out.push(w.to_string());
        }
    }
    out
}

fn is_token(w: &str) -> bool {
    w.chars().any(|c| c.is_ascii_uppercase()) && !w.chars().any(|c| c.is_ascii_lowercase())
}

fn value_kind(name: &str) -> &'static str {
    // Key arguments by the names Redis's docs give them.
    const KEYS: &[&str] = &["source", "destination", "dst", "src"];
    const INTS: &[&str] = &[
        "seconds",
        "milliseconds",
        "count",
        "index",
        "index1",
        "index2",
        "db",
        "offset",
        "start",
        "end",
        "cursor",
        "protover",
        "client-id",
        "maxage",
        "destination-db",
        "min-match-len",
        "decrement",
        "numkeys",
        "unix-time-seconds",
        "unix-time-milliseconds",
    ];
    if INTS.contains(&name) || name == "increment" {
        "integer"
    } else if name.contains("key") || KEYS.contains(&name) {
        "key"
    } else if name == "pattern" {
        "pattern"
    } else {
        "string"
    }
}

struct P {
    toks: Vec<String>,
    pos: usize,
}

impl P {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }

    /// Alternatives separated by `|` until `]` or the end.
    fn alternatives(&mut self) -> Vec<Arg> {
        let mut alts = vec![self.sequence()];
        while self.peek() == Some("|") {
            self.pos += 1;
            alts.push(self.sequence());
        }
        if alts.len() == 1 {
            return alts.pop().unwrap_or_default();
        }
        let children = alts.into_iter().map(group).collect::<Vec<_>>();
        let name = children
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join("-");
        vec![Arg {
            name: if name.len() > 40 {
                "option".into()
            } else {
                name
            },
            kind: "oneof",
            token: None,
            optional: false,
            multiple: false,
            children,
        }]
    }

    fn sequence(&mut self) -> Vec<Arg> {
        let mut items: Vec<Arg> = Vec::new();
        while let Some(w) = self.peek().map(str::to_string) {
            match w.as_str() {
                "]" | "|" => break,
                "[" => {
                    self.pos += 1;
                    let inner = self.alternatives();
                    if self.peek() == Some("]") {
                        self.pos += 1;
                    }
                    // `[x ...]` right after `x` means "x, repeated": fold into the previous item.
                    let repeat = inner.len() == 1
                        && inner[0].multiple
                        && items.last().is_some_and(|l| l.name == inner[0].name);
                    if repeat {
                        if let Some(l) = items.last_mut() {
                            l.multiple = true;
                        }
                        continue;
                    }
                    // `a b [a b ...]`: the pair, repeated, is one block (MSET's key_value).
                    let n = inner.len();
                    let pairs = n >= 2
                        && inner[n - 1].multiple
                        && items.len() >= n
                        && items[items.len() - n..]
                            .iter()
                            .zip(&inner)
                            .all(|(a, b)| a.name == b.name);
                    if pairs {
                        let children = items.split_off(items.len() - n);
                        let name = children
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join("_");
                        items.push(Arg {
                            name,
                            kind: "block",
                            token: None,
                            optional: false,
                            multiple: true,
                            children,
                        });
                        continue;
                    }
                    let mut g = group(inner);
                    g.optional = true;
                    items.push(g);
                }
                "..." => {
                    self.pos += 1;
                    if let Some(l) = items.last_mut() {
                        l.multiple = true;
                    }
                }
                _ => {
                    self.pos += 1;
                    let next = self.peek().map(str::to_string);
                    if is_token(&w) {
                        match next {
                            Some(v)
                                if !is_token(&v)
                                    && !["[", "]", "|", "..."].contains(&v.as_str()) =>
                            {
                                self.pos += 1;
                                items.push(Arg::leaf(&v, value_kind(&v), Some(&w)));
                            }
                            _ => items.push(Arg::leaf(
                                &w.to_ascii_lowercase(),
                                "pure-token",
                                Some(&w),
                            )),
                        }
                    } else {
                        items.push(Arg::leaf(&w, value_kind(&w), None));
                    }
                }
            }
        }
        items
    }
}

/// One argument from a list: the item itself, or a block holding several.
fn group(mut items: Vec<Arg>) -> Arg {
    if items.len() == 1 {
        return items.pop().expect("one item");
    }
    let name = items.first().map(|a| a.name.clone()).unwrap_or_default();
    Arg {
        name,
        kind: "block",
        token: None,
        optional: false,
        multiple: false,
        children: items,
    }
}

/// Parses a syntax line into arguments.
pub fn parse(syntax: &str) -> Vec<Arg> {
    let mut p = P {
        toks: tokenize(syntax),
        pos: 0,
    };
    p.alternatives()
}

/// Writes COMMAND DOCS arguments. A key argument names the key spec that finds it
/// (`key_spec_index`): the specs follow the key arguments in order, the last one covering the
/// rest (LCS's two keys are one range); `next_key` counts the key arguments written so far.
pub fn write_args(out: &mut Reply, args: &[Arg], key_specs: usize, next_key: &mut usize) {
    out.array(args.len());
    for a in args {
        // (SORT's BY and GET patterns name keys too, through a spec of their own.)
        let spec_index = (matches!(a.kind, "key" | "pattern") && key_specs > 0).then(|| {
            *next_key += 1;
            (*next_key - 1).min(key_specs - 1)
        });
        let mut flags = Vec::new();
        if a.optional {
            flags.push("optional");
        }
        if a.multiple {
            flags.push("multiple");
        }
        let fields = 2
            + spec_index.is_some() as usize
            + a.token.is_some() as usize
            + !flags.is_empty() as usize
            + !a.children.is_empty() as usize;
        out.map(fields);
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(a.kind.as_bytes());
        if let Some(i) = spec_index {
            out.bulk(b"key_spec_index");
            out.int(i as i64);
        }
        if let Some(t) = &a.token {
            out.bulk(b"token");
            out.bulk(t.as_bytes());
        }
        if !flags.is_empty() {
            out.bulk(b"flags");
            out.array(flags.len());
            for f in flags {
                out.simple(f);
            }
        }
        if !a.children.is_empty() {
            out.bulk(b"arguments");
            write_args(out, &a.children, key_specs, next_key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_syntax() {
        let a = parse("key value [NX | XX] [GET] [EX seconds | PX milliseconds | KEEPTTL]");
        assert_eq!(a.len(), 5);
        assert_eq!(a[0].kind, "key");
        assert_eq!(a[2].kind, "oneof");
        assert!(a[2].optional);
        assert_eq!(a[2].children[0].token.as_deref(), Some("NX"));
        assert_eq!(a[3].kind, "pure-token");
        assert_eq!(a[4].children[0].name, "seconds");
        assert_eq!(a[4].children[0].kind, "integer");
    }

    #[test]
    fn repeated_keys_fold() {
        let a = parse("key [key ...]");
        assert_eq!(a.len(), 1);
        assert!(a[0].multiple);
        // Pairs repeated are one repeated block, as Redis documents MSET's.
        let b = parse("key value [key value ...]");
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].name.as_str(), b[0].kind), ("key_value", "block"));
        assert!(b[0].multiple && !b[0].optional);
        assert_eq!(b[0].children.len(), 2);
    }
}
