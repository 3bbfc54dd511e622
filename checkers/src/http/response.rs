//! Reading one HTTP/1.1 response (RFC 9112) from a stream: the status line and headers, then,
//! only when the check looks at it, the body, framed by `Transfer-Encoding: chunked`,
//! `Content-Length` or the end of the connection (RFC 9112 §6.3), and bounded by
//! [`MAX_BODY`](super::MAX_BODY).
//!
//! A health check needs no more of HTTP than this: one request on a fresh connection that the
//! server closes after the response, no keep-alive, no pipelining, no trailers, no upgrades.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::checker::{DownReason, Failure};

/// Largest accepted response head (status line + headers): a server sending more is broken.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Headers parsed per response head; more is a protocol error.
const MAX_HEADERS: usize = 100;

/// Longest chunk-size line (size, extensions) of a chunked body.
const MAX_CHUNK_LINE: usize = 4096;

/// How the body of a response ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: HEAD, 1xx, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// Bytes read from the connection and not consumed yet.
pub(crate) struct Input<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: AsyncRead + Unpin> Input<R> {
    pub(crate) fn new(reader: R) -> Self {
        Input {
            reader,
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn available(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Reads more bytes after the unconsumed ones; false at the end of the stream. A TLS peer
    /// closing without close_notify (`UnexpectedEof`) is an end of stream too: the framing
    /// checks still notice a truncated body.
    async fn fill(&mut self) -> Result<bool, Failure> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.reserve(8 * 1024);
        match self.reader.read_buf(&mut self.buf).await {
            Ok(n) => Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(read_failure(&e)),
        }
    }

    /// Reads the response head and returns its status code and body framing. Interim 1xx
    /// responses (100 Continue, 103 Early Hints) are skipped, as any client does.
    pub(crate) async fn head(&mut self, head_request: bool) -> Result<(u16, Framing), Failure> {
        loop {
            let parsed = {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut headers);
                match response.parse(self.available()) {
                    Ok(httparse::Status::Complete(len)) => {
                        let code = response.code.unwrap_or(0);
                        Some((len, code, framing(code, head_request, response.headers)?))
                    }
                    Ok(httparse::Status::Partial) => None,
                    Err(e) => {
                        return Err(Failure::new(
                            DownReason::Protocol,
                            format!("malformed response head: {e}"),
                        ));
                    }
                }
            };
            match parsed {
                Some((len, code, _)) if (100..200).contains(&code) && code != 101 => {
                    self.consume(len);
                }
                Some((len, code, framing)) => {
                    self.consume(len);
                    return Ok((code, framing));
                }
                None => {
                    if self.available().len() > MAX_HEAD {
                        return Err(Failure::new(
                            DownReason::Protocol,
                            format!("response head longer than {MAX_HEAD} bytes"),
                        ));
                    }
                    if !self.fill().await? {
                        return Err(if self.available().is_empty() {
                            Failure::new(DownReason::Io, "connection closed without a response")
                        } else {
                            Failure::new(
                                DownReason::Protocol,
                                "connection closed inside the response head",
                            )
                        });
                    }
                }
            }
        }
    }

    /// Reads the body framed by `framing`, keeping its first `limit` bytes (the rest is not
    /// read: the connection is closed after the check).
    pub(crate) async fn body(
        &mut self,
        framing: Framing,
        limit: usize,
    ) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        match framing {
            Framing::Empty => {}
            Framing::Length(length) => {
                let wanted = usize::try_from(length).map_or(limit, |l| l.min(limit));
                self.take(&mut body, wanted).await?;
                if body.len() < wanted {
                    return Err(Failure::new(
                        DownReason::Io,
                        format!(
                            "connection closed after {} of {length} body bytes",
                            body.len()
                        ),
                    ));
                }
            }
            Framing::UntilClose => self.take(&mut body, limit).await?,
            Framing::Chunked => self.chunked(&mut body, limit).await?,
        }
        Ok(body)
    }

    /// Appends bytes to `out` until it holds `upto` bytes or the stream ends.
    async fn take(&mut self, out: &mut Vec<u8>, upto: usize) -> Result<(), Failure> {
        loop {
            let room = upto.saturating_sub(out.len());
            let n = self.available().len().min(room);
            out.extend_from_slice(self.available().get(..n).unwrap_or_default());
            self.consume(n);
            if out.len() >= upto || !self.fill().await? {
                return Ok(());
            }
        }
    }

    /// Decodes a chunked body (RFC 9112 §7.1) into `out`, up to `limit` bytes.
    async fn chunked(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), Failure> {
        loop {
            let line = self.line().await?;
            let size = chunk_size(&line)?;
            if size == 0 {
                return Ok(()); // trailers, if any, are not needed
            }
            let upto = out
                .len()
                .saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
            let before = out.len();
            self.take(out, upto.min(limit)).await?;
            if out.len() >= limit {
                return Ok(());
            }
            if out.len() < upto {
                return Err(Failure::new(
                    DownReason::Io,
                    format!(
                        "connection closed after {} of {size} bytes of a chunk",
                        out.len() - before
                    ),
                ));
            }
            if !self.line().await?.is_empty() {
                return Err(Failure::new(
                    DownReason::Protocol,
                    "chunk data longer than its size",
                ));
            }
        }
    }

    /// One CRLF-terminated line (without the CRLF), bounded by [`MAX_CHUNK_LINE`].
    async fn line(&mut self) -> Result<Vec<u8>, Failure> {
        loop {
            if let Some(end) = self.available().windows(2).position(|w| w == b"\r\n") {
                let line = self.available().get(..end).unwrap_or_default().to_vec();
                self.consume(end + 2);
                return Ok(line);
            }
            if self.available().len() > MAX_CHUNK_LINE {
                return Err(Failure::new(
                    DownReason::Protocol,
                    "chunk-size line too long",
                ));
            }
            if !self.fill().await? {
                return Err(Failure::new(
                    DownReason::Io,
                    "connection closed inside a chunked body",
                ));
            }
        }
    }
}

