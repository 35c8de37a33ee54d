//! The persistent actor loop.
//!
//! [`run_actor`] is the whole life of one actor incarnation. The same
//! function is the body of a GPU kernel ([`crate::actor_kernel!`]) and of a
//! CPU-backend thread.
//!
//! ```text
//! Initializing ─ create() ─▶ Active (auto-activate) or Deactivated
//! loop:
//!   commands   read control.command_seq every COMMAND_POLL_IDLE_ROUNDS
//!              idle rounds or COMMAND_POLL_BUSY_ROUNDS batches; apply
//!              through the shared state machine; ack
//!   Active /   take up to BATCH envelopes from the inbox:
//!   Draining     validate ─ bad ─▶ dead letter (+ error reply if a request)
//!                HLC receive, decode, handle, stamp and flush outputs
//!              one release fence, then publish the batch's outputs and
//!              release its inbox slots (relaxed stores)
//!   Draining + empty inbox ─▶ Terminated
//!   idle       heartbeat, back off (Platform::relax)
//! ```
//!
//! Host-visible counters (control block, telemetry) are written with relaxed
//! atomic stores every COUNTER_PUBLISH_BATCHES batches and once the actor
//! has been idle for COUNTER_PUBLISH_IDLE_ROUNDS polls, not per message: on the GPU each is a PCIe write, and
//! every pending write makes the next release fence wait longer.

use crate::actor::{Actor, Context, Outputs, SystemPort};
use crate::atomic::sys;
use crate::gang::GangLink;
use crate::platform::Platform;
use crate::queue::{Consumer, Producer, RawRing, WriterRing, lane_envelope};
use crate::system::{PendingRequest, SlotLink};
use core::marker::PhantomData;
use ringkernel_shared::checksum::checksum32;
use ringkernel_shared::control::{FLAG_AUTO_ACTIVATE, FLAG_RESTORE};
use ringkernel_shared::gang::GangControl;
use ringkernel_shared::snapshot::{
    RESTORE_ERROR_BASE, SNAPSHOT_HEADER_BYTES, STATUS_TOO_LARGE, STATUS_UNSUPPORTED, SnapshotHeader,
};
use ringkernel_shared::{
    Command, ControlBlock, DEAD_LETTER_TYPE_ID, DeadLetterRecord, Envelope, HlcTimestamp, LifecycleState, MessageFlags,
    PAYLOAD_BYTES, RingHeader, TelemetryBuffer,
};

/// Most envelopes handled between two release fences (one batch).
pub const BATCH: u32 = 64;
/// Envelopes copied from the inbox per peek (local memory on the GPU:
/// `PREFETCH * 128` bytes).
pub const PREFETCH: usize = 8;
/// While K2K messages keep an actor in a system busy and its host inbox is
/// empty, the host inbox is looked at every this many rounds.
pub const HOST_POLL_WHILE_K2K: u32 = 4;
/// Longest time between two heartbeats of an idle actor (10 ms); a busy one
/// beats when it publishes its counters. The host's stall detection
/// (`LaunchOptions::stall_timeout`) relies on it.
pub const HEARTBEAT_PERIOD_NS: u64 = 10_000_000;
/// Busy rounds (batches) between two command checks.
pub const COMMAND_POLL_BUSY_ROUNDS: u32 = 16;
/// Idle rounds between two command checks. Each check is a read of host
/// memory (about a microsecond from the GPU), so an idle actor does not make
/// one per poll of its inbox.
pub const COMMAND_POLL_IDLE_ROUNDS: u32 = 8;
/// Batches between two publications of the counters while busy.
pub const COUNTER_PUBLISH_BATCHES: u32 = 64;
/// Idle rounds after which counters not yet published are written.
pub const COUNTER_PUBLISH_IDLE_ROUNDS: u32 = 32;
/// `destination` of envelopes for the host (replies carry the requester's
/// id instead).
pub const HOST_DESTINATION: u32 = u32::MAX;
/// `last_error` / error-reply code: the payload is shorter than the
/// actor's message type.
pub const ERROR_PAYLOAD_TOO_SHORT: u32 = 8;
/// `last_error` code: the handler crashed (the fault code is in the error reply).
pub const ERROR_HANDLER_FAULT: u32 = 9;
/// Error-reply code: the actor stopped before answering.
pub const ERROR_ACTOR_STOPPED: u32 = 10;
/// `last_error` code: a command that is not valid in the slot's state
/// (e.g. `CREATE` for a live actor) was acknowledged and ignored.
pub const ERROR_BAD_COMMAND: u32 = 11;
/// `last_error` code: the actor failed because a child's supervisor gave
/// up (restart intensity exceeded) and escalated to it.
pub const ERROR_ESCALATED: u32 = 12;
/// `last_error` code: the slot was asked for an actor type its system does
/// not contain.
pub const ERROR_UNKNOWN_TYPE: u32 = 13;
/// Dead-letter reason: the host's recovery marked the envelope
/// [`MessageFlags::FAULTED`] (it may have crashed the previous
/// incarnation); it is not handled.
pub const ERROR_MESSAGE_FAULTED: u32 = 14;
/// `last_error` code: `Actor::restore` refused the checkpoint's state.
pub const ERROR_RESTORE_REFUSED: u32 = 15;
/// Most envelopes an incarnation takes from its host inbox before it
/// releases them (publishes `head`): a batch goes on while `n < BATCH`, and
/// one peek takes at most 32 (a warp's lanes; `PREFETCH` on the host). After
/// a crash, the host knows that every position below the published `head`
/// was handled completely, and that none at or after `head + MAX_UNRELEASED`
/// was taken.
pub const MAX_UNRELEASED: u64 = BATCH as u64 + 32;

