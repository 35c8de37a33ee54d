//! Recovery: an actor whose execution crashes is started again from its
//! last checkpoint, and no message it had accepted is silently lost.
//!
//! [`LaunchOptions::recovery`](crate::LaunchOptions::recovery) with
//! [`RecoveryPolicy::restart`] turns it on for one actor. What counts as a
//! crash is a fault of the execution itself: a panic of the CPU backend's
//! actor thread, or a GPU kernel that traps or faults (a sticky CUDA error;
//! on CUDA such an actor runs in a worker process of its own, see
//! [`crate::cuda::isolated`]). A handler that returns `Err(Fault)` is the
//! actor's own, orderly report: it goes to Failed as without a policy.
//!
//! ## What the host keeps
//!
//! * **A replay log**: a copy of every envelope written into the actor's
//!   inbox since the last checkpoint, in inbox order (bounded by
//!   [`RecoveryPolicy::replay_limit`]; see below).
//! * **The last checkpoint**, taken with
//!   [`KernelHandle::checkpoint`](crate::KernelHandle::checkpoint): the
//!   state and the inbox position `M` (`messages_in`) it includes. Taking one
//!   drops the log entries before `M`.
//!
//! ## What a recovery does
//!
//! The poller sees the fault (within a millisecond of the backend reporting
//! it), delivers every reply and output the crashed incarnation had
//! published, then reads the inbox `head` `H` the incarnation had published.
//! The loop publishes `head` only after the handlers of everything before it
//! returned and their outputs were published, and takes at most
//! [`MAX_UNRELEASED`] envelopes past it, so each logged envelope at position
//! `p` (from `M` to the producer's `tail`) falls in one of three classes:
//!
//! | position | what the crashed incarnation did with it | what the recovery does |
//! | --- | --- | --- |
//! | `M ≤ p < H` | handled it; its replies were delivered | replays it (flag `REPLAY`): handled again to rebuild the state, its replies and outputs not written again |
//! | `H ≤ p < H + MAX_UNRELEASED` | may have been handling it when it crashed (this is where the crashing message is) | fails it back (flag `FAULTED`): a request ends with [`RequestError::MessageFaulted`](crate::RequestError::MessageFaulted) at once, a fire-and-forget message becomes a dead letter (`ERROR_MESSAGE_FAULTED`) |
//! | `p ≥ H + MAX_UNRELEASED` | never took it | leaves it queued: the new incarnation handles it normally |
//!
//! The inbox is rebuilt from the log at the same positions (the actor's
//! `messages_in` is set back to `M`), the control block reset, the
//! checkpoint written into the snapshot region with `FLAG_RESTORE`, and a
//! new incarnation started on the same memory: it restores the state, then
//! works through the inbox. Entries that do not fit in the inbox wait in a
//! backlog the poller feeds in as room appears; new messages wait behind it
//! (`send` waits, `try_send` reports `Full`), so FIFO order holds.
//!
//! So after a recovery every request that was answered with success has
//! its effect in the state, and every request that was not answered is
//! either answered by the new incarnation or failed back.
//!
//! ## Limits
//!
//! * Replaying assumes handlers are deterministic (the GPU already needs
//!   that: see `Actor`).
//! * The log holds at most `replay_limit` envelopes; when a checkpoint is
//!   not taken in time, the oldest are dropped and their effects cannot be
//!   rebuilt after a crash: they are counted in
//!   [`HostStats::replay_lost`](crate::HostStats::replay_lost).
//! * Restarts are limited by an intensity (`max_restarts` within `window`);
//!   beyond it the actor fails as without a policy.

use crate::backend::{ActorProgram, BackendImpl};
use crate::checkpoint::Checkpoint;
use crate::sync::lock;
use ringkernel_device::atomic::sys;
use ringkernel_device::queue::{Producer, RawRing, RingMemory};
use ringkernel_shared::control::{FLAG_AUTO_ACTIVATE, FLAG_RESTORE};
use ringkernel_shared::snapshot::SnapshotHeader;
use ringkernel_shared::{Command, ENVELOPE_BYTES, Envelope, LifecycleState, MessageFlags, RingHeader};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use ringkernel_device::runtime::MAX_UNRELEASED;