fn read_failure(err: &io::Error) -> Failure {
    if super::wraps_rustls(err) {
        Failure::new(DownReason::Tls, format!("read: {err}"))
    } else {
        Failure::from_io("read", err)
    }
}

/// Body framing from the status and headers (RFC 9112 §6.3): chunked wins over a length.
fn framing(
    code: u16,
    head_request: bool,
    headers: &[httparse::Header<'_>],
) -> Result<Framing, Failure> {
    if head_request || (100..200).contains(&code) || code == 204 || code == 304 {
        return Ok(Framing::Empty);
    }
    let mut length = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = header
                .value
                .rsplit(|&b| b == b',')
                .next()
                .unwrap_or_default();
            if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Ok(Framing::Chunked);
            }
            // Another final coding: the body runs to the end of the connection (§6.3 item 4).
            return Ok(Framing::UntilClose);
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Failure::new(
                        DownReason::Protocol,
                        format!(
                            "bad Content-Length {:?}",
                            String::from_utf8_lossy(header.value)
                        ),
                    )
                })?;
            if length.is_some_and(|l| l != value) {
                return Err(Failure::new(
                    DownReason::Protocol,
                    "conflicting Content-Length headers",
                ));
            }
            length = Some(value);
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// Size of a chunk from its size line (hex digits, optional `;extensions`).
fn chunk_size(line: &[u8]) -> Result<u64, Failure> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let bad = || {
        Failure::new(
            DownReason::Protocol,
            format!("bad chunk size {:?}", String::from_utf8_lossy(line)),
        )
    };
    if digits.is_empty() || digits.len() > 15 {
        return Err(bad());
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| u64::from_str_radix(d, 16).ok())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out `data` in pieces of `step` bytes, as a socket may.
    struct Trickle {
        data: Vec<u8>,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            let n = self.step.min(self.data.len()).min(buf.remaining());
            let piece: Vec<u8> = self.data.drain(..n).collect();
            buf.put_slice(&piece);
            std::task::Poll::Ready(Ok(()))
        }
    }

    async fn read(
        response: &[u8],
        head_request: bool,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), Failure> {
        let mut out = None;
        for step in [1, 7, response.len().max(1)] {
            let mut input = Input::new(Trickle {
                data: response.to_vec(),
                step,
            });
            let (code, framing) = input.head(head_request).await?;
            let body = input.body(framing, limit).await?;
            if let Some(previous) = &out {
                assert_eq!(previous, &(code, body.clone()), "step {step}");
            }
            out = Some((code, body));
        }
        out.ok_or_else(|| Failure::new(DownReason::Io, "unreachable"))
    }

    fn reason(result: Result<(u16, Vec<u8>), Failure>) -> DownReason {
        match result {
            Err(failure) => failure.reason,
            Ok(ok) => panic!("expected a failure, got {ok:?}"),
        }
    }

    #[tokio::test]
    async fn content_length_chunked_and_until_close_bodies() {
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello-not-this";
        assert_eq!(
            read(length, false, 100).await.ok(),
            Some((200, b"hello".to_vec()))
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n\
            5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(
            read(chunked, false, 100).await.ok(),
            Some((200, b"hello, world".to_vec()))
        );
        let close = b"HTTP/1.0 503 Busy\r\nServer: x\r\n\r\nall of it";
        assert_eq!(
            read(close, false, 100).await.ok(),
            Some((503, b"all of it".to_vec()))
        );
    }

    #[tokio::test]
    async fn bodies_are_cut_at_the_limit_and_head_has_none() {
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        assert_eq!(
            read(length, false, 4).await.ok(),
            Some((200, b"0123".to_vec()))
        );
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n";
        assert_eq!(
            read(chunked, false, 4).await.ok(),
            Some((200, b"abcd".to_vec()))
        );
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(read(head, true, 100).await.ok(), Some((200, Vec::new())));
        let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            read(no_content, false, 100).await.ok(),
            Some((204, Vec::new()))
        );
    }

    #[tokio::test]
    async fn interim_responses_are_skipped() {
        let response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n\
            HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            read(response, false, 100).await.ok(),
            Some((302, Vec::new()))
        );
    }

    #[tokio::test]
    async fn truncated_and_malformed_responses_are_failures() {
        assert_eq!(reason(read(b"", false, 100).await), DownReason::Io);
        assert_eq!(
            reason(read(b"HTTP/1.1 200 OK\r\n", false, 100).await),
            DownReason::Protocol
        );
        assert_eq!(
            reason(read(b"SSH-2.0-OpenSSH\r\n\r\n", false, 100).await),
            DownReason::Protocol
        );
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(reason(read(short, false, 100).await), DownReason::Io);
        let bad_length = b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n";
        assert_eq!(
            reason(read(bad_length, false, 100).await),
            DownReason::Protocol
        );
        let conflicting = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(
            reason(read(conflicting, false, 100).await),
            DownReason::Protocol
        );
        let bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            reason(read(bad_chunk, false, 100).await),
            DownReason::Protocol
        );
        let long_chunk =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n";
        assert_eq!(
            reason(read(long_chunk, false, 100).await),
            DownReason::Protocol
        );
        let cut_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        assert_eq!(reason(read(cut_chunk, false, 100).await), DownReason::Io);
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b"X-Pad: 0123456789abcdef\r\n".as_slice(), 3000).flatten());
        assert_eq!(reason(read(&huge, false, 100).await), DownReason::Protocol);
    }
}
