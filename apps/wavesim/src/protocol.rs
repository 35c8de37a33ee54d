//! The command protocol: what the host sends to the simulation and what it
//! answers.
//!
//! Both message types are 64-byte `#[repr(C, align(16))]` plain data
//! ([`bytemuck::Pod`]): they fit the inline payload of one RingKernel
//! envelope, a GPU lane reads one in four 16-byte loads, and every bit
//! pattern is a valid *value* — the kind is a raw `u32` checked with
//! `TryFrom`, never an enum in memory. Layouts are pinned by `const`
//! assertions below.
//!
//! | command (`kind`) | fields read | reply on success | errors |
//! | --- | --- | --- | --- |
//! | `RunSteps` (1) | `steps` | `Ack`, `step` = step count after the run | `ZeroSteps` |
//! | `InjectImpulse` (2) | `pos`, `value` | `Ack` | `NonFinite`, `PositionOutOfRange` |
//! | `GetProgress` (3) | — | `Progress`: `step`, `energy` | — |
//! | `Configure` (4) | `speed`, `dt`, `dx`, `damping` | `Ack` | `NonFinite`, `InvalidParameter`, `Unstable` |
//! | `Checkpoint` (5) | — | `CheckpointOk`, `step` = step saved | — |
//! | `Restore` (6) | — | `Ack`, `step` = step restored | `NoCheckpoint` |
//! | `Terminate` (7) | — | `Terminated`, `step` = final step | — |
//! | anything else | — | — | `UnknownKind` |
//!
//! Every reply carries the command's `tag` and raw `kind` (so a host matches
//! replies to commands even without envelopes) and the step count after the
//! command. A refused command changes nothing and the simulation keeps
//! running; after `Terminate` every command is answered `Error(Terminated)`.
//!
//! Command layout (bytes):
//!
//! | offset | field | used by |
//! | --- | --- | --- |
//! | 0 | `kind: u32` | all |
//! | 4 | `tag: u32` | all (copied to the reply) |
//! | 8 | `steps: u32` | RunSteps |
//! | 12 | `pos: [u32; 3]` | InjectImpulse |
//! | 24 | `value: f32` | InjectImpulse |
//! | 28 | `speed: f32` | Configure |
//! | 32 | `dt: f32` | Configure |
//! | 36 | `dx: f32` | Configure |
//! | 40 | `damping: f32` | Configure |
//! | 44 | `reserved: [u32; 5]` | zero, ignored |
//!
//! Reply layout (bytes):
//!
//! | offset | field | meaning |
//! | --- | --- | --- |
//! | 0 | `kind: u32` | [`ReplyKind`] |
//! | 4 | `tag: u32` | the command's tag |
//! | 8 | `step: u64` | step count after the command |
//! | 16 | `energy: f64` | Progress: the discrete energy (see [`crate::fdtd`]); else 0 |
//! | 24 | `error: u32` | Error: the [`ErrorCode`]; else 0 |
//! | 28 | `command: u32` | the raw kind of the command answered |
//! | 32 | `reserved: [u32; 8]` | zero |

use core::fmt;

use bytemuck::{Pod, Zeroable};

use crate::fdtd::{ParamError, Params};
use crate::grid::GridDims;

