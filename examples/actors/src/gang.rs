//! A gang example: [`GangTest`], an actor whose kernel has worker blocks
//! (`ringkernel_device::gang`), exercising dispatch, progress counters,
//! per-worker results and `finish`.

use ringkernel_device::{Actor, Context, Fault};

/// [`GangTestJob::op`]: word `i` of the arena becomes `value + i`; the
/// result is the sum of all words (each worker sums its own chunk, the last
/// one adds the chunks).
pub const GANG_FILL: u32 = 0;
/// [`GangTestJob::op`]: a chain through the workers in order — worker `w`
/// waits for worker `w − 1` to signal `value`, reads its word, writes that
/// plus one, and signals `value`. The result is the last worker's word,
/// `value + workers − 1` when every wait saw what it waited for.
pub const GANG_CHAIN: u32 = 1;

/// A job of [`GangTestWork`] (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GangTestJob {
    /// [`GANG_FILL`] or [`GANG_CHAIN`]; anything else asks for the number
    /// of workers.
    pub op: u32,
    /// The job's value.
    pub value: u32,
}

/// The gang work of [`GangTest`]: exercises dispatch, progress counters,
/// results and `finish` over a `u64` arena.
pub struct GangTestWork;

impl GangTestWork {
    /// Worker `w`'s chunk of `words` words: `[start, end)`.
    fn chunk(words: usize, w: u32, count: u32) -> (usize, usize) {
        let (w, count) = (w as usize, count as usize);
        (words * w / count, words * (w + 1) / count)
    }
}

impl ringkernel_device::GangWork for GangTestWork {
    const ID: u32 = 0x6A46_0001;
    type Job = GangTestJob;

    fn run<P: ringkernel_device::Platform>(job: &GangTestJob, w: &ringkernel_device::Worker<P>) {
        let words = w.arena_len() / 8;
        let arena = w.arena().cast::<u64>();
        match job.op {
            GANG_FILL => {
                let (start, end) = Self::chunk(words, w.index(), w.count());
                let mut i = start + w.thread() as usize;
                while i < end {
                    // SAFETY: word i is in this worker's chunk and this
                    // thread's stride alone.
                    unsafe { arena.add(i).write(u64::from(job.value) + i as u64) };
                    i += w.threads() as usize;
                }
                w.sync();
                if w.thread() == 0 {
                    let mut sum = 0u64;
                    for i in start..end {
                        // SAFETY: this worker's chunk, written before the barrier.
                        sum = sum.wrapping_add(unsafe { arena.add(i).read() });
                    }
                    w.set_result(sum);
                }
            }
            GANG_CHAIN if words >= w.count() as usize => {
                let me = w.index() as usize;
                if me > 0 {
                    w.wait_for(w.index() - 1, job.value);
                }
                if w.thread() == 0 {
                    // SAFETY: word me − 1 was written by the previous worker
                    // before it signalled (waited for above); word me is ours.
                    let v = if me == 0 { u64::from(job.value) } else { (unsafe { arena.add(me - 1).read() }) + 1 };
                    // SAFETY: as above.
                    unsafe { arena.add(me).write(v) };
                }
                w.signal(job.value);
            }
            _ => {}
        }
    }

    fn finish<P: ringkernel_device::Platform>(job: &GangTestJob, w: &ringkernel_device::Worker<P>) -> u64 {
        match job.op {
            GANG_FILL => (0..w.count()).fold(0u64, |s, i| s.wrapping_add(w.result_of(i))),
            // SAFETY: the last worker's word, written before it finished.
            GANG_CHAIN if w.arena_len() / 8 >= w.count() as usize => unsafe {
                w.arena().cast::<u64>().add(w.count() as usize - 1).read()
            },
            _ => u64::from(w.count()),
        }
    }
}

/// An actor with a gang: each message is a [`GangTestJob`], answered with
/// the job's result.
pub struct GangTest;

/// Type id of [`GangTest`] messages.
pub const GANG_TEST_TYPE_ID: u32 = 0x6A46_0002;

impl Actor for GangTest {
    const TYPE_ID: u32 = GANG_TEST_TYPE_ID;
    type Msg = GangTestJob;
    type Reply = u64;
    fn create(_actor_id: u32) -> Self {
        GangTest
    }
    fn handle(&mut self, ctx: &mut Context<'_, Self>, job: GangTestJob) -> Result<(), Fault> {
        let r = ctx.gang::<GangTestWork>().map_err(|_| Fault(1))?.run(&job);
        ctx.reply(&r).map_err(|_| Fault(2))
    }
}

ringkernel_device::actor_kernel!(example_gang_test, GangTest, gang = GangTestWork);
