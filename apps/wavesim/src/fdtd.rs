//! The physics: 3D acoustic FDTD with a leapfrog time step.
//!
//! The pressure `p` obeys the wave equation `∂²p/∂t² = c²∇²p`. On a grid of
//! spacing `dx` with time step `dt`, the second-order leapfrog scheme with the
//! 7-point Laplacian is
//!
//! ```text
//! lap(p)ᵢ   = (p[x−1] + p[x+1]) + (p[y−1] + p[y+1]) + (p[z−1] + p[z+1]) − 6·pᵢ
//! p_nextᵢ   = ((2·pᵢ − p_prevᵢ) + C · lap(p)ᵢ) · (1 − γ)       C = (c·dt/dx)²
//! ```
//!
//! with `γ` the damping per step (a uniform loss: every step keeps the
//! fraction `1 − γ` of the new field). Because the scheme carries two time
//! levels, each mode's amplitude then falls by `√(1 − γ)` per step and the
//! energy below by `1 − γ` per step (the tests check this). The operations are written in exactly
//! this order, with no fused multiply-add (rustc does not contract floating
//! point on either target), so every engine that calls [`update_value`]
//! computes the same bits: the naive and rayon CPU engines agree bit for
//! bit, and a GPU kernel built from this function can too.
//!
//! **Stability (CFL).** In 3D with equal spacing the scheme is stable when
//! the Courant number `c·dt/dx ≤ 1/√3`, that is `C ≤ 1/3`
//! ([`MAX_COURANT2`]). [`Params::new`] refuses anything beyond it, so a
//! `Configure` command cannot make the simulation blow up.
//!
//! **Boundary.** The wall cells (see [`crate::grid`]) are never written and
//! stay zero; only interior cells are updated, so every stencil read stays in
//! the array.
//!
//! **Energy.** Without damping the leapfrog scheme conserves, exactly in
//! exact arithmetic, the discrete energy (in units of p², i.e. the physical
//! energy times `dt²` and constant factors)
//!
//! ```text
//! E = ½ Σᵢ (pᵢ − p_prevᵢ)²  +  ½ C Σ_(i,j) (pᵢ − pⱼ)(p_prevᵢ − p_prevⱼ)
//! ```
//!
//! where the second sum runs over every pair of neighbouring cells (each
//! pair once; walls included, they are zero). The first term is the kinetic
//! part, the second the potential part; `E ≥ 0` for every field exactly when
//! `C ≤ 1/3`, the CFL condition again. With damping `E` decays. [`energy`]
//! computes it in `f64`, one z plane at a time, summing the planes in order.
//! (Why it is conserved: with `L = −DᵀD` the Laplacian and `D` the
//! neighbour differences, take the update `p⁺ − 2p + p⁻ = C·L·p` in inner
//! product with `p⁺ − p⁻`; the left side telescopes to
//! `‖p⁺ − p‖² − ‖p − p⁻‖²`, the right to `−C(⟨Dp, Dp⁺⟩ − ⟨Dp, Dp⁻⟩)`.)
//!
//! **Impulses** add a smooth bump ([`impulse_weight`], radius
//! [`IMPULSE_RADIUS`]) to both time levels, so the source starts at rest.
//! In 3D such a bump launches a spherical shell, positive at its leading
//! edge and negative behind, that leaves the medium at rest behind it.
//!
//! **In-place update.** `p_next` of a cell depends on `p_prev` of that cell
//! only, so the next field overwrites the previous one and two buffers
//! suffice: after a step the caller swaps "current" and "previous".

use core::fmt;

use crate::grid::GridDims;

/// Largest stable `C = (c·dt/dx)²` for the 3D 7-point leapfrog scheme.
pub const MAX_COURANT2: f32 = 1.0 / 3.0;

/// Physical parameters of the simulation. Always valid and stable: built
/// only by [`Params::new`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    speed: f32,
    dt: f32,
    dx: f32,
    damping: f32,
}

/// The two numbers the update needs, derived from [`Params`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coeffs {
    /// `C = (c·dt/dx)²`, at most [`MAX_COURANT2`].
    pub courant2: f32,
    /// `1 − γ`: the fraction of the new field kept each step.
    pub keep: f32,
}

