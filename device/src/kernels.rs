//! Built-in kernels (feature `kernels`): used by the project's own tests and
//! benchmarks, not needed by user actor crates.

use crate::{Actor, Context, Fault};

/// Answers every message with the same bytes (a 64-byte block).
pub struct Echo;

/// Type id of [`Echo`] messages.
pub const ECHO_TYPE_ID: u32 = 0xEC40;

impl Actor for Echo {
    const TYPE_ID: u32 = ECHO_TYPE_ID;
    type Msg = [u64; 8];
    type Reply = [u64; 8];
    fn create(_actor_id: u32) -> Self {
        Echo
    }
    fn handle(&mut self, ctx: &mut Context<'_, Self>, msg: [u64; 8]) -> Result<(), Fault> {
        ctx.reply(&msg).map_err(|_| Fault(1))
    }
}

crate::actor_kernel!(ringkernel_echo, Echo);

/// Type id of [`Pump`] messages.
pub const PUMP_TYPE_ID: u32 = 0x5055_4D50;

/// [`PumpMsg::pattern`]: pass to the next actor (`i → i + 1`).
pub const PUMP_RING: u32 = 0;
/// [`PumpMsg::pattern`]: pass to a neighbour at distance ±1 or ±2, by hop.
pub const PUMP_NEIGHBOURS: u32 = 1;

/// A token passed between [`Pump`]s (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PumpMsg {
    /// Passes left.
    pub hops: u32,
    /// [`PUMP_RING`] or [`PUMP_NEIGHBOURS`].
    pub pattern: u32,
    /// Actor id of the first pump.
    pub base: u32,
    /// Pumps taking part (ids `base .. base + n`).
    pub n: u32,
    /// The token's number.
    pub token: u64,
    /// Reserved, zero.
    pub _pad: u64,
}

/// What a [`Pump`] emits: a token that finished (`code` 0) or could not
/// be passed on because the next inbox was full (`code` 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PumpDone {
    /// 0 finished, 1 refused by a full inbox.
    pub code: u32,
    /// The pump that emitted it.
    pub actor: u32,
    /// The token.
    pub token: u64,
}

/// The aggregate K2K benchmark's actor: passes every token it gets to
/// another pump with `send_to`, until the token's hops run out.
pub struct Pump;

impl Actor for Pump {
    const TYPE_ID: u32 = PUMP_TYPE_ID;
    type Msg = PumpMsg;
    type Reply = PumpDone;
    fn create(_actor_id: u32) -> Self {
        Pump
    }
    fn handle(&mut self, ctx: &mut Context<'_, Self>, msg: PumpMsg) -> Result<(), Fault> {
        let me = ctx.actor_id();
        if msg.hops == 0 || msg.n == 0 || me < msg.base || me - msg.base >= msg.n {
            return ctx.emit(&PumpDone { code: 0, actor: me, token: msg.token }).map_err(|_| Fault(1));
        }
        let i = me - msg.base;
        let step = match msg.pattern {
            PUMP_NEIGHBOURS => [1, msg.n - 1, 2 % msg.n, msg.n - 2 % msg.n][(msg.hops % 4) as usize],
            _ => 1,
        };
        let next = msg.base + (i + step) % msg.n;
        let fwd = PumpMsg { hops: msg.hops - 1, ..msg };
        if ctx.send_to::<Pump>(next, &fwd).is_err() {
            return ctx.emit(&PumpDone { code: 1, actor: me, token: msg.token }).map_err(|_| Fault(1));
        }
        Ok(())
    }
}

crate::actor_system!(
    /// The benchmarks' actor system: [`Echo`] (create/restart latency) and
    /// [`Pump`] (aggregate K2K throughput).
    pub struct BenchSystem, entry = ringkernel_bench_system, actors = [Echo, Pump]
);

/// An empty kernel: the launch-overhead baseline (`cuLaunchKernel` + sync,
/// CUDA graph replay + sync).
#[cfg(target_arch = "nvptx64")]
#[unsafe(no_mangle)]
pub extern "ptx-kernel" fn ringkernel_empty() {}

