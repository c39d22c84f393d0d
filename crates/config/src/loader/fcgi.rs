//! `[fcgi-program:x]`: a group whose processes share one listening socket (`socket=` and
//! the `socket_*` options), as supervisord's `FastCGIGroupConfig`.

use std::fmt;

use crate::datatypes as dt;
use crate::model::*;
use crate::pyformat::{Expansions, PyVal};
use crate::{pypath, pystr};

use super::{Failed, Loader};

/// What `parse_fcgi_socket` is given besides `socket=` itself.
struct SocketOptions {
    /// `user=` and its uid, when it names a known user.
    user: Option<(String, u32)>,
    owner: Option<OwnerSpec>,
    mode: Option<u32>,
    backlog: Option<u32>,
}

/// Why `socket=` is refused. The messages keep supervisord's oddities: two of its
/// ValueErrors are raised with two arguments, so Python prints them as a tuple.
#[derive(Debug)]
enum SocketError {
    /// A `unix://` path that is not absolute.
    RelativePath(String),
    /// `socket_owner=` or `socket_mode=` with a `tcp://` socket.
    OwnerOrModeOnTcp,
    /// The port of a `tcp://` socket, with the converter's message.
    Port(String),
    /// Neither `unix://PATH` nor `tcp://HOST:PORT`.
    Format(String),
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::RelativePath(path) => write!(
                f,
                "('Unix socket path %s is not an absolute path', {})",
                pystr::repr(path)
            ),
            SocketError::OwnerOrModeOnTcp => f.write_str(
                "socket_owner and socket_mode params should only be used with a Unix domain socket",
            ),
            SocketError::Port(msg) => f.write_str(msg),
            SocketError::Format(sock) => {
                write!(f, "('Bad socket format %s', {})", pystr::repr(sock))
            }
        }
    }
}

impl Loader<'_> {
    /// One `[fcgi-program:x]` group; `None` when its name is refused.
    pub(super) fn fcgi_group(
        &mut self,
        section: &str,
        sockets: &[SocketConfig],
    ) -> Option<GroupConfig> {
        let program_name = self.section_name(section)?;
        let gnames = self.here_names();
        let priority = self.conv(section, "priority", "999", &gnames, dt::integer, 999);
        let options = self.socket_options(section, &gnames);
        let socket = self.fcgi_socket(section, &program_name, &gnames, &options);
        let processes = self.processes_from_section(section, &program_name, false, sockets);
        Some(GroupConfig {
            name: program_name,
            priority,
            kind: GroupKind::FastCgi(socket.unwrap_or(FcgiSocket {
                url: String::new(),
                owner: None,
                mode: None,
                backlog: None,
            })),
            processes,
        })
    }

    /// `user=` (the owner of a unix socket by default), `socket_backlog=`,
    /// `socket_owner=`, `socket_mode=`.
    fn socket_options(&mut self, section: &str, gnames: &Expansions) -> SocketOptions {
        let proc_user = self.get(section, "user", None, gnames, true).ok().flatten();
        let user = proc_user.and_then(|u| match dt::name_to_uid(&u, self.host) {
            Ok(uid) => Some((u, uid)),
            Err(e) => {
                self.dt_error(section, "user", e);
                None
            }
        });
        let backlog = self.socket_backlog(section, gnames);
        let owner = self.owner_opt(section, "socket_owner", gnames, "socket_owner");
        let mode = self.mode_opt(section, "socket_mode", gnames, "socket_mode");
        SocketOptions {
            user,
            owner,
            mode,
            backlog,
        }
    }

    /// `socket_backlog=`: 1 to 65535.
    fn socket_backlog(&mut self, section: &str, gnames: &Expansions) -> Option<u32> {
        let Ok(Some(b)) = self.get(section, "socket_backlog", None, gnames, true) else {
            return None;
        };
        match dt::integer(&b) {
            Ok(v) if (1..=65535).contains(&v) => Some(v as u32),
            Ok(v) => {
                let loc = self.loc(section, "socket_backlog");
                self.error_at(loc, format!("Invalid socket_backlog value {v}"), false);
                None
            }
            Err(e) => {
                self.dt_error(section, "socket_backlog", e);
                None
            }
        }
    }

    /// `socket=`: required, expanded with `program_name` too.
    fn fcgi_socket(
        &mut self,
        section: &str,
        program_name: &str,
        gnames: &Expansions,
        options: &SocketOptions,
    ) -> Option<FcgiSocket> {
        let mut snames = gnames.clone();
        snames.insert("program_name".into(), PyVal::Str(program_name.to_string()));
        let socket = match self.get(section, "socket", None, &snames, true) {
            Ok(Some(s)) if !s.is_empty() => s,
            Ok(_) => {
                let loc = self.loc(section, "socket");
                self.error_at(
                    loc,
                    format!("[{section}] section requires a \"socket\" line"),
                    false,
                );
                return None;
            }
            Err(Failed) => return None,
        };
        match self.parse_fcgi_socket(&socket, options) {
            Ok(fs) => Some(fs),
            Err(e) => {
                let loc = self.loc(section, "socket");
                self.error_at(loc, format!("{e} in [{section}] socket"), false);
                None
            }
        }
    }

    /// `parse_fcgi_socket`.
    fn parse_fcgi_socket(
        &self,
        sock: &str,
        options: &SocketOptions,
    ) -> Result<FcgiSocket, SocketError> {
        if let Some(path) = sock.strip_prefix("unix://") {
            return self.unix_fcgi_socket(path, options);
        }
        if options.owner.is_some() || options.mode.is_some() {
            return Err(SocketError::OwnerOrModeOnTcp);
        }
        // re.match(r'tcp://([^\s:]+):(\d+)$', sock)
        if let Some(rest) = sock.strip_prefix("tcp://") {
            let rest = rest.strip_suffix('\n').unwrap_or(rest);
            if let Some((host, port)) = rest.split_once(':') {
                if !host.is_empty()
                    && !host.chars().any(pystr::is_space)
                    && !port.is_empty()
                    && port.chars().all(|c| pystr::decimal_value(c).is_some())
                {
                    let port = dt::port_number(port).map_err(|e| SocketError::Port(e.message))?;
                    let host = pystr::lower(host);
                    return Ok(FcgiSocket {
                        url: format!("tcp://{host}:{port}"),
                        owner: None,
                        mode: None,
                        backlog: options.backlog,
                    });
                }
            }
        }
        Err(SocketError::Format(sock.to_string()))
    }

    /// A `unix://` socket: absolute; owned by `socket_owner=`, else by `user=` when that is
    /// not the daemon's own user; mode 0700 unless `socket_mode=` says otherwise.
    fn unix_fcgi_socket(
        &self,
        path: &str,
        options: &SocketOptions,
    ) -> Result<FcgiSocket, SocketError> {
        if !pypath::isabs(path) {
            return Err(SocketError::RelativePath(path.to_string()));
        }
        let path = pypath::normalize_path(path, self.host, &self.cwd);
        let mut owner = options.owner.clone();
        if owner.is_none() {
            if let Some((user, uid)) = &options.user {
                let uid = *uid;
                if uid != self.host.current_uid() {
                    let gid = dt::gid_for_uid(uid, self.host).unwrap_or(uid);
                    owner = Some(OwnerSpec {
                        spec: format!("{user}:{gid}"),
                        uid,
                        gid: Some(gid),
                    });
                }
            }
        }
        Ok(FcgiSocket {
            url: format!("unix://{path}"),
            owner,
            mode: Some(options.mode.unwrap_or(0o700)),
            backlog: options.backlog,
        })
    }
}
