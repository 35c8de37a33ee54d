//! The actor name registry: names, wildcard lookup, and a fixed-capacity
//! table that works the same on the GPU and on the host.
//!
//! ## Names
//!
//! An actor name follows the same segment rules as a [topic](crate::topic):
//! `/`-separated segments of bytes, e.g. `sim/3/tile` or `worker-7`.
//!
//! | rule | name ([`validate_name`]) | lookup pattern ([`validate_name_pattern`]) |
//! | --- | --- | --- |
//! | length | 1 ..= [`MAX_NAME_BYTES`] bytes | same |
//! | segments | non-empty: no leading, trailing or doubled `/` | same |
//! | `*` | not allowed | anywhere, any number of times |
//! | `#` | not allowed (reserved, so every name is also a valid topic) | not allowed |
//! | other bytes | any (`/` separates) | same |
//!
//! ## Wildcard lookup: `*` stays inside one segment
//!
//! In a lookup pattern, `*` matches **any run of bytes, possibly empty, that
//! contains no `/`**. A pattern therefore matches only names with the same
//! number of segments, and each pattern segment is a glob over one name
//! segment:
//!
//! | pattern | matches | does not match |
//! | --- | --- | --- |
//! | `worker-*` | `worker-1`, `worker-17`, `worker-` | `worker`, `worker-1/log` |
//! | `sim/*/tile` | `sim/3/tile`, `sim/abc/tile` | `sim/tile`, `sim/3/4/tile` |
//! | `*` | every one-segment name | `a/b` |
//! | `*-gpu-*` | `a-gpu-1`, `-gpu-` | `a-cpu-1` |
//! | `sim/*` | `sim/3` | `sim`, `sim/3/tile` |
//!
//! There is no multi-segment wildcard for names; use one `*` segment per
//! level (or pub/sub's `#` for "everything below").
//!
//! [`name_matches`] is iterative: segment by segment, each a classic glob
//! that backtracks only to the last `*` (no recursion). Its loop runs at most
//! about |pattern| · |name| times (≤ 48 · 48), and it **fails closed**: an
//! invalid pattern or name matches nothing.
//!
//! ## The table
//!
//! [`Registry<N>`] holds up to `N` `(name, actor id, generation)` entries,
//! kept in registration order. Names are unique; one actor may have several.
//! Every operation is a bounded scan of at most `N` entries, allocates
//! nothing and never panics; the type is plain data, so a host can build one
//! and copy its bytes to the GPU. Concurrent use needs a lock or a single
//! owner: this type only holds the rules.
//!
//! ```
//! use ringkernel_shared::registry::{Registry, RegistryError};
//!
//! let mut reg = Registry::<8>::new();
//! reg.register(b"worker-1", 10).unwrap();
//! reg.register(b"worker-2", 11).unwrap();
//! reg.register(b"sim/3/tile", 12).unwrap();
//! assert_eq!(reg.register(b"worker-1", 99), Err(RegistryError::Duplicate { existing: 10 }));
//!
//! let mut ids = [0u32; 4];
//! let n = reg.lookup_all(b"worker-*", &mut ids);
//! assert_eq!(&ids[..n], &[10, 11]);
//! assert_eq!(reg.lookup(b"sim/3/tile"), Some(12));
//! ```

use crate::topic::{TopicError, bounded_name, bytes_eq, check_shape, segment_end};
use bytemuck::{Pod, Zeroable};
use core::fmt;

/// Longest actor name or lookup pattern, in bytes (same as a topic, so an
/// [`ActorName`] fits in an envelope payload).
pub const MAX_NAME_BYTES: usize = crate::topic::MAX_TOPIC_BYTES;

/// Why an actor name or lookup pattern was rejected. Byte offsets (`at`)
/// count from the start of the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Zero bytes long.
    Empty,
    /// Longer than [`MAX_NAME_BYTES`].
    TooLong {
        /// The length given.
        len: u32,
    },
    /// A segment with no bytes: a leading, trailing or doubled `/`.
    EmptySegment {
        /// Offset where the empty segment starts.
        at: u32,
    },
    /// A `*` or `#` in a name, or a `#` in a lookup pattern.
    Wildcard {
        /// Offset of the byte.
        at: u32,
    },
}

