//! `rk-bench-gpu`: the GPU benchmark of `cargo xtask bench-h100`.
//!
//! One binary, one run. Every section prints its baseline beside the
//! candidate, measured in the same process on the same GPU:
//!
//! 1. launch overhead: empty kernel `cuLaunchKernel` + sync, CUDA graph
//!    replay + sync;
//! 2. host enqueue: cost of one push into the mapped H2K ring while the
//!    persistent actor consumes;
//! 3. round trip: persistent actor (host thread → GPU `Echo` actor → host),
//!    beside launch-per-command (batch-echo kernel with one message) and the
//!    same actor on the CPU backend's loop;
//! 4. pipelined round-trip throughput over window sizes, beside one
//!    batch-kernel launch per window and the CPU loop;
//! 5. the same through the public async API (`KernelHandle::request`);
//! 6. a sustained run with per-second samples, their CV, and memory growth.
//!
//! Results go to `<out>/gpu-bench.json` and `<out>/gpu-bench.md`.
//!
//! 7. the public async API (`KernelHandle::request`);
//! 8. K2K ping-pong between two blocks, `.gpu` against `.sys` scope;
//! 9. actor systems: host-triggered create, restart and kill latency;
//! 10. actor systems: aggregate K2K throughput with actors on every SM.
//!
//! Sections 1–6 drive the rings from one host thread with the
//! protocol endpoints of `ringkernel-device` (what the runtime's poller
//! does, minus the async plumbing); section 7 measures what a user of
//! `ringkernel` sees through `KernelHandle::request`.

mod stats;

use ringkernel::cuda::driver::{Context, DeviceBuffer, Function, MappedBuffer, Module, Stream};
use ringkernel_device::atomic::sys;
use ringkernel_device::kernels::{ECHO_TYPE_ID, Echo};
use ringkernel_device::platform::Platform;
use ringkernel_device::queue::{Consumer, Producer, RawRing};
use ringkernel_device::{ActorPointers, run_actor};
use ringkernel_shared::control::FLAG_AUTO_ACTIVATE;
use ringkernel_shared::ring::ring_bytes;
use ringkernel_shared::{Command, ControlBlock, ENVELOPE_BYTES, Envelope, LifecycleState, RingHeader, TelemetryBuffer};
use stats::{Summary, js, mean_cv, ns};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Config {
    out: PathBuf,
    ptx_dir: PathBuf,
    rt_iters: usize,
    rt_runs: usize,
    tput_secs: f64,
    sustained_secs: u64,
    windows: Vec<usize>,
}

impl Config {
    fn from_args() -> Res<Self> {
        let mut c = Config {
            out: PathBuf::from(std::env::var("OUT").unwrap_or_else(|_| "benchmarks/results".into())),
            ptx_dir: PathBuf::from(std::env::var("RINGKERNEL_PTX_DIR").unwrap_or_else(|_| "target/ptx".into())),
            rt_iters: 20_000,
            rt_runs: 5,
            tput_secs: 1.0,
            sustained_secs: 60,
            windows: vec![1, 4, 16, 64, 256, 1024],
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--out" => c.out = args.next().ok_or("--out needs a directory")?.into(),
                "--ptx-dir" => c.ptx_dir = args.next().ok_or("--ptx-dir needs a directory")?.into(),
                "--quick" => {
                    c.rt_iters = 2_000;
                    c.rt_runs = 3;
                    c.tput_secs = 0.25;
                    c.sustained_secs = 3;
                }
                "--sustained-secs" => c.sustained_secs = args.next().ok_or("--sustained-secs needs N")?.parse()?,
                "-h" | "--help" => {
                    println!("usage: rk-bench-gpu [--out DIR] [--ptx-dir DIR] [--quick] [--sustained-secs N]");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?} (try --help)").into()),
            }
        }
        Ok(c)
    }
}

/// Spin-only platform for the CPU baseline's actor thread.
struct Spin;
impl Platform for Spin {
    fn now_ns() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    }
    fn relax(_: u32) {
        std::hint::spin_loop();
    }
}

const RING_CAP: u32 = 4096;

/// Offsets of one actor's structures in one allocation.
struct Layout {
    control: usize,
    telemetry: usize,
    inbox: usize,
    outbox: usize,
    total: usize,
}

fn layout(cap: u32) -> Layout {
    let ring = ring_bytes(cap, ENVELOPE_BYTES as u32);
    Layout { control: 0, telemetry: 128, inbox: 256, outbox: 256 + ring, total: 256 + 2 * ring }
}

/// Initialise control block and rings at `base` (zeroed memory).
///
/// # Safety
/// `base` is valid for `layout(cap).total` bytes, 128-aligned, unshared.
unsafe fn init_actor_memory(base: *mut u8, cap: u32) -> Res<()> {
    let l = layout(cap);
    let ring = RingHeader::new(cap, ENVELOPE_BYTES as u32)?;
    // SAFETY: caller's contract; offsets are inside and 128-aligned.
    unsafe {
        (base.add(l.control) as *mut ControlBlock).write(ControlBlock::new(1, ECHO_TYPE_ID, FLAG_AUTO_ACTIVATE));
        (base.add(l.inbox) as *mut RingHeader).write(ring);
        (base.add(l.outbox) as *mut RingHeader).write(ring);
    }
    Ok(())
}

/// The host's view of one running echo actor, GPU or CPU.
struct EchoPeer {
    base: *mut u8,
    tx: Producer<RawRing>,
    rx: Consumer<RawRing>,
}

impl EchoPeer {
    /// # Safety
    /// `base` was initialised by `init_actor_memory` and outlives the peer.
    unsafe fn new(base: *mut u8, cap: u32) -> Self {
        let l = layout(cap);
        // SAFETY: caller's contract; we are the only host producer/consumer.
        unsafe {
            Self {
                base,
                tx: Producer::attach(RawRing::new(base.add(l.inbox) as *mut RingHeader)),
                rx: Consumer::attach(RawRing::new(base.add(l.outbox) as *mut RingHeader)),
            }
        }
    }

    fn control(&self) -> *mut ControlBlock {
        self.base as *mut ControlBlock
    }