/// Why parameters were refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamError {
    /// A value is NaN or infinite.
    NonFinite,
    /// Speed, time step or spacing is zero or negative.
    NonPositive,
    /// Damping is outside `0 ≤ γ < 1`.
    DampingOutOfRange,
    /// The CFL condition fails: `C = (c·dt/dx)²` is above [`MAX_COURANT2`]
    /// (or not representable).
    Unstable {
        /// The `C` that was computed.
        courant2: f32,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NonFinite => f.write_str("a parameter is NaN or infinite"),
            Self::NonPositive => f.write_str("speed, time step and grid spacing must be positive"),
            Self::DampingOutOfRange => f.write_str("damping must be at least 0 and below 1"),
            Self::Unstable { courant2 } => write!(
                f,
                "unstable: (c·dt/dx)² = {courant2} exceeds the CFL limit 1/3 of the 3D leapfrog scheme; lower dt or raise dx"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParamError {}

impl Params {
    /// Air at room temperature on a 5 mm grid: c = 343 m/s, dx = 5 mm,
    /// dt = 8 µs (Courant number 0.549, `C` = 0.301), damping 0.005 per step
    /// (the walls reflect everything; this lets old echoes fade).
    pub const DEFAULT: Self = Self { speed: 343.0, dt: 8.0e-6, dx: 5.0e-3, damping: 5.0e-3 };

    /// Checks and builds parameters: all finite, `speed`, `dt`, `dx` > 0,
    /// `0 ≤ damping < 1`, and the CFL condition `(speed·dt/dx)² ≤ 1/3`
    /// (computed in `f32`, as the update uses it).
    pub fn new(speed: f32, dt: f32, dx: f32, damping: f32) -> Result<Self, ParamError> {
        if !(speed.is_finite() && dt.is_finite() && dx.is_finite() && damping.is_finite()) {
            return Err(ParamError::NonFinite);
        }
        if !(speed > 0.0 && dt > 0.0 && dx > 0.0) {
            return Err(ParamError::NonPositive);
        }
        if !(0.0..1.0).contains(&damping) {
            return Err(ParamError::DampingOutOfRange);
        }
        let params = Self { speed, dt, dx, damping };
        let courant2 = params.courant2();
        // An overflow to ∞ is refused too (NaN cannot arise from positive
        // finite inputs, and would fail the comparison as well).
        if courant2.partial_cmp(&MAX_COURANT2).is_none_or(|o| o.is_gt()) {
            return Err(ParamError::Unstable { courant2 });
        }
        Ok(params)
    }

    /// Wave speed `c` (m/s).
    pub const fn speed(&self) -> f32 {
        self.speed
    }

    /// Time step `dt` (s).
    pub const fn dt(&self) -> f32 {
        self.dt
    }

    /// Grid spacing `dx` (m).
    pub const fn dx(&self) -> f32 {
        self.dx
    }

    /// Damping `γ` per step.
    pub const fn damping(&self) -> f32 {
        self.damping
    }

    /// `C = (c·dt/dx)²`.
    pub fn courant2(&self) -> f32 {
        let courant = self.speed * self.dt / self.dx;
        courant * courant
    }

    /// The coefficients of the update.
    pub fn coeffs(&self) -> Coeffs {
        Coeffs { courant2: self.courant2(), keep: 1.0 - self.damping }
    }
}

impl Default for Params {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One cell's update: `p` and `prev` are the cell's current and previous
/// pressure, the other six its neighbours along −x, +x, −y, +y, −z, +z.
/// Returns the next pressure. The order of the operations is part of the
/// contract (see the module doc): the neighbours are summed in pairs, so
/// mirroring the field along any axis gives mirrored bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the stencil is seven values; a struct would only rename them
pub fn update_value(p: f32, prev: f32, xm: f32, xp: f32, ym: f32, yp: f32, zm: f32, zp: f32, k: Coeffs) -> f32 {
    let lap = ((xm + xp) + (ym + yp)) + (zm + zp) - 6.0 * p;
    ((2.0 * p - prev) + k.courant2 * lap) * k.keep
}

/// Updates the interior of one row. `c` is the current row, `ym`/`yp`/`zm`/
/// `zp` the current rows beside it, `out` holds the previous row on entry
/// and the next row on return. All six have the same length `nx`; `out[0]`
/// and `out[nx−1]` (walls) are not touched.
///
/// # Panics
/// If the lengths differ.
#[inline]
pub fn update_row(c: &[f32], ym: &[f32], yp: &[f32], zm: &[f32], zp: &[f32], out: &mut [f32], k: Coeffs) {
    let n = out.len();
    assert!(c.len() == n && ym.len() == n && yp.len() == n && zm.len() == n && zp.len() == n);
    for x in 1..n.saturating_sub(1) {
        out[x] = update_value(c[x], out[x], c[x - 1], c[x + 1], ym[x], yp[x], zm[x], zp[x], k);
    }
}

/// Advances z plane `z`: `cur` is the whole current field, `out` plane `z`
/// of the previous field on entry and of the next field on return. Wall
/// planes (`z = 0`, `z = nz−1`) and wall rows are left as they are.
///
/// # Panics
/// If `cur` is not `dims.cells()` long, `out` not `dims.plane()` long, or
/// `z ≥ nz`.
pub fn update_plane(cur: &[f32], out: &mut [f32], z: usize, dims: GridDims, k: Coeffs) {
    let (nx, ny, nz) = (dims.nx() as usize, dims.ny() as usize, dims.nz() as usize);
    let plane = dims.plane();
    assert!(cur.len() == dims.cells() && out.len() == plane && z < nz);
    if z == 0 || z == nz - 1 {
        return;
    }
    let below = &cur[(z - 1) * plane..z * plane];
    let here = &cur[z * plane..(z + 1) * plane];
    let above = &cur[(z + 1) * plane..(z + 2) * plane];
    for y in 1..ny - 1 {
        let row = y * nx..(y + 1) * nx;
        update_row(
            &here[row.clone()],
            &here[row.start - nx..row.start],
            &here[row.end..row.end + nx],
            &below[row.clone()],
            &above[row.clone()],
            &mut out[row],
            k,
        );
    }
}

/// One time step on one thread: `prev` (the previous field) becomes the next
/// field. The caller then swaps its "current" and "previous" buffers.
///
/// # Panics
/// If either buffer is not `dims.cells()` long.
pub fn step_serial(cur: &[f32], prev: &mut [f32], dims: GridDims, k: Coeffs) {
    assert!(prev.len() == dims.cells());
    for (z, out) in prev.chunks_exact_mut(dims.plane()).enumerate() {
        update_plane(cur, out, z, dims, k);
    }
}

/// Radius (in cells) of the pressure bump an impulse adds.
pub const IMPULSE_RADIUS: u32 = 5;

/// Weight of the impulse bump at offset `(dx, dy, dz)` cells from its centre:
/// `(1 − r²/R²)²` for `r < R` ([`IMPULSE_RADIUS`]), else 0; 1 at the centre.
///
/// A single-cell spike would excite mostly wavelengths of two or three
/// cells, which the scheme cannot carry faithfully (numerical dispersion
/// turns them into grid noise); this smooth, compactly supported bump
/// launches a clean spherical wave. Plain arithmetic only (no `exp`), so the
/// GPU computes the same weights.
pub fn impulse_weight(dx: i32, dy: i32, dz: i32) -> f32 {
    let r2 = dx * dx + dy * dy + dz * dz;
    let big_r2 = (IMPULSE_RADIUS * IMPULSE_RADIUS) as i32;
    if r2 >= big_r2 {
        return 0.0;
    }
    let s = 1.0 - r2 as f32 / big_r2 as f32;
    s * s
}

/// Adds `value · impulse_weight` around interior cell `pos` to both `cur` and
/// `prev` (so the bump starts at rest), skipping wall cells. Cells are
/// visited in a fixed order and each gets one addition: all engines agree.
///
/// # Panics
/// If either buffer is not `dims.cells()` long or `pos` is outside the grid.
pub fn inject_bump(cur: &mut [f32], prev: &mut [f32], dims: GridDims, pos: [u32; 3], value: f32) {
    assert!(cur.len() == dims.cells() && prev.len() == dims.cells());
    let r = IMPULSE_RADIUS as i32;
    for dz in -r..=r {
        for dy in -r..=r {
            for dx in -r..=r {
                let cell =
                    [pos[0].checked_add_signed(dx), pos[1].checked_add_signed(dy), pos[2].checked_add_signed(dz)];
                let [Some(x), Some(y), Some(z)] = cell else { continue };
                let w = impulse_weight(dx, dy, dz);
                if w == 0.0 || !dims.is_interior([x, y, z]) {
                    continue;
                }
                let i = dims.index(x, y, z);
                let add = value * w;
                cur[i] += add;
                prev[i] += add;
            }
        }
    }
}

/// The energy terms of the cells of z plane `z`: their kinetic terms and the
/// potential terms of the neighbour pairs that go from them in +x, +y and +z.
/// Summing this over all planes (in order, see [`energy`]) gives `E`.
///
/// # Panics
/// If either buffer is not `dims.cells()` long or `z ≥ nz`.
pub fn energy_plane(cur: &[f32], prev: &[f32], z: usize, dims: GridDims, courant2: f32) -> f64 {
    let (nx, ny, nz) = (dims.nx() as usize, dims.ny() as usize, dims.nz() as usize);
    let plane = dims.plane();
    assert!(cur.len() == dims.cells() && prev.len() == dims.cells() && z < nz);
    let mut kinetic = 0.0f64;
    let mut potential = 0.0f64;
    for y in 0..ny {
        for x in 0..nx {
            let i = z * plane + y * nx + x;
            let (p, q) = (f64::from(cur[i]), f64::from(prev[i]));
            let d = p - q;
            kinetic += d * d;
            // Forward neighbours: +x, +y, +z where they exist.
            let mut pair = |j: usize| {
                potential += (p - f64::from(cur[j])) * (q - f64::from(prev[j]));
            };
            if x + 1 < nx {
                pair(i + 1);
            }
            if y + 1 < ny {
                pair(i + nx);
            }
            if z + 1 < nz {
                pair(i + plane);
            }
        }
    }
    0.5 * kinetic + 0.5 * f64::from(courant2) * potential
}

/// The discrete energy `E` of the field pair (`cur`, `prev`), planes summed
/// in order from `z = 0`. Engines that compute the planes in parallel sum
/// them in the same order with [`sum_in_order`] and get the same bits.
pub fn energy(cur: &[f32], prev: &[f32], dims: GridDims, courant2: f32) -> f64 {
    sum_in_order((0..dims.nz() as usize).map(|z| energy_plane(cur, prev, z, dims, courant2)))
}

/// `((0 + a₀) + a₁) + …`: the one summation order every engine uses for
/// per-plane partial sums.
pub fn sum_in_order(parts: impl IntoIterator<Item = f64>) -> f64 {
    parts.into_iter().fold(0.0, |acc, e| acc + e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parameters_are_stable() {
        let p = Params::DEFAULT;
        assert_eq!(Params::new(p.speed(), p.dt(), p.dx(), p.damping()), Ok(p));
        let c2 = p.courant2();
        assert!(c2 > 0.3 && c2 < MAX_COURANT2, "{c2}");
        assert_eq!(p.coeffs().keep, 1.0 - 5.0e-3);
    }

    #[test]
    fn cfl_limit_is_enforced() {
        // Courant number 0.5 (C = 0.25) is stable, 0.6 (C = 0.36) is not.
        assert!(Params::new(1.0, 0.5, 1.0, 0.0).is_ok());
        assert!(matches!(Params::new(1.0, 0.6, 1.0, 0.0), Err(ParamError::Unstable { .. })));
        // Just below and just above 1/√3 = 0.57735.
        assert!(Params::new(1.0, 0.5773, 1.0, 0.0).is_ok());
        assert!(matches!(Params::new(1.0, 0.5774, 1.0, 0.0), Err(ParamError::Unstable { .. })));
        // Overflow to infinity is unstable, not accepted.
        assert!(matches!(Params::new(f32::MAX, f32::MAX, 1.0, 0.0), Err(ParamError::Unstable { .. })));
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert_eq!(Params::new(f32::NAN, 1e-6, 1e-3, 0.0), Err(ParamError::NonFinite));
        assert_eq!(Params::new(343.0, f32::INFINITY, 1e-3, 0.0), Err(ParamError::NonFinite));
        assert_eq!(Params::new(343.0, 1e-6, 1e-3, f32::NEG_INFINITY), Err(ParamError::NonFinite));
        assert_eq!(Params::new(0.0, 1e-6, 1e-3, 0.0), Err(ParamError::NonPositive));
        assert_eq!(Params::new(343.0, -1e-6, 1e-3, 0.0), Err(ParamError::NonPositive));
        assert_eq!(Params::new(343.0, 1e-6, 0.0, 0.0), Err(ParamError::NonPositive));
        assert_eq!(Params::new(343.0, 1e-6, 1e-3, 1.0), Err(ParamError::DampingOutOfRange));
        assert_eq!(Params::new(343.0, 1e-6, 1e-3, -0.1), Err(ParamError::DampingOutOfRange));
    }

    #[test]
    fn uniform_interior_field_has_zero_laplacian() {
        let k = Coeffs { courant2: 0.25, keep: 1.0 };
        // A flat field at rest stays where it is.
        assert_eq!(update_value(2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, k), 2.0);
        // A single spike spreads a quarter to each neighbour's next value.
        assert_eq!(update_value(0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, k), 0.25);
        // Damping scales the result.
        let damped = Coeffs { keep: 0.5, ..k };
        assert_eq!(update_value(2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, damped), 1.0);
    }

    #[test]
    fn impulse_is_a_smooth_bump_that_skips_the_walls() {
        assert_eq!(IMPULSE_RADIUS, 5);
        assert_eq!(impulse_weight(0, 0, 0), 1.0);
        assert_eq!(impulse_weight(1, 0, 0), (24.0f32 / 25.0) * (24.0 / 25.0));
        assert_eq!(impulse_weight(0, -5, 0), 0.0);
        assert_eq!(impulse_weight(3, 4, 0), 0.0);
        assert!(impulse_weight(3, 3, 2) > 0.0);
        assert_eq!(impulse_weight(-2, 1, 1), impulse_weight(1, 2, -1));
        let dims = GridDims::cube(13).unwrap();
        let (mut cur, mut prev) = ([0.0f32; 2197], [0.0f32; 2197]);
        inject_bump(&mut cur, &mut prev, dims, [1, 6, 6], 2.0);
        assert_eq!(cur, prev);
        assert_eq!(cur[dims.index(1, 6, 6)], 2.0);
        assert_eq!(cur[dims.index(2, 6, 6)], 2.0 * impulse_weight(1, 0, 0));
        assert_eq!(cur[dims.index(0, 6, 6)], 0.0, "wall untouched");
        assert_eq!(cur[dims.index(6, 6, 6)], 0.0, "outside the radius");
        assert!(cur[dims.index(5, 6, 6)] > 0.0, "inside the radius");
    }

    #[test]
    fn walls_stay_zero_and_energy_is_positive() {
        let dims = GridDims::cube(5).unwrap();
        let k = Params::new(1.0, 0.5, 1.0, 0.0).unwrap().coeffs();
        let mut cur = [0.0f32; 125];
        let mut prev = [0.0f32; 125];
        cur[dims.index(2, 2, 2)] = 1.0;
        prev[dims.index(2, 2, 2)] = 1.0;
        // At rest, only potential energy: ½·C·6 neighbour pairs·1·1 = 0.75.
        assert_eq!(energy(&cur, &prev, dims, k.courant2), 0.75);
        for _ in 0..50 {
            step_serial(&cur, &mut prev, dims, k);
            core::mem::swap(&mut cur, &mut prev);
        }
        for z in 0..5 {
            for y in 0..5 {
                for x in 0..5 {
                    if !dims.is_interior([x, y, z]) {
                        assert_eq!(cur[dims.index(x, y, z)], 0.0);
                    }
                }
            }
        }
        let e = energy(&cur, &prev, dims, k.courant2);
        assert!((e - 0.75).abs() < 1e-5, "{e}");
    }
}