/// Defines a `u32` kind newtype: named constants, `name()`, `TryFrom<u32>`
/// (the raw value back on failure), `Debug` and `Display` (the name).
macro_rules! u32_kind {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$cmeta:meta])* $konst:ident = $value:literal, $label:literal; )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(u32);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($value); )+

            /// Every kind, in order of value.
            pub const ALL: &'static [Self] = &[$(Self::$konst),+];

            /// The raw value.
            pub const fn raw(self) -> u32 {
                self.0
            }

            /// The kind's name.
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($value => $label,)+
                    _ => "?",
                }
            }
        }

        impl TryFrom<u32> for $name {
            type Error = u32;
            /// Fails with the raw value when it names no kind.
            fn try_from(v: u32) -> Result<Self, u32> {
                if Self::ALL.iter().any(|k| k.0 == v) { Ok(Self(v)) } else { Err(v) }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

u32_kind! {
    /// What a [`Command`] asks for. Zero is no command (zeroed memory is not
    /// mistaken for one).
    CommandKind {
        /// Advance the simulation `steps` time steps.
        RUN_STEPS = 1, "RunSteps";
        /// Add `value` to the pressure at interior cell `pos`.
        INJECT_IMPULSE = 2, "InjectImpulse";
        /// Report the step count and the energy.
        GET_PROGRESS = 3, "GetProgress";
        /// Replace the physical parameters (checked against the CFL limit).
        CONFIGURE = 4, "Configure";
        /// Save the field, step count and parameters (one slot, overwritten).
        CHECKPOINT = 5, "Checkpoint";
        /// Go back to the last checkpoint.
        RESTORE = 6, "Restore";
        /// Stop; every later command is refused.
        TERMINATE = 7, "Terminate";
    }
}

u32_kind! {
    /// What a [`Reply`] says.
    ReplyKind {
        /// The command was carried out.
        ACK = 1, "Ack";
        /// Answer to GetProgress: `step` and `energy`.
        PROGRESS = 2, "Progress";
        /// The command was refused; `error` says why. Nothing changed.
        ERROR = 3, "Error";
        /// Answer to Terminate.
        TERMINATED = 4, "Terminated";
        /// Answer to Checkpoint: `step` is the step saved.
        CHECKPOINT_OK = 5, "CheckpointOk";
    }
}

u32_kind! {
    /// Why a command was refused (the `error` field of an `Error` reply).
    ErrorCode {
        /// The command's kind is not one of [`CommandKind`].
        UNKNOWN_KIND = 1, "unknown command kind";
        /// RunSteps with `steps = 0`.
        ZERO_STEPS = 2, "zero steps";
        /// InjectImpulse at a position outside the grid or on a wall.
        POSITION_OUT_OF_RANGE = 3, "position out of range";
        /// A float field is NaN or infinite.
        NON_FINITE = 4, "non-finite value";
        /// Configure: speed, dt or dx not positive, or damping not in [0, 1).
        INVALID_PARAMETER = 5, "invalid parameter";
        /// Configure: the CFL condition (c·dt/dx)² ≤ 1/3 fails.
        UNSTABLE = 6, "unstable parameters (CFL)";
        /// Restore with no checkpoint taken.
        NO_CHECKPOINT = 7, "no checkpoint";
        /// The simulation has terminated.
        TERMINATED = 8, "terminated";
        /// The engine cannot run commands: a persistent actor launched
        /// without its gang, or with a gang whose parameters or arena do
        /// not hold the grid (see `persistent`).
        ENGINE_UNAVAILABLE = 9, "engine unavailable";
    }
}

impl From<ParamError> for ErrorCode {
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::NonFinite => Self::NON_FINITE,
            ParamError::NonPositive | ParamError::DampingOutOfRange => Self::INVALID_PARAMETER,
            ParamError::Unstable { .. } => Self::UNSTABLE,
        }
    }
}

/// A command to the simulation (64 bytes, see the module doc for the
/// layout). Build one with the constructors; fields a kind does not use are
/// zero and ignored.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct Command {
    /// Raw [`CommandKind`].
    pub kind: u32,
    /// Chosen by the sender, copied into the reply.
    pub tag: u32,
    /// RunSteps: how many steps (≥ 1).
    pub steps: u32,
    /// InjectImpulse: the cell `[x, y, z]` (interior).
    pub pos: [u32; 3],
    /// InjectImpulse: the pressure added.
    pub value: f32,
    /// Configure: wave speed c (m/s).
    pub speed: f32,
    /// Configure: time step dt (s).
    pub dt: f32,
    /// Configure: grid spacing dx (m).
    pub dx: f32,
    /// Configure: damping γ per step.
    pub damping: f32,
    /// Zero; ignored.
    pub reserved: [u32; 5],
}

