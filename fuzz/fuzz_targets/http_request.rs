//! RequestParser on arbitrary bytes fed in arbitrary splits: no panics, limits respected,
//! and the result never depends on how the bytes were split.
#![no_main]

use corral_proto::http::{HttpError, Limits, Request, RequestParser};
use libfuzzer_sys::fuzz_target;

/// Everything the parser produces for `stream` fed in pieces of the given sizes (cycled;
/// 0 counts as 1).
fn run(limits: Limits, stream: &[u8], sizes: &[usize]) -> (Vec<Request>, Option<HttpError>) {
    let mut parser = RequestParser::new(limits);
    let mut requests = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    loop {
        loop {
            match parser.next_request() {
                Ok(Some(r)) => {
                    assert!(r.body.len() <= limits.max_body_bytes, "body over the limit");
                    assert!(r.headers.len() <= limits.max_headers, "too many headers");
                    requests.push(r);
                }
                Ok(None) => {
                    // While waiting for more input, at most one partial request (or chunk-size
                    // line) is buffered.
                    let bound = limits.max_header_bytes.max(limits.max_body_bytes).max(1024);
                    assert!(parser.buffered().len() <= bound, "{} bytes buffered", parser.buffered().len());
                    break;
                }
                Err(e) => {
                    assert!(matches!(e.status, 400 | 411 | 413 | 431 | 501 | 505), "unexpected status {e:?}");
                    // Errors are sticky.
                    assert_eq!(parser.next_request().unwrap_err(), e);
                    return (requests, Some(e));
                }
            }
        }
        if rest.is_empty() {
            return (requests, None);
        }
        let n = if sizes.is_empty() { rest.len() } else { sizes[i % sizes.len()].clamp(1, rest.len()) };
        i += 1;
        parser.feed(&rest[..n]);
        rest = &rest[n..];
    }
}

fuzz_target!(|data: &[u8]| {
    // Layout: [flags][n][n split sizes][stream...]
    let (flags, rest) = match data.split_first() {
        Some((f, r)) => (*f, r),
        None => (0, data),
    };
    let (n, rest) = match rest.split_first() {
        Some((n, r)) => ((*n % 8) as usize, r),
        None => (0, rest),
    };
    let (sizes, stream) = rest.split_at(n.min(rest.len()));
    let sizes: Vec<usize> = sizes.iter().map(|s| usize::from(*s)).collect();
    let limits = if flags & 1 == 0 {
        Limits { max_header_bytes: 256, max_headers: 6, max_body_bytes: 512 }
    } else {
        Limits::default()
    };

    let whole = run(limits, stream, &[]);
    let split = run(limits, stream, &sizes);
    assert_eq!(whole, split, "result depends on how the input was split");
    let bytewise = run(limits, stream, &[1]);
    assert_eq!(whole, bytewise, "result differs when fed one byte at a time");
});
