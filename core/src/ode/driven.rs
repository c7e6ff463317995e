//! The Jacobian, Newton steps and spectrum of the vector form whose modes an input mean drives
//! (uncentred images, docs/theory.md §5.10 and §9 "Inputs with a mean").
//!
//! Over every mode the right-hand side reads the other modes only through the sums
//! `s = (S_ρ, S_1, Σ_τ w_τ μ_τ, Σ_τ v̂_τ μ_τ, β)` ([`OdeSystem::state_sums`], at most `2n² + 3K`;
//! the `r` it reads are kept):
//!
//! ```text
//! F_τ(y) = M(ρ_τ; s) y_τ + μ_τ c(s),   dβ/dt = f(s),   s = Σ_τ σ_τ(y_τ) (+ β)
//! J = blockdiag(M(ρ_τ; s)) + U Vᵀ,     U = ∂F/∂s at fixed y  (N × r),   Vᵀ = ∂s/∂y  (r × N)
//! ```
//!
//! (the chain rule, exact). `U` is a central difference in each sum (the sums are smooth
//! arguments of the kernels: error `O(h²)`); `Vᵀ` a central difference of each mode's own share
//! `σ_τ`, which is quadratic in `y_τ`, so exact to rounding. With `N = nD + K` up to thousands and
//! `r` a few dozen, a Newton step eliminates the modes whose `M(ρ_τ)` is invertible
//! (`δ_τ = −M_τ⁻¹(F_τ + U_τ t)`, `t = Vᵀδ`) and solves a system of `r` unknowns plus the
//! components of singular modes (zero variance with a mean: a direction that acts like a bias)
//! and the trained biases, by SVD. The spectrum is that of the assembled `N × N` matrix (faer's
//! dense eigen-solver: no mode vanishes at a fixed point with a mean, so there is no invariant
//! subspace to reduce to).

use super::system::OdeSystem;
use nalgebra::{Complex, DMatrix, DVector};

/// A block counts as singular when its smallest singular value is below this fraction of the
/// largest over all blocks (modes of zero variance, up to the rounding of the eigen-decomposition).
pub const SINGULAR_BLOCK: f64 = 1e-10;

/// The relative cutoffs of the reduced system's singular values tried by Newton's method
/// ([`Structure::steps`]); the first is the default step's.
pub const SVD_CUTOFFS: [f64; 4] = [1e-12, 1e-9, 1e-7, 1e-5];

/// Singular values of the (equilibrated) reduced system at most this fraction of the largest
/// mark the directions of a family of fixed points ([`Step::null`]).
pub const NULL_CUTOFF: f64 = 1e-9;

/// Relative step of the central differences in the sums (`h_j = STEP·max(|s_j|, 1e-3 |s|∞)`).
const STEP: f64 = 1e-6;

/// How a mode enters a step's reduced system ([`Structure::steps`]).
enum ModeKind {
    /// no active component
    Inert,
    /// eliminated with the inverse of its active block
    Regular(DMatrix<f64>),
    /// its active components are unknowns of the reduced system, from this column on
    Singular(usize),
}

/// A mode's active components (rows of the state) and how it enters a step.
struct Mode {
    rows: Vec<usize>,
    kind: ModeKind,
}

/// A step of [`Structure::steps`] and the directions its solve dropped.
pub struct Step {
    /// `δ` with `(J − σI) δ ≈ −f`
    pub step: DVector<f64>,
    /// the dropped directions of the reduced system mapped to the state (columns; `J − σI`
    /// nearly annihilates them): along a family of fixed points, the directions in which a step
    /// may be moved freely
    pub null: Option<DMatrix<f64>>,
}