    fn state(&self) -> LifecycleState {
        // SAFETY: the control block lives as long as `self`; state is atomic.
        let raw = unsafe { sys::load_acquire_u32(&raw const (*self.control()).state) };
        LifecycleState::try_from(raw).unwrap_or(LifecycleState::FAILED)
    }

    fn wait_state(&self, want: LifecycleState, timeout: Duration) -> Res<()> {
        let t = Instant::now();
        while self.state() != want {
            if t.elapsed() > timeout {
                return Err(format!("actor did not reach {want} within {timeout:?} (state {})", self.state()).into());
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        Ok(())
    }

    fn post(&self, cmd: Command) {
        let cb = self.control();
        // SAFETY: the host owns command/command_seq (control-block protocol).
        unsafe {
            sys::store_relaxed_u32(&raw mut (*cb).command, cmd.as_u32());
            let seq = sys::load_relaxed_u32(&raw const (*cb).command_seq);
            sys::store_release_u32(&raw mut (*cb).command_seq, seq.wrapping_add(1));
        }
    }

    fn push_spin(&mut self, env: &Envelope) {
        while self.tx.try_push(env).is_err() {
            std::hint::spin_loop();
        }
    }

    fn recv_spin(&mut self) -> Envelope {
        loop {
            if let Some(e) = self.rx.poll() {
                self.rx.release();
                return e;
            }
            std::hint::spin_loop();
        }
    }

    fn request(i: u64) -> Envelope {
        let mut e = Envelope::from_pod(ECHO_TYPE_ID, 0, 1, &[i; 8]).expect("64-byte payload fits");
        e.header.correlation_id = i + 1;
        e
    }

    /// Correctness before timing: `n` round trips with checked replies.
    fn check_echo(&mut self, n: u64) -> Res<()> {
        for i in 0..n {
            self.push_spin(&Self::request(i));
            let r = self.recv_spin();
            r.validate_for(ECHO_TYPE_ID)?;
            if r.header.correlation_id != i + 1 || r.read_pod::<[u64; 8]>() != Some([i; 8]) {
                return Err(format!("echo reply {i} is wrong: {:?}", r.header).into());
            }
        }
        Ok(())
    }

    fn round_trips(&mut self, iters: usize) -> Vec<f64> {
        let mut v = Vec::with_capacity(iters);
        for i in 0..iters as u64 {
            let req = Self::request(i);
            let t = Instant::now();
            self.push_spin(&req);
            let r = self.recv_spin();
            v.push(t.elapsed().as_nanos() as f64);
            assert_eq!(r.header.correlation_id, i + 1, "reply out of order");
        }
        v
    }

    /// Pipelined round trips with at most `window` outstanding for `secs`.
    /// Returns (messages per second, order errors).
    fn pipelined(&mut self, window: usize, secs: f64) -> (f64, u64) {
        let req = Self::request(7);
        let (mut sent, mut recv, mut bad) = (0u64, 0u64, 0u64);
        let mut buf = [req; 64];
        let t = Instant::now();
        let limit = Duration::from_secs_f64(secs);
        let mut spins = 0u32;
        loop {
            while sent - recv < window as u64 {
                let mut e = req;
                e.header.correlation_id = sent + 1;
                if self.tx.try_push(&e).is_err() {
                    break;
                }
                sent += 1;
            }
            let k = self.rx.poll_batch(&mut buf);
            for e in &buf[..k] {
                recv += 1;
                bad += (e.header.correlation_id != recv) as u64;
            }
            if k > 0 {
                self.rx.release();
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && t.elapsed() >= limit {
                break;
            }
        }
        // drain what is still in flight
        while recv < sent {
            let k = self.rx.poll_batch(&mut buf);
            recv += k as u64;
            self.rx.release();
        }
        (recv as f64 / t.elapsed().as_secs_f64(), bad)
    }

    /// Cost of pushes while the actor consumes: batches of 32 pushes timed
    /// together, per-push mean of each batch.
    fn enqueue_cost(&mut self, batches: usize) -> Vec<f64> {
        let req = Self::request(3);
        let mut v = Vec::with_capacity(batches);
        let mut buf = [req; 64];
        let mut outstanding = 0u64;
        for _ in 0..batches {
            // make room outside the timed region
            while outstanding > (RING_CAP as u64 / 2) {
                let k = self.rx.poll_batch(&mut buf);
                outstanding -= k as u64;
                self.rx.release();
            }
            let t = Instant::now();
            for _ in 0..32 {
                while self.tx.try_push(&req).is_err() {}
            }
            v.push(t.elapsed().as_nanos() as f64 / 32.0);
            outstanding += 32;
        }
        while outstanding > 0 {
            let k = self.rx.poll_batch(&mut buf);
            outstanding -= k as u64;
            self.rx.release();
        }
        v
    }
}

/// A persistent echo actor on the GPU.
struct GpuEcho {
    peer: EchoPeer,
    stream: Stream,
    _mem: MappedBuffer,
}

impl GpuEcho {
    fn launch(ctx: &Context, echo: &Function<'_>) -> Res<Self> {
        let l = layout(RING_CAP);
        let mem = MappedBuffer::new(ctx, l.total)?;
        // SAFETY: fresh zeroed mapping of the right size, page-aligned.
        unsafe { init_actor_memory(mem.host_ptr(), RING_CAP)? };
        let stream = Stream::new(ctx)?;
        let d = mem.device_addr();
        let params = [d + l.control as u64, d + l.inbox as u64, d + l.outbox as u64, d + l.telemetry as u64];
        // SAFETY: the entry takes four pointers into `mem`, which outlives
        // the kernel (we join it in `stop` before dropping `mem`).
        unsafe { echo.launch(&stream, 1, 32, &params, false)? };
        // SAFETY: initialised above; lives in `self`.
        let peer = unsafe { EchoPeer::new(mem.host_ptr(), RING_CAP) };
        peer.wait_state(LifecycleState::ACTIVE, Duration::from_secs(10))?;
        Ok(Self { peer, stream, _mem: mem })
    }

    fn stop(self) -> Res<()> {
        self.peer.post(Command::TERMINATE);
        if !self.stream.wait_idle(Duration::from_secs(10))? {
            return Err("persistent kernel did not finish within 10 s of TERMINATE".into());
        }
        self.peer.wait_state(LifecycleState::TERMINATED, Duration::from_secs(1))
    }
}

/// The same echo actor on a CPU thread (the CPU backend's loop).
struct CpuEcho {
    peer: EchoPeer,
    thread: Option<std::thread::JoinHandle<()>>,
    mem: *mut u8,
    layout: std::alloc::Layout,
}

impl CpuEcho {
    fn launch() -> Res<Self> {
        let l = layout(RING_CAP);
        let lay = std::alloc::Layout::from_size_align(l.total, 128)?;
        // SAFETY: non-zero size.
        let mem = unsafe { std::alloc::alloc_zeroed(lay) };
        if mem.is_null() {
            return Err("out of memory".into());
        }
        // SAFETY: fresh zeroed allocation of the right size and alignment.
        unsafe { init_actor_memory(mem, RING_CAP)? };
        let ptrs = ActorPointers {
            // SAFETY: offsets inside the allocation.
            control: unsafe { mem.add(l.control) } as *mut ControlBlock,
            // SAFETY: as above.
            inbox: unsafe { mem.add(l.inbox) } as *mut RingHeader,
            // SAFETY: as above.
            outbox: unsafe { mem.add(l.outbox) } as *mut RingHeader,
            // SAFETY: as above.
            telemetry: unsafe { mem.add(l.telemetry) } as *mut TelemetryBuffer,
        };
        // SAFETY: the memory outlives the thread (joined in `stop`/drop); the
        // thread is the only consumer of inbox and producer of outbox.
        let thread = std::thread::spawn(move || unsafe { run_actor::<Echo, Spin>(ptrs) });
        // SAFETY: initialised above.
        let peer = unsafe { EchoPeer::new(mem, RING_CAP) };
        peer.wait_state(LifecycleState::ACTIVE, Duration::from_secs(10))?;
        Ok(Self { peer, thread: Some(thread), mem, layout: lay })
    }

    fn stop(mut self) -> Res<()> {
        self.peer.post(Command::TERMINATE);
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| "CPU actor thread panicked")?;
        }
        Ok(())
    }
}

impl Drop for CpuEcho {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.peer.post(Command::KILL);
            let _ = t.join();
        }
        // SAFETY: allocated in `launch` with `self.layout`; the thread is joined.
        unsafe { std::alloc::dealloc(self.mem, self.layout) };
    }
}

