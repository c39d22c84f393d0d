//! The client against a real supervisord 4.3.0, over its unix socket and over TCP with
//! basic auth. Skipped (with a message) when the test venv does not exist.

mod common;

use std::time::{Duration, Instant};

use common::{Supervisord, free_port, skip, venv_bin};
use corral_proto::api::{self, Fault, ProcessInfo, ProcessState};
use corral_proto::client::{Client, ClientError, ServerUrl};
use corral_proto::xmlrpc::{FaultResponse, Value};

const PASSWORD: &str = "s3cret pass:word";

fn start() -> Option<(Supervisord, u16)> {
    let Some(bin) = venv_bin() else {
        skip("client_vs_supervisord", "no .venv with supervisord");
        return None;
    };
    let port = free_port();
    let sha = sha1_hex(PASSWORD);
    let config = format!(
        "[supervisord]\nnodaemon=true\nlogfile={{here}}/supervisord.log\npidfile={{here}}/supervisord.pid\nchildlogdir={{here}}\n\n\
         [unix_http_server]\nfile={{here}}/supervisor.sock\n\n\
         [inet_http_server]\nport=127.0.0.1:{port}\nusername=admin\npassword={{SHA}}{sha}\n\n\
         [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [program:talker]\ncommand=/bin/sh -c \"echo hello-from-talker; exec sleep 1000\"\nstartsecs=0\n\n\
         [program:idle]\ncommand=/bin/sleep 1000\nautostart=false\nstdout_logfile={{here}}/idle.out\n"
    );
    Some((Supervisord::start(&bin, &config), port))
}

/// The `{SHA}` form of a password, computed with Python's hashlib as supervisord does.
fn sha1_hex(s: &str) -> String {
    let py = common::python().expect("python");
    let out = common::run_python(
        &py,
        &format!(
            "import hashlib,sys; sys.stdout.write(hashlib.sha1({}.encode()).hexdigest())",
            common::py_str(s)
        ),
        &[],
    );
    String::from_utf8(out).unwrap()
}

