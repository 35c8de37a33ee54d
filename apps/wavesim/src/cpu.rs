//! The CPU engines and the CPU field.
//!
//! Two engines step the field with the same per-cell function
//! ([`fdtd::update_value`]), so they produce the same bits:
//!
//! * [`Engine::Naive`]: one thread, plane after plane ([`fdtd::step_serial`]).
//! * [`Engine::Rayon`]: the previous field is split into its z planes
//!   (`par_chunks_mut`), each plane updated by a rayon task reading the
//!   whole current field. No cell is written by two tasks and none is read
//!   while written (reads go to the other buffer), so there is no
//!   synchronisation beyond the join at the end of the step.
//!
//! The energy is computed per plane in parallel and the planes summed in
//! order ([`fdtd::sum_in_order`]), so it too is the same for both engines.
//! This is the correctness reference for the GPU engines to come.

use std::vec;
use std::vec::Vec;

use rayon::prelude::*;

use crate::actor::Field;
use crate::fdtd::{self, Coeffs};
use crate::grid::GridDims;

/// How the CPU steps the field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// Single-threaded, the plainest loop: the reference.
    Naive,
    /// Parallel over z planes with rayon (on the current rayon pool).
    #[default]
    Rayon,
}

impl Engine {
    /// `"naive"` or `"rayon"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Naive => "naive",
            Self::Rayon => "rayon",
        }
    }
}

/// One time step in parallel: `prev` becomes the next field. Same result as
/// [`fdtd::step_serial`], bit for bit.
///
/// # Panics
/// If either buffer is not `dims.cells()` long.
pub fn step_rayon(cur: &[f32], prev: &mut [f32], dims: GridDims, k: Coeffs) {
    assert!(prev.len() == dims.cells());
    prev.par_chunks_exact_mut(dims.plane()).enumerate().for_each(|(z, out)| fdtd::update_plane(cur, out, z, dims, k));
}

/// The energy with the planes computed in parallel; same bits as
/// [`fdtd::energy`].
pub fn energy_rayon(cur: &[f32], prev: &[f32], dims: GridDims, courant2: f32) -> f64 {
    let planes: Vec<f64> =
        (0..dims.nz() as usize).into_par_iter().map(|z| fdtd::energy_plane(cur, prev, z, dims, courant2)).collect();
    fdtd::sum_in_order(planes)
}

/// The pressure field on the CPU: two `Vec<f32>` of `dims.cells()` values
/// (current and previous time level), a checkpoint slot allocated on first
/// use, and the engine that steps them.
#[derive(Clone, Debug)]
pub struct CpuField {
    dims: GridDims,
    engine: Engine,
    cur: Vec<f32>,
    prev: Vec<f32>,
    saved: Option<(Vec<f32>, Vec<f32>)>,
}

impl CpuField {
    /// A field at rest (all zero).
    pub fn new(dims: GridDims, engine: Engine) -> Self {
        Self { dims, engine, cur: vec![0.0; dims.cells()], prev: vec![0.0; dims.cells()], saved: None }
    }

    /// The engine in use.
    pub const fn engine(&self) -> Engine {
        self.engine
    }

    /// Switches engines (the field is kept).
    pub fn set_engine(&mut self, engine: Engine) {
        self.engine = engine;
    }

    /// The current pressure, x fastest (see [`crate::grid`]).
    pub fn pressure(&self) -> &[f32] {
        &self.cur
    }

    /// The pressure one step earlier.
    pub fn previous(&self) -> &[f32] {
        &self.prev
    }

    /// Plane `z` of the current pressure: `nx·ny` values, x fastest.
    ///
    /// # Panics
    /// If `z ≥ nz`.
    pub fn plane(&self, z: u32) -> &[f32] {
        assert!(z < self.dims.nz());
        let n = self.dims.plane();
        &self.cur[z as usize * n..(z as usize + 1) * n]
    }
}

impl Field for CpuField {
    fn dims(&self) -> GridDims {
        self.dims
    }

    fn advance(&mut self, steps: u32, coeffs: Coeffs) {
        for _ in 0..steps {
            match self.engine {
                Engine::Naive => fdtd::step_serial(&self.cur, &mut self.prev, self.dims, coeffs),
                Engine::Rayon => step_rayon(&self.cur, &mut self.prev, self.dims, coeffs),
            }
            std::mem::swap(&mut self.cur, &mut self.prev);
        }
    }

    fn inject(&mut self, pos: [u32; 3], value: f32) {
        fdtd::inject_bump(&mut self.cur, &mut self.prev, self.dims, pos, value);
    }

    fn energy(&mut self, courant2: f32) -> f64 {
        match self.engine {
            Engine::Naive => fdtd::energy(&self.cur, &self.prev, self.dims, courant2),
            Engine::Rayon => energy_rayon(&self.cur, &self.prev, self.dims, courant2),
        }
    }

    fn save_checkpoint(&mut self) {
        match &mut self.saved {
            Some((cur, prev)) => {
                cur.copy_from_slice(&self.cur);
                prev.copy_from_slice(&self.prev);
            }
            None => self.saved = Some((self.cur.clone(), self.prev.clone())),
        }
    }

    fn restore_checkpoint(&mut self) {
        if let Some((cur, prev)) = &self.saved {
            self.cur.copy_from_slice(cur);
            self.prev.copy_from_slice(prev);
        }
    }
}