/// How an incarnation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Terminated in order (stop, terminate, or a kill).
    Terminated,
    /// Failed (a handler fault, or an escalation).
    Failed,
    /// Asked to restart (by the host or a supervisor).
    Restart,
}

/// Validation of an inbound envelope for actor `A`: 0 when it may be
/// handled, else the error code ([`ringkernel_shared::EnvelopeError::code`] or
/// [`ERROR_PAYLOAD_TOO_SHORT`]) it is dead-lettered with.
#[inline]
pub fn verdict<A: Actor>(env: &Envelope) -> u32 {
    match env.validate_for(A::TYPE_ID) {
        Err(e) => e.code(),
        Ok(()) if (env.header.payload_len as usize) < core::mem::size_of::<A::Msg>() => ERROR_PAYLOAD_TOO_SHORT,
        Ok(()) if env.header.flags.has(MessageFlags::FAULTED) => ERROR_MESSAGE_FAULTED,
        Ok(()) => 0,
    }
}

/// Where an actor's shared structures are.
#[derive(Clone, Copy, Debug)]
pub struct ActorPointers {
    /// The control block.
    pub control: *mut ControlBlock,
    /// Inbound ring (this actor consumes it).
    pub inbox: *mut RingHeader,
    /// Outbound ring (this actor produces it).
    pub outbox: *mut RingHeader,
    /// Telemetry written once per batch.
    pub telemetry: *mut TelemetryBuffer,
}

// SAFETY: plain pointers to memory shared by design; see `run_actor`.
unsafe impl Send for ActorPointers {}

struct Loop<'s, A: Actor, P: Platform> {
    cb: *mut ControlBlock,
    /// The system slot this incarnation runs in, if any.
    sys: Option<&'s mut SlotLink<P>>,
    /// Set when a system request ends the incarnation.
    exit: Option<Exit>,
    /// The actor's gang, if its kernel has one.
    gang: Option<GangLink>,
    /// The control block's `FLAG_*` bits.
    flags: u32,
    /// When the heartbeat was last written (actor clock).
    last_beat: u64,
    tel_ptr: *mut TelemetryBuffer,
    inbox: Consumer<WriterRing<P>>,
    outbox: Producer<WriterRing<P>>,
    state: LifecycleState,
    ack: u32,
    actor_id: u32,
    hlc: HlcTimestamp,
    tel: TelemetryBuffer,
    cb_in: u64,
    cb_out: u64,
    cb_dead: u64,
    cb_fail: u64,
    outputs: Outputs,
    /// The snapshot region: offset from the control block (0: none) and
    /// state capacity.
    snap_off: u32,
    snap_cap: u32,
    /// A `SNAPSHOT` command taken but not yet answered (its seq).
    snap_pending: Option<u32>,
    /// The envelope being handled is a replay: write nothing for it.
    quiet: bool,
    _p: PhantomData<(A, P)>,
}

/// Raw pointer to a control-block field (`cb` is valid for the whole run,
/// by `run_actor`'s contract).
macro_rules! cb_field {
    ($self:ident, $f:ident) => {
        &raw mut (*$self.cb).$f
    };
}

