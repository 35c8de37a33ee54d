//! The CPU backend: each actor on its own host thread.
//!
//! The thread runs [`ringkernel_device::run_actor`] with [`HostPlatform`]:
//! the same actor loop, ring protocol, envelope validation and HLC code that
//! the GPU runs, over the same memory layout (an aligned heap block instead
//! of mapped pinned memory). A panic in a handler is caught at the thread's
//! top, reported as [`ExecutionError::Panicked`], and the actor's state is
//! set to Failed, so requests waiting on it fail instead of hanging.
//!
//! ## Back-off policy of an idle actor ([`HostPlatform::relax`])
//!
//! `idle_rounds` counts consecutive polls that found nothing to do.
//!
//! | idle rounds | action | wake-up latency | CPU cost while idle |
//! | --- | --- | --- | --- |
//! | 1 ..= 16 | `spin_loop` hint (about 1 µs in all) | ~0.1 µs | one core, briefly |
//! | 17 ..= 2048 | `thread::yield_now` (about 1–2 ms in all) | ~1 µs; hands the core to any runnable thread | one core if nothing else runs, nothing if something does |
//! | 2049 .. | `thread::park_timeout`, 20 µs doubling every 32 rounds up to 200 µs | unpark: ~5–50 µs; otherwise ≤ 200 µs | ~5 000 wake-ups/s, about 1–2 % of a core |
//!
//! Why so little spinning: a request/reply crosses three threads (the
//! requesting task, the actor, the poller). On a machine with fewer cores
//! than that, a spinning thread keeps the very thread it waits for off the
//! CPU; yielding keeps polling at syscall speed while giving way. Measured
//! on a 2-vCPU VM, a round trip took about 27 µs with 128 spin rounds and
//! 10–12 µs with 2–16.
//!
//! The host unparks the actor thread whenever it posts a message or a
//! command ([`Execution::wake`]), so a deeply idle actor still answers in
//! tens of microseconds; the timeout only bounds how long an actor waits for
//! things nobody signals (room in a full outbox). On the 2-core machines the
//! tests run on, a dozen idle actors cost well under a quarter of one core.

use crate::backend::{
    ActorProgram, BackendImpl, BackendKind, DeviceBlock, Execution, GangProgram, HostBlock, SystemExecution,
    SystemProgram,
};
use crate::error::{ExecutionError, LaunchError};
use crate::gang::{GangOptions, GangReadError, GangWorkers, check_range};
use crate::memory::MemoryOwner;
use crate::memory::{ActorLayout, ActorMemory, alloc_heap_actor, alloc_heap_block};
use crate::runtime::LaunchOptions;
use crate::sync::lock;
use ringkernel_device::Platform;
use ringkernel_device::atomic::sys;
use ringkernel_shared::LifecycleState;
use ringkernel_shared::gang::{GangControl, GangLayout};
use ringkernel_shared::system::SystemControl;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Idle rounds spent spinning.
const SPIN_ROUNDS: u32 = 16;
/// Idle rounds (after spinning) spent yielding.
const YIELD_ROUNDS: u32 = 2048;
/// First park timeout.
const PARK_MIN: Duration = Duration::from_micros(20);
/// Longest park timeout.
const PARK_MAX: Duration = Duration::from_micros(200);

/// The platform of CPU-backend actor threads: the system clock and the
/// back-off policy in the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostPlatform;

/// Nanoseconds since the Unix epoch (0 if the clock is before it). HLC
/// stamps tolerate a clock that steps backwards.
pub(crate) fn system_time_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What one idle round of [`backoff`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// A `spin_loop` hint.
    Spin,
    /// `thread::yield_now`.
    Yield,
    /// `thread::park_timeout` with this timeout.
    Park(Duration),
}

/// The back-off policy (the module docs' table): what idle round
/// `idle_rounds` does.
fn backoff_step(idle_rounds: u32) -> Step {
    if idle_rounds <= SPIN_ROUNDS {
        Step::Spin
    } else if idle_rounds <= YIELD_ROUNDS {
        Step::Yield
    } else {
        let doublings = ((idle_rounds - YIELD_ROUNDS) / 32).min(8);
        Step::Park(PARK_MIN.saturating_mul(1 << doublings).min(PARK_MAX))
    }
}

/// The shared back-off of host polling loops (actor threads, the poller):
/// spin, then yield, then park with a growing, capped timeout.
pub(crate) fn backoff(idle_rounds: u32) {
    match backoff_step(idle_rounds) {
        Step::Spin => std::hint::spin_loop(),
        Step::Yield => thread::yield_now(),
        Step::Park(timeout) => thread::park_timeout(timeout),
    }
}

impl Platform for HostPlatform {
    fn now_ns() -> u64 {
        system_time_ns()
    }

