//! Pub/sub topic names and patterns.
//!
//! A topic is a `/`-separated list of segments of bytes, e.g.
//! `sensors/room1/temp`. A subscription names a *pattern*, which may use two
//! wildcards, each only as a whole segment:
//!
//! | pattern | matches | does not match |
//! | --- | --- | --- |
//! | `sensors/room1/temp` | `sensors/room1/temp` (exactly) | `sensors/room1` |
//! | `sensors/*/temp` | `sensors/room1/temp`, `sensors/x/temp` | `sensors/temp`, `sensors/a/b/temp` |
//! | `sensors/#` | `sensors`, `sensors/room1`, `sensors/room1/temp` | `sensorsX`, `other/room1` |
//! | `#` | every topic | — |
//! | `*/#` | every topic (one segment, then any number) | — |
//!
//! `*` stands for **exactly one** segment; `#` for **the rest**: zero or more
//! trailing segments, so `a/#` matches `a` itself (as in MQTT).
//!
//! ## Rules
//!
//! | rule | topic ([`validate_topic`]) | pattern ([`validate_pattern`]) |
//! | --- | --- | --- |
//! | length | 1 ..= [`MAX_TOPIC_BYTES`] bytes | same |
//! | segments | non-empty: no leading, trailing or doubled `/` | same |
//! | `*` | not allowed anywhere | only as a whole segment |
//! | `#` | not allowed anywhere | only as a whole segment, and only the last one |
//! | other bytes | any (`/` separates) | same |
//!
//! [`MAX_TOPIC_BYTES`] is 48 so that a [`TopicName`] (52 bytes) fits in an
//! envelope payload with room for a small value beside it.
//!
//! ## Matching
//!
//! [`matches`](fn@matches) walks pattern and topic once, segment by segment: no
//! recursion, no allocation, O(|pattern| + |topic|). It **fails closed**: an
//! invalid pattern or an invalid topic matches nothing, so a corrupted
//! subscription read from shared memory never receives messages by accident.
//! Everything here is a `const fn`, runs on the GPU as well as on the host,
//! and never panics on any input.
//!
//! ```
//! use ringkernel_shared::topic::{TopicName, TopicPattern, matches};
//!
//! assert!(matches(b"sensors/*/temp", b"sensors/room1/temp"));
//! assert!(matches(b"sensors/#", b"sensors"));
//! assert!(!matches(b"sensors/#/temp", b"sensors/room1/temp")); // `#` must be last
//!
//! let sub = TopicPattern::new(b"sensors/+/temp").unwrap(); // `+` is an ordinary byte
//! assert!(!sub.matches(&TopicName::new(b"sensors/room1/temp").unwrap()));
//! ```

use core::fmt;

/// Longest topic name or pattern, in bytes.
pub const MAX_TOPIC_BYTES: usize = 48;

/// Why a topic name or pattern was rejected. Byte offsets (`at`) count from
/// the start of the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicError {
    /// Zero bytes long.
    Empty,
    /// Longer than [`MAX_TOPIC_BYTES`].
    TooLong {
        /// The length given.
        len: u32,
    },
    /// A segment with no bytes: a leading, trailing or doubled `/`.
    EmptySegment {
        /// Offset where the empty segment starts.
        at: u32,
    },
    /// A `*` or `#` in a topic name (wildcards belong in patterns only).
    WildcardInTopic {
        /// Offset of the wildcard byte.
        at: u32,
    },
    /// A `*` or `#` in a pattern segment that also holds other bytes (`a*`).
    WildcardNotWholeSegment {
        /// Offset of the wildcard byte.
        at: u32,
    },
    /// A `#` segment that is not the last segment of the pattern.
    HashNotLast {
        /// Offset of the `#`.
        at: u32,
    },
}

