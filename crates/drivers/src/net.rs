//! Connecting: TCP with a timeout and TCP_NODELAY, then TLS when the endpoint asks for it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use meshbench_core::ErrorKind;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::endpoint::Endpoint;
use crate::io_error::kind_of;

/// A failed connect: the kind results count and a message for the preflight report.
pub(crate) type ConnectError = (ErrorKind, String);

pub(crate) async fn tcp(endpoint: &Endpoint, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(endpoint.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err((kind_of(&e), format!("connect to {}: {e}", endpoint.addr))),
        Err(_) => {
            return Err((
                ErrorKind::ConnectTimeout,
                format!(
                    "connect to {} timed out after {:.1}s",
                    endpoint.addr,
                    timeout.as_secs_f64()
                ),
            ))
        }
    };
    // Latency is what is measured: never let Nagle hold a request back.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// TLS settings shared by every connection of a driver.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub connector: tokio_rustls::TlsConnector,
    pub server_name: ServerName<'static>,
    /// The configuration, for connections driven without tokio (the lean HTTP/2 path).
    pub config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl TlsSetup {
    pub(crate) fn new(config: Arc<rustls::ClientConfig>, server_name: ServerName<'static>) -> Self {
        TlsSetup {
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&config)),
            server_name,
            config,
        }
    }

    pub(crate) async fn handshake(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, ConnectError> {
        match tokio::time::timeout(
            timeout,
            self.connector.connect(self.server_name.clone(), stream),
        )
        .await
        {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(e)) => {
                let kind = match kind_of(&e) {
                    ErrorKind::Protocol | ErrorKind::Io => ErrorKind::Tls,
                    other => other,
                };
                Err((kind, format!("TLS handshake: {e}")))
            }
            Err(_) => Err((ErrorKind::ConnectTimeout, "TLS handshake timed out".into())),
        }
    }
}

/// Where a driver connects and how: the resolved origin of the spec's first URL, the TLS
/// settings when it is `https://` (offering `alpn`), and the connect timeout.
#[derive(Debug)]
pub(crate) struct Origin {
    pub endpoint: crate::endpoint::Endpoint,
    pub tls: Option<TlsSetup>,
    pub connect_timeout: Duration,
}

impl Origin {
    pub(crate) fn for_spec(
        spec: &meshbench_core::BenchmarkSpec,
        alpn: &[u8],
    ) -> crate::Result<Origin> {
        spec.validate()?;
        let first = spec
            .requests
            .first()
            .map(|r| r.url.as_str())
            .unwrap_or_default();
        let endpoint = crate::endpoint::Endpoint::resolve(first)?;
        let tls = if endpoint.tls {
            Some(TlsSetup::new(
                crate::tls::client_config(spec.insecure, &[alpn])?,
                crate::tls::server_name(&endpoint.host)?,
            ))
        } else {
            None
        };
        Ok(Origin {
            endpoint,
            tls,
            connect_timeout: Duration::from_secs_f64(spec.connect_timeout_s),
        })
    }
}

/// Connects to `origin`: TCP, then TLS when it asks for it.
pub(crate) async fn connect(origin: &Origin) -> Result<Stream, ConnectError> {
    let tcp = tcp(&origin.endpoint, origin.connect_timeout).await?;
    Ok(match &origin.tls {
        Some(tls) => Stream::Tls(Box::new(tls.handshake(tcp, origin.connect_timeout).await?)),
        None => Stream::Plain(tcp),
    })
}

/// A plain or TLS connection, as one type for the libraries that take any stream.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