impl<A: Actor, P: Platform> Loop<'_, A, P> {
    fn set_state(&mut self, to: LifecycleState) -> bool {
        match self.state.transition(to) {
            Ok(s) => {
                self.state = s;
                // Outputs already written become visible before the new
                // state does: a host that sees Failed or Terminated drains
                // the outbox and then fails what is still pending, so a
                // reply written before the change (e.g. the error reply of
                // a crashing request) must not arrive after it.
                if self.outbox.has_deferred() {
                    self.end_batch();
                }
                if P::is_writer() {
                    // SAFETY: see cb_field; the host only reads `state`.
                    unsafe { sys::store_release_u32(cb_field!(self, state), s.as_u32()) };
                }
                true
            }
            Err(_) => false,
        }
    }

    fn set_error(&mut self, code: u32) {
        if P::is_writer() {
            // SAFETY: see cb_field.
            unsafe { sys::store_relaxed_u32(cb_field!(self, last_error), code) };
        }
    }

    /// Go to Terminated from any live state (a kill).
    fn kill(&mut self) {
        if self.state != LifecycleState::DRAINING && !self.state.is_final() {
            self.set_state(LifecycleState::DRAINING);
        }
        self.set_state(LifecycleState::TERMINATED);
    }

    /// Apply what other actors of the system asked of this one.
    fn poll_pending(&mut self) -> bool {
        let Some(link) = self.sys.as_deref_mut() else { return false };
        match link.take_pending() {
            None => false,
            Some(PendingRequest::Kill) => {
                self.kill();
                true
            }
            Some(PendingRequest::Restart) => {
                self.exit = Some(Exit::Restart);
                true
            }
            Some(PendingRequest::Fail) => {
                self.set_error(ERROR_ESCALATED);
                self.cb_fail += 1;
                self.set_state(LifecycleState::FAILED);
                true
            }
        }
    }

    /// Apply a pending command, if any. Returns whether one was applied.
    fn poll_command(&mut self) -> bool {
        let pending = self.poll_pending();
        // SAFETY: see cb_field; the host writes command_seq atomically.
        let seq = unsafe { sys::load_relaxed_u32(cb_field!(self, command_seq)) };
        if seq == self.ack {
            return pending;
        }
        sys::fence_acquire();
        // SAFETY: written by the host before the release store of command_seq.
        let raw = unsafe { sys::load_relaxed_u32(cb_field!(self, command)) };
        match Command::try_from(raw) {
            Ok(Command::ACTIVATE) => {
                self.set_state(LifecycleState::ACTIVE);
            }
            Ok(Command::DEACTIVATE) => {
                self.set_state(LifecycleState::DEACTIVATED);
            }
            Ok(Command::TERMINATE) => {
                self.set_state(LifecycleState::DRAINING);
            }
            Ok(Command::KILL) => self.kill(),
            Ok(Command::RESTART) if self.sys.is_some() => self.exit = Some(Exit::Restart),
            Ok(Command::CREATE | Command::RESTART) => self.set_error(ERROR_BAD_COMMAND),
            Ok(Command::SNAPSHOT) => {
                // Written (and acknowledged) by the main loop between
                // batches, where it holds the actor.
                self.ack = seq;
                self.snap_pending = Some(seq);
                return true;
            }
            // Unknown or NONE: acknowledge and ignore; the host validates
            // commands before posting, so this is a foreign writer.
            _ => self.set_error(raw | 0x8000_0000),
        }
        self.ack = seq;
        if P::is_writer() {
            // SAFETY: see cb_field; the host waits on command_ack.
            unsafe { sys::store_release_u32(cb_field!(self, command_ack), seq) };
        }
        true
    }

    fn heartbeat(&mut self, now: u64) {
        self.last_beat = now;
        if P::is_writer() {
            // SAFETY: see cb_field.
            unsafe { sys::store_relaxed_u64(cb_field!(self, heartbeat_ns), now) };
        }
    }

    fn publish_counters(&mut self) {
        self.outbox.publish_tail();
        if !P::is_writer() {
            return;
        }
        let t = &self.tel;
        // SAFETY: cb and telemetry are valid (run_actor contract); the host
        // reads these words with atomic loads.
        unsafe {
            sys::store_relaxed_u64(cb_field!(self, messages_in), self.cb_in);
            sys::store_relaxed_u64(cb_field!(self, messages_out), self.cb_out);
            sys::store_relaxed_u64(cb_field!(self, dead_letters), self.cb_dead);
            sys::store_relaxed_u64(cb_field!(self, failures), self.cb_fail);
            let hlc = cb_field!(self, hlc);
            sys::store_relaxed_u64(&raw mut (*hlc).physical, self.hlc.physical);
            sys::store_relaxed_u32(&raw mut (*hlc).logical, self.hlc.logical);
            let tp = self.tel_ptr;
            sys::store_relaxed_u64(&raw mut (*tp).messages_processed, t.messages_processed);
            sys::store_relaxed_u64(&raw mut (*tp).messages_sent, t.messages_sent);
            sys::store_relaxed_u64(&raw mut (*tp).dead_letters, t.dead_letters);
            sys::store_relaxed_u64(&raw mut (*tp).queue_full_events, t.queue_full_events);
            sys::store_relaxed_u64(&raw mut (*tp).last_latency_ns, t.last_latency_ns);
            sys::store_relaxed_u64(&raw mut (*tp).max_latency_ns, t.max_latency_ns);
            sys::store_relaxed_u64(&raw mut (*tp).total_latency_ns, t.total_latency_ns);
            sys::store_relaxed_u32(&raw mut (*tp).errors, t.errors);
        }
    }

    /// Make everything this batch wrote visible: one release fence, then
    /// the sequence words of the deferred outputs and the inbox head as
    /// relaxed stores. On the GPU the fence is the expensive part (it waits
    /// for earlier writes to reach host memory), so it is paid once per batch.
    fn end_batch(&mut self) {
        self.outbox.fence_release();
        self.outbox.publish_deferred();
        self.inbox.release_after_fence();
    }

    /// Write one envelope to the outbox (made visible at the end of the
    /// batch), waiting while the outbox is full. A KILL posted meanwhile
    /// abandons the send (returns false).
    fn push_out(&mut self, env: &Envelope) -> bool {
        if self.quiet {
            // A replay: what it writes was delivered the first time.
            return true;
        }
        let mut rounds = 0u32;
        loop {
            if self.outbox.write_deferred(env).is_ok() {
                self.cb_out += 1;
                self.tel.messages_sent += 1;
                return true;
            }
            if rounds == 0 {
                self.tel.queue_full_events += 1;
                // Let the host see (and drain) what is already written.
                self.end_batch();
            }
            rounds = rounds.saturating_add(1);
            if rounds.is_multiple_of(64) && self.poll_command() && self.state == LifecycleState::TERMINATED {
                return false;
            }
            P::relax(rounds);
        }
    }

    fn error_reply(&mut self, req: &Envelope, code: u32) {
        if req.header.correlation_id == 0 {
            return;
        }
        let mut env = match Envelope::new(req.header.type_id, self.actor_id, req.header.source, &code.to_le_bytes()) {
            Ok(e) => e,
            Err(_) => return,
        };
        env.header.flags.0 |= MessageFlags::REPLY | MessageFlags::ERROR;
        env.header.correlation_id = req.header.correlation_id;
        env.header.hlc = self.hlc.tick(P::now_ns());
        self.push_out(&env);
    }

    // Rare: out of line, so that the message loop keeps its registers.
    #[cold]
    #[inline(never)]
    fn dead_letter(&mut self, env: &Envelope, code: u32) {
        self.cb_dead += 1;
        self.tel.dead_letters += 1;
        self.set_error(code);
        self.error_reply(env, code);
        // The host's dead-letter queue gets what was rejected, and why.
        let record = DeadLetterRecord::of(env, code);
        if let Ok(mut out) = Envelope::from_pod(DEAD_LETTER_TYPE_ID, self.actor_id, HOST_DESTINATION, &record) {
            out.header.flags.0 |= MessageFlags::DEAD_LETTER;
            out.header.hlc = self.hlc.tick(P::now_ns());
            self.push_out(&out);
        }
    }

    /// Handle one envelope taken from the inbox; `verdict` is what
    /// [`verdict`] said of it (computed beforehand, on the GPU by the lane
    /// that read the slot, in parallel with the other lanes).
    // Inlined into each loop that calls it: an out-of-line call per message
    // costs the GPU loop a stack frame and argument copies (measured: half
    // the pipelined throughput when two kernels shared one copy).
    #[inline(always)]
    fn process(&mut self, actor: &mut A, env: &Envelope, verdict: u32) {
        self.cb_in += 1;
        self.quiet = env.header.flags.has(MessageFlags::REPLAY);
        if verdict != 0 {
            self.dead_letter(env, verdict);
            return;
        }
        let Some(msg) = env.read_pod::<A::Msg>() else {
            self.dead_letter(env, ERROR_PAYLOAD_TOO_SHORT);
            return;
        };
        let now = P::now_ns();
        let stamp = self.hlc.receive(&env.header.hlc, now);
        self.outputs.clear();
        let mut ctx = Context::<A> {
            outputs: &mut self.outputs,
            actor_id: self.actor_id,
            source: env.header.source,
            correlation_id: env.header.correlation_id,
            now: stamp,
            clock: stamp,
            port: self.sys.as_deref().map(|l| &l.port as &dyn SystemPort),
            gang: self.gang.as_ref().map(GangLink::view::<P>),
            stop: false,
            replied: false,
            _actor: PhantomData,
        };
        let result = actor.handle(&mut ctx, msg);
        let (stop, replied, clock) = (ctx.stop, ctx.replied, ctx.clock);
        // K2K sends ticked the handler's copy of the clock.
        self.hlc = clock;
        let done = P::now_ns();
        for i in 0..self.outputs.len() {
            let stamp = self.hlc.tick(done);
            let out = self.outputs.get_mut(i);
            out.header.hlc = stamp;
            let out = *out;
            if !self.push_out(&out) {
                return;
            }
        }
        // Service time on the actor's own clock: the sender's stamp comes from
        // another clock (the host's, on the GPU backend), so `done - stamp`
        // would measure clock offset as much as latency.
        self.tel.record(done.saturating_sub(now));
        if let Err(fault) = result {
            self.cb_fail += 1;
            self.tel.errors += 1;
            self.set_error(ERROR_HANDLER_FAULT);
            if !replied {
                self.error_reply(env, fault.0);
            }
            self.set_state(LifecycleState::FAILED);
        } else if stop {
            self.kill();
        }
    }

    /// Whether the loop should go on serving.
    fn serving(&self) -> bool {
        self.exit.is_none() && (self.state == LifecycleState::ACTIVE || self.state == LifecycleState::DRAINING)
    }

    /// Take up to `limit` envelopes from the K2K inbox and handle them.
    /// Returns how many were taken.
    fn serve_k2k(&mut self, actor: &mut A, limit: u32) -> u32 {
        let mut n = 0;
        let mut mine = <Envelope as bytemuck::Zeroable>::zeroed();
        while n < limit && self.serving() {
            let Some(link) = self.sys.as_deref_mut() else { break };
            if P::LANES > 1 {
                // Lane l reads the l-th published slot; each lane checks its
                // own; the slots are freed as soon as they are copied.
                let k = link.k2k.peek_lanes::<P>(&mut mine);
                if k == 0 {
                    break;
                }
                let v_mine = if (P::lane() as usize) < k { verdict::<A>(&mine) } else { 0 };
                let mut done = 0;
                while done < k {
                    let env = lane_envelope::<P>(&mine, done);
                    let v = P::shuffle(v_mine as u64, done as u32) as u32;
                    done += 1;
                    self.process_outlined(actor, &env, v);
                    if !self.serving() {
                        break;
                    }
                }
                // Free what was handled; if the actor stopped early the rest
                // stays queued (for the next incarnation, or to be rejected).
                let Some(link) = self.sys.as_deref_mut() else { break };
                link.k2k.release_lanes::<P>(done);
                n += done as u32;
            } else {
                let Some(env) = link.k2k.pop(true) else { break };
                n += 1;
                let v = verdict::<A>(&env);
                self.process_outlined(actor, &env, v);
            }
        }
        n
    }

    /// [`Loop::process`] as a call of its own, for the K2K path: a second
    /// inlined copy in one loop needs more registers than the GPU has.
    #[inline(never)]
    fn process_outlined(&mut self, actor: &mut A, env: &Envelope, verdict: u32) {
        self.process(actor, env, verdict);
    }

    /// The snapshot region's header and state bytes (`None` without one).
    ///
    /// # Safety
    /// The control block's snapshot fields describe a region inside the
    /// actor's memory (the host's layout), valid for the whole run.
    unsafe fn snapshot_region(&self) -> Option<(*mut SnapshotHeader, *mut u8)> {
        if self.snap_off == 0 {
            return None;
        }
        // SAFETY: contract: `snap_off` bytes from the control block is the
        // region's 128-aligned header, followed by `snap_cap` state bytes.
        unsafe {
            let region = self.cb.cast::<u8>().add(self.snap_off as usize);
            Some((region.cast::<SnapshotHeader>(), region.add(SNAPSHOT_HEADER_BYTES)))
        }
    }

    /// Answer a `SNAPSHOT` command: write the state and the header into the
    /// snapshot region, then acknowledge. Called between batches (every
    /// envelope taken so far has had its effect on `actor`, and its outputs
    /// are published). Rare: out of line.
    #[cold]
    #[inline(never)]
    fn write_snapshot(&mut self, actor: &A) {
        let Some(seq) = self.snap_pending.take() else { return };
        if !P::is_writer() {
            return;
        }
        let mut h = SnapshotHeader::for_state(A::TYPE_ID, &[]);
        h.seq = u64::from(seq);
        h.messages_in = self.cb_in;
        h.messages_out = self.cb_out;
        h.dead_letters = self.cb_dead;
        h.failures = self.cb_fail;
        h.hlc = self.hlc;
        // SAFETY: run_actor's contract covers the snapshot fields of the
        // control block; the host reads the region only after the ack below
        // and writes it only while no incarnation runs.
        unsafe {
            match self.snapshot_region() {
                Some((header, data)) if A::SNAPSHOT_BYTES > 0 && A::SNAPSHOT_BYTES <= self.snap_cap as usize => {
                    let out = core::slice::from_raw_parts_mut(data, A::SNAPSHOT_BYTES);
                    let len = actor.snapshot(out);
                    if len > A::SNAPSHOT_BYTES {
                        h.status = STATUS_TOO_LARGE;
                    } else {
                        h.len = len as u32;
                        h.checksum = checksum32(&out[..len]);
                    }
                    header.write(h);
                }
                Some((header, _)) => {
                    h.status = STATUS_UNSUPPORTED;
                    header.write(h);
                }
                // No region: the host sees the ack with no header for it.
                None => {}
            }
            sys::store_release_u32(cb_field!(self, command_ack), seq);
        }
    }

    /// Restore `actor` from the snapshot region (an incarnation started as
    /// a recovery). Returns false, with `last_error` set, when the region
    /// does not hold a valid snapshot for this actor type or the actor
    /// refuses it. Rare: out of line.
    #[cold]
    #[inline(never)]
    fn restore(&mut self, actor: &mut A) -> bool {
        // SAFETY: as in `write_snapshot`; the host wrote the region before
        // the launch and does not touch it while the incarnation runs.
        let found = unsafe {
            self.snapshot_region().map(|(header, data)| {
                (header.read(), core::slice::from_raw_parts(data.cast_const(), self.snap_cap as usize))
            })
        };
        let Some((h, state)) = found else {
            self.set_error(RESTORE_ERROR_BASE);
            return false;
        };
        if let Err(e) = h.validate(A::TYPE_ID, state) {
            self.set_error(RESTORE_ERROR_BASE + e.code());
            return false;
        }
        if actor.restore(&state[..h.len as usize]).is_err() {
            self.set_error(ERROR_RESTORE_REFUSED);
            return false;
        }
        true
    }

    /// The incarnation is over for good: answer every request still queued
    /// (host inbox) with [`ERROR_ACTOR_STOPPED`] and, with `k2k_too`, drop
    /// what waits in the K2K inbox, counting both as dead letters, so that
    /// nothing sent to a stopped actor waits for an answer that cannot come.
    fn reject_queued(&mut self, prefetch: &mut [Envelope; PREFETCH], k2k_too: bool) {
        loop {
            let k = if P::LANES > 1 {
                self.inbox.peek_lanes::<P>(&mut prefetch[0], P::LANES)
            } else {
                self.inbox.peek_batch(prefetch)
            };
            if k == 0 {
                break;
            }
            for j in 0..k {
                let env = if P::LANES > 1 { lane_envelope::<P>(&prefetch[0], j) } else { prefetch[j] };
                self.inbox.consume(1);
                self.cb_in += 1;
                self.quiet = env.header.flags.has(MessageFlags::REPLAY);
                self.dead_letter(&env, ERROR_ACTOR_STOPPED);
            }
            self.end_batch();
        }
        while let Some(link) = self.sys.as_deref_mut().filter(|_| k2k_too) {
            if P::shuffle(link.k2k.ready() as u64, 0) == 0 {
                break;
            }
            let Some(env) = link.k2k.pop(P::is_writer()) else { break };
            self.cb_in += 1;
            self.quiet = false;
            self.dead_letter(&env, ERROR_ACTOR_STOPPED);
        }
    }
}

