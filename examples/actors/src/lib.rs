//! # Example actors, written once
//!
//! Real actors used by the examples, tests and benchmarks of RingKernel. The
//! same code runs on the CPU backend (a host thread per actor) and inside the
//! persistent GPU kernel (`cargo xtask build-ptx` compiles this crate to PTX).
//!
//! | actor | message | reply | PTX entry |
//! | --- | --- | --- | --- |
//! | [`Hello`] | [`HelloRequest`] (a name as bytes) | [`Greeting`] (`"Hello, <name>! (actor 3, message #n)"`) | `example_hello` |
//! | [`Counter`] | [`CounterCmd`] (op code + value) | [`CounterReply`] (the total) | `example_counter` |
//! | [`Echo`] | [`EchoMsg`] (64 bytes) | the same 64 bytes | `example_echo` |
//! | [`Node`] | [`NodeCmd`] (spawn, forward, lookup, publish, relay) | [`NodeReply`] | — (in [`ExampleSystem`]) |
//! | [`gang::GangTest`] | [`gang::GangTestJob`] | the job's result (`u64`) | `example_gang_test`, with a gang of workers |
//! | [`ledger::Ledger`] | [`ledger::LedgerMsg`] (deposit, balance, trap) | [`ledger::LedgerReply`] | `example_ledger`; takes snapshots, crashes on purpose |
//!
//! [`ExampleSystem`] puts all four types in one actor system (PTX entry
//! `example_system`): any slot can host any of them.
//!
//! Everything that crosses host ↔ GPU is plain data: no `bool`, `char` or
//! enum fields; operation codes are `u32` newtypes checked with `TryFrom`.
//! Handlers use no formatting machinery and no floats: on the GPU they run on
//! one warp in lockstep, where every byte of code and every register counts.
#![no_std]
#![cfg_attr(target_arch = "nvptx64", feature(abi_ptx, stdarch_nvptx))]

use bytemuck::{Pod, Zeroable};
use ringkernel_device::{Actor, Context, Fault};

pub mod gang;
pub mod ledger;

// ---------------------------------------------------------------------------
// Hello
// ---------------------------------------------------------------------------

/// Message type id of [`Hello`].
pub const HELLO_TYPE_ID: u32 = 0x4845_4C4F;
/// Largest name a [`HelloRequest`] carries, in bytes.
pub const MAX_NAME_BYTES: usize = 32;
/// Bytes of greeting text a [`Greeting`] carries.
pub const GREETING_BYTES: usize = 60;

/// A name to greet (36 bytes, plain data).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct HelloRequest {
    /// Bytes of `name` in use (values above [`MAX_NAME_BYTES`] are clamped).
    pub len: u32,
    /// The name, UTF-8 on the host side; the actor copies bytes verbatim.
    pub name: [u8; MAX_NAME_BYTES],
}

/// The name did not fit in a [`HelloRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameTooLong {
    /// Length of the rejected name in bytes.
    pub len: usize,
}

impl core::fmt::Display for NameTooLong {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "name of {} bytes does not fit in {} bytes", self.len, MAX_NAME_BYTES)
    }
}

impl core::error::Error for NameTooLong {}

impl HelloRequest {
    /// A request greeting `name` (at most [`MAX_NAME_BYTES`] bytes).
    pub fn new(name: &str) -> Result<Self, NameTooLong> {
        let bytes = name.as_bytes();
        if bytes.len() > MAX_NAME_BYTES {
            return Err(NameTooLong { len: bytes.len() });
        }
        let mut req = Self::zeroed();
        req.name[..bytes.len()].copy_from_slice(bytes);
        req.len = bytes.len() as u32;
        Ok(req)
    }

    /// The name bytes in use (clamped, never panics).
    pub fn name_bytes(&self) -> &[u8] {
        let n = (self.len as usize).min(MAX_NAME_BYTES);
        &self.name[..n]
    }
}

/// A greeting (64 bytes, plain data).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Greeting {
    /// Bytes of `text` in use.
    pub len: u32,
    /// The greeting text.
    pub text: [u8; GREETING_BYTES],
}

impl Greeting {
    /// The text bytes in use (clamped, never panics).
    pub fn as_bytes(&self) -> &[u8] {
        let n = (self.len as usize).min(GREETING_BYTES);
        &self.text[..n]
    }

    /// The text as a string, if it is UTF-8 (it is whenever the name was).
    pub fn as_str(&self) -> Result<&str, core::str::Utf8Error> {
        core::str::from_utf8(self.as_bytes())
    }
}