impl Step {
    /// The step moved along its dropped directions to end as near `target` as they allow
    /// (least squares): Newton's iteration then stays near its start along a family of fixed
    /// points instead of drifting along it.
    pub fn towards(&self, from: &DVector<f64>, target: &DVector<f64>) -> DVector<f64> {
        let Some(null) = &self.null else {
            return self.step.clone();
        };
        let miss = target - (from + &self.step);
        // least squares by the normal equations (p × p, p the dropped directions) of the
        // directions scaled to unit length (their lengths spread over decades), with a ridge of
        // 1e-12
        let norms: Vec<f64> = null.column_iter().map(|c| c.norm()).collect();
        let mut unit = null.clone();
        for (mut c, &norm) in unit.column_iter_mut().zip(&norms) {
            if norm > 0.0 {
                c /= norm;
            }
        }
        let mut gram = unit.transpose() * &unit;
        for i in 0..gram.nrows() {
            gram[(i, i)] += 1e-12;
        }
        match gram.cholesky() {
            Some(ch) => &self.step + &unit * ch.solve(&(unit.transpose() * miss)),
            None => self.step.clone(),
        }
    }
}

/// The number of sums `2n² + 3K` a driven vector form's right-hand side is given (and the
/// structure computes; it keeps those read).
pub fn reduced_len(sys: &OdeSystem) -> usize {
    2 * sys.n * sys.n + 3 * sys.tr.k
}

/// `J = blockdiag(M(ρ_τ)) + U Vᵀ` at a state (module docs).
pub struct Structure {
    /// per-mode dimension
    n: usize,
    /// number of vector modes
    modes: usize,
    /// number of biases (components after the modes)
    k: usize,
    /// the drift matrices `M(ρ_τ)`, n×n row-major, one after the other
    blocks: Vec<f64>,
    /// `∂F/∂s` (N × r)
    u: DMatrix<f64>,
    /// the same with doubled steps (its difference estimates the error of `U`), where asked for
    u_coarse: Option<DMatrix<f64>>,
    /// `V`, so that `Vᵀ = ∂s/∂y` (N × r)
    v: DMatrix<f64>,
}

impl Structure {
    /// The structure of the Jacobian of `sys` (a vector form over every mode) at `y`.
    pub fn at(sys: &OdeSystem, y: &DVector<f64>) -> Structure {
        Structure::with_error(sys, y, false)
    }

    /// [`Structure::at`], with `U` also computed with doubled steps when `error` (for
    /// [`Structure::error`]; otherwise the error is reported as 0).
    pub fn with_error(sys: &OdeSystem, y: &DVector<f64>, error: bool) -> Structure {
        let (n, modes, k) = (sys.n, sys.vec_rho.len(), sys.tr.k);
        let len = y.len();
        let s = sys.state_sums(y.as_slice());
        let r = s.len();
        let mut ws = sys.workspace();
        // blocks at the state's own sums
        sys.drift_from_sums(&s, &mut ws);
        let mut blocks = vec![0.0; modes * n * n];
        for (tau, b) in blocks.chunks_exact_mut(n * n).enumerate() {
            sys.drift_at(&ws, sys.vec_rho[tau], b);
        }
        // the step floor of each sum is set within its group (S_ρ, S_1: n² each; the mean sums and
        // β: K each), whose units differ; a diagonal entry (a variance) is moved by at most half
        let groups = [n * n, n * n, k, k, k];
        let mut floor = Vec::with_capacity(r);
        let mut at = 0;
        for g in groups {
            let top = s[at..at + g].iter().fold(0.0f64, |m, v| m.max(v.abs()));
            floor.extend(std::iter::repeat_n(1e-3 * top, g));
            at += g;
        }
        let diagonal = |j: usize| j < 2 * n * n && (j % (n * n)).is_multiple_of(n + 1);
        let column = |factor: f64, ws: &mut _| {
            let mut u = DMatrix::zeros(len, r);
            let (mut plus, mut minus) = (vec![0.0; len], vec![0.0; len]);
            let mut sj = s.clone();
            for j in 0..r {
                let mut h = factor * STEP * s[j].abs().max(floor[j]).max(1e-300);
                if diagonal(j) && s[j] > 0.0 {
                    h = h.min(0.5 * s[j]);
                }
                sj[j] = s[j] + h;
                sys.rhs_at_sums(y.as_slice(), &sj, &mut plus, ws);
                sj[j] = s[j] - h;
                sys.rhs_at_sums(y.as_slice(), &sj, &mut minus, ws);
                sj[j] = s[j];
                let inv = 1.0 / ((s[j] + h) - (s[j] - h));
                for i in 0..len {
                    u[(i, j)] = (plus[i] - minus[i]) * inv;
                }
            }
            u
        };
        let u = column(1.0, &mut ws);
        let u_coarse = error.then(|| column(2.0, &mut ws));
        // Vᵀ: each mode's share is quadratic in its own components (exact central differences)
        let mut v = DMatrix::zeros(len, r);
        let (mut plus, mut minus) = (vec![0.0; r], vec![0.0; r]);
        for tau in 0..modes {
            let own = &y.as_slice()[tau * n..(tau + 1) * n];
            let scale = own.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let mut moved = own.to_vec();
            for c in 0..n {
                moved[c] = own[c] + scale;
                sys.modes_sums(tau..tau + 1, &moved, &mut plus);
                moved[c] = own[c] - scale;
                sys.modes_sums(tau..tau + 1, &moved, &mut minus);
                moved[c] = own[c];
                for j in 0..r {
                    v[(tau * n + c, j)] = (plus[j] - minus[j]) / (2.0 * scale);
                }
            }
        }
        // β enters the sums as itself
        for b in 0..k {
            v[(modes * n + b, r - k + b)] = 1.0;
        }
        // only the sums the right-hand side reads (untied: S_1 outside the decoder block and the
        // encoder–decoder block of S_ρ are computed but not read): their columns of U vanish
        let read: Vec<usize> = (0..r)
            .filter(|&j| {
                u.column(j).iter().any(|x| *x != 0.0)
                    || u_coarse
                        .as_ref()
                        .is_some_and(|c| c.column(j).iter().any(|x| *x != 0.0))
            })
            .collect();
        let (u, u_coarse, v) = (
            u.select_columns(&read),
            u_coarse.map(|c| c.select_columns(&read)),
            v.select_columns(&read),
        );
        Structure {
            n,
            modes,
            k,
            blocks,
            u,
            u_coarse,
            v,
        }
    }