/// Rings of `slot_bytes`-byte slots for `ringkernel_slot_echo`.
struct SlotRings {
    mem: MappedBuffer,
    slot: usize,
    cap: u32,
    out_off: usize,
}

impl SlotRings {
    fn new(ctx: &Context, slot_bytes: u32, cap: u32) -> Res<Self> {
        let ring = ring_bytes(cap, slot_bytes);
        let mem = MappedBuffer::new(ctx, 2 * ring)?;
        let h = RingHeader::new(cap, slot_bytes)?;
        // SAFETY: fresh zeroed mapping of two rings; headers at 0 and `ring`.
        unsafe {
            (mem.host_ptr() as *mut RingHeader).write(h);
            (mem.host_ptr().add(ring) as *mut RingHeader).write(h);
        }
        Ok(Self { mem, slot: slot_bytes as usize, cap, out_off: ring })
    }
    fn header(&self, out: bool) -> *mut RingHeader {
        // SAFETY: both headers are inside the mapping.
        unsafe { self.mem.host_ptr().add(if out { self.out_off } else { 0 }) as *mut RingHeader }
    }
    fn slot_ptr(&self, out: bool, pos: u64) -> *mut u64 {
        let i = (pos & (self.cap as u64 - 1)) as usize;
        // SAFETY: slot i of a ring of `cap` slots, after its 256-byte header.
        unsafe { (self.header(out) as *mut u8).add(256 + i * self.slot) as *mut u64 }
    }
}

/// Pipelined echoes through `ringkernel_slot_echo` with at most `window`
/// in flight for `secs`; returns messages per second. The kernel must be
/// running on `r`. Checks every echo's first data word and last word.
fn slot_pipelined(r: &SlotRings, pos: &mut (u64, u64, u64), window: usize, secs: f64) -> Res<f64> {
    let words = r.slot / 8;
    let (sent, recv, in_head) = (&mut pos.0, &mut pos.1, &mut pos.2);
    let start = *recv;
    let t = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut spins = 0u32;
    loop {
        while *sent - *recv < window as u64 {
            if *sent - *in_head >= r.cap as u64 {
                // SAFETY: header valid; head is only accessed atomically.
                *in_head = unsafe { sys::load_acquire_u64(&raw const (*r.header(false)).head) };
                if *sent - *in_head >= r.cap as u64 {
                    break;
                }
            }
            let p = r.slot_ptr(false, *sent);
            // SAFETY: the slot is free (checked against head); words 1.. are
            // ours until the release store of word 0.
            unsafe {
                for w in 1..words {
                    p.add(w).write_volatile(*sent ^ w as u64);
                }
                sys::store_release_u64(p, *sent + 1);
            }
            *sent += 1;
        }
        let mut got = 0;
        loop {
            let p = r.slot_ptr(true, *recv);
            // SAFETY: slot inside the outbox; seq accessed atomically, the
            // rest read after the acquire.
            let ok = unsafe {
                if sys::load_acquire_u64(p) != *recv + 1 {
                    break;
                }
                p.add(1).read_volatile() == *recv ^ 1 && p.add(words - 1).read_volatile() == *recv ^ (words as u64 - 1)
            };
            if !ok {
                return Err(format!("slot echo {} came back corrupted ({}-byte slots)", *recv, r.slot).into());
            }
            *recv += 1;
            got += 1;
        }
        if got > 0 {
            // SAFETY: header valid; the host owns the outbox head.
            unsafe { sys::store_release_u64(&raw mut (*r.header(true)).head, *recv) };
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(256) && t.elapsed() >= limit {
            break;
        }
    }
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while *recv < *sent {
        if Instant::now() > drain_deadline {
            return Err(format!("slot echo: {} echoes still missing after 10 s", *sent - *recv).into());
        }
        let p = r.slot_ptr(true, *recv);
        // SAFETY: as above.
        if unsafe { sys::load_acquire_u64(p) } == *recv + 1 {
            *recv += 1;
            // SAFETY: as above.
            unsafe { sys::store_release_u64(&raw mut (*r.header(true)).head, *recv) };
        }
    }
    Ok((*recv - start) as f64 / t.elapsed().as_secs_f64())
}

/// Stop `ringkernel_slot_echo`: send the stop slot and wait for the kernel.
fn slot_stop(r: &SlotRings, pos: &mut (u64, u64, u64), stream: &Stream) -> Res<()> {
    let p = r.slot_ptr(false, pos.0);
    // SAFETY: every earlier message was echoed and released, so the slot is free.
    unsafe {
        p.add(1).write_volatile(ringkernel_device::kernels::SLOT_ECHO_STOP);
        sys::store_release_u64(p, pos.0 + 1);
    }
    if !stream.wait_idle(Duration::from_secs(10))? {
        return Err("ringkernel_slot_echo did not stop within 10 s".into());
    }
    Ok(())
}

/// Section 7: round trips and pipelined requests through the public API.
async fn api_round_trips(backend: ringkernel::Backend, iters: usize, secs: f64) -> Res<(Summary, f64)> {
    use ringkernel::{LaunchOptions, RingKernel};
    let rk = RingKernel::builder().backend(backend).build().await?;
    let h = rk.launch::<Echo>("echo", LaunchOptions::default().inbox_capacity(4096).outbox_capacity(4096)).await?;
    for i in 0..100u64 {
        if h.request([i; 8]).await? != [i; 8] {
            return Err("public-API echo returned a wrong reply".into());
        }
    }
    let mut v = Vec::with_capacity(iters);
    for i in 0..iters as u64 {
        let t = Instant::now();
        let r = h.request([i; 8]).await?;
        v.push(t.elapsed().as_nanos() as f64);
        if r[0] != i {
            return Err("public-API echo returned a wrong reply".into());
        }
    }
    let t = Instant::now();
    let mut done = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        let mut pending = Vec::with_capacity(256);
        for i in 0..256u64 {
            pending.push(h.send_request([i; 8]).await?);
        }
        for (i, p) in pending.into_iter().enumerate() {
            if p.await?[0] != i as u64 {
                return Err("public-API echo returned a wrong reply".into());
            }
            done += 1;
        }
    }
    let tput = done as f64 / t.elapsed().as_secs_f64();
    h.terminate().await?;
    rk.shutdown().await?;
    Ok((Summary::of(v), tput))
}

