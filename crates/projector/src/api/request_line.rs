//! Over-long request targets answered by the API, in JSON, like any other
//! bad request.
//!
//! hyper refuses a request line longer than 65,534 bytes itself, with a
//! `414` and no body, before a route sees it: a `q` of about 7,000 Japanese
//! characters, percent-encoded, is enough. So every connection's bytes pass
//! through [`TargetLimit`] on their way to hyper: it holds each request line
//! back until its end, and when the line grows past
//! [`MAX_REQUEST_LINE`] it drops the rest of the target and hands hyper
//! `METHOD /.too-long VERSION` instead, which the router answers with a
//! JSON 400. The headers pass through untouched (the token check still
//! applies); the next request of the connection starts after the empty line
//! that ends them. A request that announces a body (or an upgrade, or
//! HTTP/2) leaves the rest of the connection to hyper as it is: the API
//! takes no bodies, and hyper's own limits still hold there.
//!
//! At most [`MAX_REQUEST_LINE`] bytes are held per connection.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The longest request line handed to hyper as it is, in bytes: room for a
/// `q` of 256 characters (the API's limit) percent-encoded many times over.
pub const MAX_REQUEST_LINE: usize = 16 * 1024;

/// The target that stands in for one longer than [`MAX_REQUEST_LINE`].
pub const TOO_LONG_TARGET: &str = "/.too-long";

/// Enough of a header line to tell whether it announces a body.
const HEADER_PREFIX: usize = 32;

/// The longest method kept from an over-long line (`OPTIONS` is 7).
const MAX_METHOD: usize = 16;

/// Enough of a line's end to find its version (` HTTP/1.1\r`).
const TAIL: usize = 16;

/// Where in a request the bytes read so far end.
#[derive(Debug)]
enum State {
    /// In a request line: its bytes so far, held back.
    Line(Vec<u8>),
    /// In the rest of an over-long request line, dropped: its method, and
    /// its last bytes (for the version).
    Skipping { method: Vec<u8>, tail: Vec<u8> },
    /// In the header fields: the start of the current line, and whether a
    /// header so far announced a body.
    Head { line: Vec<u8>, body: bool },
    /// Everything passes as it is, to the end of the connection.
    Through,
}

/// The filter over one connection's incoming bytes (see the module).
#[derive(Debug)]
pub struct TargetLimit {
    state: State,
}

impl Default for TargetLimit {
    fn default() -> Self {
        TargetLimit {
            state: State::Line(Vec::new()),
        }
    }
}

impl TargetLimit {
    /// Takes the next bytes read from the client, and appends to `out`
    /// what hyper is to read of them.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            input = match &mut self.state {
                State::Through => {
                    out.extend_from_slice(input);
                    &[]
                }
                State::Line(held) => {
                    let end = memchr(input);
                    let part = &input[..end.map_or(input.len(), |end| end + 1)];
                    held.extend_from_slice(part);
                    if held.len() > MAX_REQUEST_LINE {
                        let line = std::mem::take(held);
                        let line = line.strip_suffix(b"\n").unwrap_or(&line);
                        self.state = State::Skipping {
                            method: method(line),
                            tail: line[line.len() - TAIL..].to_vec(),
                        };
                        // The line's end, if read, is the skipping's.
                        &input[end.unwrap_or(input.len())..]
                    } else if end.is_some() {
                        let line = std::mem::take(held);
                        self.state = after_request_line(&line);
                        out.extend_from_slice(&line);
                        &input[part.len()..]
                    } else {
                        &[]
                    }
                }
                State::Skipping { method, tail } => {
                    let (part, rest) = match memchr(input) {
                        Some(end) => (&input[..end], Some(&input[end + 1..])),
                        None => (input, None),
                    };
                    keep_tail(tail, part);
                    match rest {
                        None => &[],
                        Some(rest) => {
                            out.extend_from_slice(method);
                            out.push(b' ');
                            out.extend_from_slice(TOO_LONG_TARGET.as_bytes());
                            out.push(b' ');
                            out.extend_from_slice(version(tail));
                            out.extend_from_slice(b"\r\n");
                            self.state = State::Head {
                                line: Vec::new(),
                                body: false,
                            };
                            rest
                        }
                    }
                }
                State::Head { line, body } => {
                    let (part, rest) = match memchr(input) {
                        Some(end) => input.split_at(end + 1),
                        None => (input, &[][..]),
                    };
                    out.extend_from_slice(part);
                    let room = HEADER_PREFIX.saturating_sub(line.len());
                    line.extend_from_slice(&part[..part.len().min(room)]);
                    if part.ends_with(b"\n") {
                        let field = std::mem::take(line);
                        if is_blank(&field) {
                            self.state = if *body {
                                State::Through
                            } else {
                                State::Line(Vec::new())
                            };
                        } else if announces_body(&field) {
                            *body = true;
                        }
                    }
                    rest
                }
            };
        }
    }
}