impl TopicError {
    /// A stable numeric code, for places where only a `u32` fits (a reply
    /// payload, `ControlBlock::last_error`). Never 0.
    pub const fn code(&self) -> u32 {
        match self {
            Self::Empty => 1,
            Self::TooLong { .. } => 2,
            Self::EmptySegment { .. } => 3,
            Self::WildcardInTopic { .. } => 4,
            Self::WildcardNotWholeSegment { .. } => 5,
            Self::HashNotLast { .. } => 6,
        }
    }
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("topic is empty"),
            Self::TooLong { len } => write!(f, "topic of {len} bytes is longer than {MAX_TOPIC_BYTES}"),
            Self::EmptySegment { at } => write!(f, "empty topic segment at byte {at}"),
            Self::WildcardInTopic { at } => {
                write!(f, "wildcard at byte {at} in a topic name (only patterns may have `*`/`#`)")
            }
            Self::WildcardNotWholeSegment { at } => {
                write!(f, "wildcard at byte {at} shares its segment with other bytes")
            }
            Self::HashNotLast { at } => write!(f, "`#` at byte {at} is not the last segment"),
        }
    }
}

impl core::error::Error for TopicError {}

/// Index of the `/` that ends the segment starting at `start`, or `s.len()`.
#[inline]
pub(crate) const fn segment_end(s: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < s.len() && s[i] != b'/' {
        i += 1;
    }
    i
}

/// Length and segment shape shared by topics, patterns and actor names:
/// 1..=`max` bytes, no empty segment.
#[inline]
pub(crate) const fn check_shape(s: &[u8], max: usize) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > max {
        // Saturate: the length of a host-side slice can exceed u32.
        let len = if s.len() > u32::MAX as usize { u32::MAX } else { s.len() as u32 };
        return Err(TopicError::TooLong { len });
    }
    // Segment starts: 0 and every byte after a `/`. `s.len() <= max` fits u32.
    let mut start = 0;
    loop {
        let end = segment_end(s, start);
        if end == start {
            return Err(TopicError::EmptySegment { at: start as u32 });
        }
        if end == s.len() {
            return Ok(());
        }
        start = end + 1;
    }
}

/// Checks a topic name: see the [module rules](self#rules).
pub const fn validate_topic(topic: &[u8]) -> Result<(), TopicError> {
    if let Err(e) = check_shape(topic, MAX_TOPIC_BYTES) {
        return Err(e);
    }
    let mut i = 0;
    while i < topic.len() {
        if topic[i] == b'*' || topic[i] == b'#' {
            return Err(TopicError::WildcardInTopic { at: i as u32 });
        }
        i += 1;
    }
    Ok(())
}

/// Checks a subscription pattern: see the [module rules](self#rules).
pub const fn validate_pattern(pattern: &[u8]) -> Result<(), TopicError> {
    if let Err(e) = check_shape(pattern, MAX_TOPIC_BYTES) {
        return Err(e);
    }
    let mut start = 0;
    loop {
        let end = segment_end(pattern, start);
        let mut i = start;
        while i < end {
            let b = pattern[i];
            if b == b'*' || b == b'#' {
                if end - start != 1 {
                    return Err(TopicError::WildcardNotWholeSegment { at: i as u32 });
                }
                if b == b'#' && end != pattern.len() {
                    return Err(TopicError::HashNotLast { at: i as u32 });
                }
            }
            i += 1;
        }
        if end == pattern.len() {
            return Ok(());
        }
        start = end + 1;
    }
}

/// `a[a0..a1] == b[b0..b1]`, usable in a `const fn`.
#[inline]
pub(crate) const fn range_eq(a: &[u8], a0: usize, a1: usize, b: &[u8], b0: usize, b1: usize) -> bool {
    if a1 - a0 != b1 - b0 {
        return false;
    }
    let mut k = 0;
    while k < a1 - a0 {
        if a[a0 + k] != b[b0 + k] {
            return false;
        }
        k += 1;
    }
    true
}

/// `a == b` as a plain byte loop: usable in a `const fn`, and no `memcmp`
/// call on the GPU.
#[inline]
pub(crate) const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    range_eq(a, 0, a.len(), b, 0, b.len())
}

