//! Stall detection: a live actor that neither beats nor takes a message for
//! its `stall_timeout` is reported, and the report clears when it moves on.
//!
//! CPU only: the stalling handler blocks its thread with `std::thread::sleep`,
//! which a GPU handler cannot call (the kernel-side heartbeat is the same
//! loop code, exercised by every `cuda::` test that idles).

use ringkernel::{Actor, Backend, Context, Fault, KernelEntry, LaunchOptions, RingKernel};
use std::time::{Duration, Instant};

/// Sleeps for the number of milliseconds it is sent, then answers it.
struct Sleeper;

impl Actor for Sleeper {
    const TYPE_ID: u32 = 0x51EE_9000;
    type Msg = u64;
    type Reply = u64;
    fn create(_actor_id: u32) -> Self {
        Sleeper
    }
    fn handle(&mut self, ctx: &mut Context<'_, Self>, ms: u64) -> Result<(), Fault> {
        std::thread::sleep(Duration::from_millis(ms));
        ctx.reply(&ms).map_err(|_| Fault(1))
    }
}

impl KernelEntry for Sleeper {
    // Never launched on a GPU (see the module docs).
    const ENTRY: &'static str = "stall_test_sleeper";
}

async fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_handler_is_reported_stalled_and_recovers() {
    let rk = RingKernel::builder().backend(Backend::Cpu).build().await.unwrap();
    let opts = LaunchOptions::default().stall_timeout(Duration::from_millis(100));
    let s = rk.launch::<Sleeper>("sleeper", opts).await.unwrap();
    assert_eq!(s.request(1).await.unwrap(), 1);
    // Idle for three timeouts: an idle actor keeps beating.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!s.is_stalled(), "an idle actor is not stalled");
    assert_eq!(s.host_stats().stalls, 0);

    let pending = s.send_request(800).await.unwrap();
    let took = until("the stall is reported", Duration::from_millis(700), || s.is_stalled()).await;
    assert!(took >= Duration::from_millis(90), "reported after {took:?}, before the timeout");
    assert_eq!(pending.await.unwrap(), 800);
    until("the report clears", Duration::from_secs(2), || !s.is_stalled()).await;
    assert_eq!(s.host_stats().stalls, 1);
    rk.shutdown().await.unwrap();
}