/// What the runtime does when an actor's execution crashes. The default is
/// [`RecoveryPolicy::none`].
///
/// | policy | on a crash |
/// | --- | --- |
/// | [`none`](RecoveryPolicy::none) | the actor is Failed; pending requests fail with `ActorFailed` |
/// | [`restart`](RecoveryPolicy::restart) | a new incarnation from the last checkpoint, messages replayed or failed back (module docs); at most 3 restarts within 60 s, a replay log of 65 536 envelopes |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryPolicy {
    restart: bool,
    max_restarts: u32,
    window: Duration,
    replay_limit: usize,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

impl RecoveryPolicy {
    /// No recovery: a crash fails the actor.
    pub const fn none() -> Self {
        Self { restart: false, max_restarts: 0, window: Duration::ZERO, replay_limit: 0 }
    }

    /// Restart from the last checkpoint (see the module docs).
    pub const fn restart() -> Self {
        Self { restart: true, max_restarts: 3, window: Duration::from_secs(60), replay_limit: 1 << 16 }
    }

    /// At most `max_restarts` recoveries within any `window`; one more crash
    /// fails the actor.
    pub const fn intensity(mut self, max_restarts: u32, window: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.window = window;
        self
    }

    /// Most envelopes kept for replay since the last checkpoint (at least 1).
    pub const fn replay_limit(mut self, envelopes: usize) -> Self {
        self.replay_limit = if envelopes == 0 { 1 } else { envelopes };
        self
    }

    /// Whether this policy restarts.
    pub const fn is_restart(&self) -> bool {
        self.restart
    }
}

/// Where a logged envelope stands after a crash (module docs' table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Handled before the crash: handle again, write nothing.
    Replay,
    /// Perhaps being handled at the crash: fail back.
    InDoubt,
    /// Never taken: leave it.
    Untaken,
}

/// The class of inbox position `p` when the crashed incarnation had
/// published `head`.
pub(crate) fn classify(p: u64, head: u64) -> Class {
    if p < head {
        Class::Replay
    } else if p - head < MAX_UNRELEASED {
        Class::InDoubt
    } else {
        Class::Untaken
    }
}

/// The replay log and what goes with it (behind one mutex, taken after the
/// inbox producer's).
#[derive(Debug, Default)]
pub(crate) struct ReplayLog {
    /// Inbox position of `entries[0]`.
    pub base: u64,
    /// Every envelope written into the inbox from `base` on.
    pub entries: VecDeque<Envelope>,
    /// The last checkpoint.
    pub checkpoint: Option<Checkpoint>,
    /// Entries of a rebuilt inbox that did not fit yet, in order.
    pub backlog: VecDeque<Envelope>,
}

impl ReplayLog {
    /// Log the envelope just written at the next position.
    pub(crate) fn record(&mut self, env: &Envelope, limit: usize) {
        self.entries.push_back(*env);
        while self.entries.len() > limit {
            self.entries.pop_front();
            self.base += 1;
        }
    }

    /// A checkpoint including every position below `m` was taken.
    pub(crate) fn checkpointed(&mut self, c: Checkpoint) {
        let m = c.counters.messages_in;
        while self.base < m && self.entries.pop_front().is_some() {
            self.base += 1;
        }
        self.checkpoint = Some(c);
    }
}

/// An actor's recovery state (present when its policy restarts).
pub(crate) struct Recovery {
    pub policy: RecoveryPolicy,
    /// The backend that started the actor, to start it again.
    pub backend: Arc<dyn BackendImpl>,
    pub program: ActorProgram,
    pub log: Mutex<ReplayLog>,
    /// Recoveries started.
    pub recoveries: AtomicU64,
    /// From the fault's detection until the new incarnation is Active.
    pub recovering: AtomicBool,
    /// The rebuilt inbox has a backlog: new messages wait behind it.
    pub holding: AtomicBool,
    /// When each recent recovery started (restart intensity).
    restarts: Mutex<VecDeque<Instant>>,
    /// When the last fault was detected, and how long its recovery took
    /// until the new incarnation was Active.
    pub last: Mutex<Option<(Instant, Option<Duration>)>>,
}