impl NameError {
    /// A stable numeric code (never 0), for places where only a `u32` fits.
    pub const fn code(&self) -> u32 {
        match self {
            Self::Empty => 1,
            Self::TooLong { .. } => 2,
            Self::EmptySegment { .. } => 3,
            Self::Wildcard { .. } => 4,
        }
    }

    /// The shape errors are common to names and topics.
    const fn from_shape(e: TopicError) -> Self {
        match e {
            TopicError::Empty => Self::Empty,
            TopicError::TooLong { len } => Self::TooLong { len },
            TopicError::EmptySegment { at } => Self::EmptySegment { at },
            // `check_shape` reports only the three above.
            TopicError::WildcardInTopic { at }
            | TopicError::WildcardNotWholeSegment { at }
            | TopicError::HashNotLast { at } => Self::Wildcard { at },
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("actor name is empty"),
            Self::TooLong { len } => write!(f, "actor name of {len} bytes is longer than {MAX_NAME_BYTES}"),
            Self::EmptySegment { at } => write!(f, "empty actor name segment at byte {at}"),
            Self::Wildcard { at } => write!(f, "reserved byte (`*` or `#`) at byte {at} of an actor name"),
        }
    }
}

impl core::error::Error for NameError {}

/// Shape check, then no byte equal to `a` or `b`.
const fn validate_without(s: &[u8], a: u8, b: u8) -> Result<(), NameError> {
    if let Err(e) = check_shape(s, MAX_NAME_BYTES) {
        return Err(NameError::from_shape(e));
    }
    let mut i = 0;
    while i < s.len() {
        if s[i] == a || s[i] == b {
            return Err(NameError::Wildcard { at: i as u32 });
        }
        i += 1;
    }
    Ok(())
}

/// Checks an actor name: see the [module rules](self#names).
pub const fn validate_name(name: &[u8]) -> Result<(), NameError> {
    validate_without(name, b'*', b'#')
}

/// Checks a lookup pattern: see the [module rules](self#names).
pub const fn validate_name_pattern(pattern: &[u8]) -> Result<(), NameError> {
    validate_without(pattern, b'#', b'#')
}

/// Glob of `p[p0..p1]` over `n[n0..n1]` where only `*` is special and
/// neither range holds a `/`. Classic single-backtrack: on a mismatch,
/// resume after the last `*`, letting it swallow one more byte. Each turn
/// advances the name index or the star's mark, so the loop runs at most
/// (|p| + 1) · (|n| + 1) times.
const fn glob_segment(p: &[u8], p0: usize, p1: usize, n: &[u8], n0: usize, n1: usize) -> bool {
    let (mut pi, mut ni) = (p0, n0);
    // Position after the last `*` seen, and where in the name it resumes.
    let mut star = usize::MAX;
    let mut mark = n0;
    while ni < n1 {
        if pi < p1 && p[pi] == b'*' {
            pi += 1;
            star = pi;
            mark = ni;
        } else if pi < p1 && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if star != usize::MAX {
            pi = star;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p1 && p[pi] == b'*' {
        pi += 1;
    }
    pi == p1
}

/// Whether a lookup `pattern` matches the actor `name`: see the
/// [module table](self#wildcard-lookup--stays-inside-one-segment).
///
/// `false` when either one is invalid ([`validate_name_pattern`],
/// [`validate_name`]).
pub const fn name_matches(pattern: &[u8], name: &[u8]) -> bool {
    if validate_name_pattern(pattern).is_err() || validate_name(name).is_err() {
        return false;
    }
    // Segment by segment; each turn consumes one non-empty segment of each.
    let (mut p, mut n) = (0, 0);
    loop {
        let (pe, ne) = (segment_end(pattern, p), segment_end(name, n));
        if !glob_segment(pattern, p, pe, name, n, ne) {
            return false;
        }
        let (p_done, n_done) = (pe == pattern.len(), ne == name.len());
        if p_done || n_done {
            return p_done && n_done;
        }
        p = pe + 1;
        n = ne + 1;
    }
}

bounded_name!(
    /// A checked actor name ([`validate_name`]), 52 bytes.
    ActorName,
    MAX_NAME_BYTES,
    validate_name,
    NameError
);

crate::assert_layout!(ActorName, size = 4 + MAX_NAME_BYTES, align = 4);
crate::assert_offset!(ActorName, len, 0);
crate::assert_offset!(ActorName, bytes, 4);
const _: () = assert!(core::mem::size_of::<ActorName>() <= crate::PAYLOAD_BYTES);

/// One registration (60 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct RegistryEntry {
    /// The registered name.
    pub name: ActorName,
    /// The actor it names.
    pub actor_id: u32,
    /// The registry's [`generation`](Registry::generation) right after this
    /// registration: tells a re-registration of the same name apart.
    pub generation: u32,
}

impl RegistryEntry {
    /// An unused entry (all zero).
    pub const EMPTY: Self = Self { name: ActorName { len: 0, bytes: [0; MAX_NAME_BYTES] }, actor_id: 0, generation: 0 };
}

crate::assert_layout!(RegistryEntry, size = 60, align = 4);
crate::assert_offset!(RegistryEntry, name, 0);
crate::assert_offset!(RegistryEntry, actor_id, 52);
crate::assert_offset!(RegistryEntry, generation, 56);

/// Why a registration failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// The name breaks the [name rules](self#names).
    InvalidName(NameError),
    /// The name is already registered.
    Duplicate {
        /// The actor that holds it.
        existing: u32,
    },
    /// All `N` entries are in use.
    Full,
}