/// Per-actor options of the system sections: small host queues (every slot
/// has them, and K2K traffic does not use them).
fn system_actor_options() -> ringkernel::LaunchOptions {
    ringkernel::LaunchOptions::default().inbox_capacity(64).outbox_capacity(64).output_capacity(64)
}

/// Section 9: host-triggered create, restart and kill of an actor in a
/// running system (no relaunch), through the public API.
async fn system_lifecycle(backend: ringkernel::Backend, iters: usize) -> Res<[Summary; 3]> {
    use ringkernel::{RingKernel, Spawn, SystemOptions};
    use ringkernel_device::kernels::BenchSystem;
    let rk = RingKernel::builder().backend(backend).build().await?;
    let sys = rk.launch_system::<BenchSystem>(SystemOptions::new(2).actor_options(system_actor_options())).await?;
    let (mut create, mut restart, mut kill) = (vec![], vec![], vec![]);
    for i in 0..(iters + iters / 10) {
        let t = Instant::now();
        let h = sys.spawn::<Echo>(Spawn::new()).await?;
        let c = t.elapsed().as_nanos() as f64;
        if h.request([i as u64; 8]).await? != [i as u64; 8] {
            return Err("system echo returned a wrong reply".into());
        }
        let t = Instant::now();
        sys.restart(h.id()).await?;
        let r = t.elapsed().as_nanos() as f64;
        if h.request([i as u64 + 1; 8]).await? != [i as u64 + 1; 8] {
            return Err("restarted system echo returned a wrong reply".into());
        }
        let t = Instant::now();
        sys.kill(h.id()).await?;
        let k = t.elapsed().as_nanos() as f64;
        if i >= iters / 10 {
            create.push(c);
            restart.push(r);
            kill.push(k);
        }
    }
    sys.shutdown().await?;
    rk.shutdown().await?;
    Ok([Summary::of(create), Summary::of(restart), Summary::of(kill)])
}

/// Section 10: aggregate K2K throughput: `slots` pumps, `tokens` tokens
/// each, passed on with `send_to` in `pattern` for `secs` seconds. Returns
/// (messages handled per second, sends refused by full inboxes).
async fn k2k_aggregate(
    backend: ringkernel::Backend,
    slots: u32,
    pattern: u32,
    tokens: u32,
    secs: f64,
) -> Res<(f64, u64)> {
    use ringkernel::{RingKernel, Spawn, SystemOptions};
    use ringkernel_device::kernels::{BenchSystem, Pump, PumpMsg};
    let rk = RingKernel::builder().backend(backend).build().await?;
    let opts = SystemOptions::new(slots).k2k_capacity(64).actor_options(system_actor_options());
    let sys = rk.launch_system::<BenchSystem>(opts).await?;
    let mut pumps = Vec::with_capacity(slots as usize);
    for _ in 0..slots {
        pumps.push(sys.spawn::<Pump>(Spawn::new()).await?);
    }
    let base = sys.base_actor_id();
    for (i, p) in pumps.iter().enumerate() {
        for t in 0..tokens {
            let token = (i as u64) << 32 | t as u64;
            p.send(PumpMsg { hops: u32::MAX, pattern, base, n: slots, token, _pad: 0 }).await?;
        }
    }
    let handled = || pumps.iter().map(|p| p.control_snapshot().messages_in).sum::<u64>();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (t0, c0) = (Instant::now(), handled());
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let (c1, dt) = (handled(), t0.elapsed().as_secs_f64());
    // Every output of a pump is a refused send (no token runs out of hops).
    let refused = pumps.iter().map(|p| p.control_snapshot().messages_out).sum::<u64>();
    sys.shutdown().await?;
    rk.shutdown().await?;
    Ok(((c1 - c0) as f64 / dt, refused))
}

