//! Pictures of the field: a diverging colour map, a slice renderer and a
//! minimal PNG encoder (with a checker for what it writes).
//!
//! The encoder writes 8-bit RGB PNGs: the signature, `IHDR`, one `IDAT`
//! holding a zlib stream of *stored* (uncompressed) deflate blocks, and
//! `IEND`; every chunk with its CRC-32 and the zlib stream with its
//! Adler-32. A 512 × 512 picture is 787 kB — size does not matter here,
//! having no dependency and a format every viewer reads does.
//!
//! [`check_png`] reads such a file back: signature, chunk order, every CRC,
//! the `IHDR` fields, the zlib header, the stored blocks, the Adler-32 and
//! the per-row filter bytes. The tests also decode the output with the
//! independent `png` crate.

use std::fmt;
use std::string::String;
use std::vec::Vec;

/// The eight bytes every PNG file starts with.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Largest stored deflate block (its length is a `u16`).
const MAX_STORED_BLOCK: usize = 0xffff;

/// The CRC-32 of PNG and zlib (ISO 3309, reflected polynomial 0xEDB88320),
/// one table entry per byte value, built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// CRC-32 of the concatenation of `parts`.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for part in parts {
        for &b in *part {
            c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
    }
    c ^ 0xffff_ffff
}

/// Adler-32 of `data` (zlib's checksum of the uncompressed bytes).
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // 5552 is the largest run whose sums cannot overflow a u32 before the
    // reduction.
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// An 8-bit RGB picture, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `width·height·3` bytes: R, G, B per pixel.
    pub pixels: Vec<u8>,
}