    fn block(&self, tau: usize) -> DMatrix<f64> {
        let nn = self.n * self.n;
        DMatrix::from_row_slice(self.n, self.n, &self.blocks[tau * nn..(tau + 1) * nn])
    }

    /// `M(ρ_τ) − σI`.
    fn shifted_block(&self, tau: usize, sigma: f64) -> DMatrix<f64> {
        let mut b = self.block(tau);
        for a in 0..self.n {
            b[(a, a)] -= sigma;
        }
        b
    }

    /// The whole Jacobian `blockdiag(M) + U Vᵀ` (N × N).
    pub fn dense(&self) -> DMatrix<f64> {
        let mut j = &self.u * self.v.transpose();
        let n = self.n;
        for tau in 0..self.modes {
            let b = self.block(tau);
            let o = tau * n;
            for a in 0..n {
                for c in 0..n {
                    j[(o + a, o + c)] += b[(a, c)];
                }
            }
        }
        j
    }

    /// The Jacobian's estimated error: `‖(U − U_coarse) Vᵀ‖_F`, the change when the steps in the
    /// sums are doubled (the blocks and `Vᵀ` are exact to rounding).
    pub fn error(&self) -> f64 {
        let Some(coarse) = &self.u_coarse else {
            return 0.0;
        };
        let du = &self.u - coarse;
        // ‖A Vᵀ‖_F² = tr((AᵀA)(VᵀV))
        let (a, b) = (du.transpose() * &du, self.v.transpose() * &self.v);
        a.component_mul(&b).sum().max(0.0).sqrt()
    }

    /// A step `δ` with `(J − σI) δ ≈ −f` (least squares, minimum norm over the reduced unknowns
    /// where the matrix is singular): Newton's for `sigma = 0`, an implicit Euler step of length
    /// `1/σ` otherwise (pseudo-transient continuation); biases held when `trained_bias` is
    /// false. `None` when the reduced system's SVD does not converge.
    pub fn newton_step(
        &self,
        f: &DVector<f64>,
        trained_bias: bool,
        sigma: f64,
    ) -> Option<DVector<f64>> {
        self.steps(f, trained_bias, sigma, &[SVD_CUTOFFS[0]])
            .and_then(|mut s| s.pop())
            .map(|s| s.step)
    }