impl<'s, A: Actor, P: Platform> Loop<'s, A, P> {
    /// Attach to an actor's memory.
    ///
    /// # Safety
    /// As for [`run_actor`].
    #[inline(always)]
    unsafe fn attach(ptrs: ActorPointers, sys: Option<&'s mut SlotLink<P>>, gang: *mut GangControl) -> Self {
        let cb = ptrs.control;
        // SAFETY: `cb` is valid (contract); the host wrote these fields before
        // launch and does not change them during the run.
        let actor_id = unsafe { sys::load_relaxed_u32(&raw const (*cb).actor_id) };
        // SAFETY: as above.
        let (flags, ack, start_hlc, start_state, snap_off, snap_cap) = unsafe {
            (
                sys::load_relaxed_u32(&raw const (*cb).flags),
                sys::load_acquire_u32(&raw const (*cb).command_ack),
                HlcTimestamp {
                    physical: sys::load_relaxed_u64(&raw const (*cb).hlc.physical),
                    logical: sys::load_relaxed_u32(&raw const (*cb).hlc.logical),
                    node: actor_id,
                },
                sys::load_relaxed_u32(&raw const (*cb).state),
                sys::load_relaxed_u32(&raw const (*cb).snapshot_offset),
                sys::load_relaxed_u32(&raw const (*cb).snapshot_capacity),
            )
        };
        #[cfg(target_arch = "nvptx64")]
        if flags & ringkernel_shared::control::FLAG_PANIC_MARK != 0 && sys.is_none() {
            crate::arm_panic_mark(cb);
        }
        // SAFETY: ring contracts from this function's contract.
        let (inbox, outbox) = unsafe {
            (
                Consumer::attach(WriterRing::new(RawRing::new(ptrs.inbox))),
                Producer::attach(WriterRing::new(RawRing::new(ptrs.outbox))),
            )
        };
        let mut lp = Self {
            cb,
            sys,
            exit: None,
            // SAFETY: this function's contract.
            gang: unsafe { GangLink::attach(gang) },
            flags: 0,
            last_beat: 0,
            tel_ptr: ptrs.telemetry,
            inbox,
            outbox,
            state: LifecycleState::try_from(start_state).unwrap_or(LifecycleState::DORMANT),
            ack,
            actor_id,
            hlc: start_hlc,
            tel: TelemetryBuffer::default(),
            cb_in: 0,
            cb_out: 0,
            cb_dead: 0,
            cb_fail: 0,
            outputs: Outputs::new(),
            snap_off,
            snap_cap,
            snap_pending: None,
            quiet: false,
            _p: PhantomData,
        };
        // SAFETY: counters are ours while we run; resume from what a previous
        // incarnation published so they stay monotonic.
        unsafe {
            lp.cb_in = sys::load_relaxed_u64(&raw const (*cb).messages_in);
            lp.cb_out = sys::load_relaxed_u64(&raw const (*cb).messages_out);
            lp.cb_dead = sys::load_relaxed_u64(&raw const (*cb).dead_letters);
            lp.cb_fail = sys::load_relaxed_u64(&raw const (*cb).failures);
        }
        lp.flags = flags;
        lp
    }
}