/// The state after request line `line` (its line end included).
fn after_request_line(line: &[u8]) -> State {
    if is_blank(line) {
        // Empty lines before a request line are allowed (RFC 9112, 2.2).
        State::Line(Vec::new())
    } else if line.starts_with(b"PRI * HTTP/2.0") {
        State::Through
    } else {
        State::Head {
            line: Vec::new(),
            body: false,
        }
    }
}

/// The method of request line `line`, `GET` if it has none hyper would
/// take.
fn method(line: &[u8]) -> Vec<u8> {
    line.split(|&b| b == b' ')
        .next()
        .filter(|m| !m.is_empty() && m.len() <= MAX_METHOD && m.iter().all(u8::is_ascii_uppercase))
        .unwrap_or(b"GET")
        .to_vec()
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

fn is_blank(line: &[u8]) -> bool {
    matches!(line, b"\n" | b"\r\n")
}

/// Whether header line `field` (at least its first bytes) means that bytes
/// other than a next request follow the head.
fn announces_body(field: &[u8]) -> bool {
    let name_is = |name: &[u8]| {
        field.len() > name.len()
            && field[..name.len()].eq_ignore_ascii_case(name)
            && field[name.len()] == b':'
    };
    if name_is(b"content-length") {
        let value = field[b"content-length:".len()..].trim_ascii();
        return value != b"0";
    }
    name_is(b"transfer-encoding") || name_is(b"upgrade")
}

/// Appends `part` to `tail`, keeping its last [`TAIL`] bytes.
fn keep_tail(tail: &mut Vec<u8>, part: &[u8]) {
    tail.extend_from_slice(&part[part.len().saturating_sub(TAIL)..]);
    if tail.len() > TAIL {
        tail.drain(..tail.len() - TAIL);
    }
}

/// The HTTP version at the end of request line `tail`, `HTTP/1.1` if it
/// names none that hyper would take.
fn version(tail: &[u8]) -> &[u8] {
    let line = tail.strip_suffix(b"\r").unwrap_or(tail);
    match line.rsplit(|&b| b == b' ').next() {
        Some(v @ (b"HTTP/1.0" | b"HTTP/1.1")) => v,
        _ => b"HTTP/1.1",
    }
}

/// A connection whose incoming bytes pass through a [`TargetLimit`].
#[derive(Debug)]
pub struct Limited<S> {
    inner: S,
    limit: TargetLimit,
    /// Filtered bytes not read yet, from `start`.
    ready: Vec<u8>,
    start: usize,
    scratch: Box<[u8]>,
}

impl<S> Limited<S> {
    pub fn new(inner: S) -> Self {
        Limited {
            inner,
            limit: TargetLimit::default(),
            ready: Vec::new(),
            start: 0,
            scratch: vec![0; 8 * 1024].into_boxed_slice(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.start < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.start);
                buf.put_slice(&this.ready[this.start..this.start + n]);
                this.start += n;
                if this.start == this.ready.len() {
                    this.ready.clear();
                    this.start = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if matches!(this.limit.state, State::Through) {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut read = ReadBuf::new(&mut this.scratch);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // The end of the connection; a line held back is dropped
                // with it, as hyper would drop an unfinished request.
                return Poll::Ready(Ok(()));
            }
            this.limit.feed(read.filled(), &mut this.ready);
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The API's listener: TCP connections, each through a [`TargetLimit`].
#[derive(Debug)]
pub struct LimitedListener(pub TcpListener);

impl axum::serve::Listener for LimitedListener {
    type Io = Limited<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (Limited::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests;