    /// The steps of [`Structure::newton_step`] with the reduced system's singular values below
    /// each of `cutoffs` (relative to the largest) dropped: near a family of fixed points (a
    /// continuous symmetry) or along the slow tail modes the smallest ones belong to directions
    /// in which the linearisation is unreliable far from the zero, and a step without them can
    /// descend where the full step does not.
    pub fn steps(
        &self,
        f: &DVector<f64>,
        trained_bias: bool,
        sigma: f64,
        cutoffs: &[f64],
    ) -> Option<Vec<Step>> {
        let k = self.k;
        let r = self.u.ncols();
        // per mode, its active components (the others are inert: zero rows and columns of J,
        // e.g. the encoder weights of a pixel that is constant at zero), and the inverse of its
        // active block where that is well conditioned; the other modes join the core
        let active: Vec<Vec<usize>> = (0..self.modes).map(|tau| self.active(tau, f)).collect();
        let sub_blocks: Vec<DMatrix<f64>> = (0..self.modes)
            .map(|tau| {
                let full = self.shifted_block(tau, sigma);
                let act = &active[tau];
                DMatrix::from_fn(act.len(), act.len(), |i, j| full[(act[i], act[j])])
            })
            .collect();
        if sub_blocks.iter().any(|b| !b.iter().all(|v| v.is_finite())) {
            return None;
        }
        let svds: Vec<Option<DVector<f64>>> = sub_blocks
            .iter()
            .map(|b| {
                (b.nrows() > 0).then(|| {
                    b.clone()
                        .try_svd(false, false, f64::EPSILON, 10_000)
                        .map_or_else(|| DVector::zeros(b.nrows()), |s| s.singular_values)
                })
            })
            .collect();
        let top = svds
            .iter()
            .flatten()
            .map(|s| s.max())
            .fold(0.0f64, f64::max);
        let mut modes: Vec<Mode> = Vec::with_capacity(self.modes);
        let mut core = r;
        for (tau, s) in svds.iter().enumerate() {
            let kind = match s {
                None => ModeKind::Inert,
                Some(s) if s.min() > SINGULAR_BLOCK * top => {
                    match sub_blocks[tau].clone().lu().try_inverse() {
                        Some(inv) => ModeKind::Regular(inv),
                        None => ModeKind::Singular(0),
                    }
                }
                Some(_) => ModeKind::Singular(0),
            };
            let kind = match kind {
                ModeKind::Singular(_) => {
                    let at = core;
                    core += active[tau].len();
                    ModeKind::Singular(at)
                }
                other => other,
            };
            modes.push(Mode {
                rows: active[tau].iter().map(|c| tau * self.n + c).collect(),
                kind,
            });
        }
        let nb = if trained_bias { k } else { 0 };
        let beta_col = core;
        let size = core + nb;
        let mut a = DMatrix::<f64>::zeros(size, size);
        let mut rhs = DVector::<f64>::zeros(size);
        for i in 0..r {
            a[(i, i)] = 1.0;
        }
        for (tau, mode) in modes.iter().enumerate() {
            let m = mode.rows.len();
            let vt = DMatrix::from_fn(r, m, |i, c| self.v[(mode.rows[c], i)]); // r × m
            let ut = DMatrix::from_fn(m, r, |c, j| self.u[(mode.rows[c], j)]); // m × r
            let fm = DVector::from_fn(m, |c, _| f[mode.rows[c]]);
            match &mode.kind {
                ModeKind::Inert => {}
                // rows (a): (I + Σ_reg V_τᵀ M_τ⁻¹ U_τ) t − Σ_S V_τᵀ δ_τ − E_β δ_β
                //           = −Σ_reg V_τᵀ M_τ⁻¹ F_τ
                ModeKind::Regular(inv) => {
                    let x = &vt * inv; // r × m
                    let p = &x * &ut;
                    let fx = &x * &fm;
                    for i in 0..r {
                        for j in 0..r {
                            a[(i, j)] += p[(i, j)];
                        }
                        rhs[i] -= fx[i];
                    }
                }
                // rows (b): U_τ t + M_τ δ_τ = −F_τ
                ModeKind::Singular(at) => {
                    let block = &sub_blocks[tau];
                    for c in 0..m {
                        for i in 0..r {
                            a[(i, at + c)] = -vt[(i, c)];
                        }
                        for j in 0..r {
                            a[(at + c, j)] = ut[(c, j)];
                        }
                        for d in 0..m {
                            a[(at + c, at + d)] = block[(c, d)];
                        }
                        rhs[at + c] = -fm[c];
                    }
                }
            }
        }
        let beta0 = self.modes * self.n;
        for b in 0..nb {
            let col = beta_col + b;
            for i in 0..r {
                a[(i, col)] = -self.v[(beta0 + b, i)];
            }
            // rows (c): U_β t − σ δ_β = −F_β
            for j in 0..r {
                a[(col, j)] = self.u[(beta0 + b, j)];
            }
            a[(col, col)] = -sigma;
            rhs[col] = -f[beta0 + b];
        }
        // equilibrated (rows, then columns, to unit 2-norm): the rows mix units of the sums and
        // of F, and the eliminated modes' inverses spread the columns over many decades, which a
        // cutoff relative to the largest singular value must not mistake for rank deficiency
        for i in 0..size {
            let norm = a.row(i).norm();
            if norm > 0.0 && norm.is_finite() {
                a.row_mut(i).scale_mut(1.0 / norm);
                rhs[i] /= norm;
            }
        }
        let col_scale: Vec<f64> = (0..size)
            .map(|j| {
                let norm = a.column(j).norm();
                if norm > 0.0 && norm.is_finite() {
                    1.0 / norm
                } else {
                    1.0
                }
            })
            .collect();
        for (j, &c) in col_scale.iter().enumerate() {
            a.column_mut(j).scale_mut(c);
        }
        let (u_svd, sv, v_svd) = svd(&a)?;
        let smax = sv.iter().copied().fold(0.0f64, f64::max);
        let mut out = Vec::with_capacity(cutoffs.len());
        let zero_f = DVector::zeros(f.len());
        let ut_rhs = u_svd.transpose() * &rhs;
        for &cut in cutoffs {
            // x = V Σ⁺ Uᵀ rhs, singular values at most `cut·σ_max` dropped
            let mut x = DVector::zeros(size);
            for (i, &s) in sv.iter().enumerate() {
                if s > cut * smax {
                    x.axpy(ut_rhs[i] / s, &v_svd.column(i), 1.0);
                }
            }
            for (v, c) in x.iter_mut().zip(&col_scale) {
                *v *= c;
            }
            let step = self.expand(&x, f, &modes, beta_col, nb);
            // the directions dropped: (nearly) null in the reduced system, and so in J
            let dropped: Vec<DVector<f64>> = (0..sv.len())
                .filter(|&i| sv[i] <= cut.min(NULL_CUTOFF) * smax)
                .map(|i| {
                    let mut x0 = v_svd.column(i).into_owned();
                    for (v, c) in x0.iter_mut().zip(&col_scale) {
                        *v *= c;
                    }
                    self.expand(&x0, &zero_f, &modes, beta_col, nb)
                })
                .collect();
            out.push(Step {
                step,
                null: (!dropped.is_empty()).then(|| DMatrix::from_columns(&dropped)),
            });
        }
        Some(out)
    }

