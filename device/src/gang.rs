//! Gangs: data-parallel worker blocks that an actor hands jobs to, inside
//! its own persistent launch.
//!
//! An actor's handler runs on one warp, in lockstep ([`crate::Actor`]).
//! That is the right shape for protocol logic and the wrong one for work
//! over megabytes of data. A kernel declared with
//! `actor_kernel!(entry, MyActor, gang = MyWork)` runs, next to the actor,
//! a gang of worker blocks (blocks `1..=workers` on CUDA, one host thread
//! each on the CPU backend) that wait for jobs of type [`GangWork::Job`].
//! The handler dispatches a job with [`Gang::run`] and gets back the job's
//! result once every worker has finished it:
//!
//! ```
//! use ringkernel_device::gang::{GangWork, Worker};
//! use ringkernel_device::{Actor, Context, Fault, Platform};
//!
//! /// Adds the job's value to every `u32` of the arena; the result is the
//! /// new value of word 0.
//! pub struct AddAll;
//!
//! impl GangWork for AddAll {
//!     const ID: u32 = 0xA0;
//!     type Job = u32;
//!     fn run<P: Platform>(add: &u32, w: &Worker<P>) {
//!         let words = w.arena_len() / 4;
//!         let arena = w.arena().cast::<u32>();
//!         // Thread t of worker k takes words k·T + t, k·T + t + K·T, ...
//!         let stride = (w.count() * w.threads()) as usize;
//!         let mut i = (w.index() * w.threads() + w.thread()) as usize;
//!         while i < words {
//!             // SAFETY: word i belongs to this thread alone.
//!             unsafe { *arena.add(i) = (*arena.add(i)).wrapping_add(*add) };
//!             i += stride;
//!         }
//!     }
//!     fn finish<P: Platform>(_: &u32, w: &Worker<P>) -> u64 {
//!         // Every worker's writes are visible here.
//!         // SAFETY: word 0 is in the arena (checked) and no job runs.
//!         if w.arena_len() < 4 { 0 } else { unsafe { *w.arena().cast::<u32>() as u64 } }
//!     }
//! }
//!
//! pub struct Adder;
//! impl Actor for Adder {
//!     const TYPE_ID: u32 = 0xA1;
//!     type Msg = u32;
//!     type Reply = u64;
//!     fn create(_: u32) -> Self { Adder }
//!     fn handle(&mut self, ctx: &mut Context<'_, Self>, add: u32) -> Result<(), Fault> {
//!         let word0 = ctx.gang::<AddAll>().map_err(|_| Fault(1))?.run(&add);
//!         ctx.reply(&word0).map_err(|_| Fault(2))
//!     }
//! }
//! ```
//!
//! ## What a worker can count on
//!
//! * [`GangWork::run`] is called by every thread of every worker with the
//!   same job; [`GangWork::finish`] by every thread of the worker that
//!   finished last, after all workers returned from `run`.
//! * Writes of any worker during a job are visible to every worker in the
//!   next job, and to `finish`, without further fences.
//! * Inside a job, workers order themselves with progress counters:
//!   [`Worker::signal`] publishes this worker's count (a release),
//!   [`Worker::wait_for`] waits until another worker's count reaches a value
//!   (an acquire); the data the other worker wrote before signalling is then
//!   visible to every thread of this one. A halo exchange is exactly that:
//!   finish a step, signal it, wait for both neighbours to have signalled
//!   it, go on.
//!
//! Memory layout and protocol: [`ringkernel_shared::gang`].

use crate::atomic::gpu;
use crate::platform::Platform;
use core::cell::Cell;
use core::marker::PhantomData;
use ringkernel_shared::gang::{GANG_JOB_BYTES, GangControl, reached};

pub use ringkernel_shared::gang::GangLayout;

/// The work a gang does: one type per kernel, named in `actor_kernel!`.
pub trait GangWork {
    /// Identifies the work type; the actor's [`crate::Context::gang`]
    /// checks that the launched kernel's gang does this work.
    const ID: u32;
    /// One job: plain data of at most 64 bytes.
    type Job: bytemuck::Pod;

