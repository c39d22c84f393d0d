//! `GET /logtail/NAME[/stderr]` and `GET /mainlogtail`: the last kilobyte of a log, then
//! everything appended to it, as a chunked response that lasts as long as the client
//! (supervisorctl `tail -f`, `maintail -f`). Follows rotation (a new inode) and truncation
//! like supervisord's `tail_f_producer`. The file is checked every 100 ms while a client
//! is connected, and never otherwise.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use corral_proto::http::{Request, Response, encode_chunk, http_date};

use super::supervisor::lookup::process_log;
use crate::logs::mainlog;
use crate::supervisor::Supervisor;

const HEAD: u64 = 1024;
const POLL: Duration = Duration::from_millis(100);

fn is_main(req: &Request) -> bool {
    req.decoded_path()
        .trim_start_matches('/')
        .starts_with("mainlogtail")
}

fn resolve(sup: &Supervisor, req: &Request) -> Option<String> {
    let path = req.decoded_path();
    let path = path.trim_start_matches('/');
    if path.starts_with("mainlogtail") {
        return mainlog::path().map(|p| p.to_string_lossy().into_owned());
    }
    let rest = path.split_once('/')?.1;
    let (name, channel) = match rest.split_once('/') {
        Some((n, c)) => (n, c),
        None => (rest, "stdout"),
    };
    let stderr = match channel {
        "stdout" => false,
        "stderr" => true,
        _ => return None,
    };
    process_log(sup, name, stderr).ok()?
}

/// The log a tail request names, opened; or the error page to answer (the connection
/// then stays open for more requests, as supervisord's does).
pub fn open(sup: &Supervisor, req: &Request) -> Result<(String, std::fs::File), Response> {
    if req.method != "GET" {
        return Err(Response::error_page(400));
    }
    let path = resolve(sup, req).ok_or_else(|| Response::error_page(404))?;
    let file = std::fs::File::open(&path).map_err(|_| Response::error_page(404))?;
    Ok((path, file))
}

/// Stream the log until the client goes away.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    req: &Request,
    path: String,
    file: std::fs::File,
) {
    serve_from(stream, req, path, file, None).await;
}

/// Stream the log from byte `start` (the last kilobyte when `None`, or when `start` is
/// past the end) until the client goes away.
pub async fn serve_from<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    req: &Request,
    path: String,
    mut file: std::fs::File,
    start: Option<u64>,
) {
    let (mut reader, mut stream) = tokio::io::split(stream);
    let meta = file.metadata().ok();
    let mtime = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    let mut head = Response::new(200)
        .version(req.version)
        .header("Last-Modified", http_date(mtime))
        .header("Content-Type", "text/plain;charset=utf-8");
    // supervisord's logtail handler asks proxies not to buffer; its mainlogtail handler
    // does not.
    if !is_main(req) {
        head = head.header("X-Accel-Buffering", "no");
    }
    let head = head.chunked();
    if stream.write_all(&head.head_bytes()).await.is_err() {
        return;
    }
    let mut ino = meta.as_ref().map_or(0, |m| m.ino());
    let size = meta.as_ref().map_or(0, |m| m.len());
    let mut pos = match start {
        Some(at) if at <= size => at,
        _ => size.saturating_sub(HEAD),
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Rotation: the path now names another file; follow it from its start.
        if let Ok(m) = std::fs::metadata(&path) {
            if m.ino() != ino {
                if let Ok(f) = std::fs::File::open(&path) {
                    file = f;
                    ino = m.ino();
                    pos = 0;
                }
            }
        }
        let size = file.metadata().map(|m| m.len()).unwrap_or(pos);
        if size < pos {
            pos = 0;
            if stream
                .write_all(&encode_chunk(b"==> File truncated <==\n"))
                .await
                .is_err()
            {
                return;
            }
        }
        while pos < size {
            let want = ((size - pos) as usize).min(buf.len());
            let n = match file
                .seek(SeekFrom::Start(pos))
                .and_then(|_| file.read(&mut buf[..want]))
            {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pos += n as u64;
            if stream.write_all(&encode_chunk(&buf[..n])).await.is_err() {
                return;
            }
        }
        if stream.flush().await.is_err() {
            return;
        }
        // Sleep, but notice at once when the client hangs up (a read returns 0).
        let mut probe = [0u8; 256];
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            r = reader.read(&mut probe) => {
                if matches!(r, Ok(0) | Err(_)) {
                    return;
                }
            }
        }
    }
}
