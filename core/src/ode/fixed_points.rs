//! Fixed points of an autonomous ODE `dy/dt = F(y)` and their stability (docs/theory.md §9):
//! Newton's method with a central-difference Jacobian and SVD solves (so continuous symmetries,
//! whose zero modes make the Jacobian singular, do not stop it), refined to `|F|∞ < tol`; the
//! Jacobian's eigenvalues give the number of unstable directions (real part `> ZERO_MODE · scale`),
//! the zero modes (`|Re λ| ≤ ZERO_MODE · scale`, reported apart) and `λ_max`; the spectral
//! projector onto the leading eigenspace (degenerate under symmetries such as permutations of
//! hidden units) gives the unstable component of a deviation.

use super::integrate::Flow;
use nalgebra::{Complex, DMatrix, DVector};

/// Relative size below which an eigenvalue's real part counts as zero (a symmetry's zero mode or
/// a marginal direction), relative to the largest |λ|.
pub const ZERO_MODE: f64 = 1e-7;

/// `J_ij = ∂F_i/∂y_j` by central differences with steps `h_j = ε^{1/3} max(|y_j|, 1e-3)`
/// (truncation and rounding errors balanced: relative error ~ ε^{2/3} ≈ 4e-11).
pub fn jacobian<F: Flow>(sys: &F, y: &DVector<f64>, ws: &mut F::Workspace) -> DMatrix<f64> {
    jacobian_with_steps(sys, y, ws, 1.0)
}

/// [`jacobian`] with every step multiplied by `factor` (comparing two step sizes measures the
/// accuracy of the differences: where F is not smooth — ReLU's kernels at exactly antiparallel
/// units — it is far worse than ε^{2/3}).
pub fn jacobian_with_steps<F: Flow>(
    sys: &F,
    y: &DVector<f64>,
    ws: &mut F::Workspace,
    factor: f64,
) -> DMatrix<f64> {
    let n = y.len();
    let mut j = DMatrix::zeros(n, n);
    let (mut yp, mut fp, mut fm) = (y.clone(), DVector::zeros(n), DVector::zeros(n));
    let cbrt_eps = f64::EPSILON.cbrt();
    for c in 0..n {
        let h = factor * cbrt_eps * y[c].abs().max(1e-3);
        yp[c] = y[c] + h;
        sys.rhs(&yp, &mut fp, ws);
        yp[c] = y[c] - h;
        sys.rhs(&yp, &mut fm, ws);
        yp[c] = y[c];
        j.set_column(c, &((&fp - &fm) / (2.0 * h)));
    }
    j
}

/// Scalings of the difference steps of the Jacobian tried in turn when a Newton step finds no
/// descent ([`newton_holding`]).
pub const JACOBIAN_RETRY_FACTORS: [f64; 5] = [1.0, 0.1, 10.0, 0.01, 100.0];

/// A linear map of states onto the set the dynamics can reach.
pub type Projection<'a> = dyn Fn(&mut DVector<f64>) + 'a;

/// A converged Newton iteration.
#[derive(Clone, Debug)]
pub struct Converged {
    pub y: DVector<f64>,
    /// `|F(y)|∞`
    pub residual: f64,
    pub iterations: usize,
    /// The rounding noise of F at `y` when Newton stopped there above `tol` because no step
    /// descends (or, for the driven Newton, the steps only creep, [`creeping_at_noise_floor`])
    /// and `|F|∞` is within [`NOISE_FLOOR_FACTOR`] times that noise (F cannot be evaluated more
    /// accurately there, e.g. ReLU's kernels at nearly antiparallel units); 0 when `|F|∞ < tol`.
    pub noise_floor: f64,
}

/// Newton accepts a point above its tolerance where no step descends (the driven Newton also
/// where its steps only creep) if `|F|∞` is at most this many times the rounding noise of F
/// there ([`evaluation_noise`]).
pub const NOISE_FLOOR_FACTOR: f64 = 10.0;