    /// Do `job` as worker `w.index()` of `w.count()`. Every thread of the
    /// worker calls it, with the same arguments; it must return on all of
    /// them (block-uniform control flow around [`Worker::sync`] and the
    /// other collective calls).
    fn run<P: Platform>(job: &Self::Job, w: &Worker<P>);

    /// Called on every thread of the last worker to finish `job`, after all
    /// workers finished it; the value thread 0 returns is the job's result
    /// ([`Gang::run`]). The default returns 0.
    fn finish<P: Platform>(job: &Self::Job, w: &Worker<P>) -> u64 {
        let _ = (job, w);
        0
    }
}

/// What one thread of a gang worker sees.
pub struct Worker<P> {
    ctl: *mut GangControl,
    progress: *mut u32,
    results: *mut u64,
    arena: *mut u8,
    arena_len: usize,
    index: u32,
    count: u32,
    thread: u32,
    threads: u32,
    _p: PhantomData<P>,
}

impl<P: Platform> Worker<P> {
    /// This worker's number, `0..count()`.
    #[inline(always)]
    pub fn index(&self) -> u32 {
        self.index
    }
    /// Workers in the gang.
    #[inline(always)]
    pub fn count(&self) -> u32 {
        self.count
    }
    /// This thread's number in its worker, `0..threads()`.
    #[inline(always)]
    pub fn thread(&self) -> u32 {
        self.thread
    }
    /// Threads per worker (the launch's block size; 1 on the CPU backend).
    #[inline(always)]
    pub fn threads(&self) -> u32 {
        self.threads
    }
    /// The arena: `arena_len()` bytes, 256-aligned, zeroed at launch, for
    /// the work's own data. Which thread touches which byte is the work's
    /// business.
    #[inline(always)]
    pub fn arena(&self) -> *mut u8 {
        self.arena
    }
    /// Bytes in the arena.
    #[inline(always)]
    pub fn arena_len(&self) -> usize {
        self.arena_len
    }
    /// The launch parameters (the host's `GangOptions::params`), read as a `T`.
    pub fn params<T: bytemuck::Pod>(&self) -> T {
        // SAFETY: `ctl` is valid for the launch; `params` is written before
        // launch and never after.
        let bytes = unsafe { (*self.ctl).params };
        bytemuck::pod_read_unaligned(&bytes[..core::mem::size_of::<T>().min(GANG_JOB_BYTES)])
    }
    /// Every thread of this worker waits for the others (a block barrier).
    #[inline(always)]
    pub fn sync(&self) {
        P::sync_block();
    }
    /// Publish `value` as this worker's progress, after everything every
    /// thread of the worker wrote before the call (all threads call).
    #[inline(always)]
    pub fn signal(&self, value: u32) {
        P::sync_block();
        if self.thread == 0 {
            // SAFETY: our own counter, in the gang memory (valid for the
            // launch); read by others with atomic loads only.
            unsafe { gpu::store_release_u32(self.progress.add(self.index as usize), value) };
        }
    }
    /// Wait until worker `other`'s progress reaches `value` (all threads
    /// call; `other < count()`); what it wrote before signalling is then
    /// visible to every thread of this worker.
    #[inline(always)]
    pub fn wait_for(&self, other: u32, value: u32) {
        if self.thread == 0 && other < self.count {
            let mut rounds = 0u32;
            // SAFETY: a counter in the gang memory, written atomically.
            while !reached(unsafe { gpu::load_acquire_u32(self.progress.add(other as usize)) }, value) {
                rounds = rounds.wrapping_add(1);
                P::relax(rounds);
            }
        }
        P::sync_block();
    }
    /// Wait until every worker in `others` has reached `value` (all
    /// threads call, with the same arguments; entries `>= count()` are
    /// skipped). Thread `i` waits for `others[i]`, so the waits overlap
    /// (a thread waits for several when the worker has fewer threads than
    /// `others` has entries); then what each of them wrote before
    /// signalling is visible to every thread of this worker.
    #[inline(always)]
    pub fn wait_for_all(&self, others: &[u32], value: u32) {
        let mut i = self.thread as usize;
        while i < others.len() {
            let other = others[i];
            if other < self.count {
                let mut rounds = 0u32;
                // SAFETY: a counter in the gang memory, written atomically.
                while !reached(unsafe { gpu::load_acquire_u32(self.progress.add(other as usize)) }, value) {
                    rounds = rounds.wrapping_add(1);
                    P::relax(rounds);
                }
            }
            i += self.threads as usize;
        }
        P::sync_block();
    }
    /// Worker `i`'s progress now (0 for `i >= count()`): for a worker, its
    /// own count at the start of a job, which only it changes.
    #[inline(always)]
    pub fn progress_of(&self, i: u32) -> u32 {
        if i >= self.count {
            return 0;
        }
        // SAFETY: a counter in the gang memory, written atomically.
        unsafe { gpu::load_acquire_u32(self.progress.add(i as usize)) }
    }
    /// This worker's result for `finish` (thread 0 only; others' calls are
    /// ignored).
    #[inline(always)]
    pub fn set_result(&self, v: u64) {
        if self.thread == 0 {
            // SAFETY: our own slot in the gang memory.
            unsafe { gpu::store_relaxed_u64(self.results.add(self.index as usize), v) };
        }
    }
    /// Worker `i`'s result (meaningful in `finish`).
    #[inline(always)]
    pub fn result_of(&self, i: u32) -> u64 {
        if i >= self.count {
            return 0;
        }
        // SAFETY: a slot of the gang memory, written atomically.
        unsafe { gpu::load_relaxed_u64(self.results.add(i as usize)) }
    }
}

