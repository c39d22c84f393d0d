//! What the client side reads: supervisorctl's `ClientOptions.read_config`, and the list of
//! places supervisord and supervisorctl look for a config when `-c` is not given.

use crate::error::ConfigError;
use crate::host::Host;
use crate::ini::Ini;
use crate::loader::{environ_expansions, unreadable};
use crate::model::{CtlServer, CtlSettings, valid_server_name};
use crate::pyformat::{self, Expansions, PyVal};
use crate::{datatypes as dt, pypath};

/// `Options.searchpaths` for an executable started as `argv0`.
pub fn search_paths(argv0: &str) -> Vec<String> {
    // here = dirname(dirname(sys.argv[0])): the directory above the executable's.
    let here = pypath::dirname(&pypath::dirname(argv0));
    vec![
        pypath::join(&pypath::join(&here, "etc"), "supervisord.conf"),
        pypath::join(&here, "supervisord.conf"),
        "supervisord.conf".into(),
        "etc/supervisord.conf".into(),
        "/etc/supervisord.conf".into(),
        "/etc/supervisor/supervisord.conf".into(),
    ]
}

/// supervisord's `default_configfile`: the first of [`search_paths`] that exists.
pub fn search_default_config(host: &dyn Host, argv0: &str) -> Option<String> {
    search_paths(argv0).into_iter().find(|p| host.exists(p))
}

/// supervisorctl's reading of `path`: the main file only (supervisorctl does not follow
/// `[include]`), which must have a `[supervisorctl]` section.
pub fn load_ctl(path: &str, host: &dyn Host) -> Result<CtlSettings, Vec<ConfigError>> {
    let cwd = host.cwd();
    let abs = pypath::abspath(path, &cwd);
    let here = pypath::dirname(&pypath::normalize_path(path, host, &cwd));
    let err = |line: Option<usize>, option: Option<&str>, message: String| ConfigError {
        file: Some(abs.clone()),
        line,
        section: option.map(|_| "supervisorctl".to_string()),
        option: option.map(String::from),
        message,
        host_dependent: false,
    };
    let bytes = host
        .read_file(path)
        .map_err(|e| vec![err(None, None, unreadable(path, &e))])?;
    let text = String::from_utf8(bytes)
        .map_err(|_| vec![err(None, None, "the file is not valid UTF-8".into())])?;
    let mut ini = Ini::new();
    let parse_errors = ini.read(&text, path, &abs);
    let mut errors: Vec<ConfigError> = parse_errors
        .iter()
        .map(|e| err(Some(e.line), None, e.python_message()))
        .collect();
    const S: &str = "supervisorctl";
    if !ini.has_section(S) {
        errors.push(err(
            None,
            None,
            ".ini file does not include supervisorctl section".into(),
        ));
        return Err(errors);
    }
    let environ = environ_expansions(host);
    let mut with_here = environ.clone();
    with_here.insert("here".into(), PyVal::Str(here.clone()));
    let mut get = |key: &str, names: &Expansions| -> Option<String> {
        let o = ini.get(S, key)?;
        match pyformat::expand(&o.value, names, &format!("{S}.{key}")) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(err(Some(o.line), Some(key), e.to_string()));
                None
            }
        }
    };
    let serverurl = get("serverurl", &with_here);
    let prompt = get("prompt", &environ);
    let username = get("username", &environ);
    let password = get("password", &environ);
    let history_file = get("history_file", &with_here);
    let servers = servers(&ini, &environ, &with_here, &abs, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let normal = |u: String| match u.strip_prefix("unix://") {
        Some(p) => format!("unix://{}", pypath::normalize_path(p, host, &cwd)),
        None => u,
    };
    let serverurl = serverurl.map(normal);
    let servers = servers
        .into_iter()
        .map(|s| CtlServer {
            serverurl: normal(s.serverurl),
            ..s
        })
        .collect();
    Ok(CtlSettings {
        serverurl,
        daemon_serverurl: daemon_serverurl(&ini, host, &here, &cwd),
        username,
        password,
        prompt: prompt.unwrap_or_else(|| "supervisor".into()),
        history_file: history_file
            .filter(|h| !h.is_empty())
            .map(|h| pypath::normalize_path(&h, host, &cwd)),
        servers,
    })
}