/// The rounding noise of F at `y`: the largest change of F (∞-norm, over the components not held)
/// when every component is moved by a few units in the last place (relative 4e-16, three sign
/// patterns). A smooth F changes by ~1e-15·|J||y| under such moves; where the evaluation cancels
/// (e.g. `1 − ρ²` of nearly (anti)parallel units) it changes by far more.
pub fn evaluation_noise<F: Flow>(
    sys: &F,
    y: &DVector<f64>,
    hold: &[usize],
    ws: &mut F::Workspace,
) -> f64 {
    let n = y.len();
    let (mut f0, mut fp) = (DVector::zeros(n), DVector::zeros(n));
    sys.rhs(y, &mut f0, ws);
    let mut worst = 0.0f64;
    for pattern in 0..3 {
        let yp = DVector::from_fn(n, |i, _| {
            let sign = if (i + pattern) % 3 == 0 { 1.0 } else { -1.0 };
            y[i] * (1.0 + sign * 4.0 * f64::EPSILON)
        });
        sys.rhs(&yp, &mut fp, ws);
        for i in (0..n).filter(|i| !hold.contains(i)) {
            worst = worst.max((fp[i] - f0[i]).abs());
        }
    }
    worst
}

/// Newton's method from `y0` until `|F|∞ < tol`: steps `δ = −J⁺F` (SVD pseudo-inverse, singular
/// values below `1e-12·σ_max` dropped) with backtracking on `|F|₂`, at most `max_iter` steps and,
/// if given, until `deadline`; `project`, a linear projection onto the states the dynamics can
/// reach (e.g. symmetric densities), restricts the steps to its range (`δ = −S(JS)⁺F`). Components that are constants of motion at `y0` (their row of J
/// and their F vanish, e.g. an untrained bias) are held fixed: the pseudo-inverse would otherwise
/// use them as free parameters and leave the set of states the dynamics can reach. An error says
/// why it stopped.
pub fn newton<F: Flow>(
    sys: &F,
    y0: &DVector<f64>,
    tol: f64,
    max_iter: usize,
    deadline: Option<std::time::Instant>,
    project: Option<&Projection<'_>>,
) -> Result<Converged, String> {
    newton_holding(sys, y0, tol, max_iter, deadline, project, &[])
}

/// [`newton`] on the components not in `hold`, those held at their values in `y0` as parameters
/// (slow variables: the zero is one of `F` restricted to the other components, and the residual
/// is measured there).
pub fn newton_holding<F: Flow>(
    sys: &F,
    y0: &DVector<f64>,
    tol: f64,
    max_iter: usize,
    deadline: Option<std::time::Instant>,
    project: Option<&Projection<'_>>,
    hold: &[usize],
) -> Result<Converged, String> {
    let mut ws = sys.workspace();
    let n = y0.len();
    let mut y = y0.clone();
    let mut held = vec![false; n];
    for &i in hold {
        held[i] = true;
    }
    // F on the free components (held rows zeroed)
    let eval = |y: &DVector<f64>, f: &mut DVector<f64>, ws: &mut F::Workspace| {
        sys.rhs(y, f, ws);
        for &i in hold {
            f[i] = 0.0;
        }
    };
    let mut f = DVector::zeros(n);
    eval(&y, &mut f, &mut ws);
    let mut trial = DVector::zeros(n);
    // the projection as a matrix S (it is linear: columns S e_i); steps solve min |J S δ + F|
    let s_matrix: Option<DMatrix<f64>> = project.map(|p| {
        let mut m = DMatrix::identity(n, n);
        for c in 0..n {
            let mut col = m.column(c).into_owned();
            p(&mut col);
            m.set_column(c, &col);
        }
        m
    });
    let frozen: Vec<bool> = {
        let jac = jacobian(sys, &y, &mut ws);
        (0..n)
            .map(|i| held[i] || (f[i] == 0.0 && jac.row(i).iter().all(|v| *v == 0.0)))
            .collect()
    };
    let mut norms: Vec<f64> = Vec::new();
    for it in 0..max_iter {
        let res = f.amax();
        if let Some(done) = iteration_start(&y, res, tol, it, deadline, "iterations") {
            return done;
        }
        let norm = f.norm();
        if let Some(before) = stagnated(&norms, norm, res, tol) {
            return Err(format!(
                "stagnated: |F|₂ fell by only {:.1} % in the last {STAGNATION_WINDOW} of {it} \
                 iterations (|F|∞ = {res:.2e}): no zero of F near this start",
                100.0 * (1.0 - norm / before)
            ));
        }
        norms.push(norm);
        // where F is not smooth (ReLU's kernels at exactly antiparallel units) the differences
        // with the default steps can point nowhere downhill: retry with larger and smaller steps
        let mut accepted = false;
        for factor in JACOBIAN_RETRY_FACTORS {
            let mut jac = jacobian_with_steps(sys, &y, &mut ws, factor);
            for (c, _) in frozen.iter().enumerate().filter(|(_, f)| **f) {
                jac.column_mut(c).fill(0.0);
            }
            for &r in hold {
                jac.row_mut(r).fill(0.0);
            }
            if let Some(sm) = &s_matrix {
                jac *= sm;
            }
            if jac.iter().any(|v| !v.is_finite()) {
                return Err(format!(
                    "the Jacobian is not finite after {it} iterations (|F|∞ = {res:.2e})"
                ));
            }
            let svd = jac
                .try_svd(true, true, f64::EPSILON, SVD_ITERATIONS)
                .ok_or_else(|| {
                    format!("the SVD of the Jacobian did not converge (|F|∞ = {res:.2e})")
                })?;
            let smax = svd.singular_values.max();
            let mut step = svd
                .solve(&(-&f), 1e-12 * smax)
                .map_err(|e| format!("singular Jacobian: {e}"))?;
            if let Some(sm) = &s_matrix {
                step = sm * step;
            }
            if let Some(yt) = line_search(&y, &step, &f, &mut trial, |y, f| eval(y, f, &mut ws)) {
                y = yt;
                std::mem::swap(&mut f, &mut trial);
                accepted = true;
                break;
            }
        }
        if !accepted {
            let noise = evaluation_noise(sys, &y, hold, &mut ws);
            if let Some(c) = at_noise_floor(&y, res, it, noise) {
                return Ok(c);
            }
            return Err(format!(
                "no descent step after {it} iterations (|F|∞ = {res:.2e}; Jacobian steps scaled \
                 by {JACOBIAN_RETRY_FACTORS:?} tried; rounding noise of F there {noise:.1e})"
            ));
        }
    }
    Err(format!(
        "not converged in {max_iter} iterations (|F|∞ = {:.2e})",
        f.amax()
    ))
}

