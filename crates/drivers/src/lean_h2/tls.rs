//! The lean HTTP/2 connection over plain TCP or over TLS. rustls is driven without I/O of
//! its own: HTTP/2 writes plaintext frames into a buffer that rustls seals into the engine's
//! output, and the engine's input is opened by rustls before the frames are parsed. So the
//! engine's loop stays protocol-free and TLS costs what rustls costs, no task or runtime.

use std::io::{Read, Write};
use std::sync::Arc;

use meshbench_engine::{FeedError, MultiplexedConnection, StreamEnd};
use rustls::ClientConnection;

use super::H2Connection;
use crate::net::TlsSetup;

/// One connection: h2c, or HTTP/2 inside TLS.
// The plain connection stays inline: it is the hot path, and one lives per connection.
#[allow(clippy::large_enum_variant)]
pub enum Link {
    /// h2c with prior knowledge.
    Plain(H2Connection),
    /// TLS with ALPN h2.
    Tls(Box<TlsLink>),
}

/// HTTP/2 inside a rustls client connection.
pub struct TlsLink {
    h2: H2Connection,
    tls: Option<ClientConnection>,
    /// Plaintext from the peer not yet parsed into whole frames.
    plain_in: Vec<u8>,
    /// Plaintext frames to seal.
    plain_out: Vec<u8>,
    checked_alpn: bool,
}

impl Link {
    /// A TLS connection to the endpoint `setup` describes. A configuration rustls refuses
    /// fails on first use, as a TLS error of that connection.
    pub(super) fn tls(h2: H2Connection, setup: &TlsSetup) -> Link {
        let tls = ClientConnection::new(Arc::clone(&setup.config), setup.server_name.clone()).ok();
        Link::Tls(Box::new(TlsLink {
            h2,
            tls,
            plain_in: Vec::with_capacity(64 * 1024),
            plain_out: Vec::with_capacity(16 * 1024),
            checked_alpn: false,
        }))
    }
}

fn tls_error(e: impl std::fmt::Display) -> FeedError {
    FeedError::protocol(format!("TLS: {e}"))
}

impl TlsLink {
    fn session(&mut self) -> Result<&mut ClientConnection, FeedError> {
        self.tls
            .as_mut()
            .ok_or_else(|| tls_error("the client configuration was refused"))
    }

    /// Seals the plaintext written so far into `out`.
    fn seal(&mut self, out: &mut Vec<u8>) -> Result<(), FeedError> {
        let plain = std::mem::take(&mut self.plain_out);
        let tls = self.session()?;
        if !plain.is_empty() {
            // Before the handshake ends rustls keeps this and sends it once it can.
            tls.writer().write_all(&plain).map_err(tls_error)?;
        }
        while tls.wants_write() {
            tls.write_tls(out).map_err(tls_error)?;
        }
        self.plain_out = plain;
        self.plain_out.clear();
        Ok(())
    }
}

impl MultiplexedConnection for Link {
    fn open(&mut self, out: &mut Vec<u8>) {
        match self {
            Link::Plain(h2) => h2.open(out),
            Link::Tls(link) => {
                link.h2.open(&mut link.plain_out);
                // A failure here shows again, and fails the connection, on the first feed.
                let _ = link.seal(out);
            }
        }
    }

    #[inline]
    fn start(&mut self, token: u32, seq: u64, out: &mut Vec<u8>) -> Result<(), FeedError> {
        match self {
            Link::Plain(h2) => h2.start(token, seq, out),
            Link::Tls(link) => {
                link.h2.start(token, seq, &mut link.plain_out)?;
                link.seal(out)
            }
        }
    }

    fn feed(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        ended: &mut Vec<StreamEnd>,
    ) -> Result<usize, FeedError> {
        let link = match self {
            Link::Plain(h2) => return h2.feed(data, out, ended),
            Link::Tls(link) => link,
        };
        let tls = link
            .tls
            .as_mut()
            .ok_or_else(|| tls_error("the client configuration was refused"))?;
        let mut rest = data;
        while !rest.is_empty() {
            if tls.read_tls(&mut rest).map_err(tls_error)? == 0 {
                // rustls takes nothing more until what it holds is processed: a record
                // larger than TLS allows.
                return Err(tls_error("a record rustls cannot buffer"));
            }
            let state = tls.process_new_packets().map_err(tls_error)?;
            let mut ready = state.plaintext_bytes_to_read();
            while ready > 0 {
                let start = link.plain_in.len();
                link.plain_in.resize(start + ready, 0);
                let n = tls
                    .reader()
                    .read(&mut link.plain_in[start..])
                    .map_err(tls_error)?;
                link.plain_in.truncate(start + n);
                ready = if n == 0 { 0 } else { ready - n };
            }
        }
        if !link.checked_alpn && !tls.is_handshaking() {
            if tls.alpn_protocol() != Some(b"h2") {
                return Err(tls_error("the server did not agree to HTTP/2 (ALPN h2)"));
            }
            link.checked_alpn = true;
        }
        let used = link.h2.feed(&link.plain_in, &mut link.plain_out, ended)?;
        link.plain_in.drain(..used);
        link.seal(out)?;
        Ok(data.len())
    }

    fn cancel(&mut self, token: u32, out: &mut Vec<u8>) {
        match self {
            Link::Plain(h2) => h2.cancel(token, out),
            Link::Tls(link) => {
                link.h2.cancel(token, &mut link.plain_out);
                let _ = link.seal(out);
            }
        }
    }

    fn accepts_exchanges(&self) -> bool {
        match self {
            Link::Plain(h2) => h2.accepts_exchanges(),
            Link::Tls(link) => link.h2.accepts_exchanges(),
        }
    }
}