impl RegistryError {
    /// A stable numeric code (never 0): `Duplicate` = 1, `Full` = 2, an
    /// invalid name = `0x100 | NameError::code()`.
    pub const fn code(&self) -> u32 {
        match self {
            Self::Duplicate { .. } => 1,
            Self::Full => 2,
            Self::InvalidName(e) => 0x100 | e.code(),
        }
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(_) => f.write_str("invalid actor name"),
            Self::Duplicate { existing } => write!(f, "name already registered to actor {existing}"),
            Self::Full => f.write_str("registry is full"),
        }
    }
}

impl core::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::InvalidName(e) => Some(e),
            _ => None,
        }
    }
}

/// A fixed-capacity name → actor table (`8 + 60·N` bytes, plain data). See
/// the [module docs](self#the-table).
///
/// Entries `0..len` are live, in registration order; removal shifts the
/// later ones down. Values read from shared memory may hold anything: a
/// `len` above `N` is read as `N`, and no method panics.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Registry<const N: usize> {
    len: u32,
    generation: u32,
    entries: [RegistryEntry; N],
}

// SAFETY: `#[repr(C)]` with fields `u32`, `u32`, `[RegistryEntry; N]`.
// `RegistryEntry` is `Pod` (so holds no padding) with size 60 and align 4, so
// the array starts at offset 8 (a multiple of 4) and the struct's size,
// 8 + 60·N, is a multiple of its align (4): there is no padding for any `N`,
// and the all-zero pattern is a valid (empty) registry.
unsafe impl<const N: usize> Zeroable for Registry<N> {}
// SAFETY: as above: no padding, every field is `Pod`, so every bit pattern is
// a valid value; `Registry` is `Copy + 'static`.
unsafe impl<const N: usize> Pod for Registry<N> {}

crate::assert_layout!(Registry<0>, size = 8, align = 4);
crate::assert_layout!(Registry<1>, size = 68, align = 4);
crate::assert_layout!(Registry<7>, size = 8 + 7 * 60, align = 4);

impl<const N: usize> Default for Registry<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Registry<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("generation", &self.generation).field("entries", &self.entries()).finish()
    }
}

impl<const N: usize> Registry<N> {
    /// An empty registry.
    pub const fn new() -> Self {
        Self { len: 0, generation: 0, entries: [RegistryEntry::EMPTY; N] }
    }

    /// Maximum number of entries.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Live entries (a stored `len` above `N` reads as `N`).
    #[inline]
    pub const fn len(&self) -> usize {
        let n = self.len as usize;
        if n > N { N } else { n }
    }

    /// No live entries.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A counter bumped by every change (register, unregister). A reader that
    /// cached a lookup can keep using it while this is unchanged.
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// The live entries, in registration order.
    #[inline]
    pub fn entries(&self) -> &[RegistryEntry] {
        self.entries.split_at(self.len()).0
    }

