//! The request side of HPACK (RFC 7541), by hand. loona-hpack decodes the answers; its
//! encoder indexes a field only when no table holds its *name*, so `:authority`, `:path`,
//! `content-type` or `user-agent` went out as literals on every request, and a server then
//! parsed and copied them every time. Here every field is inserted into the dynamic table
//! the first time a connection sends it (literal with incremental indexing) and indexed
//! ever after, as nghttp2 and h2 do: once a mix's fields are all in the table, a request's
//! header block is one byte per field and the same bytes every time.
//!
//! Only the dynamic table is used (indices from 62, past the 61 static entries), which
//! keeps the model this side must keep in step with the peer's decoder exact and small.

use std::collections::VecDeque;

/// Entries of the static table; dynamic indices start after them.
const STATIC_ENTRIES: usize = 61;
/// What HPACK counts per entry beside its name and value.
const ENTRY_OVERHEAD: usize = 32;

/// A table entry: name and value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// The encoder's model of the peer's dynamic table, newest entry first.
#[derive(Debug)]
pub(crate) struct RequestEncoder {
    entries: VecDeque<Entry>,
    size: usize,
    max: usize,
    /// A table size update the next block must start with.
    update: Option<usize>,
}

/// The size an entry takes in the table.
pub(crate) fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_OVERHEAD
}

impl RequestEncoder {
    /// An encoder for a table of `max` bytes (HPACK's default is 4096).
    pub(crate) fn new(max: usize) -> Self {
        RequestEncoder {
            entries: VecDeque::new(),
            size: 0,
            max,
            update: None,
        }
    }

    /// The table's size limit.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Shrinks the table to `max` (the peer's SETTINGS_HEADER_TABLE_SIZE), announced at the
    /// start of the next header block.
    pub(crate) fn resize(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
        self.update = Some(max);
    }

    /// Appends the header block of `fields`; true when it changed the table (so blocks
    /// encoded before it may no longer be reused).
    pub(crate) fn encode<'a>(
        &mut self,
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut changed = false;
        if let Some(max) = self.update.take() {
            integer(out, max, 5, 0x20);
            changed = true;
        }
        for (name, value) in fields {
            match self
                .entries
                .iter()
                .position(|(n, v)| **n == *name && **v == *value)
            {
                Some(i) => integer(out, STATIC_ENTRIES + 1 + i, 7, 0x80),
                None => {
                    out.push(0x40);
                    string(out, name);
                    string(out, value);
                    self.insert(name, value);
                    changed = true;
                }
            }
        }
        changed
    }

    /// Inserts as the peer's decoder will: evict the oldest until the entry fits; an entry
    /// larger than the table empties it and is not kept (RFC 7541 §4.4).
    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = entry_size(name, value);
        if size > self.max {
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max - size);
        self.entries.push_front((name.into(), value.into()));
        self.size += size;
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            match self.entries.pop_back() {
                Some((n, v)) => self.size -= entry_size(&n, &v),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

/// An HPACK integer with an `prefix`-bit prefix under the bits of `first` (RFC 7541 §5.1).
fn integer(out: &mut Vec<u8>, mut value: usize, prefix: u8, first: u8) {
    let mask = (1usize << prefix) - 1;
    if value < mask {
        out.push(first | value as u8);
        return;
    }
    out.push(first | mask as u8);
    value -= mask;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

/// A string literal without Huffman coding (RFC 7541 §5.2).
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    integer(out, bytes.len(), 7, 0);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use loona_hpack::Decoder;

    type Fields = Vec<(&'static [u8], &'static [u8])>;

    fn request(path: &'static [u8]) -> Fields {
        vec![
            (b":method", b"GET"),
            (b":scheme", b"http"),
            (b":authority", b"example.test:8080"),
            (b":path", path),
            (b"user-agent", b"meshbench"),
        ]
    }

    fn owned(fields: &Fields) -> Vec<(Vec<u8>, Vec<u8>)> {
        fields
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect()
    }

    #[test]
    fn fields_are_indexed_after_their_first_block_and_decode_every_time() {
        let mut encoder = RequestEncoder::new(4096);
        let mut decoder = Decoder::new();
        let (a, b) = (request(b"/a"), request(b"/b"));
        let mut sizes = Vec::new();
        for fields in [&a, &b, &a, &b, &a] {
            let mut block = Vec::new();
            encoder.encode(fields.iter().copied(), &mut block);
            assert_eq!(decoder.decode(&block).unwrap(), owned(fields));
            sizes.push(block.len());
        }
        // After both went once, every field is one index byte, and nothing changes.
        assert_eq!(sizes[2..], [5, 5, 5]);
        let mut block = Vec::new();
        assert!(!encoder.encode(a.iter().copied(), &mut block));
    }

    #[test]
    fn a_small_table_evicts_as_the_decoder_does() {
        let mut encoder = RequestEncoder::new(4096);
        let mut decoder = Decoder::new();
        // Each value is too large to keep two of in 256 bytes: every block evicts.
        encoder.resize(256);
        let big: Vec<&'static [u8]> = vec![&[b'x'; 150], &[b'y'; 150], &[b'z'; 300]];
        for round in 0..3 {
            for value in &big {
                let fields: Fields = vec![(b"x-big", value), (b":method", b"GET")];
                let mut block = Vec::new();
                encoder.encode(fields.iter().copied(), &mut block);
                if round == 0 && value[0] == b'x' {
                    assert_eq!(block[0], 0x3f, "the size update leads the first block");
                }
                assert_eq!(decoder.decode(&block).unwrap(), owned(&fields));
            }
        }
    }

    #[test]
    fn integers_cross_their_prefix() {
        let mut out = Vec::new();
        integer(&mut out, 1337, 5, 0);
        assert_eq!(out, [31, 154, 10]);
        out.clear();
        integer(&mut out, 62, 7, 0x80);
        assert_eq!(out, [0x80 | 62]);
    }
}