/// Why [`crate::Context::gang`] gave no gang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GangError {
    /// The actor runs without a gang (its kernel declares none, or it runs
    /// in an actor system).
    NoGang,
    /// The kernel's gang does other work than the one asked for.
    WrongWork {
        /// `GangWork::ID` asked for.
        asked: u32,
        /// `GangWork::ID` of the launched gang.
        launched: u32,
    },
}

/// The actor's side of its gang, held by the actor loop.
pub(crate) struct GangLink {
    ctl: *mut GangControl,
    epoch: Cell<u32>,
}

impl GangLink {
    /// Attach to the gang memory at `ctl` (null: no gang).
    ///
    /// # Safety
    /// `ctl`, when not null, is the gang's memory laid out by the host
    /// ([`GangLayout`]), valid for the launch; this actor is its only
    /// dispatcher.
    pub(crate) unsafe fn attach(ctl: *mut GangControl) -> Option<Self> {
        if ctl.is_null() {
            return None;
        }
        // SAFETY: contract; only this actor writes `epoch`.
        let epoch = unsafe { gpu::load_relaxed_u32(&raw const (*ctl).epoch) };
        Some(Self { ctl, epoch: Cell::new(epoch) })
    }

    /// What a handler's context gets.
    #[inline(always)]
    pub(crate) fn view<P: Platform>(&self) -> GangRef<'_> {
        GangRef {
            ctl: self.ctl,
            epoch: &self.epoch,
            #[cfg(not(target_arch = "nvptx64"))]
            relax: P::relax,
        }
    }

    /// Tell idle workers to return (the actor's loop ended).
    pub(crate) fn shutdown<P: Platform>(&self) {
        if P::is_writer() {
            // SAFETY: valid for the launch (attach contract).
            unsafe { gpu::store_release_u32(&raw mut (*self.ctl).shutdown, 1) };
        }
    }
}

/// A handler's reach into the gang: plain pointers, no virtual calls (an
/// address-taken function costs every GPU actor registers, gang or not).
#[derive(Clone, Copy)]
pub(crate) struct GangRef<'l> {
    ctl: *mut GangControl,
    epoch: &'l Cell<u32>,
    /// The platform's back-off (the GPU's is called directly).
    #[cfg(not(target_arch = "nvptx64"))]
    relax: fn(u32),
}

