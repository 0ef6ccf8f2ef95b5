//! The kinds of per-request failure a result counts, named the same for every protocol.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why one request failed. Results count these by their snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The target refused the TCP connection.
    ConnectRefused,
    /// Connecting took longer than the connect timeout.
    ConnectTimeout,
    /// The response did not arrive within the request timeout.
    Timeout,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection before the response was complete.
    Closed,
    /// The TLS handshake or record layer failed.
    Tls,
    /// The peer answered something that is not valid for the protocol.
    Protocol,
    /// The host name could not be resolved.
    Dns,
    /// Any other I/O failure.
    Io,
    /// The peer answered with a failure: an HTTP 5xx, a gRPC status other than OK.
    ServerError,
}

impl ErrorKind {
    /// Every kind, in a fixed order, so recorders can keep counts in an array.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::Tls,
        ErrorKind::Protocol,
        ErrorKind::Dns,
        ErrorKind::Io,
        ErrorKind::ServerError,
    ];

    /// The position of this kind in [`ErrorKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name used in results.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Tls => "tls",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Dns => "dns",
            ErrorKind::Io => "io",
            ErrorKind::ServerError => "server_error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorKind {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| crate::Error::invalid("error_kind", format!("unknown error kind `{s}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_position_and_names_round_trip() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(kind.as_str().parse::<ErrorKind>().unwrap(), kind);
        }
    }
}