fn load_module(ctx: &Context, dir: &std::path::Path, stem: &str) -> Res<Module> {
    let cubin = dir.join(format!("{stem}.cubin"));
    let ptx = dir.join(format!("{stem}.ptx"));
    let (path, image) =
        if cubin.exists() { (cubin.clone(), std::fs::read(&cubin)?) } else { (ptx.clone(), std::fs::read(&ptx)?) };
    println!("module: {}", path.display());
    Ok(Module::load(ctx, &image)?)
}

fn time_n(iters: usize, mut f: impl FnMut() -> Res<()>) -> Res<Vec<f64>> {
    let mut v = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_nanos() as f64);
    }
    Ok(v)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}")
}

struct Report {
    json: Vec<(String, String)>,
    md: String,
}

impl Report {
    fn section(&mut self, key: &str, json: String, md: &str) {
        println!("{md}");
        self.json.push((key.into(), json));
        self.md.push_str(md);
        self.md.push('\n');
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("rk-bench-gpu: error: {e}");
        std::process::exit(1);
    }
}

/// What the benchmark is doing, for the watchdog.
static PHASE: std::sync::Mutex<&'static str> = std::sync::Mutex::new("starting");

fn phase(p: &'static str) {
    *PHASE.lock().unwrap_or_else(|e| e.into_inner()) = p;
}

/// Exit with the current phase named if the run takes longer than `limit`:
/// a stuck driver call or kernel must not hang the GPU machine's session.
fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let p = *PHASE.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!("rk-bench-gpu: watchdog: still in phase `{p}` after {limit:?}; giving up");
        std::process::exit(3);
    });
}