/// The simulation's answer to one [`Command`] (64 bytes, see the module
/// doc for the layout).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct Reply {
    /// Raw [`ReplyKind`].
    pub kind: u32,
    /// The command's tag.
    pub tag: u32,
    /// Step count after the command (for CheckpointOk: the step saved).
    pub step: u64,
    /// Progress: the discrete energy; otherwise 0.
    pub energy: f64,
    /// Error: the raw [`ErrorCode`]; otherwise 0.
    pub error: u32,
    /// The raw kind of the command answered.
    pub command: u32,
    /// Zero.
    pub reserved: [u32; 8],
}

/// Pins `offset_of!($ty, $field) == $off` at compile time.
macro_rules! assert_offset {
    ($ty:ty, $field:ident, $off:expr) => {
        const _: () = assert!(::core::mem::offset_of!($ty, $field) == $off);
    };
}

/// Size of a [`Command`] and of a [`Reply`]: one envelope payload.
pub const MESSAGE_BYTES: usize = 64;

const _: () = assert!(size_of::<Command>() == MESSAGE_BYTES && align_of::<Command>() == 16);
const _: () = assert!(size_of::<Reply>() == MESSAGE_BYTES && align_of::<Reply>() == 16);
assert_offset!(Command, kind, 0);
assert_offset!(Command, tag, 4);
assert_offset!(Command, steps, 8);
assert_offset!(Command, pos, 12);
assert_offset!(Command, value, 24);
assert_offset!(Command, speed, 28);
assert_offset!(Command, dt, 32);
assert_offset!(Command, dx, 36);
assert_offset!(Command, damping, 40);
assert_offset!(Command, reserved, 44);
assert_offset!(Reply, kind, 0);
assert_offset!(Reply, tag, 4);
assert_offset!(Reply, step, 8);
assert_offset!(Reply, energy, 16);
assert_offset!(Reply, error, 24);
assert_offset!(Reply, command, 28);
assert_offset!(Reply, reserved, 32);

impl Command {
    const fn of_kind(kind: CommandKind) -> Self {
        Self {
            kind: kind.raw(),
            tag: 0,
            steps: 0,
            pos: [0; 3],
            value: 0.0,
            speed: 0.0,
            dt: 0.0,
            dx: 0.0,
            damping: 0.0,
            reserved: [0; 5],
        }
    }

    /// RunSteps(`steps`).
    pub const fn run_steps(steps: u32) -> Self {
        Self { steps, ..Self::of_kind(CommandKind::RUN_STEPS) }
    }

    /// InjectImpulse(`pos`, `value`).
    pub const fn inject_impulse(pos: [u32; 3], value: f32) -> Self {
        Self { pos, value, ..Self::of_kind(CommandKind::INJECT_IMPULSE) }
    }

    /// GetProgress.
    pub const fn get_progress() -> Self {
        Self::of_kind(CommandKind::GET_PROGRESS)
    }

    /// Configure(`speed`, `dt`, `dx`, `damping`).
    pub const fn configure(speed: f32, dt: f32, dx: f32, damping: f32) -> Self {
        Self { speed, dt, dx, damping, ..Self::of_kind(CommandKind::CONFIGURE) }
    }

    /// Configure with the values of `params`.
    pub const fn configure_with(params: &Params) -> Self {
        Self::configure(params.speed(), params.dt(), params.dx(), params.damping())
    }

    /// Checkpoint.
    pub const fn checkpoint() -> Self {
        Self::of_kind(CommandKind::CHECKPOINT)
    }

    /// Restore.
    pub const fn restore() -> Self {
        Self::of_kind(CommandKind::RESTORE)
    }

    /// Terminate.
    pub const fn terminate() -> Self {
        Self::of_kind(CommandKind::TERMINATE)
    }

    /// The same command with `tag` set.
    pub const fn with_tag(self, tag: u32) -> Self {
        Self { tag, ..self }
    }

    /// The kind, or the raw value when it names none.
    pub fn kind(&self) -> Result<CommandKind, u32> {
        CommandKind::try_from(self.kind)
    }
}

impl Reply {
    /// A reply of `kind` to `cmd` at step `step`, every other field zero.
    pub const fn new(kind: ReplyKind, cmd: &Command, step: u64) -> Self {
        Self { kind: kind.raw(), tag: cmd.tag, step, energy: 0.0, error: 0, command: cmd.kind, reserved: [0; 8] }
    }