/// A kernel that traps at once: `rk-trap-probe` times how long the driver
/// takes to report a trap (the floor under detecting a GPU fault from the
/// host), in a process of its own, since the trap poisons its context.
#[cfg(target_arch = "nvptx64")]
#[unsafe(no_mangle)]
pub extern "ptx-kernel" fn ringkernel_trap() {
    // SAFETY: `trap` has no preconditions; aborting the kernel is the point.
    unsafe { core::arch::nvptx::trap() }
}

/// The launch-per-batch baseline: thread `i` answers envelope `i` of
/// `input` into `output` the way [`Echo`] would (same payload, REPLY flag,
/// correlation kept), for `n` envelopes.
///
/// # Safety
/// `input` and `output` hold at least `n` envelopes, valid for the launch.
#[cfg(target_arch = "nvptx64")]
#[unsafe(no_mangle)]
pub unsafe extern "ptx-kernel" fn ringkernel_batch_echo(
    input: *const ringkernel_shared::Envelope,
    output: *mut ringkernel_shared::Envelope,
    n: u32,
) {
    // SAFETY: reading special registers has no preconditions.
    let i = unsafe {
        core::arch::nvptx::_block_idx_x() as u32 * core::arch::nvptx::_block_dim_x() as u32
            + core::arch::nvptx::_thread_idx_x() as u32
    };
    if i >= n {
        return;
    }
    let mut env: ringkernel_shared::Envelope = bytemuck::Zeroable::zeroed();
    // SAFETY: `i < n`, both buffers hold `n` 16-aligned envelopes (contract).
    unsafe {
        crate::atomic::block::read16(input.add(i as usize) as *const [u64; 2], &mut env as *mut _ as *mut [u64; 2], 8)
    };
    env.header.flags.0 |= ringkernel_shared::MessageFlags::REPLY;
    env.header.source = env.header.destination;
    // SAFETY: as above.
    unsafe {
        crate::atomic::block::write16(&env as *const _ as *const [u64; 2], output.add(i as usize) as *mut [u64; 2], 8)
    };
}

/// First data word that tells [`ringkernel_slot_echo`] to stop (after
/// echoing that slot).
pub const SLOT_ECHO_STOP: u64 = u64::MAX;

