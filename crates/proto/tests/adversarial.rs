//! Large hostile inputs (4 MiB; the daemon accepts 8 MiB bodies): every parser must
//! stay linear. A quadratic path turns these into hours; the linear ones take about a
//! second each in a debug build, so the bound below leaves room for a slow, busy machine.

use std::time::{Duration, Instant};

use corral_proto::http::{Limits, RequestParser};
use corral_proto::xmlrpc::{parse_call, parse_response};

const SIZE: usize = 4 * 1024 * 1024;
const BOUND: Duration = Duration::from_secs(10);

fn call_with(param_xml: &str) -> Vec<u8> {
    format!("<methodCall><methodName>m</methodName><params><param>{param_xml}</param></params></methodCall>").into_bytes()
}

fn repeat_to(unit: &str, size: usize) -> String {
    unit.repeat(size / unit.len())
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    eprintln!("{what}: {took:?}");
    assert!(took < BOUND, "{what} took {took:?}");
    out
}

#[test]
fn xml_decoder_stays_linear() {
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        (
            "many tiny values",
            call_with(&format!(
                "<value><array><data>{}</data></array></value>",
                repeat_to("<value/>", SIZE)
            )),
        ),
        ("many struct members, few names", {
            let unit = "<member><name>k</name><value><int>1</int></value></member>";
            call_with(&format!(
                "<value><struct>{}</struct></value>",
                repeat_to(unit, SIZE)
            ))
        }),
        ("many distinct struct members", {
            let mut s = String::from("<value><struct>");
            let mut i = 0u64;
            while s.len() < SIZE {
                s.push_str(&format!("<member><name>k{i}</name><value/></member>"));
                i += 1;
            }
            s.push_str("</struct></value>");
            call_with(&s)
        }),
        (
            "entity-dense string",
            call_with(&format!(
                "<value><string>{}</string></value>",
                repeat_to("&amp;&#x263A;&lt;", SIZE)
            )),
        ),
        (
            "CR-dense string",
            call_with(&format!("<value>{}</value>", repeat_to("\r\n\r", SIZE))),
        ),
        (
            "many comments",
            call_with(&format!("<value>{}</value>", repeat_to("<!-- x -->", SIZE))),
        ),
        (
            "many CDATA sections",
            call_with(&format!(
                "<value>{}</value>",
                repeat_to("<![CDATA[<&]]>", SIZE)
            )),
        ),
        ("deep nesting, repeated", {
            let unit = format!(
                "{}<value/>{}",
                "<value><array><data>".repeat(40),
                "</data></array></value>".repeat(40)
            );
            call_with(&format!(
                "<value><array><data>{}</data></array></value>",
                repeat_to(&unit, SIZE)
            ))
        }),
        (
            "unterminated comment",
            format!("<methodCall><!--{}", repeat_to("- ", SIZE)).into_bytes(),
        ),
        (
            "unterminated CDATA",
            format!("<methodCall><![CDATA[{}", repeat_to("]] ", SIZE)).into_bytes(),
        ),
        (
            "endless start tag",
            format!("<methodCall {}", repeat_to("a='1' ", SIZE)).into_bytes(),
        ),
        ("unclosed elements", repeat_to("<value>", SIZE).into_bytes()),
        ("whitespace only", repeat_to(" \n", SIZE).into_bytes()),
        (
            "nesting past the limit",
            repeat_to("<methodCall>", SIZE).into_bytes(),
        ),
    ];
    for (what, body) in &inputs {
        timed(what, || {
            let _ = parse_call(body);
            let _ = parse_response(body);
        });
    }
}

#[test]
fn http_parser_stays_linear() {
    let limits = Limits {
        max_header_bytes: SIZE,
        max_headers: usize::MAX,
        max_body_bytes: SIZE,
    };
    let pipelined = repeat_to("GET / HTTP/1.1\r\n\r\n", SIZE);
    let headers = format!(
        "GET / HTTP/1.1\r\n{}\r\n",
        repeat_to("X: y\r\n", SIZE - 100)
    );
    let chunks = format!(
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
        repeat_to("1\r\na\r\n", SIZE - 100)
    );
    let blank_lines = repeat_to("\r\n", SIZE);
    for (what, data) in [
        ("pipelined", &pipelined),
        ("headers", &headers),
        ("chunks", &chunks),
        ("blank lines", &blank_lines),
    ] {
        for piece in [SIZE, 4096, 7] {
            if piece == 7 && what != "headers" {
                continue;
            }
            timed(&format!("{what} in {piece}-byte pieces"), || {
                let mut p = RequestParser::new(limits);
                let mut n = 0;
                for part in data.as_bytes().chunks(piece) {
                    p.feed(part);
                    while let Some(_r) = p.next_request().unwrap() {
                        n += 1;
                    }
                }
                assert!(n > 0 || what == "blank lines", "{what}: no request");
            });
        }
    }
}
