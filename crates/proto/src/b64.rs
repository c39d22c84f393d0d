//! Base64 (RFC 4648, standard alphabet) as supervisord's peers write it and as corral reads
//! it, on top of the `base64` crate: one padded line for HTTP basic auth, Python's
//! `encodebytes` lines for XML-RPC `<base64>` values, and a lenient decoder for both.

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

pub(crate) use base64::DecodeError;

/// The decoders of [`decode`]: padded input must be padded completely, and unpadded input
/// is taken as well (senders differ); non-zero bits after the last full byte are ignored,
/// as Python's decoder ignores them. (The crate's `Indifferent` padding mode would also
/// take a partial padding such as `Zg=`, which Python refuses.)
const PADDED: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);
const UNPADDED: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Encodes `data` on one line, padded (what basic auth needs).
pub(crate) fn encode(data: &[u8]) -> String {
    general_purpose::STANDARD.encode(data)
}

/// Python's `base64.encodebytes`: lines of at most 76 characters, each ending in `\n`
/// (including the last), and the empty string for empty input. `xmlrpc.client` writes
/// `<base64>` values this way.
pub(crate) fn encode_lines(data: &[u8]) -> String {
    // 57 input bytes make exactly 76 output characters.
    let mut out = String::with_capacity(data.len().div_ceil(57) * 77);
    for chunk in data.chunks(57) {
        general_purpose::STANDARD.encode_string(chunk, &mut out);
        out.push('\n');
    }
    out
}

/// Decodes base64, skipping ASCII whitespace anywhere (XML-RPC senders wrap lines, as
/// Python's `encodebytes` does). Padding is optional, but must be complete when present,
/// and nothing may follow it; any other character is an error.
pub(crate) fn decode(text: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let engine = |compact: &[u8]| match compact.last() {
        Some(b'=') => &PADDED,
        _ => &UNPADDED,
    };
    if !text.iter().any(u8::is_ascii_whitespace) {
        return engine(text).decode(text);
    }
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    engine(&compact).decode(&compact)
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
    fn unpadded_wrapped_and_sloppy_input_decodes() {
        assert_eq!(decode(b"Zg").unwrap(), b"f");
        assert_eq!(decode(b"Zm8").unwrap(), b"fo");
        assert_eq!(decode(b" Zm9v\nYmFy\n").unwrap(), b"foobar");
        assert_eq!(decode(b"\tZ g =\r\n= ").unwrap(), b"f");
        assert_eq!(decode(b"Zm8 =").unwrap(), b"fo");
        assert_eq!(decode(b" \n ").unwrap(), b"");
        // The bits past the last byte are ignored.
        assert_eq!(decode(b"Zh==").unwrap(), b"f");
        assert_eq!(decode(b"Zm9=").unwrap(), b"fo");
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            &b"Zm9v!"[..],
            b"Z",
            b"Zm9vY",
            b"Zg==Zg==",
            b"Zg=\nZg",
            b"Zm9v=",
            b"Zg=",
            b"Zg===",
            b"=",
            b"====",
            b"Zm-_",
            b"Zm9v\0",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
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
