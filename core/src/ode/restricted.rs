//! A flow restricted to a linear invariant subspace: `dz/dt = Bᵀ F(B z)` for an orthonormal basis
//! B (n × m) of a subspace that F maps into itself (`F(Bz) ∈ span B`), so that `y = B z` solves
//! the full system. Newton and finite-difference Jacobians of the restricted flow stay inside the
//! subspace: where F is smooth within it but not across it (coinciding students of a kinked
//! activation: the kernels have square-root singularities in the students' separation), its
//! zeros can be refined where the full Newton iteration cannot.

use super::Flow;
use nalgebra::{DMatrix, DVector};

/// `F` on the subspace spanned by the orthonormal columns of `basis`.
pub struct Restricted<'a, F: Flow> {
    pub sys: &'a F,
    pub basis: DMatrix<f64>,
}

impl<F: Flow> Restricted<'_, F> {
    /// The subspace coordinates of `y`, `Bᵀ y` (its orthogonal projection).
    pub fn coordinates(&self, y: &DVector<f64>) -> DVector<f64> {
        self.basis.tr_mul(y)
    }

    /// The full state `B z`.
    pub fn state(&self, z: &DVector<f64>) -> DVector<f64> {
        &self.basis * z
    }
}

/// The full system's buffers, the full state and its F.
pub struct RestrictedWorkspace<W> {
    inner: W,
    y: DVector<f64>,
    f: DVector<f64>,
}

impl<F: Flow> Flow for Restricted<'_, F> {
    type Workspace = RestrictedWorkspace<F::Workspace>;
    fn workspace(&self) -> Self::Workspace {
        let n = self.basis.nrows();
        RestrictedWorkspace {
            inner: self.sys.workspace(),
            y: DVector::zeros(n),
            f: DVector::zeros(n),
        }
    }
    fn rhs(&self, z: &DVector<f64>, dz: &mut DVector<f64>, ws: &mut Self::Workspace) {
        self.basis.mul_to(z, &mut ws.y);
        self.sys.rhs(&ws.y, &mut ws.f, &mut ws.inner);
        self.basis.tr_mul_to(&ws.f, dz);
    }
    fn failure(ws: &Self::Workspace) -> Option<String> {
        F::failure(&ws.inner)
    }
}

/// `F` on the coordinate subspace where every component but `free` vanishes, in the
/// coordinates `z = (y_i)_{i ∈ free}`: `dz/dt = (F_i(y))_{i ∈ free}` with `y` zero off `free`.
/// For a subspace that F maps into itself (modes that only quadratic sums couple, all of them
/// zero) this is [`Restricted`] with the unit vectors as basis, without its dense products.
pub struct Coordinates<'a, F: Flow> {
    pub sys: &'a F,
    /// the free components, increasing
    pub free: Vec<usize>,
    /// the full state's length
    pub len: usize,
}

impl<F: Flow> Coordinates<'_, F> {
    /// The coordinates of `y` (its components `free`).
    pub fn coordinates(&self, y: &DVector<f64>) -> DVector<f64> {
        DVector::from_iterator(self.free.len(), self.free.iter().map(|&i| y[i]))
    }

    /// The full state: `z` at the components `free`, zero elsewhere.
    pub fn state(&self, z: &DVector<f64>) -> DVector<f64> {
        let mut y = DVector::zeros(self.len);
        for (&i, &v) in self.free.iter().zip(z.iter()) {
            y[i] = v;
        }
        y
    }
}

impl<F: Flow> Flow for Coordinates<'_, F> {
    type Workspace = RestrictedWorkspace<F::Workspace>;
    fn workspace(&self) -> Self::Workspace {
        RestrictedWorkspace {
            inner: self.sys.workspace(),
            y: DVector::zeros(self.len),
            f: DVector::zeros(self.len),
        }
    }
    fn rhs(&self, z: &DVector<f64>, dz: &mut DVector<f64>, ws: &mut Self::Workspace) {
        // components off `free` stay zero in `ws.y` from the workspace's creation
        for (&i, &v) in self.free.iter().zip(z.iter()) {
            ws.y[i] = v;
        }
        self.sys.rhs(&ws.y, &mut ws.f, &mut ws.inner);
        for (d, &i) in dz.iter_mut().zip(&self.free) {
            *d = ws.f[i];
        }
    }
    fn failure(ws: &Self::Workspace) -> Option<String> {
        F::failure(&ws.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dy/dt = A y with A symmetric under swapping components 0 and 1: the subspace y₀ = y₁ is
    /// invariant, and the restricted flow is the 2×2 system of (y₀ + y₁)/√2 and y₂.
    struct Linear(DMatrix<f64>);
    impl Flow for Linear {
        type Workspace = ();
        fn workspace(&self) {}
        fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, _: &mut ()) {
            self.0.mul_to(y, dy);
        }
        fn failure(_: &()) -> Option<String> {
            None
        }
    }

    #[test]
    fn the_restricted_flow_is_the_projected_one() {
        let a = DMatrix::from_row_slice(3, 3, &[-1.0, 0.5, 2.0, 0.5, -1.0, 2.0, 0.3, 0.3, -4.0]);
        let s = std::f64::consts::FRAC_1_SQRT_2;
        let basis = DMatrix::from_row_slice(3, 2, &[s, 0.0, s, 0.0, 0.0, 1.0]);
        let sys = Linear(a.clone());
        let r = Restricted { sys: &sys, basis };
        let z = DVector::from_vec(vec![0.7, -0.2]);
        let mut dz = DVector::zeros(2);
        let mut ws = r.workspace();
        r.rhs(&z, &mut dz, &mut ws);
        // y = (0.7/√2, 0.7/√2, −0.2); (A y)₀ = (A y)₁ = −0.5·0.7/√2 − 0.4, (A y)₂ = 0.42/√2 + 0.8
        let y0 = 0.7 * s;
        let f01 = -0.5 * y0 - 0.4;
        assert!((dz[0] - 2.0 * s * f01).abs() < 1e-15, "{dz}");
        assert!((dz[1] - (0.6 * y0 + 0.8)).abs() < 1e-15, "{dz}");
        assert!((r.coordinates(&r.state(&z)) - &z).amax() < 1e-15);
    }

    #[test]
    fn the_coordinate_flow_reads_the_free_rows_at_zero_elsewhere() {
        let a = DMatrix::from_row_slice(3, 3, &[-1.0, 0.5, 2.0, 0.5, -1.0, 2.0, 0.3, 0.3, -4.0]);
        let sys = Linear(a);
        let c = Coordinates {
            sys: &sys,
            free: vec![0, 2],
            len: 3,
        };
        let z = DVector::from_vec(vec![0.7, -0.2]);
        let mut dz = DVector::zeros(2);
        let mut ws = c.workspace();
        c.rhs(&z, &mut dz, &mut ws);
        // y = (0.7, 0, −0.2): (A y)₀ = −0.7 − 0.4, (A y)₂ = 0.21 + 0.8
        assert!((dz[0] - (-1.1)).abs() < 1e-15, "{dz}");
        assert!((dz[1] - 1.01).abs() < 1e-15, "{dz}");
        assert_eq!(c.state(&z).as_slice(), &[0.7, 0.0, -0.2]);
        assert_eq!(c.coordinates(&c.state(&z)), z);
    }
}
