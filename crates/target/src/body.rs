//! Response bodies served without allocating per request.
//!
//! Bodies up to [`SMALL_LEN`] are slices of a `'static` array built at compile time. Larger ones
//! are slices of one 64 MiB buffer, filled with the same pattern the first time a request asks
//! for more than [`SMALL_LEN`] bytes and shared by every server in the process afterwards: a
//! `Bytes` slice of it is a reference-count increment, not a copy.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::controls::MAX_SIZE;

/// 64 printable bytes, one line: the unit the body pattern repeats.
const LINE: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.\n";

/// How many bytes the compile-time buffer holds.
const SMALL_LEN: usize = 64 * 1024;

static SMALL: [u8; SMALL_LEN] = pattern();

static LARGE: OnceLock<Bytes> = OnceLock::new();

/// The body of a plain `200` with no `size=`.
pub(crate) const DEFAULT_BODY: &[u8] = b"ok\n";

const fn pattern<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    let mut i = 0;
    while i < N {
        buf[i] = LINE[i % LINE.len()];
        i += 1;
    }
    buf
}

/// A body of exactly `size` bytes (callers keep `size <= MAX_SIZE`).
pub(crate) fn sized(size: usize) -> Bytes {
    if size <= SMALL_LEN {
        return Bytes::from_static(&SMALL[..size]);
    }
    let large = LARGE.get_or_init(|| {
        let mut buf = Vec::with_capacity(MAX_SIZE);
        while buf.len() < MAX_SIZE {
            let take = (MAX_SIZE - buf.len()).min(SMALL_LEN);
            buf.extend_from_slice(&SMALL[..take]);
        }
        Bytes::from(buf)
    });
    large.slice(..size.min(MAX_SIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_exact_and_patterned() {
        for size in [0, 1, 63, 64, 1000, SMALL_LEN, SMALL_LEN + 1, 1 << 20] {
            let body = sized(size);
            assert_eq!(body.len(), size);
            for (i, b) in body.iter().enumerate().step_by(997) {
                assert_eq!(*b, LINE[i % 64]);
            }
        }
    }
}