fn wait_running(client: &mut Client, name: &str) -> ProcessInfo {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = ProcessInfo::from_value(
            &client
                .call("supervisor.getProcessInfo", &[Value::from(name)])
                .unwrap(),
        )
        .unwrap();
        if info.state == ProcessState::Running {
            return info;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not reach RUNNING: {info:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn calls_over_unix_socket_and_http_with_auth() {
    let Some((sv, port)) = start() else { return };
    let unix = ServerUrl::parse(&format!("unix://{}", sv.sock.display())).unwrap();
    let http = ServerUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let mut clients = [
        Client::new(unix, None),
        Client::new(http.clone(), Some(("admin".into(), PASSWORD.into()))),
    ];

    for client in &mut clients {
        let state = client.call("supervisor.getState", &[]).unwrap();
        assert_eq!(
            state,
            api::supervisor_state_value(api::SupervisorState::Running)
        );

        let talker = wait_running(client, "talker");
        assert_eq!(talker.namespec(), "talker");
        // supervisord's description, recomputed by corral from the same fields.
        assert_eq!(talker.description, talker.describe());
        assert!(
            talker
                .description
                .starts_with(&format!("pid {}, uptime ", talker.pid)),
            "{}",
            talker.description
        );

        let all = client.call("supervisor.getAllProcessInfo", &[]).unwrap();
        let infos: Vec<ProcessInfo> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|v| ProcessInfo::from_value(v).unwrap())
            .collect();
        let names: Vec<&str> = infos.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["idle", "talker"]);
        assert_eq!(infos[0].state, ProcessState::Stopped);
        assert_eq!(infos[0].description, "Not started");
        for info in &infos {
            assert_eq!(info.description, info.describe(), "{info:?}");
        }
        // The struct supervisord sends has exactly the members ProcessInfo writes, in order.
        assert_eq!(all.as_array().unwrap()[1], infos[1].to_value());

        match client.call("supervisor.getProcessInfo", &[Value::from("bogus")]) {
            Err(ClientError::Fault { code, text }) => {
                assert_eq!(code, Fault::BadName.code());
                assert_eq!(text, api::fault_text(code, Some("bogus")));
            }
            other => panic!("expected BAD_NAME, got {other:?}"),
        }
        match client.call("supervisor.noSuchMethod", &[]) {
            Err(e) => assert_eq!(e.fault_code(), Some(Fault::UnknownMethod.code())),
            Ok(v) => panic!("unexpected {v:?}"),
        }
        // Same connection, many calls: keep-alive works.
        for _ in 0..20 {
            assert_eq!(
                client.call("supervisor.getAPIVersion", &[]).unwrap(),
                Value::from(api::API_VERSION)
            );
        }
        assert_eq!(
            client.call("supervisor.getSupervisorVersion", &[]).unwrap(),
            Value::from(api::SUPERVISOR_VERSION)
        );

        let results = client
            .multicall(&[
                ("supervisor.getPID", vec![]),
                ("supervisor.getProcessInfo", vec![Value::from("nope")]),
                ("system.multicall", vec![]),
            ])
            .unwrap();
        // supervisord returns successful results bare (see Client::multicall).
        assert!(
            matches!(results[0], Ok(Value::Int(pid)) if pid > 0),
            "{results:?}"
        );
        assert_eq!(
            results[1],
            Err(FaultResponse {
                code: 10,
                text: "BAD_NAME: nope".into()
            })
        );
        assert_eq!(
            results[2],
            Err(FaultResponse {
                code: 2,
                text: "INCORRECT_PARAMETERS: Recursive system.multicall forbidden".into()
            })
        );
    }

    // Wrong and missing credentials over HTTP.
    let mut wrong = Client::new(http.clone(), Some(("admin".into(), "nope".into())));
    assert!(matches!(
        wrong.call("supervisor.getState", &[]),
        Err(ClientError::Unauthorized)
    ));
    let mut none = Client::new(http, None);
    assert!(matches!(
        none.call("supervisor.getState", &[]),
        Err(ClientError::Unauthorized)
    ));
}

#[test]
fn method_table_matches_live_supervisord() {
    let Some((sv, _)) = start() else { return };
    let mut client = Client::new(ServerUrl::Unix(sv.sock.clone()), None);
    let listed = client.call("system.listMethods", &[]).unwrap();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let supervisords: Vec<&str> = api::methods().iter().map(|m| m.name).collect();
    assert_eq!(listed, supervisords);
    for m in api::methods() {
        let help = client
            .call("system.methodHelp", &[Value::from(m.name)])
            .unwrap();
        assert_eq!(help.as_str(), Some(m.help), "{}", m.name);
        let sig = client
            .call("system.methodSignature", &[Value::from(m.name)])
            .unwrap();
        let sig: Vec<&str> = sig
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(sig, m.signature, "{}", m.name);
    }
    let err = client
        .call("system.methodHelp", &[Value::from("nope")])
        .unwrap_err();
    assert_eq!(err.fault_code(), Some(Fault::SignatureUnsupported.code()));
    assert_eq!(api::method_help("nope"), None);
}

#[test]
fn log_tail_streams() {
    let Some((sv, port)) = start() else { return };
    let unix = Client::new(ServerUrl::Unix(sv.sock.clone()), None);
    let http = Client::new(
        ServerUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        Some(("admin".into(), PASSWORD.into())),
    );
    let mut rpc = Client::new(ServerUrl::Unix(sv.sock.clone()), None);
    wait_running(&mut rpc, "talker");

    for client in [&unix, &http] {
        let mut stream = client.get_stream("/logtail/talker").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("hello-from-talker") {
            let chunk = stream.next_chunk().unwrap().expect("stream ended early");
            seen.extend_from_slice(&chunk);
        }

        let mut main = client.get_stream("/mainlogtail").unwrap();
        main.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let first = main.next().unwrap().unwrap();
        assert!(
            String::from_utf8_lossy(&first).contains("supervisord started"),
            "{}",
            String::from_utf8_lossy(&first)
        );

        match client.get_stream("/logtail/bogus") {
            Err(ClientError::Http {
                status: 404,
                reason,
            }) => assert_eq!(reason, "Not Found"),
            other => panic!("expected 404, got {other:?}"),
        }
        // Never started: no log file yet, which supervisord also answers with 404.
        match client.get_stream("/logtail/idle") {
            Err(ClientError::Http { status: 404, .. }) => {}
            other => panic!("expected 404, got {other:?}"),
        }
    }
    let no_auth = Client::new(
        ServerUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        None,
    );
    assert!(matches!(
        no_auth.get_stream("/mainlogtail"),
        Err(ClientError::Unauthorized)
    ));
}