    fn relax(idle_rounds: u32) {
        backoff(idle_rounds);
    }
}

/// The CPU backend.
#[derive(Debug)]
pub(crate) struct CpuBackend;

impl BackendImpl for CpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn alloc_actor(&self, layout: &ActorLayout) -> Result<ActorMemory, LaunchError> {
        alloc_heap_actor(layout)
    }

    fn start(
        &self,
        program: &ActorProgram,
        mem: &ActorMemory,
        opts: &LaunchOptions,
    ) -> Result<Box<dyn Execution>, LaunchError> {
        let ptrs = mem.pointers();
        // SAFETY: the control block is valid and not shared yet (the
        // runtime wrote it just before `start`).
        let type_id = unsafe { sys::load_relaxed_u32(&raw const (*ptrs.control).type_id) };
        if type_id != program.type_id {
            return Err(LaunchError::Start {
                backend: BackendKind::Cpu,
                reason: format!("control block type id {type_id:#x} is not the program's {:#x}", program.type_id)
                    .into(),
                source: None,
            });
        }
        let entry = program.cpu_entry;
        let gang = match (program.gang, &opts.gang) {
            (Some(g), Some(o)) => Some(CpuGang::new(g, o)?),
            _ => None,
        };
        let gang_run = gang.as_ref().map(|g| (g.program, g.addr(), g.workers));
        let fault = Arc::new(Mutex::new(None));
        let thread_fault = Arc::clone(&fault);
        let thread = thread::Builder::new()
            .name(format!("rk-{}-{}", program.actor_id, program.entry))
            .spawn(move || {
                // SAFETY: the runtime keeps the actor memory alive until this
                // thread is joined, and this thread is the only consumer of
                // the inbox and the only producer of the outbox
                // (`run_actor`'s contract). The gang memory lives in the
                // execution, which outlives this thread.
                let run = catch_unwind(AssertUnwindSafe(|| unsafe {
                    match gang_run {
                        None => entry(ptrs),
                        Some((g, addr, workers)) => run_with_gang(g, ptrs, addr as *mut GangControl, workers),
                    }
                }));
                if let Err(payload) = run {
                    let message = panic_message(payload.as_ref());
                    *lock(&thread_fault) = Some(ExecutionError::Panicked { message });
                    // The actor side of the control block is this thread:
                    // report the crash the way a handler fault is reported.
                    // SAFETY: the control block is valid (as above); the
                    // host only reads `state`, atomically.
                    unsafe { sys::store_release_u32(&raw mut (*ptrs.control).state, LifecycleState::FAILED.as_u32()) };
                }
            })
            .map_err(|e| LaunchError::Start {
                backend: BackendKind::Cpu,
                reason: "could not spawn the actor thread".into(),
                source: Some(Box::new(e)),
            })?;
        let unparker = thread.thread().clone();
        Ok(Box::new(CpuExecution { thread: Mutex::new(Some(thread)), unparker, fault, gang }))
    }

    fn alloc_host_block(&self, bytes: usize) -> Result<HostBlock, LaunchError> {
        let (ptr, owner) = alloc_heap_block(bytes)?;
        Ok(HostBlock { ptr, _owner: owner })
    }

    fn alloc_device_block(&self, image: &[u8]) -> Result<DeviceBlock, LaunchError> {
        let (ptr, owner) = alloc_heap_block(image.len())?;
        // SAFETY: a fresh block of at least `image.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(image.as_ptr(), ptr, image.len()) };
        Ok(DeviceBlock { addr: ptr as u64, _owner: owner })
    }

    fn start_system(
        &self,
        program: &SystemProgram,
        control: *const SystemControl,
    ) -> Result<Arc<dyn SystemExecution>, LaunchError> {
        Self::start_slots(program, control)
    }
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// The system control block's address, sendable to slot threads.
#[derive(Clone, Copy)]
struct ControlPtr(*const SystemControl);

// SAFETY: the system memory is shared by design; slots touch it only through
// the system protocols (ringkernel_shared::system).
unsafe impl Send for ControlPtr {}

