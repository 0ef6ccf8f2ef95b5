//! Maps I/O errors onto the error kinds results count, telling TLS failures apart.

use std::io;

use meshbench_core::ErrorKind;

pub(crate) fn kind_of(error: &io::Error) -> ErrorKind {
    match meshbench_engine::error_kind_of(error) {
        // rustls reports handshake and record failures as InvalidData.
        ErrorKind::Protocol
            if error
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            ErrorKind::Tls
        }
        kind => kind,
    }
}