/// Transport baseline for message sizes other than the actor envelope: warp
/// 0 echoes every slot of `inbox` into `outbox` (both rings of
/// `slot_bytes`-byte slots, a multiple of 16, laid out as
/// [`ringkernel_shared::ring`] says, the sequence word first), up to 32 slots
/// per PCIe round trip, with the protocol the actor loop uses: per-lane
/// acquire loads of the sequence words, one release fence per batch. No
/// actor runs: this measures the rings alone. A slot whose first data word
/// (bytes 8..16) is [`SLOT_ECHO_STOP`] is echoed, then the kernel returns.
///
/// # Safety
/// Both rings are valid for the launch; the kernel is their only consumer
/// (`inbox`) and producer (`outbox`).
#[cfg(target_arch = "nvptx64")]
#[unsafe(no_mangle)]
pub unsafe extern "ptx-kernel" fn ringkernel_slot_echo(
    inbox: *mut ringkernel_shared::RingHeader,
    outbox: *mut ringkernel_shared::RingHeader,
    slot_bytes: u32,
) {
    use crate::Platform;
    use crate::atomic::{block, sys};
    use crate::platform::gpu::{Gpu, is_actor_warp, sync_warp};
    use ringkernel_shared::ring::{has_room, is_ready, ready_seq, slot_index};

    if !is_actor_warp() {
        return;
    }
    let lane = Gpu::lane() as u64;
    // SAFETY: the rings' headers are valid (contract); capacity is set by
    // the host before launch.
    let (cap_in, cap_out) = unsafe {
        (sys::load_relaxed_u32(&raw const (*inbox).capacity), sys::load_relaxed_u32(&raw const (*outbox).capacity))
    };
    let in_slots = inbox.wrapping_add(1) as *mut u8;
    let out_slots = outbox.wrapping_add(1) as *mut u8;
    let slot = |base: *mut u8, pos: u64, cap: u32| base.wrapping_add(slot_index(pos, cap) * slot_bytes as usize);
    let blocks = (slot_bytes / 16) as u64;
    let (mut head, mut tail, mut out_head) = (0u64, 0u64, 0u64);
    loop {
        let pos = head + lane;
        // SAFETY: the slot is inside the inbox (contract); seq words are
        // only accessed atomically.
        let ready = lane < cap_in as u64
            && is_ready(unsafe { sys::load_acquire_u64(slot(in_slots, pos, cap_in) as *const u64) }, pos);
        let n = (!Gpu::ballot(ready)).trailing_zeros().min(32) as u64;
        if n == 0 {
            continue;
        }
        // Room for n echoes (re-read the host's head only when needed).
        while !has_room(tail + n - 1, out_head, cap_out) {
            // SAFETY: header valid; head only accessed atomically.
            out_head = unsafe { sys::load_acquire_u64(&raw const (*outbox).head) };
        }
        // Every lane acquired its own slot; the warp barrier orders those
        // acquires before every lane's copies below.
        sync_warp();
        // The n slots' 16-byte blocks, flattened (slot j, block b) -> j *
        // blocks + b, shared round-robin by the lanes; each lane issues 8
        // independent loads before it stores any, so a round of 256 blocks
        // costs about one PCIe round trip.
        let total = n * blocks;
        let src_of = |i: u64| slot(in_slots, head + i / blocks, cap_in).wrapping_add(16 * (i % blocks) as usize);
        let dst_of = |i: u64| slot(out_slots, tail + i / blocks, cap_out).wrapping_add(16 * (i % blocks) as usize);
        let mut stop = false;
        let mut base = 0u64;
        while base < total {
            let idx: [u64; 8] = core::array::from_fn(|k| base + lane + 32 * k as u64);
            let vals: [[u64; 2]; 8] = core::array::from_fn(|k| {
                let mut v = [[0u64; 2]; 1];
                if idx[k] < total {
                    // SAFETY: the block lies in a published inbox slot (its
                    // seq was acquired by some lane; the barrier above
                    // orders that before this load).
                    unsafe { block::read16(src_of(idx[k]) as *const [u64; 2], v.as_mut_ptr(), 1) };
                }
                v[0]
            });
            for k in 0..8 {
                let i = idx[k];
                if i >= total {
                    continue;
                }
                let dst = dst_of(i);
                if i % blocks == 0 {
                    stop |= vals[k][1] == SLOT_ECHO_STOP;
                    // Block 0 minus the sequence word, stored after the fence.
                    // SAFETY: the out slot is free (room checked above).
                    unsafe { core::ptr::write_volatile((dst as *mut u64).add(1), vals[k][1]) };
                } else {
                    // SAFETY: as above.
                    unsafe { block::write16(&vals[k], dst as *mut [u64; 2], 1) };
                }
            }
            base += 256;
        }
        let stop = Gpu::ballot(stop) != 0;
        // All lanes' copies, then one release fence, then the sequence words.
        sync_warp();
        sys::fence_release();
        if lane < n {
            // SAFETY: out slot of position tail + lane, written above.
            unsafe {
                sys::store_relaxed_u64(slot(out_slots, tail + lane, cap_out) as *mut u64, ready_seq(tail + lane))
            };
        }
        head += n;
        tail += n;
        if lane == 0 {
            // SAFETY: header valid; the host reads head atomically.
            unsafe { sys::store_relaxed_u64(&raw mut (*inbox).head, head) };
        }
        if stop {
            return;
        }
    }
}

