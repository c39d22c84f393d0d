//! The HTTP servers (`[unix_http_server]`, `[inet_http_server]`, and the `:name` variants
//! supervisord also accepts), the socket ownership options they share with
//! `[fcgi-program:x]`, and `[supervisorctl]`.

use crate::datatypes as dt;
use crate::model::*;
use crate::pyformat::{self, Expansions, PyVal};
use crate::{pypath, pystr};

use super::{Failed, Loader};

impl Loader<'_> {
    fn username_and_password(&mut self, section: &str) -> (Option<String>, Option<String>) {
        let empty = Expansions::new();
        let username = self
            .get(section, "username", None, &empty, true)
            .ok()
            .flatten();
        let password = self
            .get(section, "password", None, &empty, true)
            .ok()
            .flatten();
        if username.is_some() != password.is_some() {
            let key = if username.is_some() {
                "username"
            } else {
                "password"
            };
            let loc = self.loc(section, key);
            self.error_at(
                loc,
                format!(
                    "Section [{section}] contains incomplete authentication: If a username or a \
                     password is specified, both the username and password must be specified"
                ),
                false,
            );
        }
        (username, password)
    }

    /// A socket's `user[:group]` (`chown=`, `socket_owner=`). One that does not resolve is
    /// supervisord's `Invalid WHAT value V`, and is kept as written with unknown ids.
    pub(super) fn owner_opt(
        &mut self,
        section: &str,
        key: &str,
        names: &Expansions,
        what: &str,
    ) -> Option<OwnerSpec> {
        let spec = self.get(section, key, None, names, true).ok().flatten()?;
        match dt::colon_separated_user_group(&spec, self.host) {
            Ok((uid, gid)) => Some(OwnerSpec { spec, uid, gid }),
            Err(e) => {
                let loc = self.loc(section, key);
                self.error_at(
                    loc,
                    format!("Invalid {what} value {spec}"),
                    e.host_dependent,
                );
                Some(OwnerSpec {
                    spec,
                    uid: u32::MAX,
                    gid: None,
                })
            }
        }
    }

    /// A socket's octal mode (`chmod=`, `socket_mode=`); a bad one is supervisord's
    /// `Invalid WHAT value V`, and `None` like a missing one.
    pub(super) fn mode_opt(
        &mut self,
        section: &str,
        key: &str,
        names: &Expansions,
        what: &str,
    ) -> Option<u32> {
        let v = self.get(section, key, None, names, true).ok().flatten()?;
        match dt::octal_type(&v) {
            Ok(m) => Some(m),
            Err(_) => {
                let loc = self.loc(section, key);
                self.error_at(loc, format!("Invalid {what} value {v}"), false);
                None
            }
        }
    }

    /// `server_configs_from_parser`: every `[inet_http_server*]`, then every
    /// `[unix_http_server*]`, each in file order.
    pub(super) fn servers(&mut self) -> (Vec<UnixHttpServerConfig>, Vec<InetHttpServerConfig>) {
        let sections = self.ini.section_names();
        let inet = sections
            .iter()
            .filter(|s| s.starts_with("inet_http_server"))
            .filter_map(|section| self.inet_http_server(section))
            .collect();
        let unix = sections
            .iter()
            .filter(|s| s.starts_with("unix_http_server"))
            .filter_map(|section| self.unix_http_server(section))
            .collect();
        (unix, inet)
    }

    fn inet_http_server(&mut self, section: &str) -> Option<InetHttpServerConfig> {
        let empty = Expansions::new();
        let (username, password) = self.username_and_password(section);
        let port = match self.get(section, "port", None, &empty, true) {
            Ok(Some(p)) => p,
            Ok(None) => {
                let loc = self.section_loc(section);
                self.error_at(loc, format!("section [{section}] has no port value"), false);
                return None;
            }
            Err(Failed) => return None,
        };
        let (readonly_username, readonly_password) =
            crate::corral::readonly_credentials(self, section, username.as_deref());
        match dt::inet_address(&port) {
            Ok((host, port)) => Some(InetHttpServerConfig {
                section: section.to_string(),
                host,
                port,
                username,
                password,
                readonly_username,
                readonly_password,
            }),
            Err(e) => {
                self.dt_error(section, "port", e);
                None
            }
        }
    }

    fn unix_http_server(&mut self, section: &str) -> Option<UnixHttpServerConfig> {
        let empty = Expansions::new();
        let names = self.here_names();
        let file = match self.get(section, "file", None, &names, true) {
            Ok(Some(f)) => pypath::normalize_path(pystr::strip(&f), self.host, &self.cwd),
            Ok(None) => {
                let loc = self.section_loc(section);
                self.error_at(loc, format!("section [{section}] has no file value"), false);
                return None;
            }
            Err(Failed) => return None,
        };
        let (username, password) = self.username_and_password(section);
        let (readonly_username, readonly_password) =
            crate::corral::readonly_credentials(self, section, username.as_deref());
        let chown = self.owner_opt(section, "chown", &empty, "sockchown");
        let chmod = self
            .mode_opt(section, "chmod", &empty, "chmod")
            .unwrap_or(0o700);
        Some(UnixHttpServerConfig {
            section: section.to_string(),
            file,
            chmod,
            chown,
            username,
            password,
            readonly_username,
            readonly_password,
        })
    }

    /// `[supervisorctl]`, for what the daemon reports of it. supervisord does not read it.
    pub(super) fn supervisorctl(&self) -> Option<SupervisorctlConfig> {
        let mut ctl_names = self.environ.clone();
        ctl_names.insert("here".into(), PyVal::Str(self.here.clone()));
        self.ini.section("supervisorctl").map(|_| {
            // As supervisorctl expands them; a value it could not expand is kept as written
            // (corralctl reports it when it reads the file itself).
            let get = |k: &str| {
                self.ini.get("supervisorctl", k).map(|o| {
                    pyformat::expand(&o.value, &ctl_names, k).unwrap_or_else(|_| o.value.clone())
                })
            };
            SupervisorctlConfig {
                serverurl: get("serverurl"),
                username: get("username"),
                password: get("password"),
                prompt: get("prompt"),
                history_file: get("history_file"),
            }
        })
    }
}
