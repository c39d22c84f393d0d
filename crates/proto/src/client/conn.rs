//! Opening a blocking stream to the daemon, over a unix socket or TCP.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::ClientOptions;
use super::url::ServerUrl;

/// A connected socket of either kind.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    /// Connects to `url`, trying every address a host name resolves to.
    pub(crate) fn connect(url: &ServerUrl, timeout: Option<Duration>) -> io::Result<Stream> {
        match url {
            // A unix-domain connect either succeeds or fails at once; no timeout needed.
            ServerUrl::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
            ServerUrl::Http { host, port } => {
                let mut last = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    let attempt = match timeout {
                        Some(t) => TcpStream::connect_timeout(&addr, t),
                        None => TcpStream::connect(addr),
                    };
                    match attempt {
                        Ok(s) => {
                            // Requests are written whole; don't let Nagle hold them back.
                            s.set_nodelay(true)?;
                            return Ok(Stream::Tcp(s));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "host name resolved to no address")
                }))
            }
        }
    }

    /// [`Stream::connect`] with `options`' connect timeout, then sets `read_timeout` and
    /// `options`' write timeout on the new stream.
    pub(crate) fn open(
        url: &ServerUrl,
        options: &ClientOptions,
        read_timeout: Option<Duration>,
    ) -> io::Result<Stream> {
        let stream = Stream::connect(url, options.connect_timeout)?;
        stream.set_read_timeout(read_timeout)?;
        stream.set_write_timeout(options.write_timeout)?;
        Ok(stream)
    }

    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }

    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Tcp(s) => s.set_write_timeout(t),
        }
    }

    pub(crate) fn shutdown(&self) {
        // Best effort: the peer may already be gone.
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}
