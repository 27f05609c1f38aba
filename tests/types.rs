//! Behaviour of the data types that a byte-for-byte comparison with Redis cannot check:
//! random picks and cursor walks, checked for their guarantees.

mod common;

use std::collections::HashSet;

use common::ferrocache;

fn con(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap()
}

#[test]
fn spop_returns_distinct_members_and_removes_them() {
    let s = ferrocache(&[]);
    let mut c = con(s.port);
    for enc in ["int", "str"] {
        let members: Vec<String> = (0..300)
            .map(|i| format!("{}{i}", if enc == "int" { "" } else { "m" }))
            .collect();
        let mut cmd = redis::cmd("SADD");
        cmd.arg("s").arg(&members);
        let _: i64 = cmd.query(&mut c).unwrap();
        let popped: Vec<String> = q(&mut c, &["SPOP", "s", "100"]);
        let set: HashSet<&String> = popped.iter().collect();
        assert_eq!(set.len(), 100, "distinct");
        assert!(popped.iter().all(|m| members.contains(m)));
        assert_eq!(q::<i64>(&mut c, &["SCARD", "s"]), 200);
        for m in &popped {
            assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "s", m]), 0);
        }
        let one: String = q(&mut c, &["SPOP", "s"]);
        assert!(members.contains(&one));
        let rest: Vec<String> = q(&mut c, &["SPOP", "s", "1000"]);
        assert_eq!(rest.len(), 199);
        assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 0);
    }
}

/// SSCAN returns every member present for the whole walk, even while others are removed.
#[test]
fn sscan_guarantee_under_removals() {
    let s = ferrocache(&[]);
    let mut c = con(s.port);
    let members: Vec<String> = (0..2000).map(|i| format!("m{i}")).collect();
    let mut cmd = redis::cmd("SADD");
    cmd.arg("s").arg(&members);
    let _: i64 = cmd.query(&mut c).unwrap();
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut removed = HashSet::new();
    let mut step = 0;
    loop {
        let (next, batch): (String, Vec<String>) =
            q(&mut c, &["SSCAN", "s", &cursor, "COUNT", "50"]);
        seen.extend(batch);
        // Remove members from all over the set between calls.
        for k in 0..10 {
            let m = format!("m{}", (step * 37 + k * 191) % 2000);
            let _: i64 = q(&mut c, &["SREM", "s", &m]);
            removed.insert(m);
        }
        step += 1;
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    for m in &members {
        assert!(
            removed.contains(m) || seen.contains(m),
            "{m} was present throughout but not returned"
        );
    }
}

/// HRANDFIELD: a positive count gives distinct fields, a negative one exactly that many picks;
/// HSCAN over a hashtable-encoded hash returns every field with its value.
#[test]
fn hrandfield_and_hscan_on_a_large_hash() {
    let s = ferrocache(&[]);
    let mut c = con(s.port);
    let mut cmd = redis::cmd("HSET");
    cmd.arg("h");
    for i in 0..600 {
        cmd.arg(format!("f{i}")).arg(format!("v{i}"));
    }
    let _: i64 = cmd.query(&mut c).unwrap();
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "h"]),
        "hashtable"
    );
    let picks: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "200"]);
    assert_eq!(picks.iter().collect::<HashSet<_>>().len(), 200);
    let picks: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "-1000"]);
    assert_eq!(picks.len(), 1000);
    let pairs: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "-3", "WITHVALUES"]);
    assert_eq!(pairs.len(), 6);
    for p in pairs.chunks(2) {
        assert_eq!(p[1], p[0].replace('f', "v"));
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, flat): (String, Vec<String>) = q(&mut c, &["HSCAN", "h", &cursor, "COUNT", "7"]);
        for p in flat.chunks(2) {
            assert_eq!(p[1], p[0].replace('f', "v"));
            seen.insert(p[0].clone());
        }
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 600);
}
