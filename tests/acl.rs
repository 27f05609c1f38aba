//! ACLs: the same rule sets, DRYRUNs and commands as users against redis-server and
//! ferrocache, replies compared. The reference is Redis 7.2 when `REDIS72` names its binary
//! (then every line is compared as is); otherwise Debian's 7.0, with the texts 7.2 changed
//! mapped to one form on both sides, and the lines marked `%` (7.2-only replies: ACL LIST,
//! GETUSER's flags) skipped. `acl_replies_as_redis_72_gives_them` checks those in CI.

mod common;

use common::{ferrocache, redis_binary, redis_server, send, words, Proc, Raw};

fn reference() -> (Proc, bool) {
    match std::env::var("REDIS72") {
        Ok(bin) if !bin.is_empty() => (redis_binary(&bin), true),
        _ => (redis_server(), false),
    }
}

/// Texts Redis 7.0 words differently from 7.2, reduced to one form.
fn normalize(r: &str) -> String {
    let mut s = r.to_string();
    for (from, to) in [
        (
            "this user has no permissions to access one of the keys used as arguments",
            "No permissions to access a key",
        ),
        (
            "this user has no permissions to access one of the channels used as arguments",
            "No permissions to access a channel",
        ),
        (
            "this user has no permissions to run the",
            "User ? has no permissions to run the",
        ),
        (
            "This user has no permissions to run the",
            "User ? has no permissions to run the",
        ),
        (
            "This user has no permissions to access the",
            "User ? has no permissions to access the",
        ),
    ] {
        s = s.replace(from, to);
    }
    // `User <name> has no permissions` → `User ? has no permissions`.
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("User ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 5..];
        match after.find(' ') {
            Some(j) if after[j..].starts_with(" has no permissions") => {
                out.push_str("User ?");
                rest = &after[j..];
            }
            _ => {
                out.push_str("User ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    // Script refusals: 7.0 says why in its own words, 7.2 quotes the NOPERM text.
    for marker in [
        "ACL failure in script: ",
        "The user executing the script can't ",
    ] {
        while let Some(i) = out.find(marker) {
            let from = i + marker.len();
            let end = out[from..]
                .find(" script: ")
                .or_else(|| out[from..].find("\r\n"))
                .map_or(out.len(), |e| from + e);
            out.replace_range(i..end, "<script refused>");
        }
    }
    // (Bulk lengths follow the texts.)
    out.split("\r\n")
        .map(|l| if l.starts_with('$') { "$?" } else { l })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Runs `script` on both servers: `@2 cmd` on a second connection, `!cmd` without
/// comparing, `%cmd` only against Redis 7.2.
fn compare(script: &str) {
    let (reference, is72) = reference();
    let ours = ferrocache(&[]);
    let mut a = [Raw::connect(reference.port), Raw::connect(reference.port)];
    let mut b = [Raw::connect(ours.port), Raw::connect(ours.port)];
    let mut diffs = Vec::new();
    let mut count = 0;
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (only72, line) = match line.strip_prefix('%') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (check, line) = match line.strip_prefix('!') {
            Some(rest) => (false, rest),
            None => (true, line),
        };
        let (conn, line) = match line.strip_prefix("@2 ") {
            Some(rest) => (1, rest),
            None => (0, line),
        };
        let args = words(line);
        let (ra, rb) = (send(&mut a[conn], &args), send(&mut b[conn], &args));
        if !check || (only72 && !is72) {
            continue;
        }
        count += 1;
        let (na, nb) = if is72 {
            (ra.clone(), rb.clone())
        } else {
            (normalize(&ra), normalize(&rb))
        };
        if na != nb {
            diffs.push(format!(
                "{line}\n  redis:      {ra:?}\n  ferrocache: {rb:?}"
            ));
        }
    }
    assert!(count > 10);
    assert!(
        diffs.is_empty(),
        "{} of {count} replies differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn setuser_rules_and_errors() {
    compare(
        r#"
        ACL SETUSER alice on >p1 ~app:* %R~ro:* &news.* +@read +set -get +config|get
        ACL SETUSER bob on nopass allkeys allchannels +@all -@dangerous (~x* +get) (%W~w* +set)
        ACL SETUSER carol off #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
        ACL SETUSER u foo
        ACL SETUSER u +nosuch
        ACL SETUSER u +@nosuch
        ACL SETUSER u ~x %Q~y
        ACL SETUSER u (
        ACL SETUSER u ( ~a
        ACL SETUSER u "(~a" "+get"
        ACL SETUSER u allkeys ~a
        ACL SETUSER u allchannels &a
        ACL SETUSER u <nopass
        ACL SETUSER u #abc
        ACL SETUSER u !5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
        ACL SETUSER u +config|get|x
        ACL SETUSER u +debug|
        ACL SETUSER "a b" on
        ACL SETUSER u +select|0 +@hash -hset
        ACL SETUSER v +@all -get +get -config +config|get -@read
        ACL SETUSER w on >x >y <x >z ~a ~a %R~b %W~b &c &c resetchannels &d
        ACL SETUSER w reset
        ACL USERS
        %ACL LIST
        %ACL GETUSER alice
        %ACL GETUSER bob
        %ACL GETUSER carol
        %ACL GETUSER u
        %ACL GETUSER v
        %ACL GETUSER w
        ACL GETUSER nobody
        ACL DELUSER default
        ACL DELUSER w nobody
        ACL USERS
        ACL CAT nosuch
        ACL CAT
        ACL GENPASS 0
        ACL GENPASS 5000
        ACL GENPASS x
        ACL LOG x
        ACL NOSUCH
        ACL LOAD
        ACL SAVE
        "#,
    );
}

#[test]
fn dryrun_across_selectors() {
    compare(
        r#"
        ACL SETUSER alice on >p1 ~app:* %R~ro:* %W~wo:* &news.* +@read +set +del -get +config|get +publish +subscribe +psubscribe +exists +copy
        ACL SETUSER bob on nopass allchannels -@all +get (~x* +get) (%W~w* +set) (&z* +publish)
        ACL SETUSER u on nopass ~* -@all +select|0 +client|id
        ACL DRYRUN alice get app:1
        ACL DRYRUN alice mget app:1 app:2
        ACL DRYRUN alice set app:1 x
        ACL DRYRUN alice set other x
        ACL DRYRUN alice set ro:1 x
        ACL DRYRUN alice set wo:1 x
        ACL DRYRUN alice del wo:1
        ACL DRYRUN alice exists wo:1
        ACL DRYRUN alice copy ro:1 wo:1
        ACL DRYRUN alice copy wo:1 ro:1
        ACL DRYRUN alice publish news.x hi
        ACL DRYRUN alice publish sport hi
        ACL DRYRUN alice subscribe news.a sport
        ACL DRYRUN alice psubscribe news.*
        ACL DRYRUN alice psubscribe news.a
        ACL DRYRUN alice config get maxmemory
        ACL DRYRUN alice config set maxmemory 1
        ACL DRYRUN alice flushall
        ACL DRYRUN alice ping
        ACL DRYRUN alice auth x y
        ACL DRYRUN bob get xa
        ACL DRYRUN bob get ya
        ACL DRYRUN bob set wa 1
        ACL DRYRUN bob set xa 1
        ACL DRYRUN bob publish zz hi
        ACL DRYRUN bob flushall
        ACL DRYRUN u select 0
        ACL DRYRUN u SELECT 1
        ACL DRYRUN u client id
        ACL DRYRUN u client list
        ACL DRYRUN nobody get x
        ACL DRYRUN alice nosuch
        ACL DRYRUN alice get
        "#,
    );
}

#[test]
fn commands_as_a_user() {
    compare(
        r#"
        ACL SETUSER alice on >p1 ~app:* %R~ro:* &news.* +@read +set +del +multi +exec +eval +publish -get +config|get +acl|whoami +acl|log
        ACL WHOAMI
        AUTH alice wrong
        AUTH nobody p1
        AUTH alice p1
        ACL WHOAMI
        GET app:1
        MGET app:1 other
        SET ro:1 x
        SET app:1 x
        DEL app:1
        FLUSHALL
        CONFIG GET maxmemory
        CONFIG SET maxmemory 1
        MULTI
        SET other x
        SET app:2 y
        EXEC
        EVAL "return redis.call('set','other','x')" 0
        EVAL "return redis.pcall('set','other','x')" 0
        EVAL "return redis.call('set','app:3','x')" 0
        EVAL "return redis.call('flushall')" 0
        PUBLISH sport x
        PUBLISH news.x x
        @2 ACL SETUSER alice -set
        SET app:1 x
        @2 ACL SETUSER alice +set
        MULTI
        SET app:1 x
        @2 ACL SETUSER alice -set
        EXEC
        HELLO 3 AUTH alice wrong
        AUTH default x
        @2 ACL DELUSER alice
        @2 ACL USERS
        "#,
    );
}

#[test]
fn requirepass_is_the_default_users_password() {
    compare(
        r#"
        AUTH x
        CONFIG SET requirepass secret
        @2 GET k
        @2 AUTH wrong
        @2 AUTH secret
        @2 GET k
        @2 ACL WHOAMI
        ACL SETUSER default resetpass nopass
        @2 GET k
        ACL SETUSER default off
        @2 GET k
        ACL SETUSER default on >pw
        @2 ACL WHOAMI
        "#,
    );
}

/// ACL LIST and GETUSER as Redis 7.2.4 gave them for these rules (7.0 words them otherwise,
/// so the differential tests compare them only against a 7.2 reference).
#[test]
fn acl_replies_as_redis_72_gives_them() {
    let ours = ferrocache(&[]);
    let mut c = Raw::connect(ours.port);
    for line in [
        "ACL SETUSER alice on >p1 ~app:* %R~ro:* &news.* +@read +set -get +config|get",
        "ACL SETUSER bob on nopass allkeys allchannels +@all -@dangerous (~x* +get) (%W~w* +set)",
    ] {
        assert_eq!(send(&mut c, &words(line)), "+OK\r\n");
    }
    assert_eq!(
        send(&mut c, &words("ACL LIST")),
        "*3\r\n$168\r\nuser alice on sanitize-payload #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~app:* %R~ro:* resetchannels &news.* -@all +@read +set -get +config|get\r\n$123\r\nuser bob on nopass sanitize-payload ~* &* +@all -@dangerous (~x* resetchannels -@all +get) (%W~w* resetchannels -@all +set)\r\n$51\r\nuser default on nopass sanitize-payload ~* &* +@all\r\n"
    );
    assert_eq!(
        send(&mut c, &words("ACL GETUSER alice")),
        "*12\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$16\r\nsanitize-payload\r\n$9\r\npasswords\r\n*1\r\n$64\r\nf64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a\r\n$8\r\ncommands\r\n$34\r\n-@all +@read +set -get +config|get\r\n$4\r\nkeys\r\n$14\r\n~app:* %R~ro:*\r\n$8\r\nchannels\r\n$7\r\n&news.*\r\n$9\r\nselectors\r\n*0\r\n"
    );
    assert_eq!(
        send(&mut c, &words("ACL GETUSER bob")),
        "*12\r\n$5\r\nflags\r\n*3\r\n$2\r\non\r\n$6\r\nnopass\r\n$16\r\nsanitize-payload\r\n$9\r\npasswords\r\n*0\r\n$8\r\ncommands\r\n$17\r\n+@all -@dangerous\r\n$4\r\nkeys\r\n$2\r\n~*\r\n$8\r\nchannels\r\n$2\r\n&*\r\n$9\r\nselectors\r\n*2\r\n*6\r\n$8\r\ncommands\r\n$10\r\n-@all +get\r\n$4\r\nkeys\r\n$3\r\n~x*\r\n$8\r\nchannels\r\n$0\r\n\r\n*6\r\n$8\r\ncommands\r\n$10\r\n-@all +set\r\n$4\r\nkeys\r\n$5\r\n%W~w*\r\n$8\r\nchannels\r\n$0\r\n\r\n"
    );
}

/// ACL LOG's entries: the refusals of each kind, folded when alike, fields as Redis 7.2 names
/// them; and the INFO counters.
#[test]
fn acl_log_and_counters() {
    let ours = ferrocache(&[]);
    let mut c = Raw::connect(ours.port);
    let mut admin = Raw::connect(ours.port);
    for line in [
        "ACL SETUSER alice on >p1 ~app:* &news +get +publish",
        "AUTH alice p1",
    ] {
        assert_eq!(send(&mut c, &words(line)), "+OK\r\n");
    }
    for line in [
        "SET app:1 x",
        "SET app:1 x",
        "GET other",
        "PUBLISH sport x",
        "AUTH alice nope",
    ] {
        assert!(send(&mut c, &words(line)).starts_with('-'), "{line}");
    }
    let log = send(&mut admin, &words("ACL LOG"));
    assert!(log.starts_with("*4\r\n"), "{log}");
    let entries: Vec<&str> = log.split("*20\r\n").skip(1).collect();
    let field = |e: &str, name: &str| -> String {
        let lines: Vec<&str> = e.split("\r\n").collect();
        let i = lines.iter().position(|l| *l == name).unwrap();
        lines[i + 2].to_string()
    };
    let expect = [
        ("auth", "AUTH", "1"),
        ("channel", "sport", "1"),
        ("key", "other", "1"),
        ("command", "set", "2"),
    ];
    for (e, (reason, object, count)) in entries.iter().zip(expect) {
        assert_eq!(field(e, "reason"), reason);
        assert_eq!(field(e, "object"), object);
        assert_eq!(field(e, "context"), "toplevel");
        assert_eq!(field(e, "username"), "alice");
        assert!(e.contains(&format!("count\r\n:{count}\r\n")), "{e}");
        assert!(field(e, "client-info").contains("user=alice"), "{e}");
    }
    for (k, v) in [("auth", 1), ("cmd", 2), ("key", 1), ("channel", 1)] {
        assert_eq!(
            common::info_u64(&mut admin, "stats", &format!("acl_access_denied_{k}")),
            v
        );
    }
    assert_eq!(send(&mut admin, &words("ACL LOG RESET")), "+OK\r\n");
    assert_eq!(send(&mut admin, &words("ACL LOG")), "*0\r\n");
}

/// A deleted user's connections are closed; a subscriber that loses its channel is too, and
/// one whose channels stay allowed is not. CLIENT LIST shows each connection's user.
#[test]
fn connections_follow_their_user() {
    let ours = ferrocache(&[]);
    let mut admin = Raw::connect(ours.port);
    send(&mut admin, &words("ACL SETUSER a on nopass ~* &* +@all"));
    send(
        &mut admin,
        &words("ACL SETUSER b on nopass ~* &news* +@all"),
    );
    let mut a = Raw::connect(ours.port);
    let mut b = Raw::connect(ours.port);
    let mut b2 = Raw::connect(ours.port);
    assert_eq!(send(&mut a, &words("AUTH a x")), "+OK\r\n");
    assert_eq!(send(&mut b, &words("AUTH b x")), "+OK\r\n");
    assert_eq!(send(&mut b2, &words("AUTH b x")), "+OK\r\n");
    let list = send(&mut admin, &words("CLIENT LIST"));
    assert_eq!(list.matches(" user=b ").count(), 2, "{list}");
    assert!(send(&mut b, &words("SUBSCRIBE news1")).contains("news1"));
    assert!(send(&mut b2, &words("SUBSCRIBE news2")).contains("news2"));
    assert_eq!(
        send(&mut admin, &words("ACL SETUSER b resetchannels &news1")),
        "+OK\r\n"
    );
    assert_eq!(
        send(&mut b, &words("PING")),
        "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    );
    assert!(
        b2.try_read_reply().is_none(),
        "the subscriber to news2 is closed"
    );
    assert_eq!(
        send(&mut admin, &words("CLIENT KILL USER nobody")),
        "-ERR No such user 'nobody'\r\n"
    );
    assert_eq!(send(&mut admin, &words("ACL DELUSER a")), ":1\r\n");
    assert!(
        a.try_read_reply().is_none(),
        "a deleted user's connection is closed"
    );
}

/// Every command's ACL categories (COMMAND INFO's, which ACL CAT and +@category follow) equal
/// redis-server's, for the commands both have; Redis 7.2 only added commands to them.
#[test]
fn acl_categories_match_redis() {
    let (reference, _) = reference();
    let ours = ferrocache(&[]);
    let cats = |port: u16| -> std::collections::BTreeMap<String, String> {
        let mut c = Raw::connect(port);
        let mut out = std::collections::BTreeMap::new();
        let names = send(&mut c, &words("COMMAND LIST"));
        for name in names
            .split("\r\n")
            .filter(|l| !l.starts_with(['*', '$']) && !l.is_empty())
        {
            let info = send(&mut c, &words(&format!("COMMAND INFO {name}")));
            // Each entry (the command's, then its subcommands') has its name, then its
            // categories as the first block of `+@...` lines after it.
            let lines: Vec<&str> = info.split("\r\n").collect();
            let sub = format!("{name}|");
            for (i, l) in lines.iter().enumerate() {
                if *l != name && !l.starts_with(&sub) {
                    continue;
                }
                let cats: Vec<&str> = lines[i..]
                    .iter()
                    .skip_while(|l| !l.starts_with("+@"))
                    .take_while(|l| l.starts_with("+@"))
                    .copied()
                    .collect();
                out.entry(l.to_string()).or_insert(cats.join(" "));
            }
        }
        out
    };
    let (theirs, mine) = (cats(reference.port), cats(ours.port));
    let mut diffs = Vec::new();
    for (name, c) in &mine {
        if let Some(t) = theirs.get(name) {
            if t != c {
                diffs.push(format!("{name}: redis {t}, ferrocache {c}"));
            }
        }
    }
    assert!(mine.len() > 300, "subcommands are compared too");
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// ElastiCache RBAC access strings (from its user guide) are ACL rules: each as a user, the
/// same commands allowed and refused as by Redis.
#[test]
fn elasticache_access_strings() {
    let strings = [
        "on ~* +@all",
        "on ~* &* +@all",
        "on ~app::* -@all +@read",
        "on ~* -@all +@read",
        "on ~* +@all -@dangerous",
        "on ~* -@all +@read +@hash +@bitmap +@geo -setbit -bitfield -hset -hsetnx -hmset -hincrby -hincrbyfloat -hdel -bitop -geoadd -georadius -georadiusbymember",
        "on ~user:* %R~cache:* &chat:* +@all -@admin -@dangerous",
        "off ~* +@all",
    ];
    let probes = [
        "get app::1",
        "get other",
        "set app::1 x",
        "hset cache:1 f v",
        "hget cache:1 f",
        "get cache:1",
        "set user:1 x",
        "flushall",
        "keys *",
        "config get maxmemory",
        "publish chat:1 hi",
        "publish news hi",
        "subscribe chat:2",
        "setbit b 1 1",
        "getbit b 1",
        "geoadd g 1 1 m",
        "geopos g m",
        "client id",
        "info",
    ];
    let mut script = String::new();
    for (i, s) in strings.iter().enumerate() {
        script.push_str(&format!("ACL SETUSER rbac{i} {s}\n"));
        for p in probes {
            script.push_str(&format!("ACL DRYRUN rbac{i} {p}\n"));
        }
    }
    script.push_str("ACL SETUSER sorter on nopass ~list* +sort\n");
    script.push_str("ACL SETUSER reader on nopass %R~* ~list* +sort\n");
    script.push_str("RPUSH list 3 1 2\n");
    for u in ["sorter", "reader"] {
        script.push_str(&format!("AUTH {u} x\nSORT list\nSORT list BY nosort\nSORT list BY w_*\nSORT list GET #\nSORT list GET o_*\nAUTH default x\n"));
    }
    compare(&script);
}

/// An ACL file Redis saved loads here with the same users and permissions, and one ferrocache
/// saved loads in Redis; `user` lines in the config file make users at startup.
#[test]
fn acl_files_travel_both_ways() {
    let rules = [
        "ACL SETUSER alice on >p1 >p2 ~app:* %R~ro:* &news.* -@all +@read +set -get +config|get",
        "ACL SETUSER bob on nopass allkeys allchannels +@all -@dangerous (~x* +get) (%W~w* +set)",
        "ACL SETUSER carol off resetchannels -@all",
    ];
    let probes = [
        "AUTH alice p2",
        "AUTH carol x",
        "ACL USERS",
        "ACL DRYRUN alice get app:1",
        "ACL DRYRUN alice set app:1 x",
        "ACL DRYRUN alice set ro:1 x",
        "ACL DRYRUN alice mget ro:1 app:2",
        "ACL DRYRUN alice config get x",
        "ACL DRYRUN alice publish news.1 x",
        "ACL DRYRUN bob get xa",
        "ACL DRYRUN bob set wa x",
        "ACL DRYRUN bob flushall",
    ];
    let ask = |port: u16| -> Vec<String> {
        let mut c = Raw::connect(port);
        probes
            .iter()
            .map(|p| normalize(&send(&mut c, &words(p))))
            .collect()
    };
    let file = |name: &str| -> (std::path::PathBuf, String) {
        let dir = common::temp_dir(name);
        let path = dir.join("users.acl");
        std::fs::write(&path, "").unwrap();
        let s = path.to_str().unwrap().to_string();
        (dir, s)
    };
    // Redis writes, ferrocache reads.
    let (_d1, redis_file) = file("aclr");
    let redis = common::redis_server_with(&["--aclfile", &redis_file]);
    let mut r = Raw::connect(redis.port);
    for l in rules {
        assert_eq!(send(&mut r, &words(l)), "+OK\r\n");
    }
    assert_eq!(send(&mut r, &words("ACL SAVE")), "+OK\r\n");
    let expected = ask(redis.port);
    let ours = ferrocache(&["--aclfile", &redis_file]);
    assert_eq!(ask(ours.port), expected);
    // ferrocache writes, Redis reads.
    let (_d2, our_file) = file("aclf");
    let ours2 = ferrocache(&["--aclfile", &our_file]);
    let mut f = Raw::connect(ours2.port);
    for l in rules {
        assert_eq!(send(&mut f, &words(l)), "+OK\r\n");
    }
    assert_eq!(send(&mut f, &words("ACL SAVE")), "+OK\r\n");
    let redis2 = common::redis_server_with(&["--aclfile", &our_file]);
    assert_eq!(ask(redis2.port), expected);
    // ACL LOAD: a bad file changes nothing; a good one replaces the users.
    std::fs::write(&our_file, "user dave on nopass +nosuch ~*\nuser\n").unwrap();
    let err = send(&mut f, &words("ACL LOAD"));
    assert!(
        err.contains("Error in applying operation '+nosuch'"),
        "{err}"
    );
    assert!(err.contains("should start with user keyword"), "{err}");
    assert_eq!(
        send(&mut f, &words("ACL USERS")),
        "*4\r\n$5\r\nalice\r\n$3\r\nbob\r\n$5\r\ncarol\r\n$7\r\ndefault\r\n"
    );
    std::fs::write(&our_file, "user dave on nopass +@all ~*\n").unwrap();
    assert_eq!(send(&mut f, &words("ACL LOAD")), "+OK\r\n");
    assert_eq!(
        send(&mut f, &words("ACL USERS")),
        "*2\r\n$4\r\ndave\r\n$7\r\ndefault\r\n"
    );
    // `user` lines in the config file.
    let (dir, _) = file("aclc");
    let conf = dir.join("ferrocache.conf");
    std::fs::write(
        &conf,
        "user eve on >pw ~e:* +get\nuser default on >dpw ~* &* +@all\n",
    )
    .unwrap();
    let port = common::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .arg(&conf)
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--dir",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_ready(port, &mut child);
    let mut c = Raw::connect(port);
    assert!(send(&mut c, &words("GET e:1")).starts_with("-NOAUTH"));
    assert_eq!(send(&mut c, &words("AUTH eve pw")), "+OK\r\n");
    assert_eq!(send(&mut c, &words("GET e:1")), "$-1\r\n");
    assert!(send(&mut c, &words("SET e:1 x")).starts_with("-NOPERM"));
    let _ = child.kill();
    let _ = child.wait();
}

/// Replicas authenticate as an ACL user (`masteruser` / `masterauth`) allowed only what
/// replication needs: a ferrocache replica and a Redis replica of a ferrocache primary.
#[test]
fn replicas_authenticate_as_a_user() {
    let primary = ferrocache(&["--requirepass", "admin"]);
    let mut p = Raw::connect(primary.port);
    assert_eq!(send(&mut p, &words("AUTH admin")), "+OK\r\n");
    assert_eq!(
        send(
            &mut p,
            &words("ACL SETUSER repl on >rp -@all +psync +replconf +ping")
        ),
        "+OK\r\n"
    );
    assert_eq!(send(&mut p, &words("SET k v")), "+OK\r\n");
    let port = primary.port.to_string();
    let args = [
        "--replicaof",
        "127.0.0.1",
        &port,
        "--masteruser",
        "repl",
        "--masterauth",
        "rp",
    ];
    let ours = ferrocache(&args);
    let theirs = common::redis_server_with(&args);
    for replica in [&ours, &theirs] {
        let mut c = Raw::connect(replica.port);
        common::wait_for(|| {
            c.cmd(&["INFO", "replication"])
                .contains("master_link_status:up")
        });
        common::wait_for(|| c.cmd(&["GET", "k"]) == "$1\r\nv\r\n");
    }
    let list = send(&mut p, &words("CLIENT LIST TYPE replica"));
    assert_eq!(list.matches(" user=repl ").count(), 2, "{list}");
}

/// A relative `aclfile` is in `dir`, where Redis (which changes into `dir`) finds it.
#[test]
fn a_relative_aclfile_is_in_dir() {
    let dir = common::temp_dir("aclrel");
    std::fs::write(dir.join("users.acl"), "user zed on nopass ~* +@all\n").unwrap();
    let ours = ferrocache(&["--dir", dir.to_str().unwrap(), "--aclfile", "users.acl"]);
    let mut c = Raw::connect(ours.port);
    assert_eq!(
        send(&mut c, &words("ACL USERS")),
        "*2\r\n$7\r\ndefault\r\n$3\r\nzed\r\n"
    );
    assert_eq!(send(&mut c, &words("ACL SAVE")), "+OK\r\n");
    let saved = std::fs::read_to_string(dir.join("users.acl")).unwrap();
    assert!(
        saved.contains("user zed on nopass sanitize-payload ~* resetchannels +@all"),
        "{saved}"
    );
}