/// The point where an iteration stopped making progress (no step descends, or the driven
/// Newton's steps only creep), accepted when `|F|∞ = res` is within [`NOISE_FLOOR_FACTOR`] of
/// the rounding `noise` of F there.
pub(crate) fn at_noise_floor(
    y: &DVector<f64>,
    res: f64,
    it: usize,
    noise: f64,
) -> Option<Converged> {
    (res <= NOISE_FLOOR_FACTOR * noise).then(|| Converged {
        y: y.clone(),
        residual: res,
        iterations: it,
        noise_floor: noise,
    })
}

/// The checks that open an iteration at `y` with `|F|∞ = res` (iteration `it`, `unit` naming
/// them in messages): F not finite (an error), converged (`|F|∞ < tol`), the time budget to
/// `deadline` spent (an error); `None` to go on.
pub(crate) fn iteration_start(
    y: &DVector<f64>,
    res: f64,
    tol: f64,
    it: usize,
    deadline: Option<std::time::Instant>,
    unit: &str,
) -> Option<Result<Converged, String>> {
    if !res.is_finite() {
        return Some(Err("F is not finite".into()));
    }
    if res < tol {
        return Some(Ok(Converged {
            y: y.clone(),
            residual: res,
            iterations: it,
            noise_floor: 0.0,
        }));
    }
    if deadline.is_some_and(|d| std::time::Instant::now() > d) {
        return Some(Err(format!(
            "time budget spent after {it} {unit} (|F|∞ = {res:.2e})"
        )));
    }
    None
}

/// Iterations over which Newton must reduce `|F|₂` by [`STAGNATION_FACTOR`] while `|F|∞` is
/// above `STAGNATION_FLOOR·tol` (near the tolerance, rounding sets the pace instead).
const STAGNATION_WINDOW: usize = 25;
const STAGNATION_FACTOR: f64 = 0.9;
const STAGNATION_FLOOR: f64 = 1e4;

/// `|F|₂` of [`STAGNATION_WINDOW`] iterations ago when the damped Newton iteration has stalled
/// there: `|F|₂` now above [`STAGNATION_FACTOR`] of it, far above the tolerance. Backtracking
/// Newton converges fast once near a zero; creeping descent means a minimum of `|F|` that is no
/// zero (the ghost of a fixed point at a slow stretch of a trajectory).
pub(crate) fn stagnated(norms: &[f64], norm: f64, res: f64, tol: f64) -> Option<f64> {
    creeping(norms, norm).filter(|_| res > STAGNATION_FLOOR * tol)
}

