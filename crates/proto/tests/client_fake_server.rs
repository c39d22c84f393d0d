//! The client against scripted servers built from this crate's own server-side pieces
//! (RequestParser, parse_call, encode_response): reconnects, timeouts, error mapping.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use corral_proto::client::{Client, ClientError, ClientOptions, ServerUrl};
use corral_proto::http::{Request, RequestParser, Response, check_credentials};
use corral_proto::xmlrpc::{Value, encode_response, parse_call};

type Handler = Box<dyn FnOnce(UnixStream, &mpsc::Sender<Request>) + Send>;

struct Fake {
    path: PathBuf,
    requests: mpsc::Receiver<Request>,
    thread: Option<JoinHandle<()>>,
}

/// Serves one connection per handler, in order.
fn fake(handlers: Vec<Handler>) -> Fake {
    let dir = common::unique_temp_dir("corral-fake");
    let path = dir.join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        for h in handlers {
            let (conn, _) = listener.accept().unwrap();
            h(conn, &tx);
        }
    });
    Fake {
        path,
        requests: rx,
        thread: Some(thread),
    }
}

impl Fake {
    fn client(&self, options: ClientOptions) -> Client {
        Client::with_options(
            ServerUrl::Unix(self.path.clone()),
            Some(("u".into(), "p".into())),
            options,
        )
    }

    fn join(mut self) -> Vec<Request> {
        self.thread.take().unwrap().join().unwrap();
        self.requests.try_iter().collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Reads one request with the daemon's parser.
fn read_request(conn: &mut UnixStream, parser: &mut RequestParser) -> Option<Request> {
    let mut buf = [0u8; 1024];
    loop {
        if let Some(r) = parser.next_request().unwrap() {
            return Some(r);
        }
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            return None;
        }
        parser.feed(&buf[..n]);
    }
}

/// Answers `count` calls on this connection with the method name, then closes it.
fn answer(count: usize) -> Handler {
    Box::new(move |mut conn, tx| {
        let mut parser = RequestParser::default();
        for _ in 0..count {
            let Some(req) = read_request(&mut conn, &mut parser) else {
                return;
            };
            let call = parse_call(&req.body).unwrap();
            let body = encode_response(&Value::from(call.method.as_str()));
            conn.write_all(&Response::xml(body).to_bytes()).unwrap();
            tx.send(req).unwrap();
        }
    })
}

fn respond_raw(raw: &'static [u8]) -> Handler {
    Box::new(move |mut conn, tx| {
        let mut parser = RequestParser::default();
        let req = read_request(&mut conn, &mut parser).unwrap();
        conn.write_all(raw).unwrap();
        tx.send(req).unwrap();
    })
}

#[test]
fn requests_are_what_the_daemon_parser_expects() {
    let server = fake(vec![answer(2)]);
    let mut client = server.client(ClientOptions::default());
    assert_eq!(
        client.call("supervisor.getState", &[]).unwrap(),
        Value::from("supervisor.getState")
    );
    assert_eq!(
        client.call("x.y", &[Value::Int(1)]).unwrap(),
        Value::from("x.y")
    );
    drop(client);
    let reqs = server.join();
    assert_eq!(reqs.len(), 2, "both calls on one connection");
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/RPC2");
        assert!(r.keep_alive());
        assert_eq!(r.headers.get("host"), Some("localhost"));
        assert_eq!(r.headers.get("content-type"), Some("text/xml"));
        assert!(check_credentials(
            r.headers.get("authorization").unwrap(),
            "u",
            "p"
        ));
    }
    assert_eq!(
        parse_call(&reqs[1].body).unwrap().params,
        vec![Value::Int(1)]
    );
}

#[test]
fn reconnects_once_when_the_server_closed_an_idle_connection() {
    // First connection: one answer, then the server hangs up (idle timeout).
    let server = fake(vec![answer(1), answer(1)]);
    let mut client = server.client(ClientOptions::default());
    assert_eq!(
        client.call("first.call", &[]).unwrap(),
        Value::from("first.call")
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        client.call("second.call", &[]).unwrap(),
        Value::from("second.call")
    );
    drop(client);
    assert_eq!(server.join().len(), 2);
}