    /// The whole step from the reduced unknowns `x = (t, δ_S, δ_β)` ([`Structure::steps`]).
    fn expand(
        &self,
        x: &DVector<f64>,
        f: &DVector<f64>,
        modes: &[Mode],
        beta_col: usize,
        nb: usize,
    ) -> DVector<f64> {
        let r = self.u.ncols();
        let beta0 = self.modes * self.n;
        let t = x.rows(0, r).into_owned();
        let mut step = DVector::zeros(f.len());
        for mode in modes {
            match &mode.kind {
                ModeKind::Inert => {}
                ModeKind::Regular(inv) => {
                    let m = mode.rows.len();
                    let rhs = DVector::from_fn(m, |c, _| {
                        let row = mode.rows[c];
                        f[row] + (0..r).map(|j| self.u[(row, j)] * t[j]).sum::<f64>()
                    });
                    let d = -(inv * rhs);
                    for (c, &row) in mode.rows.iter().enumerate() {
                        step[row] = d[c];
                    }
                }
                ModeKind::Singular(at) => {
                    for (c, &row) in mode.rows.iter().enumerate() {
                        step[row] = x[at + c];
                    }
                }
            }
        }
        for b in 0..nb {
            step[beta0 + b] = x[beta_col + b];
        }
        step
    }