impl CpuBackend {
    fn start_slots(
        program: &SystemProgram,
        control: *const SystemControl,
    ) -> Result<Arc<dyn SystemExecution>, LaunchError> {
        let faults: Arc<Vec<Mutex<Option<ExecutionError>>>> =
            Arc::new((0..program.slots).map(|_| Mutex::new(None)).collect());
        let mut threads = Vec::with_capacity(program.slots as usize);
        for slot in 0..program.slots {
            let entry = program.cpu_slot;
            let ctl = ControlPtr(control);
            let faults = Arc::clone(&faults);
            let t = thread::Builder::new()
                .name(format!("rk-{}-{slot}", program.entry))
                .spawn(move || {
                    let ctl = ctl;
                    // SAFETY: the runtime keeps the system memory alive until
                    // every slot thread is joined; one thread per slot.
                    let run = catch_unwind(AssertUnwindSafe(|| unsafe { entry(ctl.0, slot) }));
                    if let Err(payload) = run {
                        *lock(&faults[slot as usize]) =
                            Some(ExecutionError::Panicked { message: panic_message(payload.as_ref()) });
                    }
                })
                .map_err(|e| LaunchError::Start {
                    backend: BackendKind::Cpu,
                    reason: "could not spawn a slot thread".into(),
                    source: Some(Box::new(e)),
                });
            match t {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // Stop the slots already started, then report.
                    // SAFETY: `control` is valid; `shutdown` is atomic.
                    unsafe { sys::store_release_u32(&raw const (*control).shutdown as *mut u32, 1) };
                    for t in threads {
                        t.thread().unpark();
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        let unparkers = threads.iter().map(|t| t.thread().clone()).collect();
        Ok(Arc::new(CpuSystem { threads: Mutex::new(threads), unparkers, faults }))
    }
}

/// The threads of one actor system.
struct CpuSystem {
    threads: Mutex<Vec<JoinHandle<()>>>,
    unparkers: Vec<Thread>,
    faults: Arc<Vec<Mutex<Option<ExecutionError>>>>,
}

impl SystemExecution for CpuSystem {
    fn slot_fault(&self, slot: u32) -> Option<ExecutionError> {
        self.faults.get(slot as usize).and_then(|f| lock(f).clone())
    }

    fn is_finished(&self) -> bool {
        lock(&self.threads).iter().all(JoinHandle::is_finished)
    }

    fn join(&self, timeout: Duration) -> Result<(), ExecutionError> {
        let deadline = Instant::now() + timeout;
        while !self.is_finished() {
            if Instant::now() >= deadline {
                return Err(ExecutionError::JoinTimeout { waited: timeout });
            }
            for t in &self.unparkers {
                t.unpark();
            }
            thread::sleep(Duration::from_micros(200));
        }
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
        Ok(())
    }

    fn wake_slot(&self, slot: u32) {
        if let Some(t) = self.unparkers.get(slot as usize) {
            t.unpark();
        }
    }
}

/// One actor thread.
struct CpuExecution {
    thread: Mutex<Option<JoinHandle<()>>>,
    unparker: Thread,
    fault: Arc<Mutex<Option<ExecutionError>>>,
    /// The actor's gang memory; freed after the thread (and its workers)
    /// were joined, since the execution is dropped only then.
    gang: Option<CpuGang>,
}

/// A gang's memory on the heap.
struct CpuGang {
    program: GangProgram,
    ptr: *mut u8,
    workers: u32,
    layout: GangLayout,
    _owner: Box<dyn MemoryOwner>,
}

// SAFETY: a pointer into memory owned by `_owner` (Send + Sync), accessed
// by the gang protocol's atomics and by the work's own threads.
unsafe impl Send for CpuGang {}
// SAFETY: as above.
unsafe impl Sync for CpuGang {}

impl CpuGang {
    fn new(program: GangProgram, opts: &GangOptions) -> Result<Self, LaunchError> {
        let workers = match opts.workers {
            GangWorkers::Exact(n) => n,
            GangWorkers::Fill => thread::available_parallelism().map_or(1, |n| n.get() as u32),
        };
        let layout = opts.layout(workers)?;
        let (ptr, owner) = alloc_heap_block(layout.total)?;
        let control = layout.control(program.work_id, opts.params);
        // SAFETY: a fresh, zeroed, 128-aligned block of `layout.total` bytes;
        // nothing runs over it yet.
        unsafe { ptr.cast::<GangControl>().write(control) };
        Ok(Self { program, ptr, workers, layout, _owner: owner })
    }

    fn addr(&self) -> usize {
        self.ptr as usize
    }
}

/// The actor thread of an actor with a gang: its workers on scoped threads,
/// the actor loop on this one; when the loop ends (or panics) the workers
/// are told to return and are joined.
///
/// # Safety
/// As for `run_actor_with_gang`: `ptrs` and `gang` are valid until this
/// returns, and `gang` was laid out for `workers` workers.
unsafe fn run_with_gang(g: GangProgram, ptrs: ringkernel_device::ActorPointers, gang: *mut GangControl, workers: u32) {
    let addr = gang as usize;
    thread::scope(|s| {
        for index in 0..workers {
            let worker = g.cpu_worker;
            let spawned = thread::Builder::new().name(format!("rk-gang-{index}")).spawn_scoped(s, move || {
                // SAFETY: the gang memory outlives the scope; one thread per
                // worker index.
                let run = catch_unwind(AssertUnwindSafe(|| unsafe { worker(addr as *mut GangControl, index) }));
                if run.is_err() {
                    // A worker that panicked never reports its job: stop the
                    // gang so that the actor waiting for the job fails too.
                    // SAFETY: a control word, accessed atomically.
                    unsafe { sys::store_release_u32(&raw mut (*(addr as *mut GangControl)).shutdown, 2) };
                }
            });
            if spawned.is_err() {
                // SAFETY: as above.
                unsafe { sys::store_release_u32(&raw mut (*gang).shutdown, 2) };
            }
        }
        // SAFETY: forwarded contract.
        let run = catch_unwind(AssertUnwindSafe(|| unsafe { (g.cpu_actor)(ptrs, gang) }));
        // SAFETY: a control word, accessed atomically.
        unsafe { sys::store_release_u32(&raw mut (*gang).shutdown, 1) };
        if let Err(payload) = run {
            std::panic::resume_unwind(payload);
        }
    });
}

impl Execution for CpuExecution {
    fn poll_fault(&self) -> Option<ExecutionError> {
        lock(&self.fault).clone()
    }

    fn is_finished(&self) -> bool {
        lock(&self.thread).as_ref().is_none_or(JoinHandle::is_finished)
    }

    fn join(&self, timeout: Duration) -> Result<(), ExecutionError> {
        let deadline = Instant::now() + timeout;
        let mut round = 0u32;
        loop {
            let mut slot = lock(&self.thread);
            match slot.take() {
                None => return Ok(()),
                Some(t) if t.is_finished() => {
                    drop(slot);
                    // The thread body catches panics, so a join error can
                    // only come from the catch itself; report it the same way.
                    return t.join().map_err(|_| ExecutionError::Panicked {
                        message: "the actor thread panicked while reporting a panic".to_owned(),
                    });
                }
                Some(t) => {
                    *slot = Some(t);
                }
            }
            drop(slot);
            if Instant::now() >= deadline {
                return Err(ExecutionError::JoinTimeout { waited: timeout });
            }
            self.unparker.unpark();
            round += 1;
            thread::sleep(Duration::from_micros(if round < 10 { 10 } else { 200 }));
        }
    }

    fn wake(&self) {
        self.unparker.unpark();
    }

    fn gang(&self) -> Option<(u32, usize)> {
        self.gang.as_ref().map(|g| (g.workers, g.layout.arena_len))
    }

    unsafe fn read_gang_arena(&self, at: usize, out: &mut [u8]) -> Result<(), GangReadError> {
        let g = self.gang.as_ref().ok_or(GangReadError::NoGang)?;
        check_range(at, out.len(), g.layout.arena_len)?;
        // SAFETY: the range is inside the arena (checked), which lives as
        // long as `self`; the caller promises no job writes it meanwhile.
        unsafe { std::ptr::copy_nonoverlapping(g.ptr.add(g.layout.arena + at), out.as_mut_ptr(), out.len()) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module docs' table, in its own numbers (so the table and the
    /// constants cannot drift apart): spin for rounds 1..=16, yield for
    /// 17..=2048, then park 20 µs doubling every 32 rounds up to 200 µs.
    #[test]
    fn backoff_policy_spins_then_yields_then_parks_with_doubling_capped_timeouts() {
        let us = Duration::from_micros;
        for round in 1..=16 {
            assert_eq!(backoff_step(round), Step::Spin, "round {round}");
        }
        for round in 17..=2048 {
            assert_eq!(backoff_step(round), Step::Yield, "round {round}");
        }
        // Each park tier, sampled at its first round.
        let tiers: Vec<Step> = (0..6).map(|k| backoff_step(2049 + 32 * k)).collect();
        let parks = [20, 40, 80, 160, 200, 200].map(|t| Step::Park(us(t)));
        assert_eq!(tiers, parks);
        // Every round from the first park on: never shorter than the round
        // before, never outside 20 ..= 200 µs, doubling at most each step.
        let mut last = us(20);
        for round in 2049..=4096 {
            let Step::Park(t) = backoff_step(round) else { panic!("round {round} does not park") };
            assert!(t >= last && t <= last * 2, "round {round}: {t:?} after {last:?}");
            assert!((us(20)..=us(200)).contains(&t), "round {round}: {t:?}");
            last = t;
        }
        assert_eq!(last, us(200), "the cap is reached");
        // No overflow and still capped however long the actor idles.
        assert_eq!(backoff_step(u32::MAX), Step::Park(us(200)));
        assert_eq!(backoff_step(u32::MAX - 1), Step::Park(us(200)));
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(system_time_ns() > 1_577_836_800_000_000_000);
    }
}
