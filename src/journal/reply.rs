//! A reader of replies, for the journal rules that record what a command delivered from the
//! reply it gave (`groups`: the entries a consumer-group read or claim handed out).

/// A reply, as far as the rules read one.
#[derive(Debug, PartialEq)]
pub enum R<'a> {
    Bulk(&'a [u8]),
    Nil,
    Arr(Vec<R<'a>>),
    Other,
}

/// Parses the first reply in `buf` (RESP2 or RESP3).
pub fn parse(buf: &[u8]) -> Option<R<'_>> {
    parse_at(buf, &mut 0)
}

fn parse_at<'a>(buf: &'a [u8], pos: &mut usize) -> Option<R<'a>> {
    let rest = buf.get(*pos..)?;
    let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
    let (kind, line) = (rest[0], &rest[1..line_end]);
    *pos += line_end + 2;
    let num = || -> Option<i64> { std::str::from_utf8(line).ok()?.parse().ok() };
    match kind {
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Some(R::Nil);
            }
            let start = *pos;
            let end = start + n as usize;
            *pos = end + 2;
            Some(R::Bulk(buf.get(start..end)?))
        }
        b'*' | b'~' | b'>' => {
            let n = num()?;
            if n < 0 {
                return Some(R::Nil);
            }
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(parse_at(buf, pos)?);
            }
            Some(R::Arr(items))
        }
        b'%' => {
            let n = num()?;
            let mut items = Vec::with_capacity(2 * n as usize);
            for _ in 0..2 * n {
                items.push(parse_at(buf, pos)?);
            }
            Some(R::Arr(items))
        }
        b'_' => Some(R::Nil),
        _ => Some(R::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies() {
        assert_eq!(parse(b"$3\r\nabc\r\n"), Some(R::Bulk(b"abc")));
        assert_eq!(parse(b"$-1\r\n"), Some(R::Nil));
        assert_eq!(parse(b"_\r\n"), Some(R::Nil));
        assert_eq!(
            parse(b"*2\r\n$1\r\nk\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
            Some(R::Arr(vec![
                R::Bulk(b"k"),
                R::Arr(vec![R::Bulk(b"a"), R::Bulk(b"b")])
            ]))
        );
        assert_eq!(
            parse(b"~2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
            Some(R::Arr(vec![R::Bulk(b"x"), R::Bulk(b"y")]))
        );
        assert_eq!(parse(b":1\r\n"), Some(R::Other));
        // Truncated input is no reply.
        assert_eq!(parse(b"*2\r\n$1\r\nk\r\n"), None);
    }
}