    /// The components of mode `tau` that are not inert: an inert one has a zero row and column
    /// in its block, a zero row in `U` and in `V`, and `f` = 0 there (nothing moves it and it
    /// moves nothing: its step is 0 whatever σ).
    fn active(&self, tau: usize, f: &DVector<f64>) -> Vec<usize> {
        let n = self.n;
        let nn = n * n;
        let block = &self.blocks[tau * nn..(tau + 1) * nn];
        (0..n)
            .filter(|&c| {
                let row = tau * n + c;
                let inert = (0..n).all(|d| block[c * n + d] == 0.0 && block[d * n + c] == 0.0)
                    && self.u.row(row).iter().all(|v| *v == 0.0)
                    && self.v.row(row).iter().all(|v| *v == 0.0)
                    && f[row] == 0.0;
                !inert
            })
            .collect()
    }
}

/// The singular value decomposition `a = U Σ Vᵀ` of a square matrix by faer (`U`, the singular
/// values, `V`), `None` if it does not converge or an entry is not finite.
fn svd(a: &DMatrix<f64>) -> Option<(DMatrix<f64>, DVector<f64>, DMatrix<f64>)> {
    if !a.iter().all(|v| v.is_finite()) {
        return None;
    }
    let m = faer::Mat::<f64>::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)]);
    let svd = m.svd().ok()?;
    let (u, s, v) = (svd.U(), svd.S().column_vector(), svd.V());
    let n = a.nrows();
    Some((
        DMatrix::from_fn(n, n, |i, j| u[(i, j)]),
        DVector::from_fn(n, |i, _| s[i]),
        DMatrix::from_fn(n, n, |i, j| v[(i, j)]),
    ))
}

/// The eigenvalues of a dense square matrix by faer's real Schur form (`None` if it does not
/// converge or an entry is not finite).
pub fn eigenvalues(j: &DMatrix<f64>) -> Option<Vec<Complex<f64>>> {
    if !j.iter().all(|v| v.is_finite()) {
        return None;
    }
    let m = faer::Mat::<f64>::from_fn(j.nrows(), j.ncols(), |a, b| j[(a, b)]);
    let ev = m.eigenvalues().ok()?;
    Some(ev.iter().map(|z| Complex::new(z.re, z.im)).collect())
}

/// The spectral projector `u lᵀ/(lᵀu)` onto a simple real eigenvalue `lambda` of `j`, with `u`,
/// `l` its right and left eigenvectors by inverse iteration (three solves each with faer's LU of
/// `J − σI`, `σ` within `1e-9` relative of λ). `None` if they come out degenerate.
pub fn simple_projector(j: &DMatrix<f64>, lambda: f64) -> Option<DMatrix<f64>> {
    let n = j.nrows();
    let scale = j.amax().max(1e-300);
    let sigma = lambda + 1e-9 * scale;
    let shifted = |transpose: bool| {
        faer::Mat::<f64>::from_fn(n, n, |a, b| {
            let v = if transpose { j[(b, a)] } else { j[(a, b)] };
            if a == b { v - sigma } else { v }
        })
    };
    let iterate = |transpose: bool| -> Option<DVector<f64>> {
        let lu = shifted(transpose).partial_piv_lu();
        let mut x = faer::Mat::<f64>::from_fn(n, 1, |i, _| 1.0 + ((i * 7919) % 17) as f64 / 17.0);
        for _ in 0..3 {
            x = faer::linalg::solvers::Solve::solve(&lu, &x);
            let norm = (0..n).map(|i| x[(i, 0)] * x[(i, 0)]).sum::<f64>().sqrt();
            if !(norm.is_finite() && norm > 0.0) {
                return None;
            }
            for i in 0..n {
                x[(i, 0)] /= norm;
            }
        }
        Some(DVector::from_fn(n, |i, _| x[(i, 0)]))
    };
    let (u, l) = (iterate(false)?, iterate(true)?);
    let dot = l.dot(&u);
    (dot.abs() > 1e-8).then(|| &u * l.transpose() / dot)
}