    /// Error(`code`) to `cmd` at step `step`.
    pub const fn error(code: ErrorCode, cmd: &Command, step: u64) -> Self {
        Self { error: code.raw(), ..Self::new(ReplyKind::ERROR, cmd, step) }
    }

    /// Progress(`step`, `energy`) to `cmd`.
    pub const fn progress(cmd: &Command, step: u64, energy: f64) -> Self {
        Self { energy, ..Self::new(ReplyKind::PROGRESS, cmd, step) }
    }

    /// The kind, or the raw value when it names none.
    pub fn kind(&self) -> Result<ReplyKind, u32> {
        ReplyKind::try_from(self.kind)
    }

    /// For an Error reply, its code (or the raw value when it names none);
    /// `None` for other replies.
    pub fn error_code(&self) -> Option<Result<ErrorCode, u32>> {
        (self.kind == ReplyKind::ERROR.raw()).then(|| ErrorCode::try_from(self.error))
    }
}

/// A checked command, ready to carry out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Advance this many steps (≥ 1).
    RunSteps(u32),
    /// Add `value` (finite) at interior cell `pos`.
    InjectImpulse {
        /// `[x, y, z]`, interior.
        pos: [u32; 3],
        /// Pressure added.
        value: f32,
    },
    /// Report progress.
    GetProgress,
    /// Switch to these (stable) parameters.
    Configure(Params),
    /// Save a checkpoint.
    Checkpoint,
    /// Go back to the checkpoint.
    Restore,
    /// Stop.
    Terminate,
}