/// Greets by name and counts the greetings it has given.
///
/// The reply reads `Hello, <name>! (actor <id>, message #<n>)`; a name too
/// long for the 60-byte greeting is cut short (at a byte boundary).
#[derive(Debug)]
pub struct Hello {
    actor_id: u32,
    greeted: u64,
}

/// Appends bytes to a fixed buffer, silently stopping at its end.
struct TextBuf {
    text: [u8; GREETING_BYTES],
    len: usize,
}

impl TextBuf {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.text.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    /// Decimal digits of `v` without any formatting machinery.
    fn push_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

impl Hello {
    /// The greeting for `name` as this actor's `n`th message.
    pub fn greeting(actor_id: u32, name: &[u8], n: u64) -> Greeting {
        const HEAD: &[u8] = b"Hello, ";
        const MID: &[u8] = b"! (actor ";
        const NUM: &[u8] = b", message #";
        // Room the fixed parts and the numbers need; the name gets the rest.
        let fixed = HEAD.len() + MID.len() + NUM.len() + 1 + decimal_len(actor_id as u64) + decimal_len(n);
        let room = GREETING_BYTES.saturating_sub(fixed);
        let name = if name.len() > room { &name[..room] } else { name };
        let mut buf = TextBuf { text: [0; GREETING_BYTES], len: 0 };
        buf.push(HEAD);
        buf.push(name);
        buf.push(MID);
        buf.push_u64(actor_id as u64);
        buf.push(NUM);
        buf.push_u64(n);
        buf.push(b")");
        Greeting { len: buf.len as u32, text: buf.text }
    }
}

fn decimal_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

impl Actor for Hello {
    const TYPE_ID: u32 = HELLO_TYPE_ID;
    type Msg = HelloRequest;
    type Reply = Greeting;

    fn create(actor_id: u32) -> Self {
        Hello { actor_id, greeted: 0 }
    }

    fn handle(&mut self, ctx: &mut Context<'_, Self>, msg: HelloRequest) -> Result<(), Fault> {
        self.greeted += 1;
        let greeting = Self::greeting(self.actor_id, msg.name_bytes(), self.greeted);
        ctx.reply(&greeting).map_err(|_| Fault(HELLO_FAULT_SEND))
    }
}

/// Fault code of [`Hello`] when its reply cannot be queued.
pub const HELLO_FAULT_SEND: u32 = 1;

ringkernel_device::actor_kernel!(example_hello, Hello);

// ---------------------------------------------------------------------------
// Counter
// ---------------------------------------------------------------------------

/// Message type id of [`Counter`].
pub const COUNTER_TYPE_ID: u32 = 0x434E_5452;

/// What a [`CounterCmd`] asks for (`u32` newtype, validated with `TryFrom`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CounterOp(u32);

impl CounterOp {
    /// Add `value` to the total; answers the new total.
    pub const ADD: Self = Self(1);
    /// Answer the total.
    pub const GET: Self = Self(2);
    /// Set the total to zero; answers the total before the reset.
    pub const RESET: Self = Self(3);
    /// Crash the actor with [`COUNTER_FAULT_CRASH`] (exercises failure handling).
    pub const CRASH: Self = Self(0xDEAD);

    /// The raw value.
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for CounterOp {
    type Error = u32;
    /// Fails with the raw value when it names no operation.
    fn try_from(v: u32) -> Result<Self, u32> {
        match v {
            1..=3 | 0xDEAD => Ok(Self(v)),
            _ => Err(v),
        }
    }
}

/// Error-reply code of [`Counter`]: the op code names no operation.
pub const COUNTER_ERROR_UNKNOWN_OP: u32 = 100;
/// Error-reply code of [`Counter`]: the addition would overflow `u64`.
pub const COUNTER_ERROR_OVERFLOW: u32 = 101;
/// Fault code of [`Counter`] for [`CounterOp::CRASH`].
pub const COUNTER_FAULT_CRASH: u32 = 0xC0DE;
/// Fault code of [`Counter`] when its reply cannot be queued.
pub const COUNTER_FAULT_SEND: u32 = 2;

/// A command to a [`Counter`] (16 bytes, plain data).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct CounterCmd {
    /// A [`CounterOp`] as `u32`.
    pub op: u32,
    /// Reserved, zero.
    pub _pad: u32,
    /// Operand of [`CounterOp::ADD`].
    pub value: u64,
}

impl CounterCmd {
    /// Add `value`.
    pub const fn add(value: u64) -> Self {
        Self { op: CounterOp::ADD.0, _pad: 0, value }
    }
    /// Read the total.
    pub const fn get() -> Self {
        Self { op: CounterOp::GET.0, _pad: 0, value: 0 }
    }
    /// Reset the total.
    pub const fn reset() -> Self {
        Self { op: CounterOp::RESET.0, _pad: 0, value: 0 }
    }
    /// Crash the actor.
    pub const fn crash() -> Self {
        Self { op: CounterOp::CRASH.0, _pad: 0, value: 0 }
    }
    /// A command with a raw op code (possibly invalid).
    pub const fn raw(op: u32, value: u64) -> Self {
        Self { op, _pad: 0, value }
    }
}

/// A [`Counter`]'s answer (16 bytes, plain data).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct CounterReply {
    /// The total (for RESET: the total before the reset).
    pub total: u64,
    /// Commands handled by this incarnation, this one included.
    pub ops: u64,
}

