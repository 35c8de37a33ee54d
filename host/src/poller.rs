//! The poller: one host thread per runtime that reads every actor's outbox.
//!
//! Replies and outputs cross from an actor to the host through its K2H ring
//! (the outbox). One dedicated thread — not a busy loop inside Tokio tasks —
//! consumes all of them:
//!
//! ```text
//! loop:
//!   take newly launched actors from the registration channel
//!   for each actor:
//!     outbox: take up to 256 envelopes (16 per batch), validate each
//!             (Envelope::validate; rejects are counted), merge their HLC
//!             stamps into the host clock, then
//!               REPLY + correlation id -> complete that request (oneshot)
//!               OUTPUT                 -> the actor's output buffer
//!               DEAD_LETTER            -> the actor's dead-letter queue
//!               anything else          -> counted as rejected
//!             release the slots (one head store per batch)
//!     inbox:  if the actor consumed since last time, wake senders
//!             waiting for room
//!     health: state Terminated/Failed (or a backend fault, checked every
//!             millisecond) -> drain the outbox; an execution that crashed
//!             under a restarting recovery policy -> recover it
//!             (crate::recovery); otherwise fail every pending
//!             request with a typed error, end the output streams;
//!             a live actor whose heartbeat and message count did not
//!             move for its stall_timeout -> reported stalled
//!   back off when nothing happened
//! ```
//!
//! ## Back-off and its cost
//!
//! The poller uses the CPU actors' policy (`backend::cpu::backoff`): spin
//! for 16 idle rounds (~1 µs), yield until round 2048 (~1–2 ms, giving the
//! core to any runnable thread), then park with a timeout growing from 20 µs
//! to 200 µs. Every send and every command
//! *kicks* the poller (`PollerCtl::kick`: a flag store and an unpark), which
//! puts it back into the spinning phase so the reply to a request is picked
//! up within a microsecond or so of being written. A fully idle runtime
//! costs about 5 000 wake-ups per second, 1–2 % of one core.
//!
//! A request whose future was dropped has no waiter any more; its reply is
//! discarded and counted ([`HostStats::replies_discarded`](crate::HostStats)).

use crate::actor::{ActorShared, CloseReason};
use crate::backend::cpu::backoff;
use crate::clock::HostClock;
use crate::sync::lock;
use ringkernel_device::queue::{Consumer, RawRing, RingMemory};
use ringkernel_shared::{DEAD_LETTER_TYPE_ID, DeadLetterRecord, Envelope, HlcTimestamp, LifecycleState, MessageFlags};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Envelopes taken from one outbox per batch.
const BATCH: usize = 16;
/// Most envelopes taken from one outbox before moving to the next actor.
const PER_ACTOR_ROUND: usize = 256;
/// How often backend faults are checked (they may cost a driver call).
const HEALTH_PERIOD: Duration = Duration::from_millis(1);

/// A newly launched actor and the consumer end of its outbox.
pub(crate) struct Registration {
    pub actor: Arc<ActorShared>,
    pub outbox: Consumer<RawRing>,
}

/// Control of the poller thread, shared with everything that kicks it.
#[derive(Debug)]
pub(crate) struct PollerCtl {
    stop: AtomicBool,
    kicked: AtomicBool,
    thread: OnceLock<Thread>,
    register: Mutex<Option<Sender<Registration>>>,
}

