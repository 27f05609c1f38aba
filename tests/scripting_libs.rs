//! The Lua libraries Redis gives scripts (cjson, cmsgpack, bit, struct): every case of a
//! corpus run through EVAL against redis-server and ferrocache, with byte-identical replies.
//! The corpora (`tests/lua_libs/*.txt`) hold one script per line; `HX ` at the start of a line
//! stands for a local function `hx` that writes a binary string in hex.

mod common;

use common::{ferrocache, same_as_redis, Raw};

const HX: &str = "local function hx(s) return (string.gsub(s, '.', \
                  function(c) return string.format('%02x', string.byte(c)) end)) end ";

/// Runs every script of `corpus` with EVAL and returns the transcript: each script and its
/// reply's exact bytes (escaped, so binary replies compare byte for byte).
fn transcript(port: u16, corpus: &str) -> String {
    let mut c = Raw::connect(port);
    let mut t = String::new();
    for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
        let script = match line.strip_prefix("HX ") {
            Some(rest) => format!("{HX}{rest}"),
            None => line.to_string(),
        };
        let reply = c.cmd_bytes(&[b"EVAL", script.as_bytes(), b"0"]);
        t += &format!("{line}\n=> {}\n", reply.escape_ascii());
    }
    t
}

/// cjson: encoding (numbers at %.14g, escapes, arrays versus objects, sparse arrays, depth,
/// invalid numbers), decoding (every token and escape error with its position, invalid
/// numbers, depth and the Lua stack limit), the settings, `cjson.new`, `cjson.null`.
#[test]
fn cjson_matches_redis() {
    same_as_redis(|port| transcript(port, include_str!("lua_libs/cjson.txt")));
}

/// cmsgpack: the smallest encoding of each integer width, floats against doubles, strings of
/// each header size, arrays against maps, the nesting cut, unpack/unpack_one/unpack_limit with
/// offsets, truncated and unknown input, and the limits on how many values come back.
#[test]
fn cmsgpack_matches_redis() {
    same_as_redis(|port| transcript(port, include_str!("lua_libs/cmsgpack.txt")));
}

/// bit: every operation on 32-bit values taken from doubles, shifts modulo 32, tohex's
/// widths and case, and the argument errors.
#[test]
fn bit_matches_redis() {
    same_as_redis(|port| transcript(port, include_str!("lua_libs/bit.txt")));
}

/// struct: every format letter in both byte orders, alignment, wide integers, c0 and s,
/// offsets, and the errors of pack, unpack and size.
#[test]
fn struct_matches_redis() {
    same_as_redis(|port| transcript(port, include_str!("lua_libs/struct.txt")));
}

/// `cjson.encode_keep_buffer()` reports Redis's default (on, as in Redis's own lua_cjson.c);
/// Debian's redis-server links another build of the library where it is off, so this case
/// is checked against Redis's source rather than the reference server.
#[test]
fn cjson_keep_buffer_default_is_on() {
    let fc = ferrocache(&[]);
    let mut c = Raw::connect(fc.port);
    assert_eq!(
        c.cmd(&["EVAL", "return cjson.encode_keep_buffer()", "0"]),
        ":1\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL", "return cjson.encode_keep_buffer(false)", "0"]),
        "$-1\r\n"
    );
}

/// The libraries are globals from the first script on.
#[test]
fn libraries_are_globals() {
    let fc = ferrocache(&[]);
    let mut c = Raw::connect(fc.port);
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "return {type(cjson), type(cmsgpack), type(bit), type(struct)}",
            "0"
        ]),
        "*4\r\n$5\r\ntable\r\n$5\r\ntable\r\n$5\r\ntable\r\n$5\r\ntable\r\n"
    );
}