/// Checks `cmd` against a grid of size `dims`: its kind must be known and
/// its fields must make sense for that kind (see the table in the module
/// doc). State-dependent refusals (no checkpoint, terminated) are
/// [`crate::actor::handle`]'s. Allocation-free and branch-bounded: runs on
/// the GPU as it does here.
pub fn validate(cmd: &Command, dims: GridDims) -> Result<Op, ErrorCode> {
    let kind = cmd.kind().map_err(|_| ErrorCode::UNKNOWN_KIND)?;
    match kind {
        CommandKind::RUN_STEPS => match cmd.steps {
            0 => Err(ErrorCode::ZERO_STEPS),
            n => Ok(Op::RunSteps(n)),
        },
        CommandKind::INJECT_IMPULSE => {
            if !cmd.value.is_finite() {
                Err(ErrorCode::NON_FINITE)
            } else if !dims.is_interior(cmd.pos) {
                Err(ErrorCode::POSITION_OUT_OF_RANGE)
            } else {
                Ok(Op::InjectImpulse { pos: cmd.pos, value: cmd.value })
            }
        }
        CommandKind::GET_PROGRESS => Ok(Op::GetProgress),
        CommandKind::CONFIGURE => {
            Ok(Op::Configure(Params::new(cmd.speed, cmd.dt, cmd.dx, cmd.damping).map_err(ErrorCode::from)?))
        }
        CommandKind::CHECKPOINT => Ok(Op::Checkpoint),
        CommandKind::RESTORE => Ok(Op::Restore),
        CommandKind::TERMINATE => Ok(Op::Terminate),
        // `kind()` accepted it, so it is one of the constants above.
        _ => Err(ErrorCode::UNKNOWN_KIND),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims() -> GridDims {
        GridDims::new(8, 9, 10).unwrap()
    }

    #[test]
    fn kinds_round_trip_and_reject_unknown_values() {
        for &k in CommandKind::ALL {
            assert_eq!(CommandKind::try_from(k.raw()), Ok(k));
        }
        for &k in ReplyKind::ALL {
            assert_eq!(ReplyKind::try_from(k.raw()), Ok(k));
        }
        for &k in ErrorCode::ALL {
            assert_eq!(ErrorCode::try_from(k.raw()), Ok(k));
        }
        assert_eq!(CommandKind::ALL.len(), 7);
        assert_eq!(ReplyKind::ALL.len(), 5);
        assert_eq!(CommandKind::try_from(0), Err(0));
        assert_eq!(CommandKind::try_from(8), Err(8));
        assert_eq!(ReplyKind::try_from(u32::MAX), Err(u32::MAX));
        assert_eq!(CommandKind::RUN_STEPS.name(), "RunSteps");
    }

    #[test]
    fn messages_are_plain_64_byte_data() {
        let cmd = Command::inject_impulse([1, 2, 3], 0.5).with_tag(9);
        let bytes: &[u8] = bytemuck::bytes_of(&cmd);
        assert_eq!(bytes.len(), 64);
        assert_eq!(&bytes[0..4], &2u32.to_ne_bytes());
        assert_eq!(&bytes[4..8], &9u32.to_ne_bytes());
        assert_eq!(&bytes[12..16], &1u32.to_ne_bytes());
        assert_eq!(&bytes[24..28], &0.5f32.to_ne_bytes());
        assert_eq!(bytemuck::pod_read_unaligned::<Command>(bytes), cmd);
        let zero: Command = bytemuck::Zeroable::zeroed();
        assert_eq!(zero.kind(), Err(0));
        let reply = Reply::progress(&cmd, 7, 1.5);
        assert_eq!(bytemuck::bytes_of(&reply).len(), 64);
        assert_eq!(reply.tag, 9);
        assert_eq!(reply.command, 2);
        assert_eq!(reply.error_code(), None);
        assert_eq!(Reply::error(ErrorCode::ZERO_STEPS, &cmd, 0).error_code(), Some(Ok(ErrorCode::ZERO_STEPS)));
    }

    #[test]
    fn good_commands_validate() {
        let d = dims();
        assert_eq!(validate(&Command::run_steps(3), d), Ok(Op::RunSteps(3)));
        assert_eq!(
            validate(&Command::inject_impulse([6, 7, 8], -1.0), d),
            Ok(Op::InjectImpulse { pos: [6, 7, 8], value: -1.0 })
        );
        assert_eq!(validate(&Command::get_progress(), d), Ok(Op::GetProgress));
        assert_eq!(validate(&Command::configure_with(&Params::DEFAULT), d), Ok(Op::Configure(Params::DEFAULT)));
        assert_eq!(validate(&Command::checkpoint(), d), Ok(Op::Checkpoint));
        assert_eq!(validate(&Command::restore(), d), Ok(Op::Restore));
        assert_eq!(validate(&Command::terminate(), d), Ok(Op::Terminate));
    }

    #[test]
    fn every_bad_command_gets_its_error() {
        let d = dims();
        let bad = |cmd: Command| validate(&cmd, d).unwrap_err();
        assert_eq!(bad(Command { kind: 0, ..Command::get_progress() }), ErrorCode::UNKNOWN_KIND);
        assert_eq!(bad(Command { kind: 99, ..Command::get_progress() }), ErrorCode::UNKNOWN_KIND);
        assert_eq!(bad(Command::run_steps(0)), ErrorCode::ZERO_STEPS);
        for pos in [[0, 4, 4], [7, 4, 4], [4, 8, 4], [4, 4, 9], [4, 4, 0], [u32::MAX, 4, 4], [100, 100, 100]] {
            assert_eq!(bad(Command::inject_impulse(pos, 1.0)), ErrorCode::POSITION_OUT_OF_RANGE, "{pos:?}");
        }
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(bad(Command::inject_impulse([4, 4, 4], v)), ErrorCode::NON_FINITE);
            assert_eq!(bad(Command::configure(v, 1e-6, 1e-3, 0.0)), ErrorCode::NON_FINITE);
            assert_eq!(bad(Command::configure(343.0, 1e-6, 1e-3, v)), ErrorCode::NON_FINITE);
        }
        assert_eq!(bad(Command::configure(-343.0, 1e-6, 1e-3, 0.0)), ErrorCode::INVALID_PARAMETER);
        assert_eq!(bad(Command::configure(343.0, 1e-6, 1e-3, 1.0)), ErrorCode::INVALID_PARAMETER);
        assert_eq!(bad(Command::configure(343.0, 1e-5, 1e-3, 0.0)), ErrorCode::UNSTABLE);
    }
}