/// K2K baseline: block 0 sends `rounds` envelopes to block 1 through ring
/// `a` and waits for each echo on ring `b` (one thread per block, the
/// endpoints of [`crate::queue`]; consumers hand slots back every 64
/// messages); block 1 echoes. The rings must hold more than 64 slots. Both rings are in device
/// memory. `device_scope != 0` uses [`crate::queue::DeviceRing`] (`.gpu`
/// atomics and fences), otherwise [`crate::queue::RawRing`] (`.sys`, what
/// Rust's atomics give). Block 0 writes the elapsed `%globaltimer`
/// nanoseconds to `out[0]` and the number of wrong echoes to `out[1]`.
///
/// # Safety
/// Launched with 2 blocks that are resident together (cooperative launch);
/// `a` and `b` are zero-initialised rings with headers set, and `out` holds
/// two words, all in device memory valid for the launch.
#[cfg(target_arch = "nvptx64")]
#[unsafe(no_mangle)]
pub unsafe extern "ptx-kernel" fn ringkernel_k2k_pingpong(
    a: *mut ringkernel_shared::RingHeader,
    b: *mut ringkernel_shared::RingHeader,
    rounds: u32,
    device_scope: u32,
    out: *mut u64,
) {
    use crate::queue::{DeviceRing, RawRing};
    // SAFETY: reading special registers has no preconditions.
    let (tid, block) = unsafe { (core::arch::nvptx::_thread_idx_x(), core::arch::nvptx::_block_idx_x()) };
    if tid != 0 {
        return;
    }
    // SAFETY: the rings are valid (contract); block 0 produces `a` and
    // consumes `b`, block 1 the reverse.
    unsafe {
        if device_scope != 0 {
            k2k_side(DeviceRing::new(a), DeviceRing::new(b), block, rounds, out)
        } else {
            k2k_side(RawRing::new(a), RawRing::new(b), block, rounds, out)
        }
    }
}

/// One side of [`ringkernel_k2k_pingpong`].
///
/// # Safety
/// See [`ringkernel_k2k_pingpong`].
#[cfg(target_arch = "nvptx64")]
unsafe fn k2k_side<M: crate::queue::RingMemory>(a: M, b: M, block: u32, rounds: u32, out: *mut u64) {
    use crate::Platform;
    use crate::platform::gpu::Gpu;
    use crate::queue::{Consumer, Producer};
    let ping =
        ringkernel_shared::Envelope::from_pod(ECHO_TYPE_ID, 0, 1, &[0u64; 8]).unwrap_or_else(|_| unreachable_k2k());
    if block == 0 {
        // SAFETY: block 0 is the only producer of `a` and consumer of `b`.
        let (mut tx, mut rx) = unsafe { (Producer::attach(a), Consumer::attach(b)) };
        let mut wrong = 0u64;
        let start = Gpu::now_ns();
        for i in 0..rounds as u64 {
            let mut e = ping;
            e.header.correlation_id = i + 1;
            while tx.try_push(&e).is_err() {}
            let r = loop {
                if let Some(r) = rx.poll() {
                    break r;
                }
            };
            // Hand slots back every 64 messages (the ring holds thousands):
            // each release is a memory barrier.
            if i % 64 == 63 {
                rx.release();
            }
            wrong += (r.header.correlation_id != i + 1) as u64;
        }
        let elapsed = Gpu::now_ns() - start;
        // SAFETY: `out` holds two words (contract).
        unsafe {
            out.write_volatile(elapsed);
            out.add(1).write_volatile(wrong);
        }
    } else {
        // SAFETY: block 1 is the only consumer of `a` and producer of `b`.
        let (mut rx, mut tx) = unsafe { (Consumer::attach(a), Producer::attach(b)) };
        for i in 0..rounds {
            let e = loop {
                if let Some(e) = rx.poll() {
                    break e;
                }
            };
            if i % 64 == 63 {
                rx.release();
            }
            while tx.try_push(&e).is_err() {}
        }
    }
}

#[cfg(target_arch = "nvptx64")]
#[cold]
fn unreachable_k2k() -> ! {
    panic!("a 64-byte payload fits an envelope")
}
