//! LZF, which Redis compresses long strings with in RDB files and DUMP payloads
//! (`rdbcompression`): literal runs (a control byte below 32: that many bytes plus one follow)
//! and back references (length - 2 in the control byte's top three bits, 7 meaning a length
//! byte follows; the distance - 1 in its low five bits and the next byte, up to 8 KB back).

const HASH_BITS: u32 = 14;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// Compresses `input`, if the result fits in `limit` bytes (None otherwise: store it plain).
pub fn compress(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(limit.min(n));
    // Where each 3-byte sequence was last seen (position + 1; 0 = never).
    let mut seen = vec![0u32; 1 << HASH_BITS];
    let hash = |i: usize| {
        let v = u32::from(input[i]) << 16 | u32::from(input[i + 1]) << 8 | u32::from(input[i + 2]);
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    };
    let literals = |out: &mut Vec<u8>, run: &[u8]| {
        for chunk in run.chunks(32) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    let (mut i, mut lit) = (0, 0);
    while i + 2 < n {
        let h = hash(i);
        let prev = seen[h] as usize;
        seen[h] = (i + 1) as u32;
        if prev > 0 {
            let r = prev - 1;
            let off = i - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[i..i + 3] {
                let max = (n - i).min(MAX_REF);
                let mut len = 3;
                while len < max && input[r + len] == input[i + len] {
                    len += 1;
                }
                literals(&mut out, &input[lit..i]);
                let l = len - 2;
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push((off & 0xff) as u8);
                i += len;
                lit = i;
                if out.len() > limit {
                    return None;
                }
                continue;
            }
        }
        i += 1;
    }
    literals(&mut out, &input[lit..]);
    (out.len() <= limit).then_some(out)
}

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
    fn compressed_data_decompresses_to_itself() {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"abcabcabcabcabcabcabcabcabcabcabcabc".to_vec(),
            vec![b'x'; 10_000],
            (0..5000u32)
                .flat_map(|i| format!("value:{i};").into_bytes())
                .collect(),
        ];
        let mut state = 7u64;
        inputs.push(
            (0..3000)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 59) as u8 + b'a'
                })
                .collect(),
        );
        for input in inputs {
            let c = super::compress(&input, input.len() * 2).unwrap();
            assert_eq!(super::decompress(&c, input.len()).unwrap(), input);
        }
        // Random bytes do not shrink: refused under a limit below their size.
        let noise: Vec<u8> = (0..100u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(super::compress(&noise, 96).is_none());
        assert!(super::compress(&[b'a'; 100], 10).unwrap().len() <= 10);
    }

    #[test]
    fn literal_and_back_reference() {
        // "abcabcabc": literal "abc", then 6 bytes copied from 3 back.
        let data = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(super::decompress(&data, 9).unwrap(), b"abcabcabc");
        assert!(super::decompress(&data, 8).is_none());
        assert!(super::decompress(&[(1 << 5), 9], 3).is_none());
    }
}
