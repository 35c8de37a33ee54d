//! Volume on every backend (`cpu::` and `cuda::`): a million messages
//! through one actor with none lost or duplicated, sent pipelined (not one
//! awaited request at a time), and a long run of pipelined requests with a
//! window of outstanding replies.

mod common;

use common::runtime;
use ringkernel::{Backend, LaunchOptions};
use ringkernel_example_actors::Echo;
use std::collections::VecDeque;
use std::time::Instant;

common::backend_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn million_messages_through_one_actor_none_lost_or_duplicated(backend: Backend) {
        const N: u64 = 1_000_000;
        let rk = runtime(backend).await;
        let opts = LaunchOptions::default().inbox_capacity(4096).outbox_capacity(4096).output_capacity(8192);
        let echo = rk.launch::<Echo>("echo", opts).await.unwrap();
        let mut outputs = echo.outputs();
        let start = Instant::now();
        let sender = echo.clone();
        let send = tokio::spawn(async move {
            for i in 0..N {
                // The sequence number, a check word, and filler that must survive.
                sender.send([i, i.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1, 2, 3, 4, 5, !i]).await.unwrap();
            }
        });
        let mut sum = 0u64;
        for expected in 0..N {
            let m = outputs.next().await.expect("one output per message");
            // In order, so neither lost (a gap) nor duplicated (a repeat).
            assert_eq!(m[0], expected, "sequence");
            assert_eq!(m, [expected, expected.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1, 2, 3, 4, 5, !expected]);
            sum = sum.wrapping_add(m[0]);
        }
        send.await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(sum, N * (N - 1) / 2);
        let stats = echo.host_stats();
        assert_eq!((stats.outputs_dropped, stats.rejected), (0, 0));
        echo.terminate().await.unwrap();
        assert!(outputs.next().await.is_none(), "nothing after the last message");
        // After terminate the actor loop has published its final counters.
        let snap = echo.control_snapshot();
        assert_eq!((snap.messages_in, snap.messages_out, snap.dead_letters), (N, N, 0));
        eprintln!("{backend:?}: 1M messages in {elapsed:?} ({:.2} M msg/s)", N as f64 / elapsed.as_secs_f64() / 1e6);
        rk.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_requests_with_a_window_all_answered_in_order(backend: Backend) {
        const N: u64 = 100_000;
        const WINDOW: usize = 64;
        let rk = runtime(backend).await;
        let echo = rk.launch::<Echo>("echo", LaunchOptions::default()).await.unwrap();
        let mut window = VecDeque::with_capacity(WINDOW);
        let mut next_reply = 0u64;
        for i in 0..N {
            if window.len() == WINDOW {
                let p: ringkernel::PendingReply<Echo> = window.pop_front().unwrap();
                assert_eq!(p.await.unwrap()[0], next_reply);
                next_reply += 1;
            }
            window.push_back(echo.send_request([i; 8]).await.unwrap());
        }
        for p in window {
            assert_eq!(p.await.unwrap(), [next_reply; 8]);
            next_reply += 1;
        }
        assert_eq!(next_reply, N);
        let stats = echo.host_stats();
        assert_eq!((stats.replies, stats.replies_discarded), (N, 0));
        rk.shutdown().await.unwrap();
    }
}
