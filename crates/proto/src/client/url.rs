//! supervisorctl's `serverurl`: `unix:///path/to.sock` or `http://host[:port][/path]`.

use std::fmt;
use std::path::PathBuf;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerUrl {
    Unix(PathBuf),
    /// `host` without brackets (an IPv6 literal is stored bare).
    Http {
        host: String,
        port: u16,
    },
}

/// Why a server URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUrl(pub String);

impl fmt::Display for InvalidUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidUrl {}

impl ServerUrl {
    /// Parses a serverurl. As in supervisorctl, any path after `http://host:port` is
    /// accepted and ignored: XML-RPC always goes to `/RPC2` and log tails to `/logtail/...`
    /// (supervisor's transport and http_client only take the host and port from the URL).
    /// The port defaults to 80.
    pub fn parse(url: &str) -> Result<ServerUrl, InvalidUrl> {
        let bad = |why: &str| InvalidUrl(format!("invalid server URL '{url}': {why}"));
        if let Some(path) = url.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(bad("no socket path"));
            }
            return Ok(ServerUrl::Unix(PathBuf::from(path)));
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(bad("expected unix:// or http://"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        // user:password@ in the URL is not how supervisorctl takes credentials.
        if authority.contains('@') {
            return Err(bad("credentials belong in username/password, not the URL"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unterminated IPv6 address"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| bad("garbage after IPv6 address"))?,
                    ),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(bad("bad character in host"));
        }
        let port = match port {
            None | Some("") => 80,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(bad("bad port")),
            },
            Some(_) => return Err(bad("bad port")),
        };
        Ok(ServerUrl::Http {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The `Host` header value: `localhost` on a unix socket (as supervisor's transport
    /// sends), else `host:port` (`host` alone on port 80, as Python's http.client does).
    pub fn host_header(&self) -> String {
        match self {
            ServerUrl::Unix(_) => "localhost".to_owned(),
            ServerUrl::Http { host, port } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                if *port == 80 {
                    host
                } else {
                    format!("{host}:{port}")
                }
            }
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerUrl::Unix(path) => write!(f, "unix://{}", path.display()),
            ServerUrl::Http { host, port } if host.contains(':') => {
                write!(f, "http://[{host}]:{port}")
            }
            ServerUrl::Http { host, port } => write!(f, "http://{host}:{port}"),
        }
    }
}

impl std::str::FromStr for ServerUrl {
    type Err = InvalidUrl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServerUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(host: &str, port: u16) -> ServerUrl {
        ServerUrl::Http {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_supervisorctl_forms() {
        assert_eq!(
            ServerUrl::parse("unix:///tmp/s.sock"),
            Ok(ServerUrl::Unix("/tmp/s.sock".into()))
        );
        assert_eq!(
            ServerUrl::parse("unix://rel.sock"),
            Ok(ServerUrl::Unix("rel.sock".into()))
        );
        assert_eq!(
            ServerUrl::parse("http://127.0.0.1:9001"),
            Ok(http("127.0.0.1", 9001))
        );
        assert_eq!(
            ServerUrl::parse("http://localhost:9001/RPC2"),
            Ok(http("localhost", 9001))
        );
        assert_eq!(
            ServerUrl::parse("http://Example.COM"),
            Ok(http("example.com", 80))
        );
        assert_eq!(ServerUrl::parse("http://host:/"), Ok(http("host", 80)));
        assert_eq!(ServerUrl::parse("http://[::1]:9001"), Ok(http("::1", 9001)));
        assert_eq!(ServerUrl::parse("http://[::1]"), Ok(http("::1", 80)));
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "",
            "unix://",
            "https://h:1",
            "ftp://h",
            "http://",
            "http://:9001",
            "http://h:0",
            "http://h:65536",
            "http://h:+1",
            "http://h:x",
            "http://u:p@h:1",
            "http://[::1",
            "http://[::1]x",
            "http://h h:1",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn display_and_host_header() {
        assert_eq!(http("h", 9001).to_string(), "http://h:9001");
        assert_eq!(http("::1", 9001).to_string(), "http://[::1]:9001");
        assert_eq!(
            ServerUrl::Unix("/a.sock".into()).to_string(),
            "unix:///a.sock"
        );
        assert_eq!(ServerUrl::Unix("/a.sock".into()).host_header(), "localhost");
        assert_eq!(http("h", 80).host_header(), "h");
        assert_eq!(http("h", 9001).host_header(), "h:9001");
        assert_eq!(http("::1", 9001).host_header(), "[::1]:9001");
    }
}
