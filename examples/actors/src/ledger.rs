//! [`Ledger`]: a balance that survives its actor crashing.
//!
//! It takes snapshots (16 bytes: balance and operations), so a runtime
//! launched with a recovery policy can restore it from its last checkpoint;
//! and two of its messages crash it on purpose, so that the recovery tests
//! (`host/tests/recovery.rs`) can inject faults: [`LedgerMsg::trap`] the
//! hard way — a bare `trap` instruction on the GPU (the kernel dies with a
//! sticky `CUDA_ERROR_LAUNCH_FAILED`, which only the driver reports), a
//! panic on the CPU backend — and [`LedgerMsg::panic`] the way a handler bug
//! does, with a Rust panic on both (on the GPU the panic handler marks the
//! control block, then traps).

use bytemuck::{Pod, Zeroable};
use ringkernel_device::{Actor, Context, Fault};

/// Message type id of [`Ledger`].
pub const LEDGER_TYPE_ID: u32 = 0x4C45_4447;

/// [`LedgerMsg::op`]: add `amount` to the balance.
pub const LEDGER_DEPOSIT: u32 = 1;
/// [`LedgerMsg::op`]: answer with the balance.
pub const LEDGER_BALANCE: u32 = 2;
/// [`LedgerMsg::op`]: crash the actor's execution (GPU `trap`, CPU panic).
pub const LEDGER_TRAP: u32 = 3;
/// [`LedgerMsg::op`]: panic in the handler (both backends).
pub const LEDGER_PANIC: u32 = 4;
/// Error-reply code: an unknown op code.
pub const LEDGER_ERROR_UNKNOWN_OP: u32 = 1;
/// Fault code: the reply could not be written.
pub const LEDGER_FAULT_SEND: u32 = 2;

/// A [`Ledger`] message (16 bytes, plain data).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct LedgerMsg {
    /// `LEDGER_*` op code.
    pub op: u32,
    /// Reserved, zero.
    pub _pad: u32,
    /// Amount of a deposit.
    pub amount: u64,
}

impl LedgerMsg {
    /// Add `amount`.
    pub const fn deposit(amount: u64) -> Self {
        Self { op: LEDGER_DEPOSIT, _pad: 0, amount }
    }
    /// Ask for the balance.
    pub const fn balance() -> Self {
        Self { op: LEDGER_BALANCE, _pad: 0, amount: 0 }
    }
    /// Crash the execution (a bare `trap` on the GPU).
    pub const fn trap() -> Self {
        Self { op: LEDGER_TRAP, _pad: 0, amount: 0 }
    }
    /// Panic in the handler.
    pub const fn panic() -> Self {
        Self { op: LEDGER_PANIC, _pad: 0, amount: 0 }
    }
}

/// A [`Ledger`]'s answer (16 bytes, plain data).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct LedgerReply {
    /// The balance after the message.
    pub balance: u64,
    /// Deposits in the balance.
    pub deposits: u64,
}

/// Keeps a balance (wrapping `u64`) and the number of deposits in it.
#[derive(Debug)]
pub struct Ledger {
    balance: u64,
    deposits: u64,
}

impl Actor for Ledger {
    const TYPE_ID: u32 = LEDGER_TYPE_ID;
    type Msg = LedgerMsg;
    type Reply = LedgerReply;
    const SNAPSHOT_BYTES: usize = 16;

    fn create(_actor_id: u32) -> Self {
        Ledger { balance: 0, deposits: 0 }
    }

    fn handle(&mut self, ctx: &mut Context<'_, Self>, msg: LedgerMsg) -> Result<(), Fault> {
        match msg.op {
            LEDGER_DEPOSIT => {
                self.balance = self.balance.wrapping_add(msg.amount);
                self.deposits += 1;
            }
            LEDGER_BALANCE => {}
            LEDGER_TRAP => crash(),
            LEDGER_PANIC => handler_bug(),
            _ => return ctx.reply_error(LEDGER_ERROR_UNKNOWN_OP).map_err(|_| Fault(LEDGER_FAULT_SEND)),
        }
        ctx.reply(&LedgerReply { balance: self.balance, deposits: self.deposits }).map_err(|_| Fault(LEDGER_FAULT_SEND))
    }

    fn snapshot(&self, out: &mut [u8]) -> usize {
        out[..8].copy_from_slice(&self.balance.to_le_bytes());
        out[8..16].copy_from_slice(&self.deposits.to_le_bytes());
        16
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        let (Some(b), Some(d)) = (bytes.get(..8), bytes.get(8..16)) else { return Err(Fault(LEDGER_FAULT_SEND)) };
        let word = |s: &[u8]| s.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
        self.balance = word(b);
        self.deposits = word(d);
        Ok(())
    }
}

/// Crash the execution the way a real kernel bug would.
#[cold]
#[inline(never)]
fn crash() -> ! {
    #[cfg(target_arch = "nvptx64")]
    // SAFETY: `trap` has no preconditions; it aborts the kernel, which is
    // the point.
    unsafe {
        core::arch::nvptx::trap()
    }
    #[cfg(not(target_arch = "nvptx64"))]
    panic!("ledger: trap requested (LedgerMsg::trap)")
}

/// A handler bug: a plain Rust panic, the same on every backend.
#[cold]
#[inline(never)]
fn handler_bug() -> ! {
    panic!("ledger: panic requested (LedgerMsg::panic)")
}

ringkernel_device::actor_kernel!(example_ledger, Ledger);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_restore_round_trip() {
        let a = Ledger { balance: 0x0102_0304_0506_0708, deposits: 9 };
        let mut buf = [0u8; Ledger::SNAPSHOT_BYTES];
        assert_eq!(a.snapshot(&mut buf), 16);
        let mut b = Ledger::create(1);
        b.restore(&buf).unwrap();
        assert_eq!((b.balance, b.deposits), (a.balance, a.deposits));
        assert_eq!(b.restore(&buf[..15]), Err(Fault(LEDGER_FAULT_SEND)), "a short state is refused");
    }
}