/// Whether `topic` is published to a subscription on `pattern`.
///
/// `false` when either one is invalid ([`validate_pattern`],
/// [`validate_topic`]). One pass over both, O(|pattern| + |topic|).
pub const fn matches(pattern: &[u8], topic: &[u8]) -> bool {
    if validate_pattern(pattern).is_err() || validate_topic(topic).is_err() {
        return false;
    }
    // Both are non-empty with non-empty segments; `p`/`t` are the starts of
    // the current segments. Each turn of the loop consumes one segment of
    // each, so it runs at most MAX_TOPIC_BYTES / 2 + 1 times.
    let (mut p, mut t) = (0, 0);
    loop {
        let pe = segment_end(pattern, p);
        let is_hash = pe - p == 1 && pattern[p] == b'#';
        if is_hash {
            // The rest of the topic, one segment or more.
            return true;
        }
        let te = segment_end(topic, t);
        let is_star = pe - p == 1 && pattern[p] == b'*';
        if !is_star && !range_eq(pattern, p, pe, topic, t, te) {
            return false;
        }
        let (p_done, t_done) = (pe == pattern.len(), te == topic.len());
        if p_done || t_done {
            // Topic used up with pattern left: only a final `/#` (zero
            // segments) still matches.
            return (p_done && t_done) || (t_done && pe + 2 == pattern.len() && pattern[pe + 1] == b'#');
        }
        p = pe + 1;
        t = te + 1;
    }
}

/// Defines a fixed-size, plain-data name (`len` + bytes) checked by
/// `$validate` on construction. Shared by [`TopicName`], [`TopicPattern`]
/// and [`crate::registry::ActorName`].
macro_rules! bounded_name {
    ($(#[$doc:meta])* $name:ident, $max:expr, $validate:path, $err:ident) => {
        $(#[$doc])*
        ///
        /// Plain data: `len` is the number of bytes of `bytes` in use and the
        /// rest is zero when built by `new`. A value read from shared memory
        /// can hold anything, so [`Self::as_bytes`] reads a `len` larger than
        /// the buffer as an empty name, which every rule rejects (fail
        /// closed), and [`Self::validate`] checks it again.
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            /// Bytes of `bytes` in use.
            pub len: u32,
            /// The name; bytes past `len` are zero.
            pub bytes: [u8; $max],
        }

        impl $name {
            /// Checks `name` and copies it into a fixed-size value.
            pub const fn new(name: &[u8]) -> Result<Self, $err> {
                if let Err(e) = $validate(name) {
                    return Err(e);
                }
                let mut bytes = [0u8; $max];
                let mut i = 0;
                // `$validate` bounded `name.len()` by `$max`.
                while i < name.len() && i < $max {
                    bytes[i] = name[i];
                    i += 1;
                }
                Ok(Self { len: i as u32, bytes })
            }

            /// The bytes in use; empty when `len` is out of range.
            #[inline]
            pub const fn as_bytes(&self) -> &[u8] {
                let n = self.len as usize;
                if n > $max { &[] } else { self.bytes.split_at(n).0 }
            }

            /// Checks a value that may have been written by the other side.
            pub const fn validate(&self) -> Result<(), $err> {
                if self.len as usize > $max {
                    return Err($err::TooLong { len: self.len });
                }
                $validate(self.as_bytes())
            }
        }

        impl PartialEq for $name {
            /// Compares the bytes in use; bytes past `len` do not count.
            fn eq(&self, other: &Self) -> bool {
                $crate::topic::bytes_eq(self.as_bytes(), other.as_bytes())
            }
        }

        impl Eq for $name {}

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "(\"{}\")"), self.as_bytes().escape_ascii())
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}", self.as_bytes().escape_ascii())
            }
        }
    };
}
pub(crate) use bounded_name;

bounded_name!(
    /// A checked topic name ([`validate_topic`]), as it travels in an envelope
    /// payload (52 bytes).
    TopicName,
    MAX_TOPIC_BYTES,
    validate_topic,
    TopicError
);

bounded_name!(
    /// A checked subscription pattern ([`validate_pattern`]), stored in a
    /// subscription table (52 bytes).
    TopicPattern,
    MAX_TOPIC_BYTES,
    validate_pattern,
    TopicError
);

impl TopicPattern {
    /// Whether a message on `topic` goes to this subscription ([`matches`](fn@matches)).
    #[inline]
    pub const fn matches(&self, topic: &TopicName) -> bool {
        matches(self.as_bytes(), topic.as_bytes())
    }
}

