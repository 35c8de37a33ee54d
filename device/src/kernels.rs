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