/// `|F|₂` a window ago where `|F|₂ = norm` has fallen by less than [`STAGNATION_FACTOR`] over
/// the last [`STAGNATION_WINDOW`] iterations (`norms`, oldest first), whatever `|F|∞`.
fn creeping(norms: &[f64], norm: f64) -> Option<f64> {
    let before = *norms
        .len()
        .checked_sub(STAGNATION_WINDOW)
        .map(|i| &norms[i])?;
    (norm > STAGNATION_FACTOR * before).then_some(before)
}

/// The point `y` (`|F|∞ = res`, `|F|₂ = norm`) where an iteration creeps — `|F|₂` falls by less
/// than [`STAGNATION_FACTOR`] over [`STAGNATION_WINDOW`] iterations, below the floor where that
/// is not yet an error ([`stagnated`]) — accepted if it is at the rounding noise of F
/// ([`at_noise_floor`]; `noise` evaluated only then): line searches that accept any decrease
/// otherwise creep on rounding luck until the time budget is spent. Used by the driven Newton
/// (smooth right-hand sides); the generic one, which also serves teacher–student students with
/// kinks, does not: near coinciding students the 4-ulp moves of [`evaluation_noise`] would
/// measure F's square-root singularity, not rounding, and accept a point the refinement in
/// their invariant subspace takes below the tolerance.
pub(crate) fn creeping_at_noise_floor(
    norms: &[f64],
    norm: f64,
    y: &DVector<f64>,
    res: f64,
    it: usize,
    noise: impl FnOnce() -> f64,
) -> Option<Converged> {
    creeping(norms, norm)?;
    at_noise_floor(y, res, it, noise())
}

/// Backtracking from `y` along `step`: the first `y + αstep`, α = 1, 1/2, … (30 halvings), whose
/// F (left in `trial`) is finite and has `|F|₂ < (1 − 1e-4 α)|f|₂`.
pub(crate) fn line_search(
    y: &DVector<f64>,
    step: &DVector<f64>,
    f: &DVector<f64>,
    trial: &mut DVector<f64>,
    mut eval: impl FnMut(&DVector<f64>, &mut DVector<f64>),
) -> Option<DVector<f64>> {
    let norm0 = f.norm();
    let mut alpha = 1.0;
    for _ in 0..30 {
        let yt = y + alpha * step;
        eval(&yt, trial);
        if trial.iter().all(|v| v.is_finite()) && trial.norm() < (1.0 - 1e-4 * alpha) * norm0 {
            return Some(yt);
        }
        alpha *= 0.5;
    }
    None
}

/// The linear stability of a fixed point.
#[derive(Clone, Debug)]
pub struct Stability {
    /// eigenvalues of the Jacobian, by decreasing real part (empty if the eigen-solver did not
    /// converge)
    pub eigenvalues: Vec<Complex<f64>>,
    /// eigenvalues with real part `> max(ZERO_MODE · max|λ|, floor)` (floor: the Jacobian's
    /// error, see [`stability_with_floor`])
    pub n_unstable: usize,
    /// eigenvalues with `|Re λ| ≤ max(ZERO_MODE · max|λ|, floor)`
    pub n_zero: usize,
    /// the largest real part (1/t; NaN if the eigen-solver did not converge)
    pub lambda_max: f64,
    /// real parts within ± this count as zero modes: `max(ZERO_MODE · max|λ|, floor)`
    pub zero_threshold: f64,
    /// multiplicity of the leading eigenvalue (symmetries make it degenerate, e.g. K! permutations
    /// of hidden units)
    pub leading_multiplicity: usize,
    /// when the leading eigenvalue is real and unstable: the spectral projector onto its
    /// eigenspace, `P = U (LᵀU)⁻¹ Lᵀ` with U, L right and left eigenvectors, so that the unstable
    /// component of a deviation d is `|P d|`
    pub unstable_projector: Option<DMatrix<f64>>,
}

