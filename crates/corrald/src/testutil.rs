//! Builders for tests.

use std::collections::BTreeMap;

use corral_config::{AutoRestart, ChannelConfig, LogFile, ProcessConfig, Readiness};

/// A process config with supervisord's defaults.
pub fn process_config(name: &str, command: &str) -> ProcessConfig {
    let channel = ChannelConfig {
        logfile: LogFile::None,
        logfile_maxbytes: 50 * 1024 * 1024,
        logfile_backups: 10,
        capture_maxbytes: 0,
        events_enabled: false,
        syslog: false,
    };
    ProcessConfig {
        name: name.into(),
        group: name.into(),
        section: format!("program:{name}").into(),
        file: "test.conf".into(),
        is_listener: false,
        command: command.into(),
        directory: None,
        umask: None,
        priority: 999,
        autostart: true,
        autorestart: AutoRestart::Unexpected,
        startsecs: 1,
        startretries: 3,
        user: None,
        stdout: channel.clone(),
        stderr: channel,
        stopsignal: 15,
        stopwaitsecs: 10,
        stopasgroup: false,
        killasgroup: false,
        exitcodes: vec![0].into(),
        redirect_stderr: false,
        environment: BTreeMap::new(),
        serverurl: None,
        numprocs: 1,
        numprocs_start: 0,
        process_num: 0,
        stopdescendants: true,
        sockets: Vec::new(),
        readiness: Readiness::Startsecs,
        readiness_timeout: 60,
        liveness: Default::default(),
        stopsequence: Vec::new(),
        depends_on: Vec::new(),
        environment_files: Vec::new(),
        shutdown_on_exit: false,
    }
}

/// Run `f` to completion on a `LocalSet` in a current-thread runtime, as corrald runs
/// everything.
pub fn local_set<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, f)
}

/// An environment from `(name, value)` pairs.
pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
