//! [`Simulation`]: the command-driven simulation on the CPU.
//!
//! It is exactly what a persistent GPU actor will be — a [`WaveState`] and a
//! field, and every command answered by [`actor::handle`] — with the field
//! in host memory. Feeding it a sequence of commands and reading the
//! replies is how the `wavesim` binary runs, and how the tests check the
//! protocol.

use std::vec::Vec;

use crate::actor::{self, WaveState};
use crate::cpu::{CpuField, Engine};
use crate::fdtd::Params;
use crate::grid::GridDims;
use crate::protocol::{Command, Reply};

/// A simulation on the CPU, driven by [`Command`]s.
#[derive(Clone, Debug)]
pub struct Simulation {
    state: WaveState,
    field: CpuField,
}

impl Simulation {
    /// A field at rest on `dims` with [`Params::DEFAULT`], stepped by
    /// `engine`.
    pub fn new(dims: GridDims, engine: Engine) -> Self {
        Self::with_params(dims, engine, Params::DEFAULT)
    }

    /// A field at rest on `dims` with `params`, stepped by `engine`.
    pub fn with_params(dims: GridDims, engine: Engine, params: Params) -> Self {
        Self { state: WaveState::new(params), field: CpuField::new(dims, engine) }
    }

    /// Carries out one command and returns its reply ([`actor::handle`]).
    pub fn apply(&mut self, cmd: &Command) -> Reply {
        actor::handle(&mut self.state, &mut self.field, cmd)
    }

    /// Carries out `cmds` in order; one reply per command.
    pub fn run<'a>(&mut self, cmds: impl IntoIterator<Item = &'a Command>) -> Vec<Reply> {
        cmds.into_iter().map(|cmd| self.apply(cmd)).collect()
    }

    /// The grid size.
    pub fn dims(&self) -> GridDims {
        actor::Field::dims(&self.field)
    }

    /// The state: parameters, step count, checkpoint, terminated.
    pub fn state(&self) -> &WaveState {
        &self.state
    }

    /// The field.
    pub fn field(&self) -> &CpuField {
        &self.field
    }

    /// Switches CPU engines (the field is kept).
    pub fn set_engine(&mut self, engine: Engine) {
        self.field.set_engine(engine);
    }

    /// The mid-plane `z = nz/2` of the current pressure (`nx·ny` values, x
    /// fastest): what the PNG shows.
    pub fn midplane(&self) -> &[f32] {
        self.field.plane(self.dims().nz() / 2)
    }
}