/// Basis of the (numerical) null space of `a`: right singular vectors whose singular values are
/// below `tol`, as columns.
fn null_space(a: DMatrix<f64>, tol: f64) -> Option<DMatrix<f64>> {
    let svd = a.try_svd(false, true, f64::EPSILON, SVD_ITERATIONS)?;
    let vt = svd.v_t.expect("requested");
    let cols: Vec<DVector<f64>> = (0..svd.singular_values.len())
        .filter(|&i| svd.singular_values[i] <= tol)
        .map(|i| vt.row(i).transpose())
        .collect();
    if cols.is_empty() {
        // the smallest singular value's vector (rounding put it above tol)
        let (i, _) = svd.singular_values.argmin();
        return Some(DMatrix::from_columns(&[vt.row(i).transpose()]));
    }
    Some(DMatrix::from_columns(&cols))
}

/// Sweeps after which an SVD counts as not converged (nalgebra's `svd` iterates without bound:
/// a Jacobian of a state far out, entries ~1e150, hung `aedyn fixed-points`).
const SVD_ITERATIONS: usize = 10_000;

/// Eigen-analysis of the Jacobian `jac` (real Schur form; deflation threshold from machine
/// precision up to 1e-10 relative if the QR iteration stalls).
pub fn stability(jac: &DMatrix<f64>) -> Stability {
    stability_with_floor(jac, 0.0)
}

/// [`stability`] with real parts up to `floor` (the Jacobian's estimated error) counted as zero
/// modes as well: an eigenvalue that small is not resolved by the Jacobian.
pub fn stability_with_floor(jac: &DMatrix<f64>, floor: f64) -> Stability {
    let n = jac.nrows();
    // QR iterations can stall on the exactly degenerate spectra that symmetries produce: retry
    // with looser deflation thresholds (relative to the Jacobian's scale)
    let norm = jac.amax().max(1e-300);
    let try_schur = |m: &DMatrix<f64>| {
        [f64::EPSILON, 1e-14, 1e-12, 1e-10]
            .iter()
            .find_map(|&eps| nalgebra::linalg::Schur::try_new(m.clone(), eps * norm, 20_000))
            .map(|s| s.complex_eigenvalues())
    };
    // fallbacks that change the QR path, not the spectrum: the transpose, then shifts
    let finite = jac.iter().all(|v| v.is_finite());
    let eigen = finite
        .then(|| try_schur(jac))
        .flatten()
        .or_else(|| finite.then(|| try_schur(&jac.transpose())).flatten())
        .or_else(|| {
            [0.37, -0.61, 1.3].iter().filter(|_| finite).find_map(|&c| {
                let shift = c * norm;
                try_schur(&(jac + DMatrix::identity(n, n) * shift))
                    .map(|ev| ev.map(|z| z - Complex::new(shift, 0.0)))
            })
        });
    let Some(eigen) = eigen else {
        return Stability::not_converged(floor);
    };
    let mut st = Stability::from_eigenvalues(eigen.iter().copied().collect(), floor);
    let scale = st.scale();
    let (zero, same) = (st.zero_threshold, LEADING_SAME * scale);
    st.unstable_projector = match st.eigenvalues.first() {
        Some(z) if z.re > zero && z.im.abs() <= same => {
            let shift = DMatrix::identity(n, n) * z.re;
            let tol = 1e-6 * scale;
            let u = null_space(jac - &shift, tol);
            let l = null_space(jac.transpose() - &shift, tol);
            match (u, l) {
                (Some(u), Some(l)) if u.ncols() == l.ncols() => (l.transpose() * &u)
                    .try_inverse()
                    .map(|m| &u * m * l.transpose()),
                _ => None,
            }
        }
        _ => None,
    };
    st
}

/// Real parts within this fraction of the largest |λ| count as zero among eigenvalues of matrices
/// known exactly ([`Stability::with_exact_block`]): the rounding of their entries and of the
/// eigen-solver, far below a finite-difference Jacobian's [`ZERO_MODE`].
pub const EXACT_ZERO: f64 = 1e-12;

/// Eigenvalues within this fraction of the largest |λ| of the leading one count as equal to it
/// (the Jacobian's finite-difference accuracy).
const LEADING_SAME: f64 = 1e-6;

