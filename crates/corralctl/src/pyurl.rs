//! The parts of Python 3.11's `urllib.parse.urlparse` that supervisorctl looks at: the
//! scheme (`open` accepts only `unix` and `http`) and whether there is a netloc or a path
//! (the `url` datatype that checks `-s`).

/// `urlparse(url)`'s scheme, netloc and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    pub scheme: String,
    pub netloc: String,
    pub path: String,
}

/// Schemes for which urlparse splits `;params` off the path.
const USES_PARAMS: [&str; 15] = [
    "", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu", "sip", "sips",
    "mms", "sftp", "tel",
];

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// `urllib.parse.urlparse(url)` reduced to scheme, netloc and path.
pub fn urlparse(url: &str) -> UrlParts {
    // Python strips leading C0 controls and spaces, and removes tabs and newlines anywhere.
    let url: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = url.as_str();
    let mut scheme = String::new();
    if let Some(i) = rest.find(':') {
        let candidate = &rest[..i];
        let first = candidate.chars().next();
        if i > 0
            && first.is_some_and(|c| c.is_ascii_alphabetic())
            && candidate.chars().all(is_scheme_char)
        {
            scheme = candidate.to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    let mut netloc = String::new();
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = after[..end].to_string();
        rest = &after[end..];
    }
    let rest = rest.split('#').next().unwrap_or("");
    let rest = rest.split('?').next().unwrap_or("");
    let mut path = rest.to_string();
    if USES_PARAMS.contains(&scheme.as_str()) && path.contains(';') {
        // _splitparams: the ';' that counts is the first one after the last '/'.
        let from = path.rfind('/').unwrap_or(0);
        if let Some(i) = path[from..].find(';') {
            path.truncate(from + i);
        }
    }
    UrlParts {
        scheme,
        netloc,
        path,
    }
}

/// supervisor's `datatypes.url`: a scheme and a netloc or path, else supervisor's message.
pub fn check_url(value: &str) -> Result<(), String> {
    let p = urlparse(value);
    if !p.scheme.is_empty() && (!p.netloc.is_empty() || !p.path.is_empty()) {
        Ok(())
    } else {
        Err(format!(
            "value {} is not a URL",
            corral_config::pystr::repr(value)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_netlocs_paths() {
        let p = urlparse("unix:///tmp/s.sock");
        assert_eq!((p.scheme.as_str(), p.netloc.as_str()), ("unix", ""));
        assert_eq!(p.path, "/tmp/s.sock");
        let p = urlparse("HTTP://Host:9001/RPC2?x#y");
        assert_eq!(p.scheme, "http");
        assert_eq!(p.netloc, "Host:9001");
        assert_eq!(p.path, "/RPC2");
        assert_eq!(urlparse("foo").scheme, "");
        assert_eq!(urlparse("1x://h").scheme, "");
        assert_eq!(urlparse("  ftp://x").scheme, "ftp");
        assert_eq!(urlparse("http://h/a;p").path, "/a");
    }

    #[test]
    fn url_datatype() {
        assert!(check_url("http://localhost:9001").is_ok());
        assert!(check_url("unix:///tmp/x").is_ok());
        assert!(check_url("ftp://x").is_ok());
        assert!(check_url("x:y").is_ok());
        assert_eq!(check_url("foo").unwrap_err(), "value 'foo' is not a URL");
        assert_eq!(
            check_url("http://").unwrap_err(),
            "value 'http://' is not a URL"
        );
        assert!(check_url("http:").is_err());
    }
}