/// Keeps a running `u64` total.
///
/// Answers every valid command with a [`CounterReply`]; answers an unknown
/// op code or an overflowing add with an error reply (the actor keeps
/// running); crashes with [`Fault`]`(`[`COUNTER_FAULT_CRASH`]`)` on
/// [`CounterOp::CRASH`].
#[derive(Debug)]
pub struct Counter {
    total: u64,
    ops: u64,
}

impl Actor for Counter {
    const TYPE_ID: u32 = COUNTER_TYPE_ID;
    type Msg = CounterCmd;
    type Reply = CounterReply;

    fn create(_actor_id: u32) -> Self {
        Counter { total: 0, ops: 0 }
    }

    fn handle(&mut self, ctx: &mut Context<'_, Self>, cmd: CounterCmd) -> Result<(), Fault> {
        self.ops += 1;
        let answer = match CounterOp::try_from(cmd.op) {
            Ok(CounterOp::ADD) => match self.total.checked_add(cmd.value) {
                Some(t) => {
                    self.total = t;
                    t
                }
                None => return ctx.reply_error(COUNTER_ERROR_OVERFLOW).map_err(|_| Fault(COUNTER_FAULT_SEND)),
            },
            Ok(CounterOp::GET) => self.total,
            Ok(CounterOp::RESET) => core::mem::replace(&mut self.total, 0),
            Ok(CounterOp::CRASH) => return Err(Fault(COUNTER_FAULT_CRASH)),
            _ => return ctx.reply_error(COUNTER_ERROR_UNKNOWN_OP).map_err(|_| Fault(COUNTER_FAULT_SEND)),
        };
        ctx.reply(&CounterReply { total: answer, ops: self.ops }).map_err(|_| Fault(COUNTER_FAULT_SEND))
    }
}

ringkernel_device::actor_kernel!(example_counter, Counter);

// ---------------------------------------------------------------------------
// Echo
// ---------------------------------------------------------------------------

/// Message type id of [`Echo`].
pub const ECHO_TYPE_ID: u32 = 0x4543_484F;

/// A 64-byte payload (a full envelope payload).
pub type EchoMsg = [u64; 8];

/// Answers every message with the same 64 bytes: the throughput actor.
#[derive(Debug)]
pub struct Echo;

/// Fault code of [`Echo`] when its reply cannot be queued.
pub const ECHO_FAULT_SEND: u32 = 3;

impl Actor for Echo {
    const TYPE_ID: u32 = ECHO_TYPE_ID;
    type Msg = EchoMsg;
    type Reply = EchoMsg;

    fn create(_actor_id: u32) -> Self {
        Echo
    }

    fn handle(&mut self, ctx: &mut Context<'_, Self>, msg: EchoMsg) -> Result<(), Fault> {
        ctx.reply(&msg).map_err(|_| Fault(ECHO_FAULT_SEND))
    }
}

ringkernel_device::actor_kernel!(example_echo, Echo);

// ---------------------------------------------------------------------------
// Node: an actor of an actor system (K2K, spawning, names, topics, HLC)
// ---------------------------------------------------------------------------

/// Message type id of [`Node`].
pub const NODE_TYPE_ID: u32 = 0x4E4F_4445;
/// Words of data a [`NodeCmd`] carries.
pub const NODE_DATA_WORDS: usize = 12;
/// Children one [`NodeOp::SPAWN`] creates at most.
pub const NODE_MAX_SPAWN: usize = 8;

