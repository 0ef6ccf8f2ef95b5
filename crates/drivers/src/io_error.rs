//! Maps I/O errors onto the error kinds results count.

use std::io;

use meshbench_core::ErrorKind;

pub(crate) fn kind_of(error: &io::Error) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        io::ErrorKind::UnexpectedEof => ErrorKind::Closed,
        io::ErrorKind::InvalidData => {
            // rustls reports handshake and record failures as InvalidData.
            if error
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                ErrorKind::Tls
            } else {
                ErrorKind::Protocol
            }
        }
        _ => ErrorKind::Io,
    }
}