crate::assert_layout!(TopicName, size = 4 + MAX_TOPIC_BYTES, align = 4);
crate::assert_offset!(TopicName, len, 0);
crate::assert_offset!(TopicName, bytes, 4);
crate::assert_layout!(TopicPattern, size = 4 + MAX_TOPIC_BYTES, align = 4);
crate::assert_offset!(TopicPattern, len, 0);
crate::assert_offset!(TopicPattern, bytes, 4);
const _: () = assert!(core::mem::size_of::<TopicName>() <= crate::PAYLOAD_BYTES);
const _: () = assert!(core::mem::size_of::<TopicPattern>() <= crate::PAYLOAD_BYTES);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn topic_valid_names_accepted() {
        for t in [&b"a"[..], b"sensors/room1/temp", b"a/b/c/d", b"x+y/$sys/\x00\xff", &[b'a'; MAX_TOPIC_BYTES]] {
            assert_eq!(validate_topic(t), Ok(()), "{}", t.escape_ascii());
            assert_eq!(TopicName::new(t).unwrap().as_bytes(), t);
        }
    }

    /// Every illegal topic, each with the error and offset it must report.
    #[test]
    fn topic_every_illegal_name_rejected() {
        use TopicError::*;
        let long = [b'a'; MAX_TOPIC_BYTES + 1];
        let cases: &[(&[u8], TopicError)] = &[
            (b"", Empty),
            (&long, TooLong { len: 49 }),
            (b"/a", EmptySegment { at: 0 }),
            (b"a/", EmptySegment { at: 2 }),
            (b"a//b", EmptySegment { at: 2 }),
            (b"/", EmptySegment { at: 0 }),
            (b"*", WildcardInTopic { at: 0 }),
            (b"#", WildcardInTopic { at: 0 }),
            (b"a/*/b", WildcardInTopic { at: 2 }),
            (b"a/b#", WildcardInTopic { at: 3 }),
            (b"ab*", WildcardInTopic { at: 2 }),
        ];
        for &(t, want) in cases {
            assert_eq!(validate_topic(t), Err(want), "{}", t.escape_ascii());
            assert_eq!(TopicName::new(t), Err(want));
        }
    }

    #[test]
    fn topic_valid_patterns_accepted() {
        for p in [&b"a"[..], b"*", b"#", b"a/*/c", b"a/#", b"*/#", b"*/*", b"a/b+/c"] {
            assert_eq!(validate_pattern(p), Ok(()), "{}", p.escape_ascii());
        }
    }

    /// Every illegal pattern, each with the error and offset it must report.
    #[test]
    fn topic_every_illegal_pattern_rejected() {
        use TopicError::*;
        let long = [b'*'; MAX_TOPIC_BYTES + 1];
        let cases: &[(&[u8], TopicError)] = &[
            (b"", Empty),
            (&long, TooLong { len: 49 }),
            (b"/#", EmptySegment { at: 0 }),
            (b"a/", EmptySegment { at: 2 }),
            (b"*//#", EmptySegment { at: 2 }),
            (b"a*", WildcardNotWholeSegment { at: 1 }),
            (b"a/*b", WildcardNotWholeSegment { at: 2 }),
            (b"a/##", WildcardNotWholeSegment { at: 2 }),
            (b"**", WildcardNotWholeSegment { at: 0 }),
            (b"#/a", HashNotLast { at: 0 }),
            (b"a/#/b", HashNotLast { at: 2 }),
            (b"#/#", HashNotLast { at: 0 }),
        ];
        for &(p, want) in cases {
            assert_eq!(validate_pattern(p), Err(want), "{}", p.escape_ascii());
            assert_eq!(TopicPattern::new(p), Err(want));
        }
    }

    #[test]
    fn topic_error_codes_distinct_and_nonzero() {
        use TopicError::*;
        let all = [Empty, TooLong { len: 0 }, EmptySegment { at: 0 }, WildcardInTopic { at: 0 }];
        let more = [WildcardNotWholeSegment { at: 0 }, HashNotLast { at: 0 }];
        let codes: Vec<u32> = all.iter().chain(&more).map(TopicError::code).collect();
        for (i, c) in codes.iter().enumerate() {
            assert_ne!(*c, 0);
            assert!(!codes[..i].contains(c));
        }
    }

    /// The table in the module docs, row by row.
    #[test]
    fn topic_match_table() {
        let yes: &[(&[u8], &[u8])] = &[
            (b"sensors/room1/temp", b"sensors/room1/temp"),
            (b"sensors/*/temp", b"sensors/room1/temp"),
            (b"sensors/*/temp", b"sensors/x/temp"),
            (b"sensors/#", b"sensors"),
            (b"sensors/#", b"sensors/room1"),
            (b"sensors/#", b"sensors/room1/temp"),
            (b"#", b"a"),
            (b"#", b"a/b/c"),
            (b"*/#", b"a"),
            (b"*/#", b"a/b"),
            (b"*", b"abc"),
            (b"a/*/#", b"a/b"),
        ];
        let no: &[(&[u8], &[u8])] = &[
            (b"sensors/room1/temp", b"sensors/room1"),
            (b"sensors/room1", b"sensors/room1/temp"),
            (b"sensors/*/temp", b"sensors/temp"),
            (b"sensors/*/temp", b"sensors/a/b/temp"),
            (b"sensors/#", b"sensorsX"),
            (b"sensors/#", b"other/room1"),
            (b"*", b"a/b"),
            (b"a/*/#", b"a"),
            (b"a/*", b"a"),
            (b"ab", b"a"),
            (b"a", b"ab"),
        ];
        for &(p, t) in yes {
            assert!(matches(p, t), "{} should match {}", p.escape_ascii(), t.escape_ascii());
        }
        for &(p, t) in no {
            assert!(!matches(p, t), "{} should not match {}", p.escape_ascii(), t.escape_ascii());
        }
    }

    /// An invalid pattern or topic matches nothing, not even itself.
    #[test]
    fn topic_match_fails_closed() {
        for (p, t) in [
            (&b"a/#/b"[..], &b"a/x/b"[..]),
            (b"a*", b"a*"),
            (b"", b""),
            (b"#", b"a//b"),
            (b"#", b"a/*"),
            (b"a/", b"a/"),
        ] {
            assert!(!matches(p, t), "{} / {}", p.escape_ascii(), t.escape_ascii());
        }
        assert!(!matches(b"#", &[b'a'; MAX_TOPIC_BYTES + 1]));
    }

    #[test]
    fn topic_fixed_names_roundtrip_and_fail_closed() {
        let t = TopicName::new(b"sensors/room1/temp").unwrap();
        assert_eq!(t.len, 18);
        assert!(t.bytes[18..].iter().all(|&b| b == 0));
        assert_eq!(t.validate(), Ok(()));
        let p = TopicPattern::new(b"sensors/*/temp").unwrap();
        assert!(p.matches(&t));
        assert_eq!(std::format!("{t:?}"), "TopicName(\"sensors/room1/temp\")");
        assert_eq!(std::format!("{p}"), "sensors/*/temp");

        // Bytes past `len` do not take part in equality.
        let mut t2 = t;
        t2.bytes[40] = 7;
        assert_eq!(t, t2);

        // A corrupted length reads as empty: rejected, matches nothing.
        let mut bad = t;
        bad.len = 49;
        assert_eq!(bad.as_bytes(), b"");
        assert_eq!(bad.validate(), Err(TopicError::TooLong { len: 49 }));
        assert!(!TopicPattern::new(b"#").unwrap().matches(&bad));
        bad.len = u32::MAX;
        assert_eq!(bad.validate(), Err(TopicError::TooLong { len: u32::MAX }));

        // Corrupted bytes are caught by `validate`.
        let mut bad = t;
        bad.bytes[0] = b'*';
        assert_eq!(bad.validate(), Err(TopicError::WildcardInTopic { at: 0 }));
        let zeroed: TopicName = bytemuck::Zeroable::zeroed();
        assert_eq!(zeroed.validate(), Err(TopicError::Empty));
    }

    #[test]
    fn topic_names_usable_in_const() {
        const T: TopicName = match TopicName::new(b"log/errors") {
            Ok(t) => t,
            Err(_) => panic!("bad topic"),
        };
        const MATCHES: bool = matches(b"log/#", b"log/errors");
        const _: () = assert!(MATCHES);
        assert_eq!(T.as_bytes(), b"log/errors");
    }

    // ---- property tests against a reference written from the definition ----

    fn segments(s: &[u8]) -> Vec<&[u8]> {
        s.split(|&b| b == b'/').collect()
    }

    /// Reference: the definition, recursively, on segment lists. Only called
    /// on valid inputs.
    fn reference_match(p: &[&[u8]], t: &[&[u8]]) -> bool {
        match (p.split_first(), t.split_first()) {
            (Some((&b"#", [])), _) => true,
            (Some((ps, pr)), Some((ts, tr))) => (*ps == b"*" || ps == ts) && reference_match(pr, tr),
            (None, None) => true,
            _ => false,
        }
    }

    fn reference_valid(s: &[u8], pattern: bool) -> bool {
        let segs = segments(s);
        !s.is_empty()
            && s.len() <= MAX_TOPIC_BYTES
            && segs.iter().all(|g| !g.is_empty())
            && segs.iter().enumerate().all(|(i, g)| {
                let wild = g.iter().filter(|&&b| b == b'*' || b == b'#').count();
                if !pattern { wild == 0 } else { wild == 0 || (g.len() == 1 && (g[0] == b'*' || i + 1 == segs.len())) }
            })
    }

    /// Segments from a small alphabet, so that matches happen often. (Indices
    /// into a table rather than `prop_oneof!`, which is slow under Miri.)
    const SEGMENTS: [&[u8]; 5] = [b"a", b"b", b"ab", b"*", b"#"];

    fn joined(kinds: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0..kinds, 1..6)
            .prop_map(|s| s.iter().map(|&i| SEGMENTS[i]).collect::<Vec<_>>().join(&b'/'))
    }

    /// Valid topics: literal segments only.
    fn topic() -> impl Strategy<Value = Vec<u8>> {
        joined(3)
    }

    /// Patterns, valid or not (`#` can land anywhere).
    fn pattern() -> impl Strategy<Value = Vec<u8>> {
        joined(5)
    }

    fn raw() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(&b"a/*#"[..]), 0..8)
    }

    proptest! {
        /// `matches` agrees with the reference on generated patterns (valid
        /// and not: `#` can land anywhere) and valid topics.
        #[test]
        fn topic_matches_agrees_with_reference(p in pattern(), t in topic()) {
            let want = reference_valid(&p, true) && reference_match(&segments(&p), &segments(&t));
            prop_assert_eq!(matches(&p, &t), want, "{} / {}", p.escape_ascii(), t.escape_ascii());
        }

        /// The validators agree with the reference on arbitrary byte strings,
        /// and `matches` never panics and never matches an invalid input.
        #[test]
        fn topic_validators_agree_with_reference(p in raw(), t in raw()) {
            prop_assert_eq!(validate_topic(&t).is_ok(), reference_valid(&t, false));
            prop_assert_eq!(validate_pattern(&p).is_ok(), reference_valid(&p, true));
            let m = matches(&p, &t);
            if m {
                prop_assert!(reference_valid(&p, true) && reference_valid(&t, false));
            }
        }

        /// `#` semantics: `prefix/#` matches exactly the topics that are
        /// `prefix` or start with `prefix/`, and `prefix/*` exactly those
        /// one segment longer.
        #[test]
        fn topic_hash_matches_prefix_and_below(prefix in topic(), t in topic()) {
            let mut hash = prefix.clone();
            hash.extend_from_slice(b"/#");
            let below = t == prefix || (t.starts_with(&prefix) && t.get(prefix.len()) == Some(&b'/'));
            prop_assert_eq!(matches(&hash, &t), below);
            let mut star = prefix.clone();
            star.extend_from_slice(b"/*");
            prop_assert_eq!(matches(&star, &t), below && segments(&t).len() == segments(&prefix).len() + 1);
            // A topic matches itself and `#`.
            prop_assert!(matches(&t, &t));
            prop_assert!(matches(b"#", &t));
        }
    }
}
