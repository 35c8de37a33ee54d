//! Faults survived: an actor whose execution crashes (a `trap` on the GPU,
//! a panic on the CPU backend: `LedgerMsg::trap`) is detected, restarted
//! from its last checkpoint, and every message it had accepted is replayed
//! or failed back — never silently lost (`ringkernel::recovery`).
//!
//! The figures printed (`--nocapture`) are what docs/RELIABILITY.md quotes.

mod common;

use common::{eventually, runtime};
use ringkernel::recovery::MAX_UNRELEASED;
use ringkernel::{
    Backend, Checkpoint, CheckpointTakeError, LaunchOptions, LifecycleState as S, RecoveryPolicy, RequestError,
};
use ringkernel_device::runtime::ERROR_MESSAGE_FAULTED;
use ringkernel_example_actors::ledger::{Ledger, LedgerMsg, LedgerReply};
use ringkernel_example_actors::{Counter, CounterCmd};
use std::time::{Duration, Instant};

/// Wait (up to 30 s) until the actor is serving again after a crash.
async fn wait_recovered(l: &ringkernel::KernelHandle<Ledger>) {
    let start = Instant::now();
    while l.is_recovering() || l.state() != S::ACTIVE {
        assert!(start.elapsed() < Duration::from_secs(30), "not recovered within 30 s: {:?}", l.state());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

common::backend_tests! {
    /// Deposits before a checkpoint come back from it, deposits answered
    /// after it are replayed, the crashing message and those that may have
    /// been handled with it are failed back, the rest is handled by the new
    /// incarnation — and the balance is exactly what the callers were told.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_restores_checkpoint_replays_and_fails_back(backend: Backend) {
        let rk = runtime(backend).await;
        let opts = LaunchOptions::default().inbox_capacity(256).recovery(RecoveryPolicy::restart());
        let l = rk.launch::<Ledger>("ledger", opts).await.unwrap();
        for a in 1..=10 {
            l.request(LedgerMsg::deposit(a)).await.unwrap();
        }
        let ckpt = l.checkpoint().await.unwrap();
        assert_eq!(ckpt.counters.messages_in, 10, "the state includes the first ten messages");
        assert_eq!(ckpt.state_as::<[u64; 2]>().unwrap(), [55, 10]);
        assert_eq!((ckpt.generation, ckpt.actor_id), (0, l.id()));
        let stored = ckpt.to_bytes().unwrap();
        assert_eq!(Checkpoint::from_bytes(&stored).unwrap(), ckpt, "the stored form reads back");

        // Answered after the checkpoint: their effect must survive the crash.
        for _ in 0..3 {
            l.request(LedgerMsg::deposit(100)).await.unwrap();
        }
        // Queue the crash and 150 deposits behind it, then let them run.
        l.deactivate().await.unwrap();
        let trap = l.send_request(LedgerMsg::trap()).await.unwrap();
        let mut after = Vec::new();
        for _ in 0..150 {
            after.push(l.send_request(LedgerMsg::deposit(1)).await.unwrap());
        }
        let t0 = Instant::now();
        l.activate().await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), trap).await.expect("the crashing request never hangs");
        let failed_back_after = t0.elapsed();
        assert_eq!(r, Err(RequestError::MessageFaulted));
        let (mut ok, mut faulted, mut top) = (0u64, 0u64, 0u64);
        for p in after {
            match tokio::time::timeout(Duration::from_secs(30), p).await.expect("no request hangs") {
                Ok(LedgerReply { balance, .. }) => {
                    ok += 1;
                    top = top.max(balance);
                }
                Err(RequestError::MessageFaulted) => faulted += 1,
                Err(e) => panic!("a request in flight ended with {e:?}"),
            }
        }
        wait_recovered(&l).await;
        let recovered_in = l.last_recovery_time().expect("the recovery finished");
        eprintln!(
            "{backend:?}: crash request failed back {failed_back_after:?} after the activate that ran it; \
             new incarnation serving {recovered_in:?} after the crash was detected"
        );
        assert_eq!(l.recoveries(), 1);
        // The crash was at inbox position 13 with head 13 published: the
        // window of positions that may have been taken is MAX_UNRELEASED long.
        assert_eq!(faulted, MAX_UNRELEASED - 1, "the trap and the deposits in its window were failed back");
        assert_eq!(ok, 150 - faulted, "the deposits never taken were handled by the new incarnation");
        let want = 55 + 300 + ok;
        assert_eq!(top, want, "the last deposit answered saw checkpoint + replays + new deposits");
        let now = l.request(LedgerMsg::balance()).await.unwrap();
        assert_eq!(now, LedgerReply { balance: want, deposits: 10 + 3 + ok });
        let stats = l.host_stats();
        assert_eq!((stats.messages_faulted, stats.replay_lost), (MAX_UNRELEASED, 0));
        // Each failed-back message also came back as a dead letter, once.
        let dead = std::sync::Mutex::new(Vec::new());
        eventually("dead letters of the failed-back messages", || {
            let mut d = dead.lock().unwrap();
            d.extend(l.take_dead_letters());
            d.len() as u64 >= MAX_UNRELEASED
        })
        .await;
        let dead = dead.into_inner().unwrap();
        assert_eq!(dead.len() as u64, MAX_UNRELEASED);
        assert!(dead.iter().all(|d| d.reason == ERROR_MESSAGE_FAULTED));

        // Later messages and checkpoints work.
        assert_eq!(l.request(LedgerMsg::deposit(5)).await.unwrap().balance, want + 5);
        let again = l.checkpoint().await.unwrap();
        assert_eq!(again.state_as::<[u64; 2]>().unwrap(), [want + 5, 10 + 3 + ok + 1]);
        assert_eq!(again.generation, 1);
        l.terminate().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// Without a checkpoint the new incarnation starts from `create` and
    /// replays everything; restarts beyond the intensity fail the actor,
    /// and then nothing waits forever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_from_scratch_and_restart_intensity(backend: Backend) {
        let rk = runtime(backend).await;
        let policy = RecoveryPolicy::restart().intensity(1, Duration::from_secs(600));
        let l = rk.launch::<Ledger>("ledger", LaunchOptions::default().recovery(policy)).await.unwrap();
        for a in [1, 2, 3] {
            l.request(LedgerMsg::deposit(a)).await.unwrap();
        }
        assert_eq!(l.request(LedgerMsg::trap()).await, Err(RequestError::MessageFaulted));
        wait_recovered(&l).await;
        assert_eq!(l.recoveries(), 1);
        assert_eq!(l.request(LedgerMsg::balance()).await.unwrap().balance, 6, "rebuilt by replaying all three");
        // A second crash within the window: no more restarts.
        let trap = l.send_request(LedgerMsg::trap()).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), trap).await.expect("never hangs");
        assert!(matches!(r, Err(RequestError::ActorFailed { .. })), "{r:?}");
        eventually("failed", || l.state() == S::FAILED).await;
        assert_eq!(l.recoveries(), 1);
        assert!(l.fault().is_some(), "the crash is reported as a fault of the execution");
        rk.shutdown().await.unwrap();
    }

    /// A panic in the handler is a crash like a trap; on the GPU the panic
    /// handler marks the control block before the kernel traps, so the
    /// runtime sees it at once instead of when the driver reports the trap.
    /// The time from the panic's activation to its request failing back is
    /// printed beside the new incarnation's start-up time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_is_a_crash_seen_at_once(backend: Backend) {
        let rk = runtime(backend).await;
        let l = rk.launch::<Ledger>("ledger", LaunchOptions::default().recovery(RecoveryPolicy::restart())).await.unwrap();
        for a in [5, 7] {
            l.request(LedgerMsg::deposit(a)).await.unwrap();
        }
        l.deactivate().await.unwrap();
        let boom = l.send_request(LedgerMsg::panic()).await.unwrap();
        let t0 = Instant::now();
        l.activate().await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), boom).await.expect("the panicking request never hangs");
        let failed_back_after = t0.elapsed();
        assert_eq!(r, Err(RequestError::MessageFaulted));
        wait_recovered(&l).await;
        let recovered_in = l.last_recovery_time().expect("the recovery finished");
        eprintln!(
            "{backend:?}: panic failed back {failed_back_after:?} after the activate that ran it; \
             new incarnation serving {recovered_in:?} after the crash was detected"
        );
        assert_eq!(l.recoveries(), 1);
        assert_eq!(l.request(LedgerMsg::balance()).await.unwrap().balance, 12, "rebuilt by replaying both deposits");
        l.terminate().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// An actor type that takes no snapshots says so.
    #[tokio::test]
    async fn checkpoint_needs_snapshots(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default()).await.unwrap();
        c.request(CounterCmd::add(1)).await.unwrap();
        assert!(matches!(c.checkpoint().await, Err(CheckpointTakeError::NotSupported)));
        let l = rk.launch::<Ledger>("l", LaunchOptions::default()).await.unwrap();
        l.request(LedgerMsg::deposit(7)).await.unwrap();
        let ckpt = l.checkpoint().await.unwrap();
        assert_eq!(ckpt.state_as::<[u64; 2]>().unwrap(), [7, 1], "a checkpoint needs no recovery policy");
        assert_eq!(l.recoveries(), 0);
        rk.shutdown().await.unwrap();
    }
}

/// Without a policy a crash fails the actor, as before. CPU only: on CUDA a
/// trap without a recovery policy poisons the runtime's own GPU context,
/// and every later CUDA test of this process would fail with it.
#[tokio::test]
async fn without_a_policy_a_crash_fails_the_actor() {
    let rk = runtime(Backend::Cpu).await;
    let l = rk.launch::<Ledger>("ledger", LaunchOptions::default()).await.unwrap();
    l.request(LedgerMsg::deposit(1)).await.unwrap();
    let r = l.request(LedgerMsg::trap()).await;
    assert!(matches!(r, Err(RequestError::ActorFailed { .. })), "{r:?}");
    assert_eq!(l.state(), S::FAILED);
    assert_eq!(l.recoveries(), 0);
    rk.shutdown().await.unwrap();
}
