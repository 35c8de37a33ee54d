//! The simulation as an actor: state, the field it drives, and one function
//! that answers one command.
//!
//! [`handle`] holds *all* per-command logic — validation, the state
//! machine, what each reply contains. It is generic over [`Field`], the
//! storage and stepping of the pressure field, so the same function serves
//! the CPU [`crate::Simulation`] (a [`crate::CpuField`] of `Vec`s, stepped
//! with rayon), the batch GPU engine, and the persistent GPU actor
//! ([`crate::persistent::WaveActor`]) whose field lives in
//! device memory and is stepped by many blocks. It allocates nothing and
//! never panics on any command, so a bad message cannot crash the actor.
//!
//! State machine: *Running* —`Terminate`→ *Terminated*. In Running every
//! valid command is carried out and every invalid one answered
//! `Error(code)` with nothing changed. In Terminated every command is
//! answered `Error(Terminated)`.

use crate::fdtd::{Coeffs, Params};
use crate::grid::GridDims;
use crate::protocol::{Command, ErrorCode, Op, Reply, ReplyKind, validate};

/// Storage and stepping of the two pressure fields (current and previous).
/// Walls stay zero: implementations update interior cells only.
pub trait Field {
    /// The grid size.
    fn dims(&self) -> GridDims;
    /// Advances `steps` (≥ 1) time steps with `coeffs`.
    fn advance(&mut self, steps: u32, coeffs: Coeffs);
    /// Adds a smooth bump of peak `value` centred on interior cell `pos`
    /// ([`crate::fdtd::inject_bump`]) to the current *and* the previous
    /// pressure: the impulse starts as a displacement at rest, with no time
    /// derivative.
    fn inject(&mut self, pos: [u32; 3], value: f32);
    /// The discrete energy of the present field pair (see [`crate::fdtd`]).
    fn energy(&mut self, courant2: f32) -> f64;
    /// Copies both fields to the checkpoint slot (overwriting it).
    fn save_checkpoint(&mut self);
    /// Copies the checkpoint slot back. Called only after
    /// [`Field::save_checkpoint`].
    fn restore_checkpoint(&mut self);
}

/// What [`handle`] keeps between commands, besides the field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WaveState {
    params: Params,
    step: u64,
    /// Step and parameters of the checkpoint, when one was taken.
    saved: Option<(u64, Params)>,
    terminated: bool,
}

impl WaveState {
    /// A simulation at step 0 with `params`, no checkpoint, running.
    pub const fn new(params: Params) -> Self {
        Self { params, step: 0, saved: None, terminated: false }
    }

    /// The parameters in force.
    pub const fn params(&self) -> &Params {
        &self.params
    }

    /// Steps run so far (a Restore sets it back).
    pub const fn step(&self) -> u64 {
        self.step
    }

    /// The step of the checkpoint, if one was taken.
    pub fn checkpoint_step(&self) -> Option<u64> {
        self.saved.map(|(step, _)| step)
    }