/// What a [`NodeCmd`] asks (`u32` newtype).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct NodeOp(u32);

impl NodeOp {
    /// Spawn `a` [`Counter`] children (at most [`NODE_MAX_SPAWN`]); reply
    /// with their ids.
    pub const SPAWN: Self = Self(1);
    /// Send `b` adds of 1 to counter `a` (K2K); reply with how many went
    /// (`n`) and how many found its inbox full (`code`).
    pub const FORWARD: Self = Self(2);
    /// Look up the name in `data` (`len` bytes) and send an add of `a` to
    /// the counter found; reply with its id (`n`), or code 1 if none.
    pub const LOOKUP_SEND: Self = Self(3);
    /// Publish an add of `a` to counters on the topic in `data` (`len`
    /// bytes); reply with how many got it (`n`).
    pub const PUBLISH: Self = Self(4);
    /// HLC relay: emit this node's stamp for hop `a`, then pass the relay
    /// to `data[a + 1]` if `a + 1 < len`.
    pub const RELAY: Self = Self(5);
    /// Fail (a handler fault).
    pub const CRASH: Self = Self(0xDEAD);

    /// The raw value.
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

/// A command to a [`Node`] (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct NodeCmd {
    /// [`NodeOp`] as `u32`.
    pub op: u32,
    /// First argument.
    pub a: u32,
    /// Second argument.
    pub b: u32,
    /// Bytes (names, topics) or words (relay chain) of `data` in use.
    pub len: u32,
    /// Ids or bytes.
    pub data: [u32; NODE_DATA_WORDS],
}

impl NodeCmd {
    /// A command without data.
    pub fn new(op: NodeOp, a: u32, b: u32) -> Self {
        Self { op: op.0, a, b, len: 0, data: [0; NODE_DATA_WORDS] }
    }

    /// A command carrying `text` (a name or a topic, at most 48 bytes).
    pub fn with_text(op: NodeOp, a: u32, text: &[u8]) -> Option<Self> {
        if text.len() > NODE_DATA_WORDS * 4 {
            return None;
        }
        let mut c = Self::new(op, a, 0);
        bytemuck::bytes_of_mut(&mut c.data)[..text.len()].copy_from_slice(text);
        c.len = text.len() as u32;
        Some(c)
    }

    /// A relay along `chain` (actor ids, at most 12), starting at hop 0.
    pub fn relay(chain: &[u32]) -> Option<Self> {
        if chain.is_empty() || chain.len() > NODE_DATA_WORDS {
            return None;
        }
        let mut c = Self::new(NodeOp::RELAY, 0, 0);
        c.data[..chain.len()].copy_from_slice(chain);
        c.len = chain.len() as u32;
        Some(c)
    }

    fn text(&self) -> &[u8] {
        let bytes = bytemuck::bytes_of(&self.data);
        &bytes[..(self.len as usize).min(bytes.len())]
    }
}

/// What a [`Node`] answers (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct NodeReply {
    /// 0, or what went wrong.
    pub code: u32,
    /// A count or an id.
    pub n: u32,
    /// Relay hop.
    pub hop: u32,
    /// This node's actor id.
    pub node: u32,
    /// HLC stamp: physical part.
    pub physical: u64,
    /// HLC stamp: logical part.
    pub logical: u32,
    /// Reserved, zero.
    pub _pad: u32,
    /// Spawned children.
    pub ids: [u32; NODE_MAX_SPAWN],
}

/// An actor for actor systems: spawns counters, talks to other actors on
/// the device (`send_to`), looks names up, publishes on topics, and relays
/// a message along a chain of nodes to show causal HLC order.
pub struct Node {
    spawned: u32,
}

impl Actor for Node {
    const TYPE_ID: u32 = NODE_TYPE_ID;
    type Msg = NodeCmd;
    type Reply = NodeReply;

    fn create(_actor_id: u32) -> Self {
        Node { spawned: 0 }
    }