    fn position(&self, name: &[u8]) -> Option<usize> {
        self.entries().iter().position(|e| bytes_eq(e.name.as_bytes(), name))
    }

    /// Registers `name` for `actor_id`. Fails on an invalid name, a name
    /// already registered (to any actor), or a full table; the table is
    /// unchanged then.
    pub fn register(&mut self, name: &[u8], actor_id: u32) -> Result<(), RegistryError> {
        let name = ActorName::new(name).map_err(RegistryError::InvalidName)?;
        if let Some(i) = self.position(name.as_bytes()) {
            return Err(RegistryError::Duplicate { existing: self.entries[i].actor_id });
        }
        let len = self.len();
        let Some(slot) = self.entries.get_mut(len) else {
            return Err(RegistryError::Full);
        };
        let generation = self.generation.wrapping_add(1);
        *slot = RegistryEntry { name, actor_id, generation };
        self.generation = generation;
        self.len = len as u32 + 1;
        Ok(())
    }

    /// Removes entries `i` where `remove(entry)` holds, keeping the order of
    /// the others. Returns how many were removed.
    fn retain_not(&mut self, mut remove: impl FnMut(&RegistryEntry) -> bool) -> usize {
        let len = self.len();
        let mut kept = 0;
        for i in 0..len {
            let e = self.entries[i];
            if !remove(&e) {
                self.entries[kept] = e;
                kept += 1;
            }
        }
        let removed = len - kept;
        if removed > 0 {
            for e in &mut self.entries[kept..len] {
                *e = RegistryEntry::EMPTY;
            }
            self.len = kept as u32;
            self.generation = self.generation.wrapping_add(1);
        }
        removed
    }

    /// Removes `name`; returns the actor it named.
    pub fn unregister(&mut self, name: &[u8]) -> Option<u32> {
        let i = self.position(name)?;
        let id = self.entries[i].actor_id;
        let mut seen = false;
        self.retain_not(|e| {
            let hit = !seen && bytes_eq(e.name.as_bytes(), name);
            seen |= hit;
            hit
        });
        Some(id)
    }

    /// Removes every name of `actor_id` (when it stops for good); returns how
    /// many.
    pub fn unregister_actor(&mut self, actor_id: u32) -> usize {
        self.retain_not(|e| e.actor_id == actor_id)
    }

    /// The actor registered under exactly `name` (no wildcards).
    pub fn lookup(&self, name: &[u8]) -> Option<u32> {
        self.position(name).map(|i| self.entries[i].actor_id)
    }

    /// Writes the ids of the actors whose names match `pattern`
    /// ([`name_matches`]) into `out`, in registration order, and returns how
    /// many it wrote. Stops when `out` is full (see
    /// [`count_matching`](Self::count_matching)); an invalid pattern matches
    /// nothing.
    pub fn lookup_all(&self, pattern: &[u8], out: &mut [u32]) -> usize {
        if validate_name_pattern(pattern).is_err() {
            return 0;
        }
        let mut n = 0;
        for e in self.entries() {
            let Some(slot) = out.get_mut(n) else { break };
            if name_matches(pattern, e.name.as_bytes()) {
                *slot = e.actor_id;
                n += 1;
            }
        }
        n
    }