impl Recovery {
    pub(crate) fn new(policy: RecoveryPolicy, backend: Arc<dyn BackendImpl>, program: ActorProgram) -> Self {
        Self {
            policy,
            backend,
            program,
            log: Mutex::new(ReplayLog::default()),
            recoveries: AtomicU64::new(0),
            recovering: AtomicBool::new(false),
            holding: AtomicBool::new(false),
            restarts: Mutex::new(VecDeque::new()),
            last: Mutex::new(None),
        }
    }

    /// Count a restart at `now` if the intensity allows one more.
    pub(crate) fn allow_restart(&self, now: Instant) -> bool {
        let mut r = lock(&self.restarts);
        while r.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.policy.window) {
            r.pop_front();
        }
        if r.len() >= self.policy.max_restarts as usize {
            return false;
        }
        r.push_back(now);
        true
    }

    /// Most envelopes the replay log keeps.
    pub(crate) fn policy_replay_limit(&self) -> usize {
        self.policy.replay_limit
    }

    /// Whether new messages must wait (a recovery is being set up, or its
    /// backlog is not in the inbox yet).
    pub(crate) fn holds_new_messages(&self) -> bool {
        self.holding.load(Ordering::Acquire)
    }
}

impl crate::actor::ActorShared {
    /// Poller: the actor stopped. If its execution crashed and its policy
    /// allows one more restart, recover it (module docs) and return true;
    /// the caller has delivered everything the crashed incarnation
    /// published, and `outbox_head` is the poller's next outbox position.
    pub(crate) fn try_recover(&self, outbox_head: u64) -> bool {
        let Some(r) = &self.recovery else { return false };
        if !r.policy.restart || self.is_closed() {
            return false;
        }
        let crashed = {
            let exec = self.exec();
            exec.poll_fault().is_some() && exec.is_finished()
        };
        if !crashed || !r.allow_restart(Instant::now()) {
            return false;
        }
        let detected = Instant::now();
        r.recovering.store(true, Ordering::Release);
        r.holding.store(true, Ordering::Release);
        *lock(&r.last) = Some((detected, None));
        // The crashed incarnation writes nothing more (it ended, or it is
        // trapping after marking a panic), so its published inbox `head` is
        // final: fail back what it may have been handling at once, before
        // the wait for the execution's end (a worker process whose context
        // trapped takes tens of milliseconds to go).
        let (start, failed_back) = self.classify_for_restart(r);
        for corr in failed_back {
            self.fail_back(corr);
        }
        // Join the crashed execution so nothing of it remains.
        let _ = self.exec().join(Duration::ZERO);
        self.rebuild_for_restart(r, outbox_head, start);
        self.faulted.store(false, Ordering::Release);
        r.recoveries.fetch_add(1, Ordering::AcqRel);
        match r.backend.start(&r.program, &self.mem, &self.opts) {
            Ok(exec) => {
                drop(self.replace_exec(exec));
                true
            }
            Err(_) => {
                // Nothing runs over the memory: the actor stays Failed.
                // SAFETY: the control block is valid; no execution runs.
                unsafe {
                    sys::store_release_u32(
                        &raw mut (*self.mem.control()).state,
                        ringkernel_shared::LifecycleState::FAILED.as_u32(),
                    )
                };
                r.recovering.store(false, Ordering::Release);
                r.holding.store(false, Ordering::Release);
                false
            }
        }
    }

