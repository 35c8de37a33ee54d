//! Overload on every backend (`cpu::` and `cuda::`): ten times more messages
//! offered at once than the inbox holds, for a sustained period, with none
//! lost, none duplicated, none reordered within a sender, and no deadlock.
//!
//! ## The load
//!
//! [`SENDERS`] sender tasks (10 × [`INBOX`]) each hold one message at all
//! times, so 10 × the inbox capacity is waiting to enter a 16-slot inbox for
//! [`LOAD_PERIOD`]. Each sender numbers its messages 0, 1, 2, … and picks the
//! way in by that number ([`Way::of`]):
//!
//! | `seq % 4` | way in | on a full inbox |
//! | --- | --- | --- |
//! | 0 | `try_send` | the message is handed back; the sender retries *that* message |
//! | 1, 2 | `send` | waits for room |
//! | 3 | `send_request` | waits for room; the reply is awaited before the next request |
//!
//! ## What is checked
//!
//! * Outputs (replies to `try_send`/`send` messages, read from the output
//!   stream with backpressure, so the host drops none): for every sender,
//!   exactly the non-request sequence numbers, in order — a lost message is
//!   a gap, a duplicate a repeat, and either fails at once with the sender
//!   and number. Each echo also carries a check word and filler that must
//!   come back intact.
//! * Replies: every request's reply is the request's own 64 bytes.
//! * Totals: outputs + replies = messages sent; the actor's counters agree
//!   after `terminate` (nothing in, out or dead-lettered beyond that).
//! * Overload really happened: `try_send` found the inbox full (else the
//!   test proves nothing and fails).
//! * No deadlock: the whole body runs under [`DEADLINE`]; on expiry the test
//!   fails with what each side had done by then.

mod common;

use common::runtime;
use ringkernel::{Backend, KernelHandle, LaunchOptions, SendError};
use ringkernel_example_actors::{Echo, EchoMsg};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Inbox slots of the actor under load.
const INBOX: u32 = 16;
/// Concurrent senders: each always holds one message, so 10 × [`INBOX`]
/// messages are offered at once.
const SENDERS: u64 = 10 * INBOX as u64;
/// How long the senders keep the load on.
const LOAD_PERIOD: Duration = Duration::from_secs(3);
/// The whole test, load and checks, must finish within this (else: deadlock).
const DEADLINE: Duration = Duration::from_secs(60);
/// Consecutive `Full`s after which a `try_send` sender sleeps between
/// retries instead of yielding, so 80 retry loops do not starve the actor
/// and the poller on two cores.
const SPINS_BEFORE_SLEEP: u32 = 2;

/// How a sender's message with this sequence number goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    TrySend,
    Send,
    Request,
}

impl Way {
    fn of(seq: u64) -> Self {
        match seq % 4 {
            0 => Way::TrySend,
            3 => Way::Request,
            _ => Way::Send,
        }
    }
}

/// Sender `s`'s message number `seq`: both, a check word, and filler.
fn message(s: u64, seq: u64) -> EchoMsg {
    let check = (s << 40 ^ seq).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    [s, seq, check, 0xA5A5_A5A5_A5A5_A5A5, !seq, s * 3, seq.rotate_left(17), !check]
}

/// What one sender did.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    /// Messages queued (all ways), i.e. the sender's next sequence number.
    total: u64,
    /// Of those, requests (their replies were checked by the sender).
    requests: u64,
    /// `try_send` calls refused with `Full` (each followed by a retry).
    full: u64,
}

/// Progress counters shared with the deadline report.
#[derive(Default)]
struct Progress {
    sent: AtomicU64,
    outputs: AtomicU64,
    replies: AtomicU64,
}