    /// How many names match `pattern`.
    pub fn count_matching(&self, pattern: &[u8]) -> usize {
        if validate_name_pattern(pattern).is_err() {
            return 0;
        }
        self.entries().iter().filter(|e| name_matches(pattern, e.name.as_bytes())).count()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn registry_name_rules() {
        for n in [&b"a"[..], b"worker-1", b"sim/3/tile", b"a+b/$x", &[b'n'; MAX_NAME_BYTES]] {
            assert_eq!(validate_name(n), Ok(()), "{}", n.escape_ascii());
            assert_eq!(ActorName::new(n).unwrap().as_bytes(), n);
        }
        for p in [&b"*"[..], b"worker-*", b"sim/*/tile", b"*-gpu-*", b"**", b"a/*"] {
            assert_eq!(validate_name_pattern(p), Ok(()), "{}", p.escape_ascii());
        }
    }

    /// Every illegal name and pattern, each with its error and offset.
    #[test]
    fn registry_every_illegal_name_rejected() {
        use NameError::*;
        let long = [b'a'; MAX_NAME_BYTES + 1];
        let names: &[(&[u8], NameError)] = &[
            (b"", Empty),
            (&long, TooLong { len: 49 }),
            (b"/a", EmptySegment { at: 0 }),
            (b"a/", EmptySegment { at: 2 }),
            (b"a//b", EmptySegment { at: 2 }),
            (b"worker-*", Wildcard { at: 7 }),
            (b"a/#", Wildcard { at: 2 }),
        ];
        for &(n, want) in names {
            assert_eq!(validate_name(n), Err(want), "{}", n.escape_ascii());
            assert_eq!(ActorName::new(n), Err(want));
        }
        let patterns: &[(&[u8], NameError)] = &[
            (b"", Empty),
            (&long, TooLong { len: 49 }),
            (b"*/", EmptySegment { at: 2 }),
            (b"a/#", Wildcard { at: 2 }),
            (b"#", Wildcard { at: 0 }),
        ];
        for &(p, want) in patterns {
            assert_eq!(validate_name_pattern(p), Err(want), "{}", p.escape_ascii());
        }
        let codes = [Empty.code(), TooLong { len: 0 }.code(), EmptySegment { at: 0 }.code(), Wildcard { at: 0 }.code()];
        assert_eq!(codes, [1, 2, 3, 4]);
    }

    /// The table in the module docs, row by row.
    #[test]
    fn registry_wildcard_table() {
        let yes: &[(&[u8], &[u8])] = &[
            (b"worker-*", b"worker-1"),
            (b"worker-*", b"worker-17"),
            (b"worker-*", b"worker-"),
            (b"sim/*/tile", b"sim/3/tile"),
            (b"sim/*/tile", b"sim/abc/tile"),
            (b"*", b"anything"),
            (b"*-gpu-*", b"a-gpu-1"),
            (b"*-gpu-*", b"-gpu-"),
            (b"sim/*", b"sim/3"),
            (b"exact", b"exact"),
            (b"a*b*c", b"aXbYbZc"),
            (b"*a", b"aaa"),
        ];
        let no: &[(&[u8], &[u8])] = &[
            (b"worker-*", b"worker"),
            (b"worker-*", b"worker-1/log"),
            (b"sim/*/tile", b"sim/tile"),
            (b"sim/*/tile", b"sim/3/4/tile"),
            (b"*", b"a/b"),
            (b"*-gpu-*", b"a-cpu-1"),
            (b"sim/*", b"sim"),
            (b"sim/*", b"sim/3/tile"),
            (b"a*b*c", b"aXbYbZ"),
            (b"exact", b"exac"),
            // Invalid on either side: fails closed.
            (b"a/#", b"a/#"),
            (b"*", b"*"),
            (b"*/", b"a/"),
        ];
        for &(p, n) in yes {
            assert!(name_matches(p, n), "{} should match {}", p.escape_ascii(), n.escape_ascii());
        }
        for &(p, n) in no {
            assert!(!name_matches(p, n), "{} should not match {}", p.escape_ascii(), n.escape_ascii());
        }
    }

    /// Worst case for the single-backtrack glob stays correct at full length.
    #[test]
    fn registry_glob_worst_case() {
        let mut name = [b'a'; MAX_NAME_BYTES];
        let mut pattern = [b'*'; MAX_NAME_BYTES];
        for i in (1..MAX_NAME_BYTES).step_by(2) {
            pattern[i] = b'a';
        }
        assert!(name_matches(&pattern, &name));
        pattern[MAX_NAME_BYTES - 1] = b'b';
        assert!(!name_matches(&pattern, &name));
        name[MAX_NAME_BYTES - 1] = b'b';
        assert!(name_matches(&pattern, &name));
    }

    #[test]
    fn registry_register_lookup_unregister() {
        let mut r = Registry::<3>::new();
        assert!(r.is_empty());
        assert_eq!(r.capacity(), 3);
        assert_eq!(r.register(b"worker-1", 10), Ok(()));
        assert_eq!(r.register(b"worker-2", 11), Ok(()));
        assert_eq!(r.generation(), 2);
        assert_eq!(r.register(b"worker-1", 12), Err(RegistryError::Duplicate { existing: 10 }));
        assert_eq!(r.register(b"bad*", 12), Err(RegistryError::InvalidName(NameError::Wildcard { at: 3 })));
        assert_eq!(r.register(b"w/2", 11), Ok(())); // a second name for actor 11
        assert_eq!(r.register(b"x", 13), Err(RegistryError::Full));
        assert_eq!(r.generation(), 3, "failed registrations change nothing");
        assert_eq!(r.lookup(b"worker-2"), Some(11));
        assert_eq!(r.lookup(b"worker-*"), None, "lookup is exact");
        assert_eq!(r.entries()[2].generation, 3);

        assert_eq!(r.unregister(b"worker-1"), Some(10));
        assert_eq!(r.unregister(b"worker-1"), None);
        assert_eq!(r.lookup(b"worker-1"), None);
        assert_eq!(r.len(), 2);
        assert_eq!(r.register(b"worker-1", 14), Ok(()), "a freed name and slot are reusable");
        let names: Vec<&[u8]> = r.entries().iter().map(|e| e.name.as_bytes()).collect();
        assert_eq!(names, [&b"worker-2"[..], b"w/2", b"worker-1"], "registration order kept");

        assert_eq!(r.unregister_actor(11), 2);
        assert_eq!(r.unregister_actor(11), 0);
        assert_eq!(r.len(), 1);
        assert_eq!(r.lookup(b"worker-1"), Some(14));
    }

    #[test]
    fn registry_lookup_all_order_and_truncation() {
        let mut r = Registry::<8>::new();
        for (i, n) in [&b"worker-3"[..], b"sim/1/tile", b"worker-1", b"worker-2", b"sim/2/tile"].iter().enumerate() {
            r.register(n, i as u32).unwrap();
        }
        let mut out = [u32::MAX; 8];
        assert_eq!(r.lookup_all(b"worker-*", &mut out), 3);
        assert_eq!(out[..3], [0, 2, 3]);
        assert_eq!(r.lookup_all(b"sim/*/tile", &mut out), 2);
        assert_eq!(out[..2], [1, 4]);
        assert_eq!(r.count_matching(b"worker-*"), 3);
        let mut two = [0u32; 2];
        assert_eq!(r.lookup_all(b"worker-*", &mut two), 2);
        assert_eq!(two, [0, 2]);
        assert_eq!(r.lookup_all(b"worker-*", &mut []), 0);
        assert_eq!(r.lookup_all(b"worker-#", &mut out), 0, "invalid pattern");
        assert_eq!(r.count_matching(b"#"), 0);
    }

    /// A registry read from shared memory with a corrupted length or entries
    /// never panics.
    #[test]
    fn registry_corrupted_state_never_panics() {
        let mut r = Registry::<2>::new();
        r.register(b"a", 1).unwrap();
        let mut bytes = bytemuck::bytes_of(&r).to_vec();
        bytes[0..4].copy_from_slice(&u32::MAX.to_le_bytes()); // len
        bytes[8 + 60..8 + 64].copy_from_slice(&u32::MAX.to_le_bytes()); // entry 1's name len
        let mut bad: Registry<2> = bytemuck::pod_read_unaligned(&bytes);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad.lookup(b"a"), Some(1));
        assert_eq!(bad.count_matching(b"*"), 1);
        assert_eq!(bad.register(b"b", 2), Err(RegistryError::Full));
        assert_eq!(bad.unregister(b"a"), Some(1));
        assert_eq!(bad.len(), 1);
        let zero: Registry<0> = Zeroable::zeroed();
        assert_eq!(zero.lookup(b"a"), None);
        let mut zero = zero;
        assert_eq!(zero.register(b"a", 1), Err(RegistryError::Full));
    }