impl GangRef<'_> {
    fn work_id(&self) -> u32 {
        // SAFETY: written before launch, read-only after.
        unsafe { (*self.ctl).work_id }
    }

    fn workers(&self) -> u32 {
        // SAFETY: as above.
        unsafe { (*self.ctl).workers }
    }

    fn params(&self) -> [u8; GANG_JOB_BYTES] {
        // SAFETY: as above.
        unsafe { (*self.ctl).params }
    }

    #[inline(always)]
    fn relax(&self, rounds: u32) {
        #[cfg(target_arch = "nvptx64")]
        <crate::platform::gpu::Gpu as Platform>::relax(rounds);
        #[cfg(not(target_arch = "nvptx64"))]
        (self.relax)(rounds);
    }

    #[inline(always)]
    fn is_writer() -> bool {
        #[cfg(target_arch = "nvptx64")]
        return <crate::platform::gpu::Gpu as Platform>::is_writer();
        #[cfg(not(target_arch = "nvptx64"))]
        true
    }

    /// Post `job` and wait for every worker to finish it; the job's result.
    #[inline(never)]
    fn run(&self, job: &[u8; GANG_JOB_BYTES]) -> u64 {
        let e = self.epoch.get().wrapping_add(1);
        self.epoch.set(e);
        let ctl = self.ctl;
        if Self::is_writer() {
            // SAFETY: the gang memory is valid for the launch; workers read
            // the job only after the release store of `epoch` below, and no
            // job runs now (the previous one completed).
            unsafe {
                let words = (&raw mut (*ctl).job).cast::<u32>();
                for i in 0..GANG_JOB_BYTES / 4 {
                    let w = u32::from_le_bytes([job[4 * i], job[4 * i + 1], job[4 * i + 2], job[4 * i + 3]]);
                    gpu::store_relaxed_u32(words.add(i), w);
                }
                gpu::store_release_u32(&raw mut (*ctl).epoch, e);
            }
        }
        let mut rounds = 0u32;
        // SAFETY: as above; `completed` is stored by the last worker.
        while unsafe { gpu::load_acquire_u32(&raw const (*ctl).completed) } != e {
            rounds = rounds.wrapping_add(1);
            // Only a host backend sets `shutdown` while a job runs: one of
            // its worker threads panicked, so the job never completes. The
            // actor crashes too (a panic is how a host actor fails).
            // SAFETY: a control word, accessed atomically.
            if rounds.is_multiple_of(1024) && unsafe { gpu::load_relaxed_u32(&raw const (*ctl).shutdown) } != 0 {
                gang_failed();
            }
            self.relax(rounds);
        }
        // SAFETY: written by the last worker before its release of `completed`.
        unsafe { gpu::load_relaxed_u64(&raw const (*ctl).result) }
    }
}

#[cold]
#[inline(never)]
fn gang_failed() -> ! {
    panic!("a gang worker failed while its job ran")
}

/// A handler's handle on its gang, doing work `W`.
pub struct Gang<'c, W> {
    gang: GangRef<'c>,
    _w: PhantomData<fn(W)>,
}

impl<W: GangWork> Gang<'_, W> {
    /// Workers in the gang.
    pub fn workers(&self) -> u32 {
        self.gang.workers()
    }

    /// The launch parameters, read as a `T` (zero bytes past the 64 given).
    pub fn params<T: bytemuck::Pod>(&self) -> T {
        let bytes = self.gang.params();
        bytemuck::pod_read_unaligned(&bytes[..core::mem::size_of::<T>().min(GANG_JOB_BYTES)])
    }

    /// Run `job` on every worker and wait until all have finished it;
    /// returns what [`GangWork::finish`] returned.
    pub fn run(&mut self, job: &W::Job) -> u64 {
        const { assert!(core::mem::size_of::<W::Job>() <= GANG_JOB_BYTES, "GangWork::Job is larger than 64 bytes") };
        let mut bytes = [0u8; GANG_JOB_BYTES];
        bytes[..core::mem::size_of::<W::Job>()].copy_from_slice(bytemuck::bytes_of(job));
        self.gang.run(&bytes)
    }
}

