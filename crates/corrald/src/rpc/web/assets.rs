//! Every path that is not a page, as supervisord's static file handler (medusa's
//! `default_handler` over supervisor's `ui/` directory) answers it, from the files of
//! supervisor 4.3.0's `ui/` directory embedded from `ui/` (see `ui/NOTICE`): their content
//! types, directory redirects, `Last-Modified` and `If-Modified-Since`.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use corral_proto::http::{Request, Response, percent_decode};

use super::Site;
use super::http_date;

/// One embedded file of supervisor's `ui/` directory: its path there, its bytes, and the
/// type Python's `mimetypes` gives its extension.
struct File {
    path: &'static str,
    data: &'static [u8],
    content_type: &'static str,
}

const FILES: &[File] = &[
    File {
        path: "status.html",
        data: include_bytes!("ui/status.html"),
        content_type: "text/html",
    },
    File {
        path: "tail.html",
        data: include_bytes!("ui/tail.html"),
        content_type: "text/html",
    },
    File {
        path: "stylesheets/supervisor.css",
        data: include_bytes!("ui/stylesheets/supervisor.css"),
        content_type: "text/css",
    },
    File {
        path: "images/icon.png",
        data: include_bytes!("ui/images/icon.png"),
        content_type: "image/png",
    },
    File {
        path: "images/rule.gif",
        data: include_bytes!("ui/images/rule.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/state0.gif",
        data: include_bytes!("ui/images/state0.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/state1.gif",
        data: include_bytes!("ui/images/state1.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/state2.gif",
        data: include_bytes!("ui/images/state2.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/state3.gif",
        data: include_bytes!("ui/images/state3.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/supervisor.gif",
        data: include_bytes!("ui/images/supervisor.gif"),
        content_type: "image/gif",
    },
];

/// The directories of `ui/` ("" is `ui/` itself). None holds an `index.html` or
/// `default.html`, so a directory is always a 404 (after the redirect to its `/` form).
const DIRS: &[&str] = &["", "images", "stylesheets"];

/// Answer a request for `path` (the request target's path, before medusa's second unquote).
pub(super) fn serve(site: &Site, req: &Request, path: &str) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::error_page(400);
    }
    // The handler unquotes the path once more.
    let unquoted = if path.contains('%') {
        percent_decode(path)
    } else {
        path.to_string()
    };
    let path = unquoted.trim_start_matches('/');
    let normal = normalize(path);
    if DIRS.contains(&normal.as_str()) {
        if !path.is_empty() && !path.ends_with('/') {
            return Response::error_page(301)
                .header("Location", format!("http://{}/{path}/", site.name));
        }
        return Response::error_page(404);
    }
    let Some(file) = FILES.iter().find(|f| f.path == normal) else {
        return Response::error_page(404);
    };
    let mtime = files_mtime();
    if let Some(since) = req.headers.get("if-modified-since") {
        if let Some((date, length)) = if_modified_since(since) {
            let length_match = length.is_none_or(|l| l == file.data.len() as u64);
            if length_match && date != 0 && mtime <= date {
                return Response::new(304);
            }
        }
    }
    // medusa guesses the type from the path as requested: `images/icon.png/` (the same
    // file) has no extension, so it is text/plain.
    let named = path.rsplit('/').next() == file.path.rsplit('/').next();
    let resp = Response::new(200)
        .header("Last-Modified", http_date::format(mtime))
        .header("Content-Length", file.data.len().to_string())
        .header(
            "Content-Type",
            if named {
                file.content_type
            } else {
                "text/plain"
            },
        );
    if req.method == "GET" {
        resp.body(file.data)
    } else {
        resp
    }
}

/// The path medusa's filesystem resolves: empty segments and `.` dropped, `..` going up
/// (never above the root); "" for the root itself.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The files' modification time. supervisord serves the installed files with their own
/// mtime (when the package was installed); the embedded files are as old as the corrald
/// executable that carries them.
fn files_mtime() -> i64 {
    static MTIME: OnceLock<i64> = OnceLock::new();
    *MTIME.get_or_init(|| {
        std::env::current_exe()
            .and_then(std::fs::metadata)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now())
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    })
}

/// medusa's `If-Modified-Since: DATE[; length=N]`: (the date as Unix time, 0 when medusa
/// cannot parse it; N). `None` when the value has another shape (the header is ignored).
fn if_modified_since(value: &str) -> Option<(i64, Option<u64>)> {
    let (date, rest) = match value.split_once(';') {
        Some((d, r)) => (d, Some(r)),
        None => (value, None),
    };
    if date.is_empty() {
        return None;
    }
    let length = match rest {
        None => None,
        Some(r) => {
            let n = r
                .get(..8)
                .filter(|p| p.eq_ignore_ascii_case(" length="))
                .map(|_| &r[8..])
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?;
            // Too many digits for a u64: no file has that length.
            Some(n.parse().unwrap_or(u64::MAX))
        }
    };
    Some((http_date::parse(date).unwrap_or(0), length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_like_medusas_filesystem() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("images/../images//icon.png/"), "images/icon.png");
        assert_eq!(normalize("../../images/./state0.gif"), "images/state0.gif");
        assert_eq!(normalize("stylesheets/.."), "");
    }

    #[test]
    fn if_modified_since_like_medusa() {
        let d = 784_111_777;
        assert_eq!(
            if_modified_since("Sun, 06 Nov 1994 08:49:37 GMT; length=12"),
            Some((d, Some(12)))
        );
        assert_eq!(
            if_modified_since("Sun, 06 Nov 1994 08:49:37 GMT; LENGTH=1"),
            Some((d, Some(1)))
        );
        assert_eq!(if_modified_since("Sun, 06 Nov 1994 08:49:37 GMT; x"), None);
        assert_eq!(if_modified_since("garbage"), Some((0, None)));
    }

    #[test]
    fn every_ui_file_is_embedded() {
        // supervisor's ui/ directory, as the NOTICE lists it.
        assert_eq!(FILES.len(), 10);
        for f in FILES {
            assert!(!f.data.is_empty(), "{}", f.path);
            let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
            assert!(DIRS.contains(&dir), "{}", f.path);
        }
    }
}
