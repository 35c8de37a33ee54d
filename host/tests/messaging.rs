//! Messaging on every backend (`cpu::` and `cuda::`): FIFO order, requests
//! and error replies, many handles from many tasks, full inboxes, timeouts,
//! dropped requests and the output buffer's two policies.

mod common;

use common::{eventually, runtime};
use ringkernel::{Backend, KernelHandle, LaunchOptions, RequestError, RingKernel, SendError};
use ringkernel_example_actors::{
    COUNTER_ERROR_OVERFLOW, COUNTER_ERROR_UNKNOWN_OP, Counter, CounterCmd, Echo, Hello, HelloRequest,
};
use std::time::Duration;

/// A deactivated counter whose inbox of 2 holds adds of 1 and 2, and a
/// task blocked in `send(add(3))`.
async fn full_counter_with_blocked_send(
    backend: Backend,
) -> (RingKernel, KernelHandle<Counter>, tokio::task::JoinHandle<Result<(), SendError<CounterCmd>>>) {
    let rk = runtime(backend).await;
    let opts = LaunchOptions::default().without_auto_activate().inbox_capacity(2);
    let c = rk.launch::<Counter>("c", opts).await.unwrap();
    c.send(CounterCmd::add(1)).await.unwrap();
    c.send(CounterCmd::add(2)).await.unwrap();
    let blocked = {
        let c = c.clone();
        tokio::spawn(async move { c.send(CounterCmd::add(3)).await })
    };
    (rk, c, blocked)
}