    #[test]
    fn registry_error_codes() {
        assert_eq!(RegistryError::Duplicate { existing: 3 }.code(), 1);
        assert_eq!(RegistryError::Full.code(), 2);
        assert_eq!(RegistryError::InvalidName(NameError::Empty).code(), 0x101);
        let e = RegistryError::InvalidName(NameError::Empty);
        assert!(core::error::Error::source(&e).is_some());
    }

    // ---- property tests ----

    /// Reference glob, recursive, from the definition: `*` takes any run of
    /// non-`/` bytes.
    fn reference_glob(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => {
                (0..=n.len()).take_while(|&k| !n[..k].contains(&b'/')).any(|k| reference_glob(rest, &n[k..]))
            }
            Some((c, rest)) => n.first() == Some(c) && reference_glob(rest, &n[1..]),
        }
    }

    fn reference_valid(s: &[u8], forbidden: &[u8]) -> bool {
        !s.is_empty()
            && s.len() <= MAX_NAME_BYTES
            && s.split(|&b| b == b'/').all(|g| !g.is_empty())
            && !s.iter().any(|b| forbidden.contains(b))
    }

    fn reference_name_matches(p: &[u8], n: &[u8]) -> bool {
        reference_valid(p, b"#") && reference_valid(n, b"*#") && reference_glob(p, n)
    }

    fn bytes_from(alphabet: &'static [u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(alphabet), 0..max)
    }

    const POOL: [&[u8]; 8] = [b"a", b"ab", b"a/b", b"w-1", b"w-2", b"w-1/x", b"s/1/t", b"s/2/t"];
    const PATTERNS: [&[u8]; 6] = [b"*", b"w-*", b"*/*", b"s/*/t", b"a*", b"*/x"];

    /// Operations per model run (fewer under Miri, where each step's checks
    /// are slow).
    const MAX_OPS: usize = if cfg!(miri) { 8 } else { 40 };

    #[derive(Clone, Debug)]
    enum Op {
        Register(usize, u32),
        Unregister(usize),
        UnregisterActor(u32),
    }

    /// Three registrations for each removal of either kind. (A plain tuple
    /// rather than `prop_oneof!`, which is slow under Miri.)
    fn op() -> impl Strategy<Value = Op> {
        (0u8..5, 0..POOL.len(), 0u32..4).prop_map(|(kind, n, id)| match kind {
            0..=2 => Op::Register(n, id),
            3 => Op::Unregister(n),
            _ => Op::UnregisterActor(id),
        })
    }

    proptest! {
        /// `name_matches` agrees with the recursive reference on arbitrary
        /// short strings (valid or not).
        #[test]
        fn registry_name_matches_agrees_with_reference(p in bytes_from(b"ab*/#", 9), n in bytes_from(b"ab*/", 9)) {
            prop_assert_eq!(name_matches(&p, &n), reference_name_matches(&p, &n), "{} / {}", p.escape_ascii(), n.escape_ascii());
        }

        /// Random register/unregister sequences against a `Vec` model: every
        /// answer matches, so the registry never returns a name that is not
        /// registered, and keeps registration order.
        #[test]
        fn registry_matches_model(ops in proptest::collection::vec(op(), 1..MAX_OPS)) {
            const CAP: usize = 4;
            let mut reg = Registry::<CAP>::new();
            let mut model: Vec<(&[u8], u32)> = Vec::new();
            for op in ops {
                match op {
                    Op::Register(n, id) => {
                        let name = POOL[n];
                        let want = if let Some(&(_, existing)) = model.iter().find(|e| e.0 == name) {
                            Err(RegistryError::Duplicate { existing })
                        } else if model.len() == CAP {
                            Err(RegistryError::Full)
                        } else {
                            model.push((name, id));
                            Ok(())
                        };
                        prop_assert_eq!(reg.register(name, id), want);
                    }
                    Op::Unregister(n) => {
                        let name = POOL[n];
                        let want = model.iter().position(|e| e.0 == name).map(|i| model.remove(i).1);
                        prop_assert_eq!(reg.unregister(name), want);
                    }
                    Op::UnregisterActor(id) => {
                        let before = model.len();
                        model.retain(|e| e.1 != id);
                        prop_assert_eq!(reg.unregister_actor(id), before - model.len());
                    }
                }
                prop_assert_eq!(reg.len(), model.len());
                for name in POOL {
                    prop_assert_eq!(reg.lookup(name), model.iter().find(|e| e.0 == name).map(|e| e.1));
                }
                for pattern in PATTERNS {
                    let want: Vec<u32> = model.iter().filter(|e| reference_glob(pattern, e.0)).map(|e| e.1).collect();
                    let mut out = [0u32; CAP];
                    let n = reg.lookup_all(pattern, &mut out);
                    prop_assert_eq!(&out[..n], &want[..], "{}", pattern.escape_ascii());
                }
            }
        }
    }
}