    /// Mark the replay log for a restart (module docs' table) from the
    /// crashed incarnation's published inbox `head`; returns the inbox
    /// position the new incarnation starts at and the correlation ids of
    /// the requests to fail back.
    fn classify_for_restart(&self, r: &Recovery) -> (u64, Vec<u64>) {
        let mut log = lock(&r.log);
        let head = self.mem.inbox_ring().load_head();
        let m = log.checkpoint.as_ref().map_or(0, |c| c.counters.messages_in);
        let start = log.base.max(m);
        self.stats.replay_lost.fetch_add(start - m, Ordering::Relaxed);
        let mut failed = Vec::new();
        for (i, env) in log.entries.iter_mut().enumerate() {
            let flags = &mut env.header.flags.0;
            match classify(start + i as u64, head) {
                Class::Replay => *flags |= MessageFlags::REPLAY,
                Class::InDoubt if *flags & MessageFlags::FAULTED == 0 => {
                    *flags |= MessageFlags::FAULTED;
                    self.stats.messages_faulted.fetch_add(1, Ordering::Relaxed);
                    if env.header.correlation_id != 0 {
                        failed.push(std::mem::take(&mut env.header.correlation_id));
                    }
                }
                Class::InDoubt | Class::Untaken => {}
            }
        }
        (start, failed)
    }

    /// Rebuild inbox, outbox, control block and snapshot region for a new
    /// incarnation starting at inbox position `start`
    /// ([`Self::classify_for_restart`]).
    fn rebuild_for_restart(&self, r: &Recovery, outbox_head: u64, start: u64) {
        let mut producer = lock(&self.inbox);
        let mut log = lock(&r.log);
        let inbox = self.mem.inbox_ring();
        // SAFETY: no execution runs over the memory (the crashed one ended)
        // and the poller, which calls this, is the outbox's only consumer:
        // both rings are ours until the new incarnation starts.
        unsafe {
            reset_ring(&inbox, start, start);
            let outbox = self.mem.outbox_ring();
            reset_ring(&outbox, outbox_head, outbox_head);
        }
        // SAFETY: the inbox was just reset; this producer replaces the old one.
        *producer = unsafe { Producer::attach(self.mem.inbox_ring()) };
        let ReplayLog { entries, backlog, checkpoint, .. } = &mut *log;
        backlog.clear();
        for env in entries.iter() {
            if !backlog.is_empty() || producer.try_push(env).is_err() {
                backlog.push_back(*env);
            }
        }
        producer.publish_tail();
        r.holding.store(!backlog.is_empty(), Ordering::Release);
        let cb = self.mem.control();
        let restore = match (checkpoint.as_ref(), self.mem.snapshot_region()) {
            (Some(c), Some((header, data, cap))) if c.state.len() <= cap => {
                let mut h = SnapshotHeader::for_state(self.type_id, &c.state);
                h.messages_in = c.counters.messages_in;
                h.hlc = c.hlc;
                // SAFETY: the region is ours while no incarnation runs; it
                // holds `cap` bytes after the header.
                unsafe {
                    std::ptr::copy_nonoverlapping(c.state.as_ptr(), data, c.state.len());
                    header.write(h);
                }
                FLAG_RESTORE
            }
            _ => 0,
        };
        // SAFETY: the control block is valid; no incarnation runs, so the
        // host may write the loop's fields too. The new execution's start
        // (a thread spawn, a process start) orders these stores before it.
        unsafe {
            let seq = sys::load_relaxed_u32(&raw const (*cb).command_seq);
            sys::store_relaxed_u32(&raw mut (*cb).command, Command::NONE.as_u32());
            sys::store_relaxed_u32(&raw mut (*cb).command_ack, seq);
            sys::store_relaxed_u32(&raw mut (*cb).last_error, 0);
            sys::store_relaxed_u64(&raw mut (*cb).messages_in, start);
            sys::store_relaxed_u32(&raw mut (*cb).flags, FLAG_AUTO_ACTIVATE | restore);
            sys::store_release_u32(&raw mut (*cb).state, LifecycleState::DORMANT.as_u32());
        }
    }

    /// End a request a recovery failed back: its future gets
    /// [`RequestError::MessageFaulted`](crate::RequestError::MessageFaulted).
    fn fail_back(&self, corr: u64) {
        let Some(tx) = self.take_waiter(corr) else { return };
        let code = ringkernel_device::runtime::ERROR_MESSAGE_FAULTED;
        if let Ok(mut env) = Envelope::new(self.type_id, self.id, crate::HOST_NODE_ID, &code.to_le_bytes()) {
            env.header.flags.0 |= MessageFlags::REPLY | MessageFlags::ERROR | MessageFlags::FAULTED;
            env.header.correlation_id = corr;
            let _ = tx.send(env);
        }
    }