/// corral: the `[supervisorctl:NAME]` sections (several servers), in file order.
fn servers(
    ini: &Ini,
    environ: &Expansions,
    with_here: &Expansions,
    file: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<CtlServer> {
    let mut out: Vec<CtlServer> = Vec::new();
    for section in ini.sections() {
        let Some(name) = section.name.strip_prefix("supervisorctl:") else {
            continue;
        };
        let name = crate::pystr::strip(name).to_string();
        let mut err = |line: usize, option: Option<&str>, message: String| {
            errors.push(ConfigError {
                file: Some(file.to_string()),
                line: Some(line),
                section: Some(section.name.clone()),
                option: option.map(String::from),
                message,
                host_dependent: false,
            });
        };
        if !valid_server_name(&name) {
            err(
                section.line,
                None,
                format!(
                    "invalid server name {}: use letters, digits, '_', '-' and '.'",
                    crate::pystr::repr(&name)
                ),
            );
            continue;
        }
        if out.iter().any(|s| s.name == name) {
            err(
                section.line,
                None,
                format!("server {name} is defined twice"),
            );
            continue;
        }
        let mut value = |key: &str, names: &Expansions| -> Option<String> {
            let o = ini.get(&section.name, key)?;
            match pyformat::expand(&o.value, names, &format!("{}.{key}", section.name)) {
                Ok(v) => Some(v),
                Err(e) => {
                    err(o.line, Some(key), e.to_string());
                    None
                }
            }
        };
        let serverurl = value("serverurl", with_here);
        let username = value("username", environ);
        let password = value("password", environ);
        match serverurl {
            Some(serverurl) => out.push(CtlServer {
                name,
                serverurl,
                username,
                password,
            }),
            None if ini.get(&section.name, "serverurl").is_none() => err(
                section.line,
                Some("serverurl"),
                format!("[{}] has no serverurl", section.name),
            ),
            None => {}
        }
    }
    out
}

/// The URL the daemon itself gives its children: the first `[unix_http_server]` file,
/// else the last `[inet_http_server]` port (supervisord's loop keeps the last).
fn daemon_serverurl(ini: &Ini, host: &dyn Host, here: &str, cwd: &str) -> Option<String> {
    let mut names = Expansions::new();
    names.insert("here".into(), PyVal::Str(here.to_string()));
    for s in ini
        .sections()
        .filter(|s| s.name.starts_with("unix_http_server"))
    {
        if let Some(o) = ini.get(&s.name, "file") {
            if let Ok(f) = pyformat::expand(&o.value, &names, "file") {
                return Some(format!(
                    "unix://{}",
                    pypath::normalize_path(crate::pystr::strip(&f), host, cwd)
                ));
            }
        }
    }
    let mut url = None;
    for s in ini
        .sections()
        .filter(|s| s.name.starts_with("inet_http_server"))
    {
        if let Some(o) = ini.get(&s.name, "port") {
            if let Ok((h, port)) = dt::inet_address(&o.value) {
                let h = if h.is_empty() {
                    "localhost".to_string()
                } else {
                    h
                };
                url = Some(format!("http://{h}:{port}"));
            }
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_paths_like_supervisord() {
        assert_eq!(
            search_paths("/usr/bin/corrald"),
            vec![
                "/usr/etc/supervisord.conf",
                "/usr/supervisord.conf",
                "supervisord.conf",
                "etc/supervisord.conf",
                "/etc/supervisord.conf",
                "/etc/supervisor/supervisord.conf"
            ]
        );
        assert_eq!(search_paths("corrald")[0], "etc/supervisord.conf");
    }
}