fn run() -> Res<()> {
    let cfg = Config::from_args()?;
    // SAFETY: no other thread exists yet; the runtime's CUDA backend (section
    // 7) finds the kernels through this variable.
    unsafe { std::env::set_var("RINGKERNEL_PTX_DIR", &cfg.ptx_dir) };
    watchdog(Duration::from_secs(cfg.sustained_secs + 240));
    std::fs::create_dir_all(&cfg.out)?;
    let ctx = Context::new(0)?;
    let info = ctx.info().clone();
    let module = load_module(&ctx, &cfg.ptx_dir, "ringkernel_device")?;
    let empty = module.function("ringkernel_empty")?;
    let batch = module.function("ringkernel_batch_echo")?;
    let echo = module.function("ringkernel_echo")?;
    // Every function is looked up (and so loaded) before the first
    // persistent kernel starts: loading code later could wait for a context
    // synchronisation that a spinning kernel never lets finish.
    let slot_echo = module.function("ringkernel_slot_echo")?;
    let k2k = module.function("ringkernel_k2k_pingpong")?;
    let stream = Stream::new(&ctx)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut rep = Report { json: vec![], md: String::new() };
    let header = format!(
        "# RingKernel GPU benchmark\n\n- device: {} (sm_{}{}, {} SMs), driver {}.{}\n- date: {}\n- command: `{}`\n- host CPU threads: {}\n",
        info.name,
        info.compute_capability.0,
        info.compute_capability.1,
        info.multiprocessors,
        info.driver_version / 1000,
        (info.driver_version % 1000) / 10,
        today(),
        command,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("{header}");
    rep.md.push_str(&header);
    rep.md.push('\n');

    // 1. launch overhead
    phase("1: launch overhead");
    let warm = cfg.rt_iters / 10;
    let launch_once = || -> Res<()> {
        // SAFETY: the empty kernel takes no parameters.
        unsafe { empty.launch(&stream, 1, 32, &[], false)? };
        Ok(stream.synchronize()?)
    };
    time_n(warm, launch_once)?;
    let launch = Summary::of(time_n(cfg.rt_iters, launch_once)?);
    // SAFETY: as above, recorded into a graph.
    let graph = stream.capture(|s| unsafe { empty.launch(s, 1, 32, &[], false) })?;
    let replay = || -> Res<()> {
        graph.launch(&stream)?;
        Ok(stream.synchronize()?)
    };
    time_n(warm, replay)?;
    let graph_s = Summary::of(time_n(cfg.rt_iters, replay)?);
    rep.section(
        "launch_overhead",
        format!("{{\"launch_sync\":{},\"graph_replay_sync\":{}}}", launch.json(), graph_s.json()),
        &format!(
            "## 1. Launch overhead (empty kernel, 1×32 threads)\n\n| what | p50 | p90 | p99 | p99.9 |\n| --- | --- | --- | --- | --- |\n| `cuLaunchKernel` + stream sync | {} | {} | {} | {} |\n| CUDA graph replay + stream sync | {} | {} | {} | {} |\n",
            ns(launch.p50), ns(launch.p90), ns(launch.p99), ns(launch.p999),
            ns(graph_s.p50), ns(graph_s.p90), ns(graph_s.p99), ns(graph_s.p999)
        ),
    );

    // 2..4 persistent actor
    phase("2-4: persistent actor");
    let mut gpu = GpuEcho::launch(&ctx, &echo)?;
    gpu.peer.check_echo(1000)?;
    let enq = Summary::of(gpu.peer.enqueue_cost(cfg.rt_iters));
    rep.section(
        "host_enqueue",
        enq.json(),
        &format!(
            "## 2. Host enqueue into the mapped H2K ring (GPU actor consuming)\n\nPer-push cost, mean of each batch of 32 timed pushes ({} batches).\n\n| p50 | p90 | p99 | p99.9 |\n| --- | --- | --- | --- |\n| {} | {} | {} | {} |\n",
            enq.n, ns(enq.p50), ns(enq.p90), ns(enq.p99), ns(enq.p999)
        ),
    );

    let mut runs_p50 = vec![];
    let mut all = vec![];
    gpu.peer.round_trips(warm);
    for _ in 0..cfg.rt_runs {
        let v = gpu.peer.round_trips(cfg.rt_iters);
        runs_p50.push(Summary::of(v.clone()).p50);
        all.extend(v);
    }
    let rt = Summary::of(all);
    let (_, rt_cv) = mean_cv(&runs_p50);

    // launch-per-command: one message, one batch-echo launch
    let io = MappedBuffer::new(&ctx, 2 * 1024 * ENVELOPE_BYTES)?;
    let inp = io.host_ptr() as *mut Envelope;
    // SAFETY: second half of the same buffer.
    let outp = unsafe { inp.add(1024) };
    let in_d = io.device_addr();
    let out_d = in_d + (1024 * ENVELOPE_BYTES) as u64;
    let per_cmd = |n: usize| -> Res<()> {
        for i in 0..n {
            // SAFETY: i < 1024, inside the buffer; the kernel is not running.
            unsafe { inp.add(i).write(EchoPeer::request(i as u64)) };
        }
        let blocks = n.div_ceil(128) as u32;
        // SAFETY: parameters match `ringkernel_batch_echo(input, output, n)`;
        // `io` outlives the synchronous launch.
        unsafe { batch.launch(&stream, blocks, 128, &[in_d, out_d, n as u64], false)? };
        stream.synchronize()?;
        // SAFETY: the kernel finished; n <= 1024.
        let last = unsafe { outp.add(n - 1).read() };
        if last.header.correlation_id != n as u64 {
            return Err("batch echo produced a wrong reply".into());
        }
        Ok(())
    };
    time_n(warm, || per_cmd(1))?;
    let per_cmd_rt = Summary::of(time_n(cfg.rt_iters, || per_cmd(1))?);

    let mut cpu = CpuEcho::launch()?;
    cpu.peer.check_echo(1000)?;
    cpu.peer.round_trips(warm);
    let cpu_rt = Summary::of(cpu.peer.round_trips(cfg.rt_iters));
    let row = |name: &str, s: &Summary| {
        format!(
            "| {name} | {} | {} | {} | {} | {:.2} |\n",
            ns(s.p50),
            ns(s.p90),
            ns(s.p99),
            ns(s.p999),
            s.p50 / graph_s.p50
        )
    };
    let mut md = String::from(
        "## 3. Round trip, one 128-byte envelope (64-byte payload), host → actor → host\n\n| path | p50 | p90 | p99 | p99.9 | p50 / graph replay |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    md += &row("persistent GPU actor (`ringkernel_echo`)", &rt);
    md += &row("launch per command (batch-echo kernel, n=1, + sync)", &per_cmd_rt);
    md += &row("CUDA graph replay + sync (empty kernel, no data)", &graph_s);
    md += &row("`cuLaunchKernel` + sync (empty kernel, no data)", &launch);
    md += &row("same actor on a CPU thread (CPU backend loop)", &cpu_rt);
    let _ = write!(
        md,
        "\nPersistent actor p50 over {} runs of {} round trips: {}; CV of the run p50s: {:.2} %.\n",
        cfg.rt_runs,
        cfg.rt_iters,
        runs_p50.iter().map(|v| ns(*v)).collect::<Vec<_>>().join(", "),
        rt_cv * 100.0
    );
    rep.section(
        "round_trip",
        format!(
            "{{\"persistent_gpu\":{},\"launch_per_command\":{},\"graph_replay_sync\":{},\"launch_sync\":{},\"cpu_actor\":{},\"persistent_run_p50s_ns\":[{}],\"persistent_run_p50_cv\":{:.5},\"ratio_p50_persistent_over_graph\":{:.4}}}",
            rt.json(), per_cmd_rt.json(), graph_s.json(), launch.json(), cpu_rt.json(),
            runs_p50.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(","), rt_cv, rt.p50 / graph_s.p50
        ),
        &md,
    );

    // 4. pipelined throughput
    let mut md = String::from(
        "## 4. Pipelined round trips, 128-byte envelopes (64-byte payload)\n\nMessages per second with at most W requests outstanding, one host thread; beside one batch-echo launch per W messages and the CPU loop.\n\n| W | persistent GPU actor | launch per W (batch kernel) | CPU actor thread | GPU / batch |\n| --- | --- | --- | --- | --- |\n",
    );
    let mut js_rows = vec![];
    for &w in &cfg.windows {
        let (g, gbad) = gpu.peer.pipelined(w, cfg.tput_secs);
        let (c, cbad) = cpu.peer.pipelined(w, cfg.tput_secs);
        if gbad + cbad > 0 {
            return Err(format!("pipelined replies out of order (gpu {gbad}, cpu {cbad})").into());
        }
        let bw = w.min(1024);
        let t = Instant::now();
        let mut n = 0usize;
        while t.elapsed().as_secs_f64() < cfg.tput_secs {
            per_cmd(bw)?;
            n += bw;
        }
        let b = n as f64 / t.elapsed().as_secs_f64();
        let _ = writeln!(md, "| {w} | {:.2} M/s | {:.2} M/s | {:.2} M/s | {:.1}× |", g / 1e6, b / 1e6, c / 1e6, g / b);
        js_rows.push(format!("{{\"window\":{w},\"persistent_gpu_msgs_per_s\":{g:.0},\"batch_kernel_msgs_per_s\":{b:.0},\"cpu_actor_msgs_per_s\":{c:.0}}}"));
    }
    rep.section("pipelined", format!("[{}]", js_rows.join(",")), &md);
    cpu.stop()?;

    // 5. sustained
    phase("5: sustained");
    let w = 256;
    let rss0 = rss_kib();
    let (free0, _) = ringkernel::cuda::driver::mem_info(&ctx)?;
    let mut samples = vec![];
    for _ in 0..cfg.sustained_secs {
        let (r, bad) = gpu.peer.pipelined(w, 1.0);
        if bad > 0 {
            return Err("sustained run: replies out of order".into());
        }
        samples.push(r);
    }
    let rss1 = rss_kib();
    let (free1, _) = ringkernel::cuda::driver::mem_info(&ctx)?;
    let (mean, cv) = mean_cv(&samples);
    rep.section(
        "sustained",
        format!(
            "{{\"window\":{w},\"seconds\":{},\"samples_msgs_per_s\":[{}],\"mean_msgs_per_s\":{mean:.0},\"cv\":{cv:.5},\"rss_kib_start\":{rss0},\"rss_kib_end\":{rss1},\"gpu_free_bytes_start\":{free0},\"gpu_free_bytes_end\":{free1}}}",
            cfg.sustained_secs,
            samples.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(",")
        ),
        &format!(
            "## 5. Sustained pipelined run (W = {w}, {} s)\n\n| mean | CV of per-second samples | min | max | host RSS start → end | GPU free memory start → end |\n| --- | --- | --- | --- | --- | --- |\n| {:.2} M/s | {:.3} % | {:.2} M/s | {:.2} M/s | {} → {} KiB | {} → {} MiB |\n",
            cfg.sustained_secs, mean / 1e6, cv * 100.0,
            samples.iter().cloned().fold(f64::INFINITY, f64::min) / 1e6,
            samples.iter().cloned().fold(0.0, f64::max) / 1e6,
            rss0, rss1, free0 >> 20, free1 >> 20
        ),
    );
    // The raw kernel must be gone before runtimes load their modules:
    // loading code may wait for a context synchronisation.
    gpu.stop()?;

    // 6. the rings alone, by slot size (the actor envelope is 128 bytes).
    // Run with no other persistent kernel up: allocating and launching
    // while one spins has stalled in the driver.
    let sizes = [64u32, 128, 256, 1024];
    let windows = [1usize, 32, 1024];
    let mut md = String::from(
        "## 6. The rings alone by message size: pipelined echoes through `ringkernel_slot_echo`\n\nNo actor: warp 0 of a persistent kernel echoes each slot (sequence word + data) from the H2K ring to the K2H ring with the actor loop's protocol (per-lane acquire loads, up to 32 slots per peek, one release fence per batch). Every echo is checked. Messages per second by slot size and window; W = 1 is also given as a round-trip time.\n\n| slot bytes | W = 1 | round trip (W = 1) | W = 32 | W = 1024 | GB/s each way at W = 1024 |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    let mut js_rows = vec![];
    for &size in &sizes {
        phase("6: allocating slot rings");
        let rings = SlotRings::new(&ctx, size, RING_CAP)?;
        phase("6: launching ringkernel_slot_echo");
        let d = rings.mem.device_addr();
        // SAFETY: the entry takes (inbox, outbox, slot_bytes); both rings are
        // in `rings`, which outlives the kernel (stopped below).
        unsafe { slot_echo.launch(&stream, 1, 32, &[d, d + rings.out_off as u64, size as u64], false)? };
        phase("6: echoing");
        let mut pos = (0u64, 0u64, 0u64);
        slot_pipelined(&rings, &mut pos, 1, cfg.tput_secs / 4.0)?;
        let rates: Vec<f64> =
            windows.iter().map(|&w| slot_pipelined(&rings, &mut pos, w, cfg.tput_secs)).collect::<Res<_>>()?;
        slot_stop(&rings, &mut pos, &stream)?;
        let _ = writeln!(
            md,
            "| {size} | {:.3} M/s | {} | {:.2} M/s | {:.2} M/s | {:.2} |",
            rates[0] / 1e6,
            ns(1e9 / rates[0]),
            rates[1] / 1e6,
            rates[2] / 1e6,
            rates[2] * size as f64 / 1e9
        );
        js_rows.push(format!(
            "{{\"slot_bytes\":{size},\"w1_msgs_per_s\":{:.0},\"w32_msgs_per_s\":{:.0},\"w1024_msgs_per_s\":{:.0}}}",
            rates[0], rates[1], rates[2]
        ));
    }
    rep.section("pipelined_by_slot_size", format!("[{}]", js_rows.join(",")), &md);

    // 7. through the public API
    phase("7: public API");
    let trt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut md = String::from(
        "## 7. Through the public API (`KernelHandle::request`, tokio, 2 worker threads)\n\nThe same `Echo` actor launched with `RingKernel::launch`; replies reach the awaiting task through the runtime's poller thread.\n\n| backend | request p50 | p90 | p99 | p99.9 | pipelined (256 in flight) |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    let mut js_rows = vec![];
    for backend in [ringkernel::Backend::Cuda, ringkernel::Backend::Cpu] {
        let (s, tput) = trt.block_on(api_round_trips(backend, cfg.rt_iters, cfg.tput_secs))?;
        let _ = writeln!(
            md,
            "| {backend:?} | {} | {} | {} | {} | {:.2} M/s |",
            ns(s.p50),
            ns(s.p90),
            ns(s.p99),
            ns(s.p999),
            tput / 1e6
        );
        js_rows.push(format!(
            "{{\"backend\":\"{backend:?}\",\"request\":{},\"pipelined_256_msgs_per_s\":{tput:.0}}}",
            s.json()
        ));
    }
    rep.section("public_api", format!("[{}]", js_rows.join(",")), &md);

    // 8. K2K ping-pong through device memory, .gpu against .sys scope
    phase("8: k2k ping-pong");
    let ring = ring_bytes(RING_CAP, ENVELOPE_BYTES as u32);
    let k2k_rounds: u32 = if cfg.rt_iters >= 20_000 { 100_000 } else { 10_000 };
    let mut md = format!(
        "## 8. K2K: ping-pong between two blocks through rings in device memory\n\nBlock 0 sends an envelope to block 1 and waits for its echo, {k2k_rounds} times, with the ring endpoints of `ringkernel-device` (one thread per block, cooperative launch); time from `%globaltimer` in the kernel, per round trip. Five launches per scope.\n\n| scope | mean round trip (5 launches) | min | max |\n| --- | --- | --- | --- |\n"
    );
    let mut js_rows = vec![];
    for (name, scope) in [(".gpu (DeviceRing)", 1u64), (".sys (RawRing, Rust atomics)", 0)] {
        let mut per = vec![];
        for _ in 0..5 {
            let buf = DeviceBuffer::new(&ctx, 2 * ring + 16)?;
            let h = RingHeader::new(RING_CAP, ENVELOPE_BYTES as u32)?;
            buf.write(0, bytemuck::bytes_of(&h))?;
            buf.write(ring, bytemuck::bytes_of(&h))?;
            let d = buf.device_addr();
            let out = d + 2 * ring as u64;
            // SAFETY: (a, b, rounds, device_scope, out) as the entry takes
            // them; `buf` outlives the launch (synchronised below).
            unsafe { k2k.launch(&stream, 2, 32, &[d, d + ring as u64, k2k_rounds as u64, scope, out], true)? };
            stream.synchronize()?;
            let mut words = [0u8; 16];
            buf.read(2 * ring, &mut words)?;
            let elapsed = u64::from_le_bytes(words[..8].try_into()?);
            let wrong = u64::from_le_bytes(words[8..].try_into()?);
            if wrong != 0 {
                return Err(format!("k2k ping-pong: {wrong} echoes out of order").into());
            }
            per.push(elapsed as f64 / k2k_rounds as f64);
        }
        let (mean, _) = mean_cv(&per);
        let (lo, hi) = (per.iter().cloned().fold(f64::INFINITY, f64::min), per.iter().cloned().fold(0.0, f64::max));
        let _ = writeln!(md, "| {name} | {} | {} | {} |", ns(mean), ns(lo), ns(hi));
        js_rows.push(format!(
            "{{\"scope\":{},\"round_trip_ns\":[{}]}}",
            js(name),
            per.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(",")
        ));
    }
    rep.section("k2k_pingpong", format!("[{}]", js_rows.join(",")), &md);

    // 9. create / restart / kill in a running actor system
    phase("9: system create/restart");
    let lc_iters = if cfg.rt_iters >= 20_000 { 1000 } else { 100 };
    let mut md = format!(
        "## 9. Actor system: host-triggered create, restart and kill (no relaunch)\n\nOne `BenchSystem` launch with 2 slots; each iteration creates an `Echo` actor (`ActorSystem::spawn`, returns once it is Active), checks one request, restarts it (`ActorSystem::restart`: fresh state from `create`, same slot), checks one request, and kills it (`ActorSystem::kill`, returns once the slot is Dormant). {lc_iters} iterations after a 10 % warm-up, timed at the async API. Baseline for the same operation without an actor system: relaunching a kernel (section 1).\n\n| backend | op | p50 | p90 | p99 | p99.9 |\n| --- | --- | --- | --- | --- | --- |\n"
    );
    let mut js_rows = vec![];
    for backend in [ringkernel::Backend::Cuda, ringkernel::Backend::Cpu] {
        let sums = trt.block_on(system_lifecycle(backend, lc_iters))?;
        for (op, s) in ["create", "restart", "kill"].iter().zip(&sums) {
            let _ =
                writeln!(md, "| {backend:?} | {op} | {} | {} | {} | {} |", ns(s.p50), ns(s.p90), ns(s.p99), ns(s.p999));
            js_rows.push(format!("{{\"backend\":\"{backend:?}\",\"op\":\"{op}\",\"latency\":{}}}", s.json()));
        }
    }
    rep.section("system_lifecycle", format!("[{}]", js_rows.join(",")), &md);

    // 10. aggregate K2K throughput
    phase("10: k2k aggregate");
    let sms = info.multiprocessors.max(1) as u32;
    let cpus = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2);
    let secs = cfg.tput_secs.max(0.5);
    let mut md = format!(
        "## 10. Actor system: aggregate K2K throughput\n\n`Pump` actors, one slot each (a thread block on CUDA, a thread on the CPU), pass tokens to each other with `Context::send_to` through K2K inboxes of 64 in device memory: *ring* sends to the next actor, *neighbours* to one at distance ±1 or ±2. Each actor starts with T tokens; the rate is envelopes handled per second by all actors together over {secs} s (from the control-block counters). A send refused by a full inbox is counted, not dropped silently.\n\n| backend | actors | tokens/actor | pattern | handled/s | refused sends |\n| --- | --- | --- | --- | --- | --- |\n"
    );
    let mut js_rows = vec![];
    let mut runs: Vec<(ringkernel::Backend, u32, u32)> = vec![
        (ringkernel::Backend::Cuda, sms, 8),
        (ringkernel::Backend::Cuda, 4 * sms, 8),
        (ringkernel::Backend::Cuda, 8 * sms, 8),
    ];
    runs.push((ringkernel::Backend::Cpu, cpus, 8));
    for (backend, slots, tokens) in runs {
        for (pname, pattern) in [
            ("ring", ringkernel_device::kernels::PUMP_RING),
            ("neighbours", ringkernel_device::kernels::PUMP_NEIGHBOURS),
        ] {
            match trt.block_on(k2k_aggregate(backend, slots, pattern, tokens, secs)) {
                Ok((rate, refused)) => {
                    let _ = writeln!(
                        md,
                        "| {backend:?} | {slots} | {tokens} | {pname} | {:.1} M/s | {refused} |",
                        rate / 1e6
                    );
                    js_rows.push(format!(
                        "{{\"backend\":\"{backend:?}\",\"actors\":{slots},\"tokens\":{tokens},\"pattern\":\"{pname}\",\"msgs_per_s\":{rate:.0},\"refused\":{refused}}}"
                    ));
                }
                Err(e) => {
                    let _ = writeln!(md, "| {backend:?} | {slots} | {tokens} | {pname} | not run: {e} | |");
                    js_rows.push(format!(
                        "{{\"backend\":\"{backend:?}\",\"actors\":{slots},\"pattern\":\"{pname}\",\"error\":{}}}",
                        js(&e.to_string())
                    ));
                }
            }
        }
    }
    rep.section("k2k_aggregate", format!("[{}]", js_rows.join(",")), &md);

    let json = format!(
        "{{\"device\":{},\"compute_capability\":\"{}.{}\",\"sms\":{},\"driver_version\":{},\"date\":{},\"command\":{},\"sections\":{{{}}}}}\n",
        js(&info.name),
        info.compute_capability.0,
        info.compute_capability.1,
        info.multiprocessors,
        info.driver_version,
        js(&today()),
        js(&command),
        rep.json.iter().map(|(k, v)| format!("{}:{v}", js(k))).collect::<Vec<_>>().join(",")
    );
    std::fs::write(cfg.out.join("gpu-bench.json"), json)?;
    std::fs::write(cfg.out.join("gpu-bench.md"), &rep.md)?;
    println!("wrote {}/gpu-bench.{{json,md}}", cfg.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The system sections' CPU rows, as the GPU run measures them: they
    /// must work before they are timed on a GPU machine.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_sections_run_on_the_cpu_backend() {
        let [create, restart, kill] = system_lifecycle(ringkernel::Backend::Cpu, 20).await.unwrap();
        assert!(create.p50 > 0.0 && restart.p50 > 0.0 && kill.p50 > 0.0);
        for pattern in [ringkernel_device::kernels::PUMP_RING, ringkernel_device::kernels::PUMP_NEIGHBOURS] {
            let (rate, _refused) = k2k_aggregate(ringkernel::Backend::Cpu, 4, pattern, 4, 0.2).await.unwrap();
            assert!(rate > 0.0, "tokens circulate (pattern {pattern})");
        }
    }
}