impl Stability {
    /// The counts of a spectrum `ev` (any order; NaN entries make λ_max NaN), real parts within
    /// `max(ZERO_MODE · max|λ|, floor)` of zero counted as zero modes; no projector.
    pub fn from_eigenvalues(mut ev: Vec<Complex<f64>>, floor: f64) -> Stability {
        if ev.iter().any(|z| !(z.re.is_finite() && z.im.is_finite())) {
            return Stability::not_converged(floor);
        }
        ev.sort_by(|a, b| b.re.total_cmp(&a.re));
        let scale = ev.iter().map(|z| z.norm()).fold(0.0, f64::max).max(1e-300);
        let zero = (ZERO_MODE * scale).max(floor);
        let n_unstable = ev.iter().filter(|z| z.re > zero).count();
        let n_zero = ev.iter().filter(|z| z.re.abs() <= zero).count();
        let lambda_max = ev.first().map(|z| z.re).unwrap_or(f64::NAN);
        let same = LEADING_SAME * scale;
        let leading_multiplicity = ev
            .iter()
            .filter(|z| (z.re - lambda_max).abs() <= same && z.im.abs() <= same)
            .count();
        Stability {
            eigenvalues: ev,
            n_unstable,
            n_zero,
            lambda_max,
            zero_threshold: zero,
            leading_multiplicity,
            unstable_projector: None,
        }
    }

    /// This spectrum (of a finite-difference Jacobian) joined with the eigenvalues `exact` of a
    /// diagonal block known exactly (the drift matrices of modes held at zero): those count as
    /// zero modes only within [`EXACT_ZERO`] of the largest |λ| (rates ∝ ρ_τ/D of a spectrum's
    /// tail are resolved there; modes with ρ_τ = 0 give exact zeros), the others by this
    /// spectrum's threshold. No projector; not converged if either part is not.
    pub fn with_exact_block(&self, exact: Vec<Complex<f64>>) -> Stability {
        let finite = |z: &Complex<f64>| z.re.is_finite() && z.im.is_finite();
        if self.eigenvalues.is_empty() || !exact.iter().all(finite) {
            return Stability::not_converged(self.zero_threshold);
        }
        let mut all = Stability::from_eigenvalues(
            self.eigenvalues.iter().chain(&exact).copied().collect(),
            0.0,
        );
        let zero_exact = EXACT_ZERO * all.scale();
        all.n_unstable = self.n_unstable + exact.iter().filter(|z| z.re > zero_exact).count();
        all.n_zero = self.n_zero + exact.iter().filter(|z| z.re.abs() <= zero_exact).count();
        all.zero_threshold = self.zero_threshold;
        all
    }

    /// The spectrum of an eigen-solver that did not converge: no eigenvalues, λ_max NaN.
    pub fn not_converged(floor: f64) -> Stability {
        Stability {
            eigenvalues: Vec::new(),
            n_unstable: 0,
            n_zero: 0,
            lambda_max: f64::NAN,
            zero_threshold: floor,
            leading_multiplicity: 0,
            unstable_projector: None,
        }
    }

    /// The largest |λ| (at least 1e-300).
    fn scale(&self) -> f64 {
        self.eigenvalues
            .iter()
            .map(|z| z.norm())
            .fold(0.0, f64::max)
            .max(1e-300)
    }

    /// The slowest decay: the largest real part below the zero modes (NaN if there is none).
    pub fn slowest_decay(&self) -> f64 {
        self.eigenvalues
            .iter()
            .map(|z| z.re)
            .find(|re| *re < -self.zero_threshold)
            .unwrap_or(f64::NAN)
    }