    /// Whether Terminate was received.
    pub const fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl Default for WaveState {
    fn default() -> Self {
        Self::new(Params::DEFAULT)
    }
}

/// Answers one command: checks it ([`validate`], then the state), carries
/// it out on `field`, and returns the reply (see the table in
/// [`crate::protocol`]).
pub fn handle<F: Field + ?Sized>(state: &mut WaveState, field: &mut F, cmd: &Command) -> Reply {
    if state.terminated {
        return Reply::error(ErrorCode::TERMINATED, cmd, state.step);
    }
    let op = match validate(cmd, field.dims()) {
        Ok(op) => op,
        Err(code) => return Reply::error(code, cmd, state.step),
    };
    match op {
        Op::RunSteps(n) => {
            field.advance(n, state.params.coeffs());
            state.step = state.step.saturating_add(u64::from(n));
            Reply::new(ReplyKind::ACK, cmd, state.step)
        }
        Op::InjectImpulse { pos, value } => {
            field.inject(pos, value);
            Reply::new(ReplyKind::ACK, cmd, state.step)
        }
        Op::GetProgress => {
            let energy = field.energy(state.params.courant2());
            Reply::progress(cmd, state.step, energy)
        }
        Op::Configure(params) => {
            state.params = params;
            Reply::new(ReplyKind::ACK, cmd, state.step)
        }
        Op::Checkpoint => {
            field.save_checkpoint();
            state.saved = Some((state.step, state.params));
            Reply::new(ReplyKind::CHECKPOINT_OK, cmd, state.step)
        }
        Op::Restore => match state.saved {
            Some((step, params)) => {
                field.restore_checkpoint();
                state.step = step;
                state.params = params;
                Reply::new(ReplyKind::ACK, cmd, state.step)
            }
            None => Reply::error(ErrorCode::NO_CHECKPOINT, cmd, state.step),
        },
        Op::Terminate => {
            state.terminated = true;
            Reply::new(ReplyKind::TERMINATED, cmd, state.step)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdtd;

    /// A `no_std`, allocation-free field on fixed arrays: what a GPU actor's
    /// field looks like to [`handle`] (buffers it does not own, sized once).
    struct ArrayField {
        dims: GridDims,
        cur: [f32; 216],
        prev: [f32; 216],
        saved: [[f32; 216]; 2],
    }

    impl ArrayField {
        fn new() -> Self {
            Self { dims: GridDims::cube(6).unwrap(), cur: [0.0; 216], prev: [0.0; 216], saved: [[0.0; 216]; 2] }
        }
    }

    impl Field for ArrayField {
        fn dims(&self) -> GridDims {
            self.dims
        }
        fn advance(&mut self, steps: u32, coeffs: Coeffs) {
            for _ in 0..steps {
                fdtd::step_serial(&self.cur, &mut self.prev, self.dims, coeffs);
                core::mem::swap(&mut self.cur, &mut self.prev);
            }
        }
        fn inject(&mut self, pos: [u32; 3], value: f32) {
            fdtd::inject_bump(&mut self.cur, &mut self.prev, self.dims, pos, value);
        }
        fn energy(&mut self, courant2: f32) -> f64 {
            fdtd::energy(&self.cur, &self.prev, self.dims, courant2)
        }
        fn save_checkpoint(&mut self) {
            self.saved = [self.cur, self.prev];
        }
        fn restore_checkpoint(&mut self) {
            [self.cur, self.prev] = self.saved;
        }
    }

    fn kind(r: &Reply) -> ReplyKind {
        r.kind().unwrap()
    }

    #[test]
    fn commands_drive_the_state_machine() {
        let mut state = WaveState::default();
        let mut field = ArrayField::new();
        let mut send = |cmd: Command| handle(&mut state, &mut field, &cmd.with_tag(42));

        let r = send(Command::inject_impulse([3, 3, 3], 1.0));
        assert_eq!((kind(&r), r.step, r.tag, r.command), (ReplyKind::ACK, 0, 42, 2));
        let r = send(Command::run_steps(5));
        assert_eq!((kind(&r), r.step), (ReplyKind::ACK, 5));
        let r = send(Command::checkpoint());
        assert_eq!((kind(&r), r.step), (ReplyKind::CHECKPOINT_OK, 5));
        let at_checkpoint = send(Command::get_progress());
        assert_eq!((kind(&at_checkpoint), at_checkpoint.step), (ReplyKind::PROGRESS, 5));
        assert!(at_checkpoint.energy > 0.0);
        send(Command::run_steps(7));
        assert_eq!(send(Command::get_progress()).step, 12);
        let r = send(Command::restore());
        assert_eq!((kind(&r), r.step), (ReplyKind::ACK, 5));
        assert_eq!(send(Command::get_progress()), at_checkpoint);
        let r = send(Command::terminate());
        assert_eq!((kind(&r), r.step), (ReplyKind::TERMINATED, 5));
        for cmd in [Command::get_progress(), Command::run_steps(1), Command::terminate()] {
            assert_eq!(send(cmd).error_code(), Some(Ok(ErrorCode::TERMINATED)));
        }
    }

    #[test]
    fn bad_commands_change_nothing() {
        let mut state = WaveState::default();
        let mut field = ArrayField::new();
        handle(&mut state, &mut field, &Command::inject_impulse([2, 3, 3], 1.0));
        handle(&mut state, &mut field, &Command::run_steps(3));
        let before = (state, field.cur, field.prev);
        let bad = [
            (Command::run_steps(0), ErrorCode::ZERO_STEPS),
            (Command::inject_impulse([0, 3, 3], 1.0), ErrorCode::POSITION_OUT_OF_RANGE),
            (Command::inject_impulse([3, 3, 6], 1.0), ErrorCode::POSITION_OUT_OF_RANGE),
            (Command::inject_impulse([3, 3, 3], f32::NAN), ErrorCode::NON_FINITE),
            (Command::configure(343.0, 1.0, 1e-3, 0.0), ErrorCode::UNSTABLE),
            (Command::configure(343.0, 1e-6, 1e-3, 2.0), ErrorCode::INVALID_PARAMETER),
            (Command::configure(343.0, f32::NAN, 1e-3, 0.0), ErrorCode::NON_FINITE),
            (Command { kind: 1234, ..Command::get_progress() }, ErrorCode::UNKNOWN_KIND),
            (Command::restore(), ErrorCode::NO_CHECKPOINT),
        ];
        for (cmd, code) in bad {
            let r = handle(&mut state, &mut field, &cmd);
            assert_eq!(r.error_code(), Some(Ok(code)), "{cmd:?}");
            assert_eq!(r.step, 3);
            assert_eq!(r.command, cmd.kind);
        }
        assert!(before == (state, field.cur, field.prev));
        // And it keeps running.
        let r = handle(&mut state, &mut field, &Command::run_steps(2));
        assert_eq!((kind(&r), r.step), (ReplyKind::ACK, 5));
    }

    #[test]
    fn configure_changes_the_parameters_and_restore_brings_them_back() {
        let mut state = WaveState::default();
        let mut field = ArrayField::new();
        handle(&mut state, &mut field, &Command::checkpoint());
        let r = handle(&mut state, &mut field, &Command::configure(1.0, 0.5, 1.0, 0.25));
        assert_eq!(kind(&r), ReplyKind::ACK);
        assert_eq!(state.params().damping(), 0.25);
        handle(&mut state, &mut field, &Command::restore());
        assert_eq!(*state.params(), Params::DEFAULT);
        assert_eq!(state.checkpoint_step(), Some(0));
    }
}
