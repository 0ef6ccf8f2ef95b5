//! A sans-I/O HTTP/1.1 response reader: feed it bytes as they arrive, it says when the
//! response is complete. Bodies are counted and skipped, never stored, so memory stays flat
//! whatever the response size.

/// Longest response head accepted; wrk and nginx use similar limits.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size; `seen` is whether any digit was read.
    Size {
        size: u64,
        seen: bool,
    },
    /// Skipping a chunk extension up to the CR.
    Extension {
        size: u64,
    },
    /// Expecting the LF after the size line.
    SizeLf {
        size: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// Trailer lines after the last chunk; `empty` while the current line has no bytes.
    Trailer {
        empty: bool,
    },
    TrailerLf {
        empty: bool,
    },
}

/// Why the bytes are not an HTTP/1.1 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtocolError(pub String);

/// What one call to [`ResponseParser::feed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Feed {
    /// Bytes used; the rest must be kept and fed again with more (only while in the head).
    pub consumed: usize,
    /// The response is complete.
    pub done: bool,
}

#[derive(Debug)]
pub(crate) struct ResponseParser {
    state: State,
    /// Status of the final response.
    pub status: u16,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
    no_body: bool,
}

impl ResponseParser {
    /// A parser for the response to a request; `head` for HEAD requests (no body follows).
    pub(crate) fn new(head: bool) -> Self {
        ResponseParser {
            state: State::Head,
            status: 0,
            keep_alive: true,
            no_body: head,
        }
    }

    /// Feeds received bytes.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<Feed, ProtocolError> {
        let mut consumed = 0;
        loop {
            match self.state {
                State::Done => {
                    return Ok(Feed {
                        consumed,
                        done: true,
                    })
                }
                State::Head => {
                    let used = match self.head(data)? {
                        Some(used) => used,
                        None => {
                            return Ok(Feed {
                                consumed,
                                done: false,
                            })
                        }
                    };
                    consumed += used;
                    data = &data[used..];
                }
                State::Body(left) => {
                    let take = (data.len() as u64).min(left);
                    consumed += take as usize;
                    let left = left - take;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Body(left)
                    };
                    return Ok(Feed {
                        consumed,
                        done: left == 0,
                    });
                }
                State::UntilClose => {
                    return Ok(Feed {
                        consumed: consumed + data.len(),
                        done: false,
                    });
                }
                State::Chunked(chunk) => {
                    let (used, next) = chunked(chunk, data)?;
                    consumed += used;
                    data = &data[used..];
                    match next {
                        Some(chunk) => {
                            self.state = State::Chunked(chunk);
                            if data.is_empty() {
                                return Ok(Feed {
                                    consumed,
                                    done: false,
                                });
                            }
                        }
                        None => self.state = State::Done,
                    }
                }
            }
        }
    }

    /// The peer closed the connection: completes a read-until-close body, else an error.
    pub(crate) fn eof(&mut self) -> bool {
        if self.state == State::UntilClose {
            self.state = State::Done;
            self.keep_alive = false;
            true
        } else {
            false
        }
    }

    /// Whether any part of the response has been read yet (for telling an idle close apart).
    pub(crate) fn started(&self) -> bool {
        self.state != State::Head || self.status != 0
    }

    fn head(&mut self, data: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(data) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) => {
                if data.len() >= MAX_HEAD {
                    return Err(ProtocolError(format!(
                        "response head longer than {MAX_HEAD} bytes"
                    )));
                }
                return Ok(None);
            }
            Err(e) => {
                let shown: String = String::from_utf8_lossy(&data[..data.len().min(40)])
                    .chars()
                    .map(|c| if c.is_control() { '.' } else { c })
                    .collect();
                return Err(ProtocolError(format!(
                    "not an HTTP/1.1 response ({e}): `{shown}`"
                )));
            }
        };
        let status = response.code.unwrap_or(0);
        let http10 = response.version == Some(0);
        // Interim responses (100 Continue, 103 Early Hints) precede the real one.
        if (100..200).contains(&status) && status != 101 {
            return Ok(Some(used));
        }
        self.status = status;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut keep_alive = !http10;
        for header in response.headers.iter() {
            let name = header.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                let value = std::str::from_utf8(header.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or_else(|| ProtocolError("invalid Content-Length".into()))?;
                if length.is_some_and(|l| l != value) {
                    return Err(ProtocolError("conflicting Content-Length headers".into()));
                }
                length = Some(value);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = header
                    .value
                    .split(|b| *b == b',')
                    .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in header.value.split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    }
                }
            }
        }
        self.keep_alive = keep_alive;
        self.state = if self.no_body || status == 204 || status == 304 {
            State::Done
        } else if chunked {
            State::Chunked(Chunk::Size {
                size: 0,
                seen: false,
            })
        } else if let Some(length) = length {
            if length == 0 {
                State::Done
            } else {
                State::Body(length)
            }
        } else {
            self.keep_alive = false;
            State::UntilClose
        };
        Ok(Some(used))
    }
}