async fn sender(h: KernelHandle<Echo>, s: u64, stop_at: Instant, progress: Arc<Progress>) -> Sent {
    let mut done = Sent::default();
    while Instant::now() < stop_at {
        let seq = done.total;
        let msg = message(s, seq);
        match Way::of(seq) {
            Way::TrySend => {
                let mut m = msg;
                let mut spins = 0u32;
                loop {
                    match h.try_send(m) {
                        Ok(()) => break,
                        Err(SendError::Full(back)) => {
                            assert_eq!(back, msg, "sender {s}: `Full` must hand back the same message");
                            m = back;
                            done.full += 1;
                            spins += 1;
                            if spins < SPINS_BEFORE_SLEEP {
                                tokio::task::yield_now().await;
                            } else {
                                tokio::time::sleep(Duration::from_micros(200)).await;
                            }
                        }
                        Err(e) => panic!("sender {s}, message {seq}: try_send failed with {e:?}"),
                    }
                }
            }
            Way::Send => {
                if let Err(e) = h.send(msg).await {
                    panic!("sender {s}, message {seq}: send failed with {e:?}");
                }
            }
            Way::Request => {
                let pending = match h.send_request(msg).await {
                    Ok(p) => p,
                    Err(e) => panic!("sender {s}, message {seq}: send_request failed with {e:?}"),
                };
                // Counted as sent before the reply comes, so the deadline
                // report shows it if the reply never does.
                progress.sent.fetch_add(1, Ordering::Relaxed);
                done.total += 1;
                done.requests += 1;
                match pending.await {
                    Ok(reply) => assert_eq!(reply, msg, "sender {s}, message {seq}: the reply is the request's echo"),
                    Err(e) => panic!("sender {s}, message {seq}: request failed with {e:?}"),
                }
                progress.replies.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        progress.sent.fetch_add(1, Ordering::Relaxed);
        done.total += 1;
    }
    done
}

/// Reads outputs until every sender's messages (`totals`, known once the
/// senders are done) have come back, checking each against its sender's
/// next expected non-request number.
async fn check_outputs(
    mut outputs: ringkernel::OutputStream<Echo>,
    mut totals: tokio::sync::oneshot::Receiver<Vec<u64>>,
    progress: Arc<Progress>,
) -> u64 {
    let mut next = vec![0u64; SENDERS as usize];
    // Skips the request numbers: their echoes are replies, not outputs.
    let advance = |seq: u64| {
        let mut n = seq + 1;
        while Way::of(n) == Way::Request {
            n += 1;
        }
        n
    };
    let mut received = 0u64;
    let mut expected_totals: Option<Vec<u64>> = None;
    loop {
        if let Some(t) = &expected_totals
            && next.iter().zip(t).all(|(&n, &total)| n >= total)
        {
            break;
        }
        let m = tokio::select! {
            m = outputs.next() => m.expect("the output stream ended while messages were outstanding"),
            t = &mut totals, if expected_totals.is_none() => {
                let t = t.expect("the senders' totals");
                // A sender's `next` may still point at a number it never sent.
                expected_totals = Some(t);
                continue;
            }
        };
        let (s, seq) = (m[0], m[1]);
        assert!(s < SENDERS, "output from unknown sender {s}: {m:?}");
        let want = next[s as usize];
        assert!(seq >= want, "sender {s}: message {seq} came back twice or out of order (expected {want})");
        assert_eq!(seq, want, "sender {s}: message {want} was lost (the next one back was {seq})");
        assert_eq!(m, message(s, seq), "sender {s}, message {seq}: the echo is not what was sent");
        next[s as usize] = advance(seq);
        received += 1;
        progress.outputs.fetch_add(1, Ordering::Relaxed);
    }
    received
}

/// The number of outputs (non-request messages) among `0..total`.
fn outputs_among(total: u64) -> u64 {
    (0..total).filter(|&seq| Way::of(seq) != Way::Request).count() as u64
}

common::backend_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overload_10x_inbox_no_loss_no_duplication_no_deadlock(backend: Backend) {
        let progress = Arc::new(Progress::default());
        let body = {
            let progress = Arc::clone(&progress);
            async move {
                let rk = runtime(backend).await;
                let opts = LaunchOptions::default().inbox_capacity(INBOX).outbox_capacity(64).output_capacity(256);
                let echo = rk.launch::<Echo>("overloaded", opts).await.unwrap();
                let (totals_tx, totals_rx) = tokio::sync::oneshot::channel();
                let checker = tokio::spawn(check_outputs(echo.outputs(), totals_rx, Arc::clone(&progress)));

                let start = Instant::now();
                let stop_at = start + LOAD_PERIOD;
                let senders: Vec<_> = (0..SENDERS)
                    .map(|s| tokio::spawn(sender(echo.clone(), s, stop_at, Arc::clone(&progress))))
                    .collect();
                let mut sent = Vec::with_capacity(senders.len());
                for t in senders {
                    sent.push(t.await.expect("a sender panicked"));
                }
                let load_time = start.elapsed();
                totals_tx.send(sent.iter().map(|d| d.total).collect()).unwrap();
                let outputs = checker.await.expect("the output checker panicked");
                let drained = start.elapsed();

                let total: u64 = sent.iter().map(|d| d.total).sum();
                let requests: u64 = sent.iter().map(|d| d.requests).sum();
                let full: u64 = sent.iter().map(|d| d.full).sum();
                assert_eq!(outputs, sent.iter().map(|d| outputs_among(d.total)).sum::<u64>());
                assert_eq!(outputs + requests, total, "every message came back once, as an output or a reply");
                let by_way = |way: Way| sent.iter().map(|d| (0..d.total).filter(|&q| Way::of(q) == way).count()).sum::<usize>();
                let (try_sends, sends) = (by_way(Way::TrySend), by_way(Way::Send));
                assert!(
                    try_sends > 0 && sends > 0 && requests > 0,
                    "every way in was used: {try_sends} try_send, {sends} send, {requests} send_request"
                );
                let per_sender = (sent.iter().map(|d| d.total).min().unwrap(), sent.iter().map(|d| d.total).max().unwrap());
                assert!(
                    full > 0,
                    "try_send never found the inbox full: the load was not an overload ({total} messages)"
                );

                let stats = echo.host_stats();
                assert_eq!((stats.outputs_dropped, stats.rejected), (0, 0), "{stats:?}");
                assert_eq!((stats.replies, stats.replies_discarded), (requests, 0), "{stats:?}");
                assert!(stats.inbox_full >= full, "the runtime counts every Full a try_send saw (and each wait of a send): {stats:?}");
                echo.terminate().await.unwrap();
                let snap = echo.control_snapshot();
                assert_eq!((snap.messages_in, snap.messages_out, snap.dead_letters), (total, total, 0), "{snap:?}");
                assert_eq!(snap.failures, 0, "{snap:?}");
                rk.shutdown().await.unwrap();

                eprintln!(
                    "{backend:?}: {SENDERS} senders on a {INBOX}-slot inbox for {load_time:.2?} (drained at \
                     {drained:.2?}): {total} messages ({outputs} outputs, {requests} requests), {:.0} msg/s, \
                     {try_sends} by try_send (found the inbox full {full} times), {sends} by send; per sender \
                     {} to {}",
                    total as f64 / drained.as_secs_f64(),
                    per_sender.0,
                    per_sender.1,
                );
            }
        };
        if tokio::time::timeout(DEADLINE, body).await.is_err() {
            panic!(
                "deadlock: the overload test did not finish within {DEADLINE:?}; by then {} messages were sent, \
                 {} outputs and {} replies had come back",
                progress.sent.load(Ordering::Relaxed),
                progress.outputs.load(Ordering::Relaxed),
                progress.replies.load(Ordering::Relaxed),
            );
        }
    }
}
