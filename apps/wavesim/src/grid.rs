//! Grid dimensions and cell indexing.
//!
//! The field is stored x-fastest: cell `(x, y, z)` lives at
//! `x + nx·(y + ny·z)`, so a z plane is one contiguous run of `nx·ny` values
//! (what the rayon engine splits on, and what a GPU tile will copy).
//!
//! **Boundary.** The cells on the six faces of the box (any coordinate equal
//! to 0 or n−1) are held at zero pressure for ever: a fixed-zero (Dirichlet,
//! "sound-soft") wall that reflects a wave with its sign inverted. Only the
//! *interior* cells, `1 ≤ x ≤ nx−2` and likewise for y and z, are updated or
//! can receive an impulse. This makes the update branch-free (every interior
//! cell has all six neighbours in the array) and is why each axis needs at
//! least [`GridDims::MIN`] cells.

use core::fmt;

/// Size of the simulation grid. Always valid: built only by [`GridDims::new`]
/// (or [`GridDims::cube`]), which checks the limits below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GridDims {
    nx: u32,
    ny: u32,
    nz: u32,
}

/// Why a grid size was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridError {
    /// An axis has fewer than [`GridDims::MIN`] cells (no interior).
    TooSmall {
        /// `'x'`, `'y'` or `'z'`.
        axis: char,
        /// The requested size.
        n: u32,
    },
    /// An axis has more than [`GridDims::MAX`] cells.
    TooLarge {
        /// `'x'`, `'y'` or `'z'`.
        axis: char,
        /// The requested size.
        n: u32,
    },
}

impl fmt::Display for GridError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooSmall { axis, n } => {
                write!(
                    f,
                    "grid axis {axis} has {n} cells; at least {} are needed (a fixed wall on each side)",
                    GridDims::MIN
                )
            }
            Self::TooLarge { axis, n } => {
                write!(f, "grid axis {axis} has {n} cells; at most {} are allowed", GridDims::MAX)
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for GridError {}

impl GridDims {
    /// Fewest cells along an axis: one interior cell between two walls.
    pub const MIN: u32 = 3;
    /// Most cells along an axis. A grid therefore has at most 2³⁰ cells: a
    /// cell index fits in a `u32` on the GPU with room to spare, and one field
    /// buffer is at most 4 GiB.
    pub const MAX: u32 = 1024;

    /// Checks and builds a grid of `nx × ny × nz` cells.
    pub const fn new(nx: u32, ny: u32, nz: u32) -> Result<Self, GridError> {
        let sizes = [('x', nx), ('y', ny), ('z', nz)];
        let mut i = 0;
        while i < sizes.len() {
            let (axis, n) = sizes[i];
            if n < Self::MIN {
                return Err(GridError::TooSmall { axis, n });
            }
            if n > Self::MAX {
                return Err(GridError::TooLarge { axis, n });
            }
            i += 1;
        }
        Ok(Self { nx, ny, nz })
    }

    /// A cube of `n³` cells.
    pub const fn cube(n: u32) -> Result<Self, GridError> {
        Self::new(n, n, n)
    }

    /// Cells along x.
    pub const fn nx(self) -> u32 {
        self.nx
    }

    /// Cells along y.
    pub const fn ny(self) -> u32 {
        self.ny
    }

    /// Cells along z.
    pub const fn nz(self) -> u32 {
        self.nz
    }

    /// All cells, walls included: the length of a field buffer.
    pub const fn cells(self) -> usize {
        self.nx as usize * self.ny as usize * self.nz as usize
    }

    /// Cells that are updated (the walls excluded): `(nx−2)(ny−2)(nz−2)`.
    pub const fn interior_cells(self) -> usize {
        (self.nx as usize - 2) * (self.ny as usize - 2) * (self.nz as usize - 2)
    }

    /// Cells in one z plane: `nx·ny`, the stride between planes.
    pub const fn plane(self) -> usize {
        self.nx as usize * self.ny as usize
    }

    /// Index of cell `(x, y, z)` in a field buffer. The caller keeps the
    /// coordinates in range (checked in debug builds).
    pub const fn index(self, x: u32, y: u32, z: u32) -> usize {
        debug_assert!(x < self.nx && y < self.ny && z < self.nz);
        x as usize + self.nx as usize * (y as usize + self.ny as usize * z as usize)
    }

    /// Whether `pos` is an interior cell: one that is updated and can take an
    /// impulse (the walls are fixed at zero).
    pub const fn is_interior(self, pos: [u32; 3]) -> bool {
        let [x, y, z] = pos;
        x >= 1 && x < self.nx - 1 && y >= 1 && y < self.ny - 1 && z >= 1 && z < self.nz - 1
    }

    /// The centre cell `(nx/2, ny/2, nz/2)`; for odd sizes the exact centre.
    pub const fn centre(self) -> [u32; 3] {
        [self.nx / 2, self.ny / 2, self.nz / 2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert_eq!(GridDims::new(2, 8, 8), Err(GridError::TooSmall { axis: 'x', n: 2 }));
        assert_eq!(GridDims::new(8, 8, 1025), Err(GridError::TooLarge { axis: 'z', n: 1025 }));
        assert_eq!(GridDims::new(8, 0, 8), Err(GridError::TooSmall { axis: 'y', n: 0 }));
        assert_eq!(GridDims::cube(1024).map(GridDims::cells), Ok(1 << 30));
        assert!(GridDims::cube(3).is_ok());
    }

    #[test]
    fn indexing_is_x_fastest() {
        let d = GridDims::new(4, 5, 6).unwrap();
        assert_eq!(d.cells(), 120);
        assert_eq!(d.plane(), 20);
        assert_eq!(d.interior_cells(), 2 * 3 * 4);
        assert_eq!(d.index(1, 0, 0), 1);
        assert_eq!(d.index(0, 1, 0), 4);
        assert_eq!(d.index(0, 0, 1), 20);
        assert_eq!(d.index(3, 4, 5), 119);
    }

    #[test]
    fn interior_excludes_the_walls() {
        let d = GridDims::cube(5).unwrap();
        assert!(d.is_interior([1, 1, 1]));
        assert!(d.is_interior([3, 3, 3]));
        assert!(!d.is_interior([0, 2, 2]));
        assert!(!d.is_interior([4, 2, 2]));
        assert!(!d.is_interior([2, 2, 4]));
        assert!(!d.is_interior([u32::MAX, 2, 2]));
        assert_eq!(d.centre(), [2, 2, 2]);
    }
}
