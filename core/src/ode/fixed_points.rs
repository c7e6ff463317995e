//! Fixed points of an autonomous ODE `dy/dt = F(y)` and their stability (docs/theory.md §9):
//! Newton's method with a central-difference Jacobian and SVD solves (so continuous symmetries,
//! whose zero modes make the Jacobian singular, do not stop it), refined to `|F|∞ < tol`; the
//! Jacobian's eigenvalues give the number of unstable directions (real part `> ZERO_MODE · scale`),
//! the zero modes (`|Re λ| ≤ ZERO_MODE · scale`, reported apart) and `λ_max`; the unstable
//! eigenvector with its left partner gives the component of a deviation along it.

use super::integrate::Flow;
use nalgebra::{Complex, DMatrix, DVector};

/// Relative size below which an eigenvalue's real part counts as zero (a symmetry's zero mode or
/// a marginal direction), relative to the largest |λ|.
pub const ZERO_MODE: f64 = 1e-7;

/// `J_ij = ∂F_i/∂y_j` by central differences with steps `h_j = ε^{1/3} max(|y_j|, 1e-3)`
/// (truncation and rounding errors balanced: relative error ~ ε^{2/3} ≈ 4e-11).
pub fn jacobian<F: Flow>(sys: &F, y: &DVector<f64>, ws: &mut F::Workspace) -> DMatrix<f64> {
    let n = y.len();
    let mut j = DMatrix::zeros(n, n);
    let (mut yp, mut fp, mut fm) = (y.clone(), DVector::zeros(n), DVector::zeros(n));
    let cbrt_eps = f64::EPSILON.cbrt();
    for c in 0..n {
        let h = cbrt_eps * y[c].abs().max(1e-3);
        yp[c] = y[c] + h;
        sys.rhs(&yp, &mut fp, ws);
        yp[c] = y[c] - h;
        sys.rhs(&yp, &mut fm, ws);
        yp[c] = y[c];
        let col = (&fp - &fm) / (2.0 * h);
        j.set_column(c, &col);
    }
    j
}

/// A converged Newton iteration.
#[derive(Clone, Debug)]
pub struct Converged {
    pub y: DVector<f64>,
    /// `|F(y)|∞`
    pub residual: f64,
    pub iterations: usize,
}

/// Newton's method from `y0` until `|F|∞ < tol`: steps `δ = −J⁺F` (SVD pseudo-inverse, singular
/// values below `1e-12·σ_max` dropped) with backtracking on `|F|₂`, at most `max_iter` steps and,
/// if given, until `deadline`. An error says why it stopped.
pub fn newton<F: Flow>(
    sys: &F,
    y0: &DVector<f64>,
    tol: f64,
    max_iter: usize,
    deadline: Option<std::time::Instant>,
) -> Result<Converged, String> {
    let mut ws = sys.workspace();
    let n = y0.len();
    let mut y = y0.clone();
    let mut f = DVector::zeros(n);
    sys.rhs(&y, &mut f, &mut ws);
    let mut trial = DVector::zeros(n);
    for it in 0..max_iter {
        let res = f.amax();
        if !res.is_finite() {
            return Err("F is not finite".into());
        }
        if res < tol {
            return Ok(Converged {
                y,
                residual: res,
                iterations: it,
            });
        }
        if deadline.is_some_and(|d| std::time::Instant::now() > d) {
            return Err(format!(
                "time budget spent after {it} iterations (|F|∞ = {res:.2e})"
            ));
        }
        let jac = jacobian(sys, &y, &mut ws);
        let svd = jac.svd(true, true);
        let smax = svd.singular_values.max();
        let step = svd
            .solve(&(-&f), 1e-12 * smax)
            .map_err(|e| format!("singular Jacobian: {e}"))?;
        let norm0 = f.norm();
        let mut alpha = 1.0;
        let mut accepted = false;
        for _ in 0..30 {
            let yt = &y + alpha * &step;
            sys.rhs(&yt, &mut trial, &mut ws);
            if trial.iter().all(|v| v.is_finite()) && trial.norm() < (1.0 - 1e-4 * alpha) * norm0 {
                y = yt;
                std::mem::swap(&mut f, &mut trial);
                accepted = true;
                break;
            }
            alpha *= 0.5;
        }
        if !accepted {
            return Err(format!(
                "no descent step after {it} iterations (|F|∞ = {res:.2e})"
            ));
        }
    }
    Err(format!(
        "not converged in {max_iter} iterations (|F|∞ = {:.2e})",
        f.amax()
    ))
}

/// The linear stability of a fixed point.
#[derive(Clone, Debug)]
pub struct Stability {
    /// eigenvalues of the Jacobian, by decreasing real part
    pub eigenvalues: Vec<Complex<f64>>,
    /// eigenvalues with real part `> ZERO_MODE · max|λ|`
    pub n_unstable: usize,
    /// eigenvalues with `|Re λ| ≤ ZERO_MODE · max|λ|`
    pub n_zero: usize,
    /// the largest real part (1/t)
    pub lambda_max: f64,
    /// right and left eigenvectors of the leading eigenvalue when it is real and unstable
    /// (normalised so that `|u| = 1` and `ℓᵀu = 1`)
    pub unstable: Option<(DVector<f64>, DVector<f64>)>,
}

/// Eigen-analysis of the Jacobian `jac`.
pub fn stability(jac: &DMatrix<f64>) -> Stability {
    let mut ev: Vec<Complex<f64>> = jac.complex_eigenvalues().iter().copied().collect();
    ev.sort_by(|a, b| b.re.total_cmp(&a.re));
    let scale = ev.iter().map(|z| z.norm()).fold(0.0, f64::max).max(1e-300);
    let zero = ZERO_MODE * scale;
    let n_unstable = ev.iter().filter(|z| z.re > zero).count();
    let n_zero = ev.iter().filter(|z| z.re.abs() <= zero).count();
    let lambda_max = ev.first().map(|z| z.re).unwrap_or(f64::NAN);
    let unstable = match ev.first() {
        Some(z) if z.re > zero && z.im.abs() <= zero => {
            let n = jac.nrows();
            let shifted = |m: DMatrix<f64>| -> DVector<f64> {
                // the null vector of (M − λI): right singular vector of the smallest singular value
                let a = m - DMatrix::identity(n, n) * z.re;
                let svd = a.svd(false, true);
                let vt = svd.v_t.expect("requested");
                let (i, _) = svd.singular_values.argmin();
                vt.row(i).transpose()
            };
            let u = shifted(jac.clone()).normalize();
            let l = shifted(jac.transpose());
            let lu = l.dot(&u);
            (lu.abs() > 1e-300).then(|| (u, l / lu))
        }
        _ => None,
    };
    Stability {
        eigenvalues: ev,
        n_unstable,
        n_zero,
        lambda_max,
        unstable,
    }
}