/// Answer what is queued for a system slot that has no actor (see
/// `Loop::reject_queued`), publishing the counters.
///
/// # Safety
/// `link` is the slot's own, built by `run_slot`, and no incarnation runs.
pub(crate) unsafe fn reject_only<P: Platform>(link: &mut SlotLink<P>) {
    let ptrs = link.port.ptrs;
    // SAFETY: the slot's memory (contract); no handler runs.
    let mut lp = unsafe { Loop::<Nobody, P>::attach(ptrs, Some(link), core::ptr::null_mut()) };
    let mut prefetch = [<Envelope as bytemuck::Zeroable>::zeroed(); PREFETCH];
    lp.reject_queued(&mut prefetch, true);
    lp.end_batch();
    lp.publish_counters();
}

/// The actor type of [`reject_only`]'s loop, which handles nothing.
struct Nobody;

impl Actor for Nobody {
    const TYPE_ID: u32 = 0;
    type Msg = u8;
    type Reply = u8;
    fn create(_actor_id: u32) -> Self {
        Nobody
    }
    fn handle(&mut self, _ctx: &mut Context<'_, Self>, _msg: u8) -> Result<(), crate::actor::Fault> {
        Ok(())
    }
}

/// Run one actor incarnation until it is Terminated or Failed.
///
/// # Safety
/// * `ptrs.control` points to a [`ControlBlock`] and `ptrs.telemetry` to a
///   [`TelemetryBuffer`], both valid for the whole call; while it runs the
///   other side only writes `command`/`command_seq` and reads the rest.
/// * `ptrs.inbox` and `ptrs.outbox` point to rings laid out as
///   [`ringkernel_shared::ring`] describes, valid for the whole call; this
///   call is the only consumer of `inbox` and the only producer of `outbox`.
pub unsafe fn run_actor<A: Actor, P: Platform>(ptrs: ActorPointers) {
    // SAFETY: forwarded contract; no system, no gang.
    unsafe { run_incarnation::<A, P>(ptrs, None, None, false, core::ptr::null_mut()) };
}

