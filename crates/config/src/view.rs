//! The JSON view of a loaded configuration: field for field what the conformance corpus's
//! `supervisord_view.py` prints for supervisord (so the two can be compared), plus a
//! separate `corral` key for corral's extensions, `error`/`errors` when there are errors,
//! and `corral_warnings`.

use serde_json::{Map, Value, json};

use crate::Loaded;
use crate::model::*;
use crate::signals;

fn octal(v: u32) -> String {
    format!("{v:04o}")
}

fn logfile(l: &LogFile) -> Value {
    match l {
        LogFile::Auto => json!("AUTO"),
        LogFile::None => json!("NONE"),
        LogFile::Path(p) => json!(p),
    }
}

fn process(p: &ProcessConfig) -> Value {
    let autorestart = match p.autorestart {
        AutoRestart::Always => "true",
        AutoRestart::Unexpected => "unexpected",
        AutoRestart::Never => "false",
    };
    let mut v = json!({
        "name": p.name,
        "section": p.section,
        "file": p.file,
        "command": p.command,
        "directory": p.directory,
        "user": p.user.as_ref().map(|u| &u.spec),
        "umask": p.umask.map(octal),
        "priority": p.priority,
        "autostart": p.autostart,
        "autorestart": autorestart,
        "startsecs": p.startsecs,
        "startretries": if p.startretries == STARTRETRIES_INFINITE {
            json!("infinite")
        } else {
            json!(p.startretries)
        },
        "exitcodes": p.exitcodes,
        "stopsignal": signals::view_name(p.stopsignal),
        "stopwaitsecs": p.stopwaitsecs,
        "stopasgroup": p.stopasgroup,
        "killasgroup": p.killasgroup,
        "redirect_stderr": p.redirect_stderr,
        "numprocs": p.numprocs,
        "numprocs_start": p.numprocs_start,
        "serverurl": p.serverurl.as_deref().unwrap_or("AUTO"),
        "environment": p.environment,
    });
    let m = v.as_object_mut().expect("an object");
    for (name, ch) in [("stdout", &p.stdout), ("stderr", &p.stderr)] {
        m.insert(format!("{name}_logfile"), logfile(&ch.logfile));
        m.insert(
            format!("{name}_logfile_maxbytes"),
            json!(ch.logfile_maxbytes),
        );
        m.insert(format!("{name}_logfile_backups"), json!(ch.logfile_backups));
        m.insert(
            format!("{name}_capture_maxbytes"),
            json!(ch.capture_maxbytes),
        );
        m.insert(format!("{name}_events_enabled"), json!(ch.events_enabled));
        m.insert(format!("{name}_syslog"), json!(ch.syslog));
    }
    v
}

fn group(g: &GroupConfig) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(g.name));
    m.insert("priority".into(), json!(g.priority));
    match &g.kind {
        GroupKind::Program => {
            m.insert("type".into(), json!("program"));
        }
        GroupKind::Heterogeneous => {
            m.insert("type".into(), json!("group"));
        }
        GroupKind::EventListener(pool) => {
            m.insert("type".into(), json!("eventlistener"));
            m.insert("events".into(), json!(pool.events));
            m.insert("buffer_size".into(), json!(pool.buffer_size));
            m.insert("result_handler".into(), json!(pool.result_handler));
        }
        GroupKind::FastCgi(s) => {
            m.insert("type".into(), json!("fcgi-program"));
            m.insert("socket".into(), json!(s.url));
            m.insert(
                "socket_owner".into(),
                json!(s.owner.as_ref().map(|o| o.spec.clone())),
            );
            m.insert("socket_mode".into(), json!(s.mode.map(octal)));
            m.insert("socket_backlog".into(), json!(s.backlog));
        }
    }
    m.insert(
        "processes".into(),
        Value::Array(g.processes.iter().map(process).collect()),
    );
    Value::Object(m)
}

fn config_view(c: &Config, loaded: &Loaded) -> Map<String, Value> {
    let s = &c.supervisord;
    let sup = json!({
        "logfile": s.logfile,
        "logfile_maxbytes": s.logfile_maxbytes,
        "logfile_backups": s.logfile_backups,
        "loglevel": s.loglevel.word(),
        "pidfile": s.pidfile,
        "nodaemon": s.nodaemon,
        "silent": s.silent,
        "minfds": s.minfds,
        "minprocs": s.minprocs,
        "umask": octal(s.umask),
        "user": s.user,
        "directory": s.directory,
        "identifier": s.identifier,
        "childlogdir": s.childlogdir,
        "nocleanup": s.nocleanup,
        "strip_ansi": s.strip_ansi,
        "environment": s.environment,
        "serverurl": s.serverurl,
    });
    let unix: Vec<Value> = c
        .unix_http_servers
        .iter()
        .map(|u| {
            json!({
                "section": u.section, "file": u.file, "chmod": octal(u.chmod),
                "chown": u.chown.as_ref().map(|o| o.spec.clone()),
                "username": u.username, "password": u.password,
            })
        })
        .collect();
    let inet: Vec<Value> = c
        .inet_http_servers
        .iter()
        .map(|i| {
            json!({
                "section": i.section, "host": i.host, "port": i.port,
                "username": i.username, "password": i.password,
            })
        })
        .collect();
    let rpc: Vec<Value> = c
        .rpcinterfaces
        .iter()
        .map(|r| json!({"name": r.name, "factory": r.factory, "extras": r.extras}))
        .collect();
    let included: Vec<String> = c
        .infos
        .iter()
        .filter(|i| i.starts_with("Included extra file"))
        .filter_map(|i| i.split('"').nth(1).map(String::from))
        .collect();
    let mut m = Map::new();
    m.insert("supervisord".into(), sup);
    m.insert("unix_http_server".into(), Value::Array(unix));
    m.insert("inet_http_server".into(), Value::Array(inet));
    m.insert("rpcinterface".into(), Value::Array(rpc));
    m.insert(
        "groups".into(),
        Value::Array(c.groups.iter().map(group).collect()),
    );
    m.insert("warnings".into(), json!(c.warnings));
    m.insert("included_files".into(), json!(included));
    m.insert(
        "sections_ignored_by_supervisord".into(),
        json!(loaded.meta.sections_ignored),
    );
    m.insert(
        "options_ignored_by_supervisord".into(),
        json!(loaded.meta.options_ignored),
    );
    m.insert("wrapped".into(), json!(false));
    m.insert("corral".into(), crate::corral::view(c));
    m
}

/// The view `corrald --check --json` prints.
pub fn view_json(loaded: &Loaded) -> Value {
    let mut m = match &loaded.config {
        Some(c) => config_view(c, loaded),
        None => Map::new(),
    };
    // `error` (the corpus's "supervisord refuses this file") names the first problem of
    // the file itself; problems of this host alone (a missing log directory, an unknown
    // user, a Python import) are listed in `errors` and `host_errors`, and still make the
    // exit status non-zero, but the file is not refused on their account.
    if let Some(first) = loaded.errors.iter().find(|e| !e.host_dependent) {
        m.insert("error".into(), json!(first.to_string()));
    }
    let listed = |host_only: bool| -> Vec<String> {
        (loaded.errors.iter())
            .filter(|e| e.host_dependent || !host_only)
            .map(ToString::to_string)
            .collect()
    };
    for (key, errors) in [("host_errors", listed(true)), ("errors", listed(false))] {
        if !errors.is_empty() {
            m.insert(key.into(), json!(errors));
        }
    }
    m.insert("corral_warnings".into(), json!(loaded.corral_warnings));
    Value::Object(m)
}