/// Check that `gang` does work `W`.
pub(crate) fn typed<W: GangWork>(gang: Option<GangRef<'_>>) -> Result<Gang<'_, W>, GangError> {
    let gang = gang.ok_or(GangError::NoGang)?;
    match gang.work_id() {
        id if id == W::ID => Ok(Gang { gang, _w: PhantomData }),
        launched => Err(GangError::WrongWork { asked: W::ID, launched }),
    }
}

/// The life of one gang worker: wait for a job, run it, report, until the
/// actor's loop ends.
///
/// # Safety
/// `ctl` is a gang's memory laid out by the host ([`GangLayout`]), valid
/// for the whole call; `index < workers`; every thread of the worker calls
/// this with its own `thread` (`0..threads`) and the same other arguments.
pub unsafe fn run_worker<W: GangWork, P: Platform>(ctl: *mut GangControl, index: u32, thread: u32, threads: u32) {
    // SAFETY: contract: the sizes were written before launch.
    let (count, arena_offset, arena_len) =
        unsafe { ((*ctl).workers, (*ctl).arena_offset as usize, (*ctl).arena_len as usize) };
    let layout = match GangLayout::new(count, arena_len as u64) {
        Ok(l) if l.arena == arena_offset && index < count => l,
        // A gang memory this build did not lay out: nothing to run on.
        _ => return,
    };
    let base = ctl.cast::<u8>();
    // SAFETY: offsets of the layout the host allocated (checked above).
    let w = unsafe {
        Worker::<P> {
            ctl,
            progress: base.add(layout.progress).cast(),
            results: base.add(layout.results).cast(),
            arena: base.add(layout.arena),
            arena_len,
            index,
            count,
            thread,
            threads,
            _p: PhantomData,
        }
    };
    let mut seen = 0u32;
    loop {
        let mut stop = false;
        if thread == 0 {
            let mut rounds = 0u32;
            loop {
                // SAFETY: control words of the gang memory, accessed atomically.
                let e = unsafe { gpu::load_acquire_u32(&raw const (*ctl).epoch) };
                if e != seen {
                    seen = e;
                    break;
                }
                // SAFETY: as above.
                if unsafe { gpu::load_relaxed_u32(&raw const (*ctl).shutdown) } != 0 {
                    stop = true;
                    break;
                }
                rounds = rounds.wrapping_add(1);
                P::relax(rounds);
            }
        }
        if P::sync_block_or(stop) {
            return;
        }
        let mut bytes = [0u8; GANG_JOB_BYTES];
        // SAFETY: the job was written before the epoch this worker's
        // leader acquired; the barrier above orders it for every thread.
        unsafe {
            let words = (&raw const (*ctl).job).cast::<u32>();
            for i in 0..GANG_JOB_BYTES / 4 {
                bytes[4 * i..4 * i + 4].copy_from_slice(&gpu::load_relaxed_u32(words.add(i)).to_le_bytes());
            }
        }
        let job: W::Job = bytemuck::pod_read_unaligned(&bytes[..core::mem::size_of::<W::Job>()]);
        W::run(&job, &w);
        P::sync_block();
        // SAFETY: control words, accessed atomically.
        let last = thread == 0 && unsafe { gpu::fetch_add_u32(&raw mut (*ctl).arrivals, 1) } == count - 1;
        if P::sync_block_or(last) {
            let result = W::finish(&job, &w);
            P::sync_block();
            if thread == 0 {
                // SAFETY: control words; the actor reads `result` after
                // acquiring `completed`; nobody adds to `arrivals` until
                // the next epoch, which the actor posts after `completed`.
                unsafe {
                    gpu::store_relaxed_u64(&raw mut (*ctl).result, result);
                    gpu::store_relaxed_u32(&raw mut (*ctl).arrivals, 0);
                    gpu::store_release_u32(&raw mut (*ctl).completed, seen);
                }
            }
        }
    }
}