/// [`run_actor`] for an actor with a gang of workers
/// ([`crate::gang`]) whose memory is at `gang`; when the loop ends the
/// workers are told to return.
///
/// # Safety
/// As for [`run_actor`], and `gang` is a gang memory laid out by the host
/// ([`ringkernel_shared::gang::GangLayout`]), valid for the whole call, whose
/// workers run [`crate::gang::run_worker`].
pub unsafe fn run_actor_with_gang<A: Actor, P: Platform>(ptrs: ActorPointers, gang: *mut GangControl) {
    // SAFETY: forwarded contract; no system.
    unsafe { run_incarnation::<A, P>(ptrs, None, None, false, gang) };
}

/// One incarnation, alone ([`run_actor`]) or in a system slot (`sys`).
/// `ack_seq`: a command (a system slot's `CREATE`) to acknowledge once the
/// actor is initialised. `reject_first`: answer what a previous actor of the
/// slot left queued before creating this one.
///
/// # Safety
/// As for [`run_actor`]; `sys`, when given, belongs to the slot whose
/// memory `ptrs` describes.
#[inline(always)]
pub(crate) unsafe fn run_incarnation<A: Actor, P: Platform>(
    ptrs: ActorPointers,
    sys: Option<&mut SlotLink<P>>,
    ack_seq: Option<u32>,
    reject_first: bool,
    gang: *mut GangControl,
) -> Exit {
    const { assert!(core::mem::size_of::<A::Msg>() <= PAYLOAD_BYTES, "Actor::Msg is larger than 64 bytes") };
    const { assert!(core::mem::size_of::<A::Reply>() <= PAYLOAD_BYTES, "Actor::Reply is larger than 64 bytes") };
    // SAFETY: forwarded contract.
    let mut lp = unsafe { Loop::<A, P>::attach(ptrs, sys, gang) };
    let flags = lp.flags;
    let (cb, actor_id) = (lp.cb, lp.actor_id);
    let mut prefetch = [<Envelope as bytemuck::Zeroable>::zeroed(); PREFETCH];
    if reject_first {
        // Host inbox only: the host sends nothing to a Dormant slot, so what
        // is there raced with the previous actor's stop. K2K messages sent
        // to a Dormant slot are for the actor being created (e.g. its
        // spawner's first messages) and stay.
        lp.reject_queued(&mut prefetch, false);
    }
    if !lp.set_state(LifecycleState::INITIALIZING) {
        // Not launchable from this state (e.g. already Terminated).
        return Exit::Terminated;
    }
    let mut actor = A::create(actor_id);
    if flags & FLAG_RESTORE != 0 && !lp.restore(&mut actor) {
        lp.set_state(LifecycleState::FAILED);
        lp.publish_counters();
        return Exit::Failed;
    }
    let first = if flags & FLAG_AUTO_ACTIVATE != 0 { LifecycleState::ACTIVE } else { LifecycleState::DEACTIVATED };
    lp.set_state(first);
    if let Some(seq) = ack_seq {
        lp.ack = seq;
        if P::is_writer() {
            // SAFETY: see cb_field; the host waits on command_ack.
            unsafe { sys::store_release_u32(&raw mut (*cb).command_ack, seq) };
        }
    }
    lp.heartbeat(P::now_ns());

    // The first round looks at commands (busy_rounds starts at the cadence).
    let mut idle_rounds = 0u32;
    let mut busy_rounds = COMMAND_POLL_BUSY_ROUNDS;
    let mut batches_unpublished = 0u32;
    // Rounds left before the host inbox is looked at again (K2K busy).
    let mut host_skip = 0u32;
    // Lanes that probe the inbox: one while idle, all after a hit.
    let mut probe = 1u32;
    loop {
        // `idle_rounds` is 0 after a busy round: only the busy cadence
        // applies then (checking `0 % IDLE` would poll after every batch,
        // one more PCIe read per round).
        if (idle_rounds > 0 && idle_rounds.is_multiple_of(COMMAND_POLL_IDLE_ROUNDS))
            || busy_rounds >= COMMAND_POLL_BUSY_ROUNDS
        {
            busy_rounds = 0;
            lp.poll_command();
        }
        if lp.snap_pending.is_some() {
            lp.write_snapshot(&actor);
        }
        let serving = lp.serving();
        if lp.state.is_final() || lp.exit.is_some() {
            break;
        }
        let mut n = 0;
        if serving {
            // A batch goes on only while peeks come back full: after a
            // partial one the inbox is (nearly) empty, and ending the batch
            // at once publishes the replies one PCIe read earlier.
            // While K2K traffic keeps the actor busy and the host inbox was
            // empty, look at the host inbox (a PCIe read) every
            // HOST_POLL_WHILE_K2K rounds only.
            'batch: while n < BATCH && host_skip == 0 {
                if P::LANES > 1 {
                    // Warp: lane l reads the l-th ready slot; every lane
                    // then handles each message in order.
                    let k = lp.inbox.peek_lanes::<P>(&mut prefetch[0], probe);
                    if k == 0 {
                        probe = 1;
                        break;
                    }
                    probe = P::LANES;
                    // Each lane checks the slot it read, all at once.
                    let mine = if (P::lane() as usize) < k { verdict::<A>(&prefetch[0]) } else { 0 };
                    for j in 0..k {
                        let env = lane_envelope::<P>(&prefetch[0], j);
                        let v = P::shuffle(mine as u64, j as u32) as u32;
                        lp.inbox.consume(1);
                        n += 1;
                        lp.process(&mut actor, &env, v);
                        if !lp.serving() {
                            break 'batch;
                        }
                    }
                    if k < P::LANES as usize {
                        break;
                    }
                } else {
                    let k = lp.inbox.peek_batch(&mut prefetch);
                    if k == 0 {
                        break;
                    }
                    for env in &prefetch[..k] {
                        lp.inbox.consume(1);
                        n += 1;
                        lp.process(&mut actor, env, verdict::<A>(env));
                        if !lp.serving() {
                            // Stopped or failed: what is still queued stays
                            // in the ring for the next incarnation (or the host).
                            break 'batch;
                        }
                    }
                    if k < PREFETCH {
                        break;
                    }
                }
            }
            if lp.sys.is_some() {
                let from_host = n;
                let from_k2k = lp.serve_k2k(&mut actor, BATCH);
                n += from_k2k;
                host_skip = if host_skip > 0 {
                    host_skip - 1
                } else if from_host == 0 && from_k2k > 0 {
                    HOST_POLL_WHILE_K2K - 1
                } else {
                    0
                };
                if from_k2k == 0 {
                    host_skip = 0;
                }
            }
        }
        if n > 0 {
            lp.end_batch();
            idle_rounds = 0;
            busy_rounds += 1;
            batches_unpublished += 1;
            if batches_unpublished >= COUNTER_PUBLISH_BATCHES {
                lp.publish_counters();
                // A busy actor beats too (the host's stall detection).
                lp.heartbeat(P::now_ns());
                batches_unpublished = 0;
            }
        } else {
            if lp.state == LifecycleState::DRAINING {
                lp.set_state(LifecycleState::TERMINATED);
                break;
            }
            // Counters and heartbeat are written once the actor has been
            // idle for a while, not on the round-trip path: every pending
            // write to host memory makes the next release fence wait.
            if batches_unpublished > 0 && idle_rounds >= COUNTER_PUBLISH_IDLE_ROUNDS {
                lp.publish_counters();
                batches_unpublished = 0;
            }
            let now = P::now_ns();
            if now.wrapping_sub(lp.last_beat) >= HEARTBEAT_PERIOD_NS {
                lp.heartbeat(now);
            }
            idle_rounds = idle_rounds.wrapping_add(1).max(1);
            P::relax(idle_rounds);
        }
    }
    lp.end_batch();
    if lp.sys.is_some() && lp.state == LifecycleState::TERMINATED {
        lp.reject_queued(&mut prefetch, true);
    }
    lp.publish_counters();
    lp.heartbeat(P::now_ns());
    if let Some(g) = &lp.gang {
        g.shutdown::<P>();
    }
    match lp.exit {
        Some(e) => e,
        None if lp.state == LifecycleState::FAILED => Exit::Failed,
        None => Exit::Terminated,
    }
}
