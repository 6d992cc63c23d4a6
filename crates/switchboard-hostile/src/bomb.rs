//! Compressed bodies that inflate far beyond any cap, generated on the spot
//! (nothing large is committed).

use flate2::{Compress, Compression, Crc, FlushCompress};

pub const MIB: usize = 1024 * 1024;

/// 1 MiB of spaces, deflated and full-flushed: byte-aligned and referring
/// to nothing before it, so copies of it concatenate into valid deflate
/// data. Returns the segment and the CRC-32 of what it inflates to.
pub fn segment() -> (Vec<u8>, Crc) {
    let input = vec![b' '; MIB];
    let mut compress = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(64 * 1024);
    compress
        .compress_vec(&input, &mut out, FlushCompress::Full)
        .unwrap();
    assert_eq!(compress.total_in(), MIB as u64, "one call takes it all");
    let mut crc = Crc::new();
    crc.update(&input);
    (out, crc)
}

pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A whole gzip member of about `compressed` bytes: `n` segments, a final
/// empty block, the CRC and the length. Returns it and the inflated size.
pub fn gzip_bomb(compressed: usize) -> (Vec<u8>, u64) {
    let (unit, unit_crc) = segment();
    let n = compressed / unit.len();
    let mut body = Vec::with_capacity(compressed + 64);
    body.extend_from_slice(&GZIP_HEADER);
    let mut crc = Crc::new();
    for _ in 0..n {
        body.extend_from_slice(&unit);
        crc.combine(&unit_crc);
    }
    // BFINAL=1, fixed Huffman, end of block: 10 bits
    body.extend_from_slice(&[0x03, 0x00]);
    body.extend_from_slice(&crc.sum().to_le_bytes());
    let inflated = (n * MIB) as u64;
    body.extend_from_slice(&(inflated as u32).to_le_bytes());
    (body, inflated)
}
