//! LZF decompression: Redis compresses long strings in RDB files and DUMP payloads with it.

/// Decompresses `input` into exactly `out_len` bytes; None if the data is malformed.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let run = ctrl + 1;
            out.extend_from_slice(input.get(i..i + run)?);
            i += run;
        } else {
            // A back reference: length in the top 3 bits (7 = one more length byte).
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            // Byte by byte: the copy may overlap what it is producing.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > out_len {
            return None;
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn literal_and_back_reference() {
        // "abcabcabc": literal "abc", then 6 bytes copied from 3 back.
        let data = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(super::decompress(&data, 9).unwrap(), b"abcabcabc");
        assert!(super::decompress(&data, 8).is_none());
        assert!(super::decompress(&[(1 << 5), 9], 3).is_none());
    }
}