    /// Whether the spectrum is resolved: the zero threshold (at least the Jacobian's own error)
    /// is below a tenth of the largest |λ|. Where it is not — F not smooth at the point, e.g.
    /// ReLU units that coincide exactly — `n_unstable` and `n_zero` mean nothing.
    pub fn resolved(&self) -> bool {
        let largest = self
            .eigenvalues
            .iter()
            .map(|z| z.norm())
            .fold(0.0, f64::max);
        largest > 0.0 && self.zero_threshold < 0.1 * largest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dy/dt = (y0 − y0³, −2 y1 + y0 y1, 0)`: a saddle at 0 (λ = 1, −2 and a zero mode), stable
    /// nodes at y0 = ±1 (λ = −2, −1 / −3), and a line of fixed points along y2 (the zero mode of a
    /// continuous symmetry).
    struct Toy;

    impl Flow for Toy {
        type Workspace = ();
        fn workspace(&self) {}
        fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, _: &mut ()) {
            dy[0] = y[0] - y[0].powi(3);
            dy[1] = -2.0 * y[1] + y[0] * y[1];
            dy[2] = 0.0;
        }
        fn failure(_: &()) -> Option<String> {
            None
        }
    }

    #[test]
    fn newton_stagnation_is_creeping_descent_far_from_the_tolerance() {
        let creeping: Vec<f64> = (0..40).map(|i| 1e-2 * 0.996f64.powi(i)).collect();
        let fast: Vec<f64> = (0..40).map(|i| 1e-2 * 0.9f64.powi(i)).collect();
        let last = |v: &[f64]| v[v.len() - 1];
        // 25 iterations of 0.4 % each: 9.5 % in all
        assert!(stagnated(&creeping[..39], last(&creeping), 1e-2, 1e-12).is_some());
        assert!(stagnated(&creeping[..20], last(&creeping[..21]), 1e-2, 1e-12).is_none());
        assert!(stagnated(&fast[..39], last(&fast), 1e-2, 1e-12).is_none());
        // near the tolerance rounding sets the pace: never called stagnation
        assert!(stagnated(&creeping[..39], last(&creeping), 1e-9, 1e-12).is_none());
        // ... but creeping there is accepted at the rounding noise of F (and only there: the
        // noise is not even evaluated while |F| still falls fast)
        let y = DVector::from_vec(vec![1.0]);
        let tiny: Vec<f64> = creeping.iter().map(|v| v * 1e-8).collect();
        let at = |norms: &[f64], noise: f64| {
            creeping_at_noise_floor(&norms[..39], last(norms), &y, last(norms), 39, || noise)
        };
        assert!(at(&tiny, 1e-11).is_some_and(|c| c.noise_floor == 1e-11));
        assert!(
            at(&tiny, 1e-12).is_none(),
            "|F| 9e-11 is above 10× the noise 1e-12"
        );
        let fast_tiny: Vec<f64> = fast.iter().map(|v| v * 1e-8).collect();
        assert!(
            creeping_at_noise_floor(&fast_tiny[..39], last(&fast_tiny), &y, 1e-11, 39, || {
                panic!("noise evaluated while |F| falls fast")
            })
            .is_none()
        );
        // a zero is still reached from a slow start (|F| = 1e-3 at first)
        let c = newton(
            &Toy,
            &DVector::from_vec(vec![1e-3, 0.3, 5.0]),
            1e-14,
            500,
            None,
            None,
        )
        .expect("converges");
        let at_a_zero = [0.0, 1.0].iter().any(|v| (c.y[0].abs() - v).abs() < 1e-12);
        assert!(c.residual < 1e-14 && at_a_zero, "{:?}", c.y);
    }

    #[test]
    fn newton_and_stability_on_a_system_with_known_fixed_points() {
        let c = newton(
            &Toy,
            &DVector::from_vec(vec![0.7, 0.3, 5.0]),
            1e-14,
            50,
            None,
            None,
        )
        .unwrap();
        assert!((c.y[0] - 1.0).abs() < 1e-14 && c.y[1].abs() < 1e-14 && c.y[2] == 5.0);
        let st = stability(&jacobian(&Toy, &c.y, &mut ()));
        assert_eq!((st.n_unstable, st.n_zero), (0, 1));
        assert!((st.lambda_max - 0.0).abs() < 1e-9);
        let re: Vec<f64> = st.eigenvalues.iter().map(|z| z.re).collect();
        assert!(
            (re[1] + 1.0).abs() < 1e-9 && (re[2] + 2.0).abs() < 1e-9,
            "{re:?}"
        );
        // the saddle: one unstable direction along y0, with its left/right eigenvectors
        let s = newton(
            &Toy,
            &DVector::from_vec(vec![0.05, -0.1, 0.0]),
            1e-14,
            50,
            None,
            None,
        )
        .unwrap();
        assert!(s.y.amax() < 1e-14);
        let st = stability(&jacobian(&Toy, &s.y, &mut ()));
        assert_eq!((st.n_unstable, st.n_zero), (1, 1));
        assert!((st.lambda_max - 1.0).abs() < 1e-9);
        let p = st.unstable_projector.expect("real unstable eigenvalue");
        let along = &p * DVector::from_vec(vec![0.3, 0.7, -0.2]);
        assert!((along[0] - 0.3).abs() < 1e-9 && along[1].abs() < 1e-9 && along[2].abs() < 1e-9);
        assert_eq!(st.leading_multiplicity, 1);
    }
}
