//! The ACL file (`aclfile`): one `user <name> <rules...>` line per user, as ACL LIST shows
//! them, so that a file Redis wrote loads here and ours there. ACL LOAD is all or nothing: any
//! bad line leaves the users as they were, and the error lists every problem found.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::{Acl, User};
use crate::command::table::CommandTable;

/// Parses the users of an ACL file's text; Err with Redis's one-line account of the problems.
pub fn parse(
    acl: &Acl,
    table: &CommandTable,
    fname: &str,
    text: &str,
) -> Result<BTreeMap<Vec<u8>, User>, String> {
    let mut users: BTreeMap<Vec<u8>, User> = BTreeMap::new();
    let mut errors = String::new();
    let all_channels = acl.all_channels_default();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = line.trim_matches([' ', '\t', '\r', '\n']);
        if line.is_empty() {
            continue;
        }
        // (Split on single spaces, as Redis does: no quoting in ACL files.)
        let words: Vec<&str> = line.split(' ').collect();
        if words[0] != "user" || words.len() < 2 {
            errors.push_str(&format!(
                "{fname}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = words[1].as_bytes();
        if name.iter().any(|&c| c == b' ' || c == 0) {
            errors.push_str(&format!(
                "'{fname}:{n}: username '{}' contains invalid characters. ",
                words[1]
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {n}. ",
                words[1]
            ));
            continue;
        }
        let rules: Vec<&[u8]> = words[2..].iter().map(|w| w.as_bytes()).collect();
        let mut u = acl.blank(name);
        match super::user::merge_selectors(&rules) {
            Err(_) => errors.push_str(&format!(
                "{fname}:{n}: Unmatched parenthesis in selector definition."
            )),
            Ok(rules) => {
                let mut syntax_error = false;
                for r in &rules {
                    let r: &[u8] = trim(r);
                    if let Err(e) = u.apply(table, r, all_channels) {
                        if e == super::RuleError::UnknownName {
                            errors.push_str(&format!(
                                "{fname}:{n}: Error in applying operation '{}': {}. ",
                                String::from_utf8_lossy(r),
                                e.text()
                            ));
                        } else if !syntax_error {
                            errors.push_str(&format!("{fname}:{n}: {}. ", e.text()));
                            syntax_error = true;
                        }
                    }
                }
            }
        }
        users.insert(name.to_vec(), u);
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

fn trim(r: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| matches!(c, b'\t' | b'\r' | b'\n');
    let start = r.iter().position(|c| !is_ws(c)).unwrap_or(r.len());
    let end = r.iter().rposition(|c| !is_ws(c)).map_or(start, |e| e + 1);
    &r[start..end]
}

/// Reads and parses the file at `path`.
pub fn load(
    acl: &Acl,
    table: &CommandTable,
    path: &str,
) -> Result<BTreeMap<Vec<u8>, User>, String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{path}': {}", io_text(&e)))?;
    parse(acl, table, path, &String::from_utf8_lossy(&text))
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// Writes every user to `path` (a temporary file, synced, then renamed over it).
pub fn save(acl: &Acl, path: &str) -> std::io::Result<()> {
    let mut text = Vec::new();
    for u in acl.users() {
        text.extend_from_slice(&crate::command::acl::user_line(&u));
        text.push(b'\n');
    }
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
