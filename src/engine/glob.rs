//! Glob-style matching as KEYS, SCAN MATCH, CONFIG GET and PSUBSCRIBE use it:
//! `*`, `?`, `[abc]`, `[^a-z]`, and `\` to escape. Only the last `*` is ever backtracked to,
//! so patterns such as `a*a*a*a*b` run in O(pattern × string), never exponentially.

/// Matches one character class starting just after `[`. Returns (matched, index after `]`).
fn class(p: &[u8], mut i: usize, c: u8, nocase: bool) -> (bool, usize) {
    let fold = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let c = fold(c);
    let negate = p.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < p.len() && p[i] != b']' {
        if p[i] == b'\\' && i + 1 < p.len() {
            i += 1;
            matched |= fold(p[i]) == c;
            i += 1;
        } else if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            let (mut lo, mut hi) = (fold(p[i]), fold(p[i + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= fold(p[i]) == c;
            i += 1;
        }
    }
    // An unterminated class ends at the end of the pattern.
    let next = if i < p.len() { i + 1 } else { i };
    (matched != negate, next)
}

/// True if `s` matches the glob `pattern`.
pub fn matches(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, string index it covers to).
    let mut star: Option<(usize, usize)> = None;
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while si < s.len() {
        let step = if pi < pattern.len() {
            match pattern[pi] {
                b'*' => {
                    while pi < pattern.len() && pattern[pi] == b'*' {
                        pi += 1;
                    }
                    if pi == pattern.len() {
                        return true;
                    }
                    star = Some((pi, si));
                    continue;
                }
                b'?' => Some(pi + 1),
                b'[' => {
                    let (ok, next) = class(pattern, pi + 1, s[si], nocase);
                    ok.then_some(next)
                }
                b'\\' if pi + 1 < pattern.len() => eq(pattern[pi + 1], s[si]).then_some(pi + 2),
                c => eq(c, s[si]).then_some(pi + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                pi = next;
                si += 1;
            }
            None => match star {
                // Let the last `*` swallow one more character and retry.
                Some((sp, ss)) if ss < s.len() => {
                    star = Some((sp, ss + 1));
                    pi = sp;
                    si = ss + 1;
                }
                _ => return false,
            },
        }
    }
    pattern[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn basics() {
        assert!(matches(b"*", b"anything", false));
        assert!(matches(b"h?llo", b"hello", false));
        assert!(matches(b"h*llo", b"heeeello", false));
        assert!(matches(b"h[ae]llo", b"hallo", false));
        assert!(!matches(b"h[^e]llo", b"hello", false));
        assert!(matches(b"h[a-b]llo", b"hbllo", false));
        assert!(matches(b"h[b-a]llo", b"hbllo", false));
        assert!(matches(b"a\\*b", b"a*b", false));
        assert!(!matches(b"a\\*b", b"axb", false));
        assert!(matches(b"HELLO", b"hello", true));
        assert!(!matches(b"foo", b"foobar", false));
        assert!(matches(b"foo*", b"foo", false));
        assert!(!matches(b"", b"a", false));
        assert!(matches(b"", b"", false));
        assert!(matches(b"*a*b*c", b"xxaxxbxxc", false));
        assert!(!matches(b"*a*b*c", b"xxaxxbxx", false));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let p = "a*".repeat(50) + "b";
        let s = "a".repeat(5000);
        let t = std::time::Instant::now();
        assert!(!matches(p.as_bytes(), s.as_bytes(), false));
        assert!(t.elapsed().as_secs() < 2);
    }
}