impl PollerCtl {
    /// Wake the poller and put it back into its spinning phase: a reply or
    /// an output is probably coming.
    pub(crate) fn kick(&self) {
        if !self.kicked.load(Ordering::Relaxed) {
            self.kicked.store(true, Ordering::Release);
        }
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Hand a new actor to the poller. Fails (returning it) when the poller
    /// has stopped.
    pub(crate) fn register(&self, reg: Registration) -> Result<(), Registration> {
        let guard = lock(&self.register);
        match guard.as_ref() {
            Some(tx) => tx.send(reg).map_err(|e| e.0)?,
            None => return Err(reg),
        }
        drop(guard);
        self.kick();
        Ok(())
    }

    /// Ask the poller to stop after a final pass; later registrations fail.
    pub(crate) fn request_stop(&self) {
        lock(&self.register).take();
        self.stop.store(true, Ordering::Release);
        self.kick();
    }
}

/// Start the poller thread.
pub(crate) fn spawn(clock: Arc<HostClock>) -> std::io::Result<(Arc<PollerCtl>, thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let ctl = Arc::new(PollerCtl {
        stop: AtomicBool::new(false),
        kicked: AtomicBool::new(false),
        thread: OnceLock::new(),
        register: Mutex::new(Some(tx)),
    });
    let thread_ctl = Arc::clone(&ctl);
    let join = thread::Builder::new().name("rk-poller".to_owned()).spawn(move || run(&thread_ctl, &clock, rx))?;
    // Nothing else sets it; `set` fails only if already set.
    let _ = ctl.thread.set(join.thread().clone());
    Ok((ctl, join))
}

/// The poller's view of one actor. `actor` is declared last so that the
/// ring views drop before what may be the last reference to the memory.
struct Entry {
    outbox: Consumer<RawRing>,
    inbox: RawRing,
    last_inbox_head: u64,
    last_health: Instant,
    /// Heartbeat and messages taken at the last change, and when it was seen.
    last_progress: (u64, u64),
    progress_seen: Instant,
    actor: Arc<ActorShared>,
}

/// Buffers reused across visits (no per-visit memset or allocation).
struct Scratch {
    batch: Box<[Envelope; BATCH]>,
    outputs: Vec<Envelope>,
}

/// What one visit of an actor found.
#[derive(Default)]
struct Visit {
    /// Envelopes taken from the outbox.
    taken: usize,
    /// The actor is closed: drop the entry.
    done: bool,
}

impl Entry {
    fn new(reg: Registration) -> Self {
        let inbox = reg.actor.inbox_ring();
        let last_inbox_head = inbox.load_head();
        let now = Instant::now();
        Self {
            outbox: reg.outbox,
            inbox,
            last_inbox_head,
            last_health: now,
            last_progress: (0, 0),
            progress_seen: now,
            actor: reg.actor,
        }
    }

    /// Take envelopes from the outbox; `final_drain` ignores the output
    /// buffer's capacity (the actor has stopped; see `outputs`).
    fn drain_outbox(&mut self, clock: &HostClock, limit: usize, final_drain: bool, scratch: &mut Scratch) -> usize {
        let Scratch { batch: buf, outputs } = scratch;
        outputs.clear();
        let mut taken = 0;
        let mut newest: Option<HlcTimestamp> = None;
        while taken < limit {
            let want = match (final_drain, self.actor.outputs.room()) {
                (false, Some(room)) => room.min(BATCH),
                _ => BATCH,
            };
            if want == 0 {
                break;
            }
            let n = self.outbox.poll_batch(&mut buf[..want]);
            if n == 0 {
                break;
            }
            taken += n;
            for env in &buf[..n] {
                self.dispatch(env, outputs, &mut newest);
            }
            self.outbox.release();
            self.actor.outputs.push_batch(outputs);
            outputs.clear();
        }
        if let Some(stamp) = newest {
            clock.observe(&stamp);
        }
        taken
    }

