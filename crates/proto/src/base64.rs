//! Base64 (RFC 4648, standard alphabet, padded), shared by the XML-RPC `<base64>` type and
//! HTTP basic auth.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `data` on one line, padded (what basic auth needs).
pub(crate) fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, s) in sextets.iter().enumerate() {
            // chunk.len() + 1 output characters carry data; the rest is padding.
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[*s as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Python's `base64.encodebytes`: lines of at most 76 characters, each ending in `\n`
/// (including the last), and the empty string for empty input. `xmlrpc.client` writes
/// `<base64>` values this way.
pub(crate) fn encode_lines(data: &[u8]) -> String {
    // 57 input bytes make exactly 76 output characters.
    let mut out = String::with_capacity(data.len().div_ceil(57) * 77);
    for chunk in data.chunks(57) {
        out.push_str(&encode(chunk));
        out.push('\n');
    }
    out
}

fn sextet(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes base64, skipping ASCII whitespace anywhere (XML-RPC senders wrap lines, as
/// Python's `encodebytes` does). Padding is optional, but nothing may follow it.
pub(crate) fn decode(text: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut n = 0usize; // sextets in `acc`
    let mut padding = 0usize;
    for &c in text {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return Err("data after base64 padding");
        }
        let Some(v) = sextet(c) else {
            return Err("invalid base64 character");
        };
        acc = (acc << 6) | v;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 if padding == 0 => {}
        2 if padding == 0 || padding == 2 => out.push((acc >> 4) as u8),
        3 if padding == 0 || padding == 1 => {
            out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
        }
        1 => return Err("truncated base64 data"),
        _ => return Err("incorrect base64 padding"),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn unpadded_and_wrapped_input_decodes() {
        assert_eq!(decode(b"Zg").unwrap(), b"f");
        assert_eq!(decode(b"Zm8").unwrap(), b"fo");
        assert_eq!(decode(b" Zm9v\nYmFy\n").unwrap(), b"foobar");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(decode(b"Zm9v!").is_err());
        assert!(decode(b"Z").is_err());
        assert!(decode(b"Zg==Zg==").is_err());
        assert!(decode(b"Zm9v=").is_err());
        assert!(decode(b"Zg===").is_err());
    }

    #[test]
    fn lines_match_python_encodebytes() {
        assert_eq!(encode_lines(b""), "");
        assert_eq!(encode_lines(b"a"), "YQ==\n");
        let data = [7u8; 58];
        let enc = encode_lines(&data);
        let lines: Vec<&str> = enc.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 76);
        assert_eq!(lines[1], "Bw==");
        assert!(enc.ends_with('\n'));
        assert_eq!(decode(enc.as_bytes()).unwrap(), data);
    }
}
