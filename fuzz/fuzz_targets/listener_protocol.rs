//! `corral_proto::listener::Parser` on arbitrary listener output fed in arbitrary pieces.
//!
//! Input layout: `[mask][n][n split sizes][stream...]`. After the k-th `READY`, the driver
//! sends the listener an event iff bit k%8 of `mask` is set (otherwise the listener stays
//! READY, as in a pool with nothing to send).
//!
//! Oracles: no panic; the same outputs and final state whether the stream is fed whole, in
//! the given pieces, or one byte at a time; the state after each output is the one the
//! output implies; and the parser never holds more than one result line plus the kept part
//! of one body.
#![no_main]

use corral_proto::listener::{MAX_KEPT_BODY, MAX_RESULT_LINE, Output, Parser, State};
use libfuzzer_sys::fuzz_target;

fn run(mask: u8, stream: &[u8], sizes: &[usize]) -> (Vec<Output>, State) {
    let mut p = Parser::new();
    let mut outputs = Vec::new();
    let mut readies = 0u32;
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = if sizes.is_empty() { rest.len() } else { sizes[i % sizes.len()].clamp(1, rest.len()) };
        i += 1;
        p.feed(&rest[..n]);
        rest = &rest[n..];
        while let Some(o) = p.next_output() {
            let expected = match &o {
                Output::Ready => State::Ready,
                Output::Result(body) => {
                    assert!(body.len() <= MAX_KEPT_BODY);
                    State::Acknowledged
                }
                Output::Garbage(_) => State::Unknown,
            };
            assert_eq!(p.state(), expected, "state after {o:?}");
            if o == Output::Ready {
                if mask & (1 << (readies % 8)) != 0 {
                    p.event_sent();
                }
                readies += 1;
            }
            outputs.push(o);
        }
        assert!(p.buffered() <= MAX_RESULT_LINE + MAX_KEPT_BODY, "{} bytes held", p.buffered());
        if p.state() == State::Unknown {
            assert_eq!(p.buffered(), 0);
        }
    }
    (outputs, p.state())
}

fuzz_target!(|data: &[u8]| {
    let (mask, rest) = match data.split_first() {
        Some((m, r)) => (*m, r),
        None => (0xff, data),
    };
    let (n, rest) = match rest.split_first() {
        Some((n, r)) => ((*n % 8) as usize, r),
        None => (0, rest),
    };
    let (sizes, stream) = rest.split_at(n.min(rest.len()));
    let sizes: Vec<usize> = sizes.iter().map(|s| usize::from(*s)).collect();

    let whole = run(mask, stream, &[]);
    let split = run(mask, stream, &sizes);
    assert_eq!(whole, split, "result depends on how the output was split");
    let bytewise = run(mask, stream, &[1]);
    assert_eq!(whole, bytewise, "result differs when fed one byte at a time");
});