    fn handle(&mut self, ctx: &mut Context<'_, Self>, cmd: NodeCmd) -> Result<(), Fault> {
        let mut r = NodeReply { node: ctx.actor_id(), ..Zeroable::zeroed() };
        match NodeOp(cmd.op) {
            NodeOp::SPAWN => {
                let want = (cmd.a as usize).min(NODE_MAX_SPAWN);
                for i in 0..want {
                    match ctx.spawn::<Counter>(ringkernel_device::ChildSpec::default()) {
                        Ok(id) => {
                            r.ids[i] = id;
                            r.n += 1;
                            self.spawned += 1;
                        }
                        Err(_) => {
                            r.code = 1;
                            break;
                        }
                    }
                }
            }
            NodeOp::FORWARD => {
                for _ in 0..cmd.b {
                    match ctx.send_to::<Counter>(cmd.a, &CounterCmd::add(1)) {
                        Ok(()) => r.n += 1,
                        Err(_) => r.code += 1,
                    }
                }
            }
            NodeOp::LOOKUP_SEND => match ctx.lookup(cmd.text()) {
                Ok(Some(id)) => {
                    r.n = id;
                    if ctx.send_to::<Counter>(id, &CounterCmd::add(cmd.a as u64)).is_err() {
                        r.code = 2;
                    }
                }
                Ok(None) => r.code = 1,
                Err(_) => r.code = 3,
            },
            NodeOp::PUBLISH => match ctx.publish::<Counter>(cmd.text(), &CounterCmd::add(cmd.a as u64)) {
                Ok(n) => r.n = n,
                Err(_) => r.code = 1,
            },
            NodeOp::RELAY => {
                let now = ctx.now();
                r.hop = cmd.a;
                r.physical = now.physical;
                r.logical = now.logical;
                let next = cmd.a as usize + 1;
                if next < (cmd.len as usize).min(NODE_DATA_WORDS) {
                    let mut fwd = cmd;
                    fwd.a = next as u32;
                    if ctx.send_to::<Node>(cmd.data[next], &fwd).is_err() {
                        r.code = 1;
                    }
                }
                // The stamp goes to the host as an output (a relay is not a
                // request).
                return ctx.emit(&r).map_err(|_| Fault(COUNTER_FAULT_SEND));
            }
            NodeOp::CRASH => return Err(Fault(COUNTER_FAULT_CRASH)),
            _ => return ctx.reply_error(COUNTER_ERROR_UNKNOWN_OP).map_err(|_| Fault(COUNTER_FAULT_SEND)),
        }
        ctx.reply(&r).map_err(|_| Fault(COUNTER_FAULT_SEND))
    }
}

ringkernel_device::actor_system!(
    /// Every example actor type in one actor system: `example_system`.
    pub struct ExampleSystem, entry = example_system, actors = [Hello, Counter, Echo, Node]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_text() {
        let g = Hello::greeting(3, b"World", 1);
        assert_eq!(g.as_str(), Ok("Hello, World! (actor 3, message #1)"));
        let g = Hello::greeting(4_000_000_000, b"x", u64::MAX);
        assert_eq!(g.as_str(), Ok("Hello, x! (actor 4000000000, message #18446744073709551615)"));
    }

    #[test]
    fn greeting_cuts_long_names() {
        let name = [b'a'; MAX_NAME_BYTES];
        let g = Hello::greeting(3, &name, 12);
        let s = g.as_str().unwrap();
        assert!(s.starts_with("Hello, aaaa"), "{s}");
        assert!(s.ends_with("! (actor 3, message #12)"), "{s}");
        assert_eq!(s.len(), GREETING_BYTES);
    }

    #[test]
    fn hello_request_rejects_long_names() {
        assert_eq!(HelloRequest::new(&"n".repeat(33)), Err(NameTooLong { len: 33 }));
        let r = HelloRequest::new("Ada").unwrap();
        assert_eq!(r.name_bytes(), b"Ada");
        let mut bad = r;
        bad.len = u32::MAX;
        assert_eq!(bad.name_bytes().len(), MAX_NAME_BYTES);
    }

    #[test]
    fn counter_op_codes_validated() {
        for op in [CounterOp::ADD, CounterOp::GET, CounterOp::RESET, CounterOp::CRASH] {
            assert_eq!(CounterOp::try_from(op.as_u32()), Ok(op));
        }
        assert_eq!(CounterOp::try_from(0), Err(0));
        assert_eq!(CounterOp::try_from(4), Err(4));
    }

    #[test]
    fn entries_named() {
        use ringkernel_device::KernelEntry;
        assert_eq!(Hello::ENTRY, "example_hello");
        assert_eq!(Counter::ENTRY, "example_counter");
        assert_eq!(Echo::ENTRY, "example_echo");
    }

    extern crate std;

    #[test]
    fn decimal_lengths() {
        for v in [0u64, 9, 10, 99, 100, 12345, u64::MAX] {
            assert_eq!(decimal_len(v), std::format!("{v}").len());
        }
    }
}