common::backend_tests! {
    #[tokio::test]
    async fn hello_greets_by_name_and_counts(backend: Backend) {
        let rk = runtime(backend).await;
        let h = rk.launch::<Hello>("hello", LaunchOptions::default()).await.unwrap();
        for n in 1..=3 {
            let g = h.request(HelloRequest::new("Ada").unwrap()).await.unwrap();
            assert_eq!(g.as_str().unwrap(), format!("Hello, Ada! (actor {}, message #{n})", h.id()));
        }
        assert_eq!(h.name(), "hello");
        eventually("3 messages in telemetry", || h.telemetry().messages_processed == 3).await;
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn requests_answered_and_error_replies_typed(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default()).await.unwrap();
        assert_eq!(c.request(CounterCmd::add(40)).await.unwrap().total, 40);
        assert_eq!(c.request(CounterCmd::raw(77, 0)).await, Err(RequestError::ActorError(COUNTER_ERROR_UNKNOWN_OP)));
        assert_eq!(c.request(CounterCmd::add(u64::MAX)).await, Err(RequestError::ActorError(COUNTER_ERROR_OVERFLOW)));
        let r = c.request(CounterCmd::reset()).await.unwrap();
        assert_eq!((r.total, r.ops), (40, 4), "error replies leave the actor running");
        assert_eq!(c.request(CounterCmd::get()).await.unwrap().total, 0);
        assert_eq!(c.host_stats().replies, 5);
        eventually("5 messages in telemetry", || c.telemetry().messages_processed == 5).await;
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn fifo_order_per_actor(backend: Backend) {
        let rk = runtime(backend).await;
        let e = rk.launch::<Echo>("echo", LaunchOptions::default().inbox_capacity(64)).await.unwrap();
        let mut out = e.outputs();
        const N: u64 = 20_000;
        let sender = e.clone();
        let send = tokio::spawn(async move {
            for i in 0..N {
                sender.send([i, !i, 0, 0, 0, 0, 0, i * 3]).await.unwrap();
            }
        });
        for i in 0..N {
            let m = out.next().await.expect("an output per message");
            assert_eq!((m[0], m[1], m[7]), (i, !i, i * 3), "outputs come back in send order");
        }
        send.await.unwrap();
        // Requests interleaved with sends keep their place too.
        let p = e.send_request([N; 8]).await.unwrap();
        assert_eq!(p.await.unwrap(), [N; 8]);
        rk.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_handles_from_many_tasks(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("shared", LaunchOptions::default().inbox_capacity(16)).await.unwrap();
        const TASKS: u64 = 8;
        const PER_TASK: u64 = 1_000;
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let h = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut last_total = 0;
                for i in 0..PER_TASK {
                    let r = if i % 2 == 0 {
                        h.request(CounterCmd::add(t + 1)).await.unwrap()
                    } else {
                        h.send_request(CounterCmd::add(t + 1)).await.unwrap().await.unwrap()
                    };
                    assert!(r.total > last_total, "totals grow");
                    last_total = r.total;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let expected: u64 = (1..=TASKS).map(|t| t * PER_TASK).sum();
        let r = c.request(CounterCmd::get()).await.unwrap();
        assert_eq!(r.total, expected);
        assert_eq!(r.ops, TASKS * PER_TASK + 1);
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn try_send_on_full_inbox_hands_message_back(backend: Backend) {
        let rk = runtime(backend).await;
        let opts = LaunchOptions::default().without_auto_activate().inbox_capacity(4);
        let c = rk.launch::<Counter>("c", opts).await.unwrap();
        for v in 0..4 {
            c.try_send(CounterCmd::add(v)).unwrap();
        }
        let extra = CounterCmd::add(99);
        match c.try_send(extra) {
            Err(SendError::Full(back)) => assert_eq!(back, extra),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(c.host_stats().inbox_full, 1);
        assert!(matches!(
            c.send_timeout(extra, Duration::from_millis(20)).await,
            Err(SendError::Timeout(m)) if m == extra
        ));
        c.activate().await.unwrap();
        assert_eq!(c.request(CounterCmd::get()).await.unwrap().total, 6, "the four queued adds were handled");
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn send_waits_for_room_then_completes(backend: Backend) {
        let (rk, c, blocked) = full_counter_with_blocked_send(backend).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!blocked.is_finished(), "send waits while the inbox is full");
        c.activate().await.unwrap();
        blocked.await.unwrap().unwrap();
        assert_eq!(c.request(CounterCmd::get()).await.unwrap().total, 6);
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn blocked_send_fails_when_actor_stops(backend: Backend) {
        let (rk, c, blocked) = full_counter_with_blocked_send(backend).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.kill().await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), blocked).await.expect("no hang").unwrap();
        assert!(matches!(r, Err(SendError::Terminated(m)) if m == CounterCmd::add(3)));
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn dropped_request_reply_is_discarded(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default().without_auto_activate()).await.unwrap();
        let p = c.send_request(CounterCmd::add(1)).await.unwrap();
        drop(p);
        c.activate().await.unwrap();
        // The dropped request's message stays sent: the actor handled it.
        assert_eq!(c.request(CounterCmd::get()).await.unwrap().total, 1);
        assert_eq!(c.host_stats().replies_discarded, 1);
        assert_eq!(c.host_stats().replies, 1);
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn outputs_drop_oldest_without_a_stream(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default().output_capacity(4)).await.unwrap();
        for v in 1..=10 {
            c.send(CounterCmd::add(v)).await.unwrap();
        }
        // A request after the sends: once answered, every earlier output was seen.
        assert_eq!(c.request(CounterCmd::get()).await.unwrap().total, 55);
        let stats = c.host_stats();
        assert_eq!((stats.outputs_dropped, stats.outputs_buffered), (6, 4));
        let mut out = c.outputs();
        let mut totals = Vec::new();
        for _ in 0..4 {
            totals.push(out.next().await.unwrap().total);
        }
        assert_eq!(totals, [28, 36, 45, 55], "the four most recent outputs are kept");
        c.terminate().await.unwrap();
        assert_eq!(out.next().await, None, "the stream ends after the actor stopped");
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn outputs_backpressure_with_a_stream_is_lossless(backend: Backend) {
        let rk = runtime(backend).await;
        let opts = LaunchOptions::default().output_capacity(4).outbox_capacity(4);
        let c = rk.launch::<Counter>("c", opts).await.unwrap();
        let mut out = c.outputs();
        let sender = c.clone();
        let send = tokio::spawn(async move {
            for _ in 0..200 {
                sender.send(CounterCmd::add(1)).await.unwrap();
            }
        });
        // Read slowly at first so the buffer and the outbox fill up.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(c.host_stats().outputs_buffered <= 4 + 4, "the buffer stays bounded");
        for expected in 1..=200 {
            assert_eq!(out.next().await.unwrap().total, expected);
        }
        send.await.unwrap();
        assert_eq!(c.host_stats().outputs_dropped, 0);
        eventually("the actor felt the backpressure", || c.telemetry().queue_full_events > 0).await;
        rk.shutdown().await.unwrap();
    }
}