    fn dispatch(&self, env: &Envelope, outputs: &mut Vec<Envelope>, newest: &mut Option<HlcTimestamp>) {
        let stats = &self.actor.stats;
        if env.validate().is_err() || env.header.source != self.actor.id {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if newest.is_none_or(|n| n.before(&env.header.hlc)) {
            *newest = Some(env.header.hlc);
        }
        let flags = env.header.flags;
        if flags.has(MessageFlags::REPLY) {
            // Outputs written before this reply become visible before its
            // requester wakes.
            self.actor.outputs.push_batch(outputs);
            outputs.clear();
            self.actor.complete(env.header.correlation_id, *env);
        } else if flags.has(MessageFlags::DEAD_LETTER) {
            match env.read_pod::<DeadLetterRecord>() {
                Some(record) if env.header.type_id == DEAD_LETTER_TYPE_ID => self.actor.push_dead_letter(record),
                _ => {
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                }
            }
        } else if flags.has(MessageFlags::OUTPUT) {
            outputs.push(*env);
        } else {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn visit(&mut self, clock: &HostClock, now: Instant, scratch: &mut Scratch) -> Visit {
        let mut visit = Visit { taken: self.drain_outbox(clock, PER_ACTOR_ROUND, false, scratch), done: false };
        let head = self.inbox.load_head();
        if head != self.last_inbox_head {
            self.last_inbox_head = head;
            self.actor.notify_space();
        }
        // A system slot lives as long as its launch, whatever its actors do.
        let mut stopped = self.actor.slot.is_none() && self.actor.state().is_final();
        if !stopped && now.saturating_duration_since(self.last_health) >= HEALTH_PERIOD {
            self.last_health = now;
            stopped = self.actor.check_execution();
            self.check_stall(now);
        }
        if stopped {
            // Everything the actor wrote before its final state store is
            // visible after the acquire load that saw it: drain it all, then
            // fail whatever is still pending.
            while self.drain_outbox(clock, usize::MAX, true, scratch) > 0 {}
            if self.actor.try_recover(self.outbox.head()) {
                // A new incarnation runs over the rebuilt rings.
                self.last_inbox_head = self.inbox.load_head();
                self.progress_seen = now;
                return visit;
            }
            self.actor.close(self.actor.stop_reason());
            visit.done = true;
        } else if self.actor.recovery.is_some() && self.actor.recovery_step() {
            self.actor.notify_space();
        }
        visit
    }

    /// Stall detection: a live actor whose heartbeat and message count both
    /// stayed the same for its `stall_timeout`.
    fn check_stall(&mut self, now: Instant) {
        let c = self.actor.control_block();
        let progress = (c.heartbeat_ns, c.messages_in);
        let stats = &self.actor.stats;
        if progress != self.last_progress {
            self.last_progress = progress;
            self.progress_seen = now;
            stats.stalled.store(false, Ordering::Release);
            return;
        }
        let state = self.actor.state();
        let live = state.accepts_messages() || state == LifecycleState::DRAINING;
        let quiet = now.saturating_duration_since(self.progress_seen) >= self.actor.opts.stall_timeout;
        if live && quiet && !stats.stalled.swap(true, Ordering::AcqRel) {
            stats.stalls.fetch_add(1, Ordering::Relaxed);
        } else if !live {
            stats.stalled.store(false, Ordering::Release);
        }
    }

    /// The runtime is stopping: deliver what is there and close.
    fn finish(&mut self, clock: &HostClock, scratch: &mut Scratch) {
        while self.drain_outbox(clock, usize::MAX, true, scratch) > 0 {}
        let reason = if self.actor.state().is_final() { self.actor.stop_reason() } else { CloseReason::ShutDown };
        self.actor.close(reason);
    }
}

fn run(ctl: &PollerCtl, clock: &HostClock, rx: Receiver<Registration>) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut scratch = Scratch {
        batch: Box::new([<Envelope as bytemuck::Zeroable>::zeroed(); BATCH]),
        outputs: Vec::with_capacity(BATCH),
    };
    let mut idle = 0u32;
    let mut disconnected = false;
    loop {
        while !disconnected {
            match rx.try_recv() {
                Ok(reg) => entries.push(Entry::new(reg)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => disconnected = true,
            }
        }
        if ctl.kicked.load(Ordering::Acquire) {
            ctl.kicked.store(false, Ordering::Relaxed);
            idle = 0;
        }
        if ctl.stop.load(Ordering::Acquire) {
            entries.iter_mut().for_each(|e| e.finish(clock, &mut scratch));
            return;
        }
        let now = Instant::now();
        let mut work = 0;
        entries.retain_mut(|e| {
            let v = e.visit(clock, now, &mut scratch);
            work += v.taken;
            !v.done
        });
        if work > 0 {
            idle = 0;
        } else {
            idle = idle.saturating_add(1);
            backoff(idle);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Backend, LaunchOptions, RingKernel};
    use ringkernel_device::queue::Producer;
    use ringkernel_example_actors::{COUNTER_TYPE_ID, Counter, CounterReply};
    use ringkernel_shared::{Envelope, MessageFlags};
    use std::time::Duration;

    /// Envelopes written by the actor's side are validated where the host
    /// receives them: bad ones are counted, good ones still delivered.
    #[tokio::test]
    async fn poller_validates_every_envelope_from_an_actor() {
        let rk = RingKernel::builder().backend(Backend::Cpu).build().await.unwrap();
        // Deactivated and never sent anything: it writes nothing to its
        // outbox, so this test may play its producer for a moment.
        let c = rk.launch::<Counter>("c", LaunchOptions::default().without_auto_activate()).await.unwrap();
        let mut out = c.outputs();
        let reply = CounterReply { total: 7, ops: 1 };
        let mut good = Envelope::from_pod(COUNTER_TYPE_ID, c.id(), crate::HOST_NODE_ID, &reply).unwrap();
        good.header.flags.0 |= MessageFlags::OUTPUT;
        let mut bad_magic = good;
        bad_magic.header.magic ^= 1;
        let mut bad_checksum = good;
        bad_checksum.payload[0] ^= 1;
        let mut foreign = good;
        foreign.header.source = c.id() + 100;
        let mut no_kind = good;
        no_kind.header.flags.0 &= !MessageFlags::OUTPUT;
        // SAFETY: the actor produces nothing while Deactivated with an empty
        // inbox, and it is killed before it could.
        let mut p = unsafe { Producer::attach(c.actor.outbox_ring()) };
        for env in [bad_magic, bad_checksum, foreign, no_kind, good] {
            p.try_push(&env).unwrap();
        }
        let got = tokio::time::timeout(Duration::from_secs(5), out.next()).await.unwrap();
        assert_eq!(got, Some(reply), "the valid output after the bad ones is delivered");
        assert_eq!(c.host_stats().rejected, 4);
        c.kill().await.unwrap();
        rk.shutdown().await.unwrap();
    }
}
