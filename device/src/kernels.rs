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

/// An empty kernel: the launch-overhead baseline (`cuLaunchKernel` + sync,
/// CUDA graph replay + sync).
#[cfg(target_arch = "nvptx64")]
#[unsafe(no_mangle)]
pub extern "ptx-kernel" fn ringkernel_empty() {}

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
