//! CPU-backend request/reply benchmarks beside a Tokio baseline.
//!
//! ```text
//! cargo bench -p ringkernel-benches
//! ```
//!
//! Group `round_trip`: one request at a time (latency; `iter_custom`, so
//! only the awaited round trips are timed). Group `pipelined`: requests with
//! a window of 8 or 64 outstanding replies (throughput, reported in
//! elements/s). In each group `ringkernel_cpu` is an `Echo` actor on the CPU
//! backend (actor thread + poller thread, the same ring protocol the GPU
//! uses) and `tokio_mpsc` is a Tokio task answering over `mpsc` + `oneshot`.
//! Every workload is checked for correct replies before it is timed.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringkernel::{Backend, LaunchOptions, RingKernel};
use ringkernel_benches::{
    check_ringkernel, check_tokio, ringkernel_pipelined, ringkernel_round_trip, spawn_tokio_echo, tokio_pipelined,
    tokio_round_trip,
};
use ringkernel_example_actors::Echo;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    // The benchmark thread drives the requests (block_on); one worker runs
    // the baseline's echo task, so both sides cross threads per message.
    match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build the Tokio runtime: {e}"),
    }
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let (rk, echo) = rt.block_on(async {
        let rk = RingKernel::builder().backend(Backend::Cpu).build().await.expect("CPU backend");
        let echo = rk.launch::<Echo>("bench-echo", LaunchOptions::default()).await.expect("launch Echo");
        check_ringkernel(&echo).await.expect("RingKernel replies are correct");
        (rk, echo)
    });
    let tx = spawn_tokio_echo(rt.handle(), 1024);
    rt.block_on(check_tokio(&tx)).expect("baseline replies are correct");

    let mut g = c.benchmark_group("round_trip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ringkernel_cpu", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    ringkernel_round_trip(&echo, i).await.expect("correct reply");
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("tokio_mpsc", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    tokio_round_trip(&tx, i).await.expect("correct reply");
                }
                start.elapsed()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("pipelined");
    g.throughput(Throughput::Elements(1));
    for window in [8usize, 64] {
        g.bench_function(format!("ringkernel_cpu/window_{window}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    ringkernel_pipelined(&echo, 0, iters, window).await.expect("correct replies");
                    start.elapsed()
                })
            })
        });
        g.bench_function(format!("tokio_mpsc/window_{window}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    tokio_pipelined(&tx, 0, iters, window).await.expect("correct replies");
                    start.elapsed()
                })
            })
        });
    }
    g.finish();

    let t = echo.telemetry();
    println!(
        "ringkernel_cpu actor: {} messages, handler latency mean {} ns / max {} ns (actor clock)",
        t.messages_processed,
        t.mean_latency_ns(),
        t.max_latency_ns
    );
    rt.block_on(async {
        drop(tx);
        rk.shutdown().await.expect("clean shutdown");
    });
}

criterion_group! {
    name = cpu_actor;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(cpu_actor);