    /// Poller, each visit of a recoverable actor: move backlog entries into
    /// the inbox as room appears, and end the recovery once the new
    /// incarnation is serving. Returns whether senders should be woken.
    pub(crate) fn recovery_step(&self) -> bool {
        let Some(r) = &self.recovery else { return false };
        let mut wake = false;
        if r.holding.load(Ordering::Acquire) {
            let mut producer = lock(&self.inbox);
            let mut log = lock(&r.log);
            while let Some(env) = log.backlog.front() {
                if producer.try_push(env).is_err() {
                    break;
                }
                log.backlog.pop_front();
            }
            producer.publish_tail();
            if log.backlog.is_empty() {
                r.holding.store(false, Ordering::Release);
                wake = true;
            }
            drop((log, producer));
            self.exec().wake();
        }
        if r.recovering.load(Ordering::Acquire) {
            let state = self.state();
            if state == LifecycleState::ACTIVE || state == LifecycleState::DEACTIVATED {
                r.recovering.store(false, Ordering::Release);
                if let Some((at, took)) = lock(&r.last).as_mut() {
                    *took = Some(at.elapsed());
                }
                wake = true;
            }
        }
        wake
    }
}

/// Empty a ring (every slot zeroed: sequence 0 is never ready) and set its
/// `head` and `tail`.
///
/// # Safety
/// Neither side of the ring runs.
unsafe fn reset_ring(ring: &RawRing, head: u64, tail: u64) {
    let h = ring.header();
    // SAFETY: the header is valid and followed by `capacity` slots of
    // ENVELOPE_BYTES (ringkernel_shared::ring); nobody else touches them.
    unsafe {
        let cap = (*h).capacity as usize;
        let slots = h.cast::<u8>().add(size_of::<RingHeader>());
        std::ptr::write_bytes(slots, 0, cap * ENVELOPE_BYTES);
        sys::store_relaxed_u64(&raw mut (*h).head, head);
        sys::store_release_u64(&raw mut (*h).tail, tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringkernel_shared::Envelope;

    #[test]
    fn classes_follow_the_published_head() {
        assert_eq!(classify(9, 10), Class::Replay);
        assert_eq!(classify(10, 10), Class::InDoubt);
        assert_eq!(classify(10 + MAX_UNRELEASED - 1, 10), Class::InDoubt);
        assert_eq!(classify(10 + MAX_UNRELEASED, 10), Class::Untaken);
    }

    #[test]
    fn log_is_bounded_and_trimmed_by_checkpoints() {
        let mut log = ReplayLog::default();
        let env = |n: u8| Envelope::new(1, 2, 3, &[n]).unwrap();
        for n in 0..10 {
            log.record(&env(n), 8);
        }
        assert_eq!((log.base, log.entries.len()), (2, 8), "the two oldest were dropped");
        let mut c = Checkpoint::default();
        c.counters.messages_in = 5;
        log.checkpointed(c);
        assert_eq!((log.base, log.entries.len()), (5, 5));
        assert_eq!(log.entries[0].payload(), &[5]);
    }

    #[test]
    fn intensity_limits_restarts_in_the_window() {
        let cpu: Arc<dyn BackendImpl> = Arc::new(crate::backend::cpu::CpuBackend);
        let program = ActorProgram {
            entry: "x",
            cpu_entry: ringkernel_device::run_actor::<ringkernel_example_actors::Counter, crate::HostPlatform>,
            type_id: 1,
            actor_id: 1,
            gang: None,
        };
        let r = Recovery::new(RecoveryPolicy::restart().intensity(2, Duration::from_secs(10)), cpu, program);
        let t = Instant::now();
        assert!(r.allow_restart(t));
        assert!(r.allow_restart(t + Duration::from_secs(1)));
        assert!(!r.allow_restart(t + Duration::from_secs(2)), "a third within 10 s");
        assert!(r.allow_restart(t + Duration::from_secs(11)), "the first left the window");
    }
}