/// Advances the chunked-body state machine over `data`; `None` once the body has ended.
fn chunked(mut chunk: Chunk, data: &[u8]) -> Result<(usize, Option<Chunk>), ProtocolError> {
    let bad = |what: &str| Err(ProtocolError(format!("bad chunked encoding: {what}")));
    let mut i = 0;
    while i < data.len() {
        if let Chunk::Data(left) = chunk {
            let take = ((data.len() - i) as u64).min(left);
            i += take as usize;
            chunk = if left == take {
                Chunk::DataCr
            } else {
                Chunk::Data(left - take)
            };
            continue;
        }
        let b = data[i];
        chunk = match chunk {
            // Handled above, in bulk.
            Chunk::Data(left) => Chunk::Data(left),
            Chunk::Size { size, seen } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let digit = (b as char).to_digit(16).unwrap_or(0) as u64;
                    if size > (u64::MAX >> 4) {
                        return bad("chunk size overflows");
                    }
                    Chunk::Size {
                        size: size * 16 + digit,
                        seen: true,
                    }
                }
                b';' | b' ' | b'\t' if seen => Chunk::Extension { size },
                b'\r' if seen => Chunk::SizeLf { size },
                _ => return bad("expected a hex chunk size"),
            },
            Chunk::Extension { size } => match b {
                b'\r' => Chunk::SizeLf { size },
                _ => Chunk::Extension { size },
            },
            Chunk::SizeLf { size } => match (b, size) {
                (b'\n', 0) => Chunk::Trailer { empty: true },
                (b'\n', size) => Chunk::Data(size),
                _ => return bad("expected LF after the chunk size"),
            },
            Chunk::DataCr => match b {
                b'\r' => Chunk::DataLf,
                _ => return bad("expected CR after chunk data"),
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size {
                    size: 0,
                    seen: false,
                },
                _ => return bad("expected LF after chunk data"),
            },
            Chunk::Trailer { empty } => match b {
                b'\r' => Chunk::TrailerLf { empty },
                _ => Chunk::Trailer { empty: false },
            },
            Chunk::TrailerLf { empty } => match (b, empty) {
                (b'\n', true) => return Ok((i + 1, None)),
                (b'\n', false) => Chunk::Trailer { empty: true },
                _ => return bad("expected LF in the trailer"),
            },
        };
        i += 1;
    }
    Ok((i, Some(chunk)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(
        parser: &mut ResponseParser,
        bytes: &[u8],
        step: usize,
    ) -> Result<bool, ProtocolError> {
        let mut pending: Vec<u8> = Vec::new();
        for piece in bytes.chunks(step) {
            pending.extend_from_slice(piece);
            let feed = parser.feed(&pending)?;
            pending.drain(..feed.consumed);
            if feed.done {
                assert!(pending.is_empty(), "bytes left after the response");
                return Ok(true);
            }
        }
        Ok(false)
    }

    #[test]
    fn content_length_in_any_split() {
        let msg = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n\r\nhello";
        for step in 1..msg.len() {
            let mut p = ResponseParser::new(false);
            assert!(feed_all(&mut p, msg, step).unwrap(), "step {step}");
            assert_eq!(p.status, 200);
            assert!(p.keep_alive);
        }
    }

    #[test]
    fn chunked_with_extension_and_trailer_in_any_split() {
        let msg = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";
        for step in 1..msg.len() {
            let mut p = ResponseParser::new(false);
            assert!(feed_all(&mut p, msg, step).unwrap(), "step {step}");
            assert_eq!(p.status, 201);
        }
    }

    #[test]
    fn interim_response_and_bodyless_statuses() {
        let mut p = ResponseParser::new(false);
        let msg = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert!(feed_all(&mut p, msg, msg.len()).unwrap());
        assert_eq!(p.status, 204);
        let mut head = ResponseParser::new(true);
        assert!(feed_all(
            &mut head,
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
            64
        )
        .unwrap());
    }

    #[test]
    fn close_delimited_body_ends_at_eof() {
        let mut p = ResponseParser::new(false);
        assert!(!feed_all(&mut p, b"HTTP/1.0 200 OK\r\n\r\nsome body", 7).unwrap());
        assert!(p.eof());
        assert!(!p.keep_alive);
    }

    #[test]
    fn connection_close_is_noticed() {
        let mut p = ResponseParser::new(false);
        feed_all(
            &mut p,
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            100,
        )
        .unwrap();
        assert!(!p.keep_alive);
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for bad in [
            &b"SSH-2.0-OpenSSH_9.2\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let mut p = ResponseParser::new(false);
            assert!(
                feed_all(&mut p, bad, bad.len()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