/// Why a picture cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Width or height is zero (PNG forbids it).
    Empty,
    /// Width or height is above 2³¹ − 1 (PNG's limit).
    TooLarge,
    /// `pixels` is not `width·height·3` bytes.
    WrongLength {
        /// `width·height·3`.
        expected: u64,
        /// `pixels.len()`.
        actual: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("a PNG needs at least one pixel"),
            Self::TooLarge => f.write_str("a PNG side is at most 2^31 - 1 pixels"),
            Self::WrongLength { expected, actual } => {
                write!(f, "picture has {actual} bytes of pixels; width·height·3 = {expected}")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).expect("PNG chunk longer than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// zlib stream of `data` in stored deflate blocks (no compression).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(MAX_STORED_BLOCK).max(1);
    let mut out = Vec::with_capacity(2 + data.len() + 5 * blocks + 4);
    // CMF: deflate, 32 KiB window. FLG: no dictionary, level 0, and
    // (CMF·256 + FLG) divisible by 31.
    out.extend_from_slice(&[0x78, 0x01]);
    let mut rest = data;
    loop {
        let n = rest.len().min(MAX_STORED_BLOCK);
        let last = n == rest.len();
        // BFINAL in bit 0, BTYPE = 00 (stored); the rest of the byte pads to
        // the byte boundary stored blocks start on.
        out.push(u8::from(last));
        let len = n as u16; // n ≤ 0xffff
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if last {
            break;
        }
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// Encodes `image` as an 8-bit RGB PNG (filter 0 on every row, stored
/// deflate blocks).
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, EncodeError> {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 {
        return Err(EncodeError::Empty);
    }
    if w > i32::MAX as u32 || h > i32::MAX as u32 {
        return Err(EncodeError::TooLarge);
    }
    let expected = u64::from(w) * u64::from(h) * 3;
    if image.pixels.len() as u64 != expected {
        return Err(EncodeError::WrongLength { expected, actual: image.pixels.len() });
    }
    let row = w as usize * 3;
    let mut raw = Vec::with_capacity((row + 1) * h as usize);
    for pixels in image.pixels.chunks_exact(row) {
        raw.push(0); // filter type None
        raw.extend_from_slice(pixels);
    }
    let mut ihdr = [0u8; 13];
    ihdr[0..4].copy_from_slice(&w.to_be_bytes());
    ihdr[4..8].copy_from_slice(&h.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), compression 0, filter 0, no interlace.
    ihdr[8..13].copy_from_slice(&[8, 2, 0, 0, 0]);

    let idat = zlib_stored(&raw);
    let mut out = Vec::with_capacity(8 + 25 + idat.len() + 12 + 12);
    out.extend_from_slice(&PNG_SIGNATURE);
    push_chunk(&mut out, b"IHDR", &ihdr);
    push_chunk(&mut out, b"IDAT", &idat);
    push_chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

/// What [`check_png`] found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The file does not start with [`PNG_SIGNATURE`].
    Signature,
    /// The file ends inside a chunk or a zlib block.
    Truncated,
    /// A chunk's CRC does not match.
    Crc {
        /// The chunk type.
        chunk: [u8; 4],
    },
    /// Chunks out of order, missing or unexpected (IHDR first, IDATs, IEND
    /// last).
    Structure(&'static str),
    /// IHDR describes something other than 8-bit RGB, non-interlaced.
    Header(&'static str),
    /// The zlib stream is not what [`encode_png`] writes.
    Zlib(&'static str),
    /// The Adler-32 of the pixel data does not match.
    Adler,
    /// The pixel data has the wrong size or a row filter other than 0.
    Pixels(&'static str),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signature => f.write_str("not a PNG signature"),
            Self::Truncated => f.write_str("file truncated"),
            Self::Crc { chunk } => write!(f, "bad CRC in chunk {}", String::from_utf8_lossy(chunk)),
            Self::Structure(what) => write!(f, "chunk structure: {what}"),
            Self::Header(what) => write!(f, "IHDR: {what}"),
            Self::Zlib(what) => write!(f, "zlib stream: {what}"),
            Self::Adler => f.write_str("Adler-32 mismatch"),
            Self::Pixels(what) => write!(f, "pixel data: {what}"),
        }
    }
}

impl std::error::Error for CheckError {}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], CheckError> {
    if bytes.len() < n {
        return Err(CheckError::Truncated);
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads a PNG written by [`encode_png`] back and checks everything in it;
/// returns the picture.
pub fn check_png(file: &[u8]) -> Result<RgbImage, CheckError> {
    let mut rest = file;
    if take(&mut rest, 8)? != PNG_SIGNATURE {
        return Err(CheckError::Signature);
    }
    let mut header = None;
    let mut zlib = Vec::new();
    let mut ended = false;
    while !rest.is_empty() {
        if ended {
            return Err(CheckError::Structure("data after IEND"));
        }
        let len = be32(take(&mut rest, 4)?) as usize;
        let kind: [u8; 4] = take(&mut rest, 4)?.try_into().expect("4 bytes");
        let data = take(&mut rest, len)?;
        let crc = be32(take(&mut rest, 4)?);
        if crc != crc32(&[&kind, data]) {
            return Err(CheckError::Crc { chunk: kind });
        }
        match &kind {
            b"IHDR" => {
                if header.is_some() || !zlib.is_empty() {
                    return Err(CheckError::Structure("IHDR not first or repeated"));
                }
                if data.len() != 13 {
                    return Err(CheckError::Header("length is not 13"));
                }
                let (w, h) = (be32(&data[0..4]), be32(&data[4..8]));
                if w == 0 || h == 0 {
                    return Err(CheckError::Header("zero width or height"));
                }
                if data[8..13] != [8, 2, 0, 0, 0] {
                    return Err(CheckError::Header("not 8-bit RGB, deflate, filter 0, non-interlaced"));
                }
                header = Some((w, h));
            }
            b"IDAT" => {
                if header.is_none() {
                    return Err(CheckError::Structure("IDAT before IHDR"));
                }
                zlib.extend_from_slice(data);
            }
            b"IEND" => ended = true,
            _ => return Err(CheckError::Structure("unexpected chunk")),
        }
    }
    let (width, height) = header.ok_or(CheckError::Structure("no IHDR"))?;
    if !ended {
        return Err(CheckError::Structure("no IEND"));
    }
    let raw = inflate_stored(&zlib)?;
    let row = width as usize * 3;
    if raw.len() != (row + 1) * height as usize {
        return Err(CheckError::Pixels("wrong length for width and height"));
    }
    let mut pixels = Vec::with_capacity(row * height as usize);
    for line in raw.chunks_exact(row + 1) {
        if line[0] != 0 {
            return Err(CheckError::Pixels("row filter is not 0"));
        }
        pixels.extend_from_slice(&line[1..]);
    }
    Ok(RgbImage { width, height, pixels })
}

/// Undoes [`zlib_stored`]: header, stored blocks, Adler-32.
fn inflate_stored(mut zlib: &[u8]) -> Result<Vec<u8>, CheckError> {
    let head = take(&mut zlib, 2)?;
    if head[0] & 0x0f != 8 || (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 != 0 || head[1] & 0x20 != 0 {
        return Err(CheckError::Zlib("bad header"));
    }
    let mut out = Vec::new();
    loop {
        let b = take(&mut zlib, 1)?[0];
        if (b >> 1) & 3 != 0 {
            return Err(CheckError::Zlib("block is not stored (only stored blocks are read)"));
        }
        let lens = take(&mut zlib, 4)?;
        let len = u16::from_le_bytes([lens[0], lens[1]]);
        if !len != u16::from_le_bytes([lens[2], lens[3]]) {
            return Err(CheckError::Zlib("LEN and NLEN disagree"));
        }
        out.extend_from_slice(take(&mut zlib, usize::from(len))?);
        if b & 1 == 1 {
            break;
        }
    }
    if be32(take(&mut zlib, 4)?) != adler32(&out) {
        return Err(CheckError::Adler);
    }
    if !zlib.is_empty() {
        return Err(CheckError::Zlib("bytes after the Adler-32"));
    }
    Ok(out)
}

/// Control points of the diverging colour map, from −1 to +1 in steps of
/// ½: dark blue, light blue, near-white, orange, dark red.
const COLOUR_STOPS: [[f32; 3]; 5] =
    [[24.0, 58.0, 150.0], [110.0, 160.0, 225.0], [246.0, 246.0, 246.0], [236.0, 140.0, 92.0], [160.0, 16.0, 30.0]];

/// The diverging colour of `t ∈ [−1, 1]` (clamped; NaN is white): blue for
/// negative pressure, white for zero, red for positive, linear between the
/// stops.
pub fn diverging(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
    let s = (t + 1.0) * 2.0; // 0..=4
    let i = (s.floor() as usize).min(3);
    let f = s - i as f32;
    let (a, b) = (COLOUR_STOPS[i], COLOUR_STOPS[i + 1]);
    core::array::from_fn(|c| (a[c] + (b[c] - a[c]) * f).round() as u8)
}

/// Renders an `nx × ny` plane of values (x fastest) as a picture, each cell
/// a `scale × scale` block, y growing upwards. The colour scale is linear
/// and symmetric: ±(largest magnitude in the plane) map to the ends of
/// [`diverging`], zero to white. Returns the picture and that largest
/// magnitude.
///
/// # Panics
/// If `values.len() != nx·ny` or `scale == 0`.
pub fn render_plane(values: &[f32], nx: u32, ny: u32, scale: u32) -> (RgbImage, f32) {
    assert_eq!(values.len(), nx as usize * ny as usize);
    assert!(scale > 0);
    let peak = values.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, v| m.max(v.abs()));
    let colour = |v: f32| diverging(if peak > 0.0 { v / peak } else { 0.0 });
    let (w, h) = (nx * scale, ny * scale);
    let mut pixels = Vec::with_capacity(w as usize * h as usize * 3);
    for py in 0..h {
        let y = ny - 1 - py / scale;
        for px in 0..w {
            let x = px / scale;
            pixels.extend_from_slice(&colour(values[(y * nx + x) as usize]));
        }
    }
    (RgbImage { width: w, height: h, pixels }, peak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        // Standard check values of CRC-32 and Adler-32.
        assert_eq!(crc32(&[b"123456789"]), 0xcbf4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xcbf4_3926);
        assert_eq!(crc32(&[b"IEND"]), 0xae42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(adler32(b""), 1);
        // Long runs exercise the modular reduction.
        let big = std::vec![0xffu8; 100_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(adler32(&big), ((b << 16) | a) as u32);
    }

    #[test]
    fn encoder_output_checks_and_round_trips() {
        for (w, h) in [(1, 1), (3, 2), (200, 150)] {
            let pixels = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
            let img = RgbImage { width: w, height: h, pixels };
            let file = encode_png(&img).unwrap();
            assert_eq!(&file[..8], &PNG_SIGNATURE);
            assert_eq!(&file[12..16], b"IHDR");
            assert_eq!(check_png(&file).unwrap(), img);
        }
    }

    #[test]
    fn big_pictures_use_several_stored_blocks() {
        // 200 × 150 × 3 + 150 filter bytes = 90 150 bytes: two blocks.
        let img = RgbImage { width: 200, height: 150, pixels: std::vec![9; 90_000] };
        let file = encode_png(&img).unwrap();
        assert_eq!(file.len(), 8 + 25 + (12 + 2 + 2 * 5 + 90_150 + 4) + 12);
    }

    #[test]
    fn checker_finds_damage() {
        let img = RgbImage { width: 4, height: 4, pixels: std::vec![100; 48] };
        let file = encode_png(&img).unwrap();
        let mut bad = file.clone();
        bad[0] = 0;
        assert_eq!(check_png(&bad), Err(CheckError::Signature));
        let mut bad = file.clone();
        bad[20] ^= 1; // inside IHDR's data
        assert_eq!(check_png(&bad), Err(CheckError::Crc { chunk: *b"IHDR" }));
        let mut bad = file.clone();
        bad[50] ^= 1; // inside IDAT's data
        assert_eq!(check_png(&bad), Err(CheckError::Crc { chunk: *b"IDAT" }));
        assert_eq!(check_png(&file[..file.len() - 3]), Err(CheckError::Truncated));
        assert_eq!(check_png(&file[..file.len() - 12]), Err(CheckError::Structure("no IEND")));
    }

    #[test]
    fn encoder_refuses_bad_pictures() {
        assert_eq!(encode_png(&RgbImage { width: 0, height: 1, pixels: Vec::new() }), Err(EncodeError::Empty));
        assert_eq!(
            encode_png(&RgbImage { width: 2, height: 1, pixels: std::vec![0; 5] }),
            Err(EncodeError::WrongLength { expected: 6, actual: 5 })
        );
    }

    #[test]
    fn colour_map_diverges_from_white() {
        assert_eq!(diverging(0.0), [246, 246, 246]);
        assert_eq!(diverging(-1.0), [24, 58, 150]);
        assert_eq!(diverging(1.0), [160, 16, 30]);
        assert_eq!(diverging(7.0), diverging(1.0));
        assert_eq!(diverging(f32::NAN), diverging(0.0));
        let (neg, pos) = (diverging(-0.3), diverging(0.3));
        assert!(neg[2] > neg[0], "negative is blue: {neg:?}");
        assert!(pos[0] > pos[2], "positive is red: {pos:?}");
    }

    #[test]
    fn render_puts_y_up_and_scales() {
        // 2 × 2 plane: only (x = 1, y = 1) positive, (0, 0) negative.
        let (img, peak) = render_plane(&[-1.0, 0.0, 0.0, 1.0], 2, 2, 3);
        assert_eq!((img.width, img.height, peak), (6, 6, 1.0));
        let px = |x: usize, y: usize| &img.pixels[(y * 6 + x) * 3..(y * 6 + x) * 3 + 3];
        assert_eq!(px(5, 0), diverging(1.0)); // top right
        assert_eq!(px(0, 5), diverging(-1.0)); // bottom left
        assert_eq!(px(0, 0), diverging(0.0));
    }
}
