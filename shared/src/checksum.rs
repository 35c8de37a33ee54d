//! Payload checksum: 32-bit FNV-1a.
//!
//! Chosen because it needs no table (a GPU thread computes it from registers),
//! is byte-order independent, and catches the corruptions we care about here
//! (torn or stale slots, wrong lengths). It is not a cryptographic MAC.

const OFFSET_BASIS: u32 = 0x811c_9dc5;
const PRIME: u32 = 0x0100_0193;

/// FNV-1a over `bytes`.
#[inline]
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h = OFFSET_BASIS;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u32;
        h = h.wrapping_mul(PRIME);
        i += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Published FNV-1a 32-bit test vectors.
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }
}