#[test]
fn fresh_connection_closed_without_answer_is_an_error_not_a_retry() {
    let server = fake(vec![Box::new(|mut conn, _| {
        let mut parser = RequestParser::default();
        read_request(&mut conn, &mut parser);
    })]);
    let mut client = server.client(ClientOptions::default());
    match client.call("a.b", &[]) {
        Err(ClientError::Io(e)) => {
            assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
            assert!(
                e.to_string()
                    .contains("connection closed before a response"),
                "{e}"
            );
        }
        other => panic!("expected an io error, got {other:?}"),
    }
    server.join();
}

#[test]
fn read_timeout_reports_what_was_being_done() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let server = fake(vec![Box::new(move |mut conn, _| {
        let mut parser = RequestParser::default();
        read_request(&mut conn, &mut parser);
        // Hold the connection open without answering until the client gave up.
        let _ = release_rx.recv_timeout(Duration::from_secs(10));
    })]);
    let options = ClientOptions {
        read_timeout: Some(Duration::from_millis(200)),
        ..ClientOptions::default()
    };
    let mut client = server.client(options);
    match client.call("slow.call", &[]) {
        Err(ClientError::Io(e)) => {
            assert!(
                matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "{e:?}"
            );
            assert!(
                e.to_string().starts_with("reading response from unix://"),
                "{e}"
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    release_tx.send(()).unwrap();
    server.join();
}

#[test]
fn http_statuses_and_garbage_map_to_errors() {
    let server = fake(vec![
        respond_raw(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
        respond_raw(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        respond_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot xml!!"),
        respond_raw(b"SMTP ready\r\n\r\n"),
    ]);
    let mut client = server.client(ClientOptions::default());
    match client.call("a.b", &[]) {
        Err(ClientError::Http {
            status: 500,
            reason,
        }) => assert_eq!(reason, "Internal Server Error"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.call("a.b", &[]),
        Err(ClientError::Unauthorized)
    ));
    match client.call("a.b", &[]) {
        Err(ClientError::Protocol(m)) => assert!(m.contains("invalid XML-RPC response"), "{m}"),
        other => panic!("{other:?}"),
    }
    match client.call("a.b", &[]) {
        Err(ClientError::Protocol(m)) => assert!(m.contains("malformed status line"), "{m}"),
        other => panic!("{other:?}"),
    }
    drop(client);
    assert_eq!(server.join().len(), 4);
}

#[test]
fn connect_errors_keep_their_kind() {
    let dir = common::unique_temp_dir("corral-nosock");
    let mut client = Client::new(ServerUrl::Unix(dir.join("missing.sock")), None);
    match client.call("a.b", &[]) {
        Err(ClientError::Io(e)) => {
            assert_eq!(e.kind(), ErrorKind::NotFound);
            assert!(e.to_string().starts_with("connecting to unix://"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    let port = common::free_port();
    let mut client = Client::new(
        ServerUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        None,
    );
    match client.call("a.b", &[]) {
        Err(ClientError::Io(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
}

#[test]
fn stream_yields_chunks_as_they_are_written() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let server = fake(vec![Box::new(move |mut conn, tx| {
        let mut parser = RequestParser::default();
        let req = read_request(&mut conn, &mut parser).unwrap();
        tx.send(req).unwrap();
        let head = Response::new(200)
            .header("Content-Type", "text/plain;charset=utf-8")
            .chunked();
        conn.write_all(&head.to_bytes()).unwrap();
        conn.write_all(&corral_proto::http::encode_chunk(b"first\n"))
            .unwrap();
        // The second chunk only goes out after the client has seen the first one.
        go_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        conn.write_all(&corral_proto::http::encode_chunk(b"second\n"))
            .unwrap();
        conn.write_all(corral_proto::http::LAST_CHUNK).unwrap();
    })]);
    let client = server.client(ClientOptions::default());
    let mut stream = client.get_stream("/logtail/web:web_00/stderr").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(stream.next_chunk().unwrap().unwrap(), b"first\n");
    go_tx.send(()).unwrap();
    assert_eq!(stream.next_chunk().unwrap().unwrap(), b"second\n");
    assert_eq!(stream.next_chunk().unwrap(), None);
    let reqs = server.join();
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].target, "/logtail/web:web_00/stderr");
    assert!(check_credentials(
        reqs[0].headers.get("authorization").unwrap(),
        "u",
        "p"
    ));
}
