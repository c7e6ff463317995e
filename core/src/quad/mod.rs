//! Quadrature for activations without closed forms: the autoencoder's composite Gauss–Legendre
//! rule ([`composite`]), and the semidefinite-safe Cholesky factors and variance guard of the
//! teacher–student model's Gauss–Hermite quadrature.

pub mod composite;
pub mod dirac;
pub mod feature;
pub use composite::{Rule, expectation};

/// The largest variance of a field at which the Gauss–Hermite fallback is trusted for tanh (for
/// other activations scaled by their features' width, [`feature::trusted_variance`]): its fixed rules
/// resolve g', g'' on the scale of the Gaussian only while that is not much wider than g's own
/// (tanh, relative error of E[g'(x)] with the autoencoder's former 96-node rule: 2e-6 at variance 3, 7e-5 at 5, 3e-3 at 10,
/// 3e-2 at 20; the 2-D rule's 80 nodes about four times worse). Beyond it the teacher–student ODE
/// stops with [`untrusted_variance`] instead of integrating wrong kernels (a tied tanh
/// autoencoder at η = 1 ran off to ε = 5.3 while SGD stayed below 0.5).
pub const QUADRATURE_MAX_VARIANCE: f64 = 4.0;

/// Why the quadrature fallback of `activation` refuses a field of variance `variance`, when it
/// exceeds `trusted` (the activations' [`feature::trusted_variance`]): `field()` names the field,
/// `symbol` its variance (formatted only then, so the check costs no allocation).
pub fn untrusted_variance(
    variance: f64,
    trusted: f64,
    field: impl FnOnce() -> (String, String),
    activation: &str,
) -> Option<String> {
    (variance > trusted).then(|| {
        let (field, symbol) = field();
        format!(
            "the {field} reached variance {symbol} = {variance:.3}, beyond {trusted:.3} where \
             the quadrature fallback of activation `{activation}` is trusted (Gauss–Hermite \
             for its features' width, or the panels of a student with kinks as checked; its \
             integrals could be wrong by 1e-4 and more); use an activation with closed forms \
             (e.g. erf) or a smaller learning rate"
        )
    })
}

/// A Cholesky pivot below this fraction of its variable's variance is dropped (its column set to
/// zero): rounding, not variance.
pub const DROPPED_PIVOT: f64 = 1e-14;

/// Smallest Cholesky pivot, relative to its variance, of a covariance that
/// [`cholesky_well_conditioned`] factors: above it the factor is backward stable.
pub const WELL_CONDITIONED: f64 = 1e-10;

/// Lower Cholesky factor of the `m × m` covariance `c(i, j)` (`m ≤ 4`) when every pivot is above
/// [`WELL_CONDITIONED`] of its variance, else `None` (NaN entries give `None` too).
pub fn cholesky_well_conditioned(
    m: usize,
    c: impl Fn(usize, usize) -> f64,
) -> Option<[[f64; 4]; 4]> {
    let mut l = [[0.0f64; 4]; 4];
    for j in 0..m {
        let mut p = c(j, j);
        for k in 0..j {
            p -= l[j][k] * l[j][k];
        }
        if p.partial_cmp(&(WELL_CONDITIONED * c(j, j).abs())) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        l[j][j] = p.sqrt();
        for i in j + 1..m {
            let mut s = c(i, j);
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            l[i][j] = s / l[j][j];
        }
    }
    Some(l)
}

/// Share of its variance still unexplained below which [`cholesky_psd_pivoted`] stops
/// factoring variables in the given order and pivots: at this share a pivot has relative
/// rounding error 1e-12, so the given order loses nothing above it.
pub const PIVOT_BELOW: f64 = 1e-4;

/// Semidefinite-safe lower Cholesky factor (a vanishing pivot gives a zero column, each row is
/// capped at its variable's standard deviation) with diagonal pivoting among the first `free`
/// variables of `order` where the given order runs into a small pivot: each step keeps the next
/// variable in `order` while the share of its variance still unexplained is at least
/// [`PIVOT_BELOW`], else factors the variable with the largest share (the variables
/// `order[free..d]` keep their places at the end). Returns the variables' factoring order
/// (level → variable of `c`) and the factor in that order, `C[order[i]][order[j]] = (LLᵀ)_ij`.
///
/// Pivoting matters for nearly singular covariances: in a fixed order, a variable that is almost
/// a combination of the earlier ones has a pivot `p ≈ 0` while its correlations with the later
/// ones can still be of first order (`s ~ √p`, not `p`), and a pivot that rounding makes vanish
/// drops them; factored last, such a variable loses only its pivot. Pivoting only there keeps
/// the factor — and a quadrature sum on it — a smooth function of the covariance wherever the
/// given order is well conditioned: an order chosen by comparing shares changes wherever two
/// shares cross, and each change moves a Gauss–Hermite sum by its quadrature error (a
/// teacher–student ODE with tanh then rejected every second step: 572 right-hand sides to
/// t = 0.3 where 62 do without the jumps).
pub fn cholesky_psd_pivoted<const N: usize>(
    d: usize,
    free: usize,
    order: [usize; N],
    c: impl Fn(usize, usize) -> f64,
) -> ([usize; N], [[f64; N]; N]) {
    cholesky_psd_pivoted_grouped(d, free, free, order, c)
}

/// Share of its variance still unexplained below which [`cholesky_psd_pivoted_grouped`] moves a
/// variable of the leading group behind the others (near the size at which its pivot is
/// dropped, [`DROPPED_PIVOT`], where its first-order correlations with later variables would
/// be lost).
pub const PIVOT_ACROSS_BELOW: f64 = 1e-12;

/// [`cholesky_psd_pivoted`] where the first `group` variables of `order` (≤ `free`) should stay
/// first (the teacher–student quadrature's fields with breaks, whose levels must precede the
/// smooth ones): a small pivot among them is pivoted within the group, and across it only
/// where even the group's largest share is below [`PIVOT_ACROSS_BELOW`].
pub fn cholesky_psd_pivoted_grouped<const N: usize>(
    d: usize,
    free: usize,
    group: usize,
    mut order: [usize; N],
    c: impl Fn(usize, usize) -> f64,
) -> ([usize; N], [[f64; N]; N]) {
    // the Schur complement still to factor, in the current order
    let mut a = [[0.0; N]; N];
    for i in 0..d {
        for j in 0..d {
            a[i][j] = c(order[i], order[j]);
        }
    }
    let var: [f64; N] = std::array::from_fn(|i| if i < d { a[i][i].abs() } else { 0.0 });
    let mut var = var;
    let mut l = [[0.0; N]; N];
    for j in 0..d {
        let share = |k: usize| a[k][k] / var[k].max(1e-300);
        if j < free && share(j) < PIVOT_BELOW {
            let largest =
                |to: usize| (j..to).fold(j, |b, k| if share(k) > share(b) { k } else { b });
            let mut best = largest(if j < group { group.min(free) } else { free });
            if j < group && share(best) < PIVOT_ACROSS_BELOW {
                best = largest(free);
            }
            if best != j {
                order.swap(j, best);
                var.swap(j, best);
                a.swap(j, best);
                for row in a.iter_mut() {
                    row.swap(j, best);
                }
                l.swap(j, best);
            }
        }
        let p = a[j][j];
        let piv = if p > DROPPED_PIVOT * var[j].max(1e-300) {
            p.sqrt()
        } else {
            0.0
        };
        l[j][j] = piv;
        for i in j + 1..d {
            // the unexplained variance bounds the coefficient up to its rounding (a bound without
            // slack binds at correlations of the size of √rounding, and cuts first-order terms)
            let room = (a[i][i].max(0.0) + DROPPED_PIVOT * var[i]).sqrt();
            l[i][j] = if piv > 0.0 {
                (a[i][j] / piv).clamp(-room, room)
            } else {
                0.0
            };
        }
        for i in j + 1..d {
            for m in j + 1..d {
                a[i][m] -= l[i][j] * l[m][j];
            }
        }
    }
    (order, l)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lower Cholesky factor `L` (`C = L Lᵀ`) of the `d × d` covariance `c(i, j)` (`d ≤ N`),
    /// semidefinite-safe: a vanishing pivot gives a zero column, and each row is capped at the
    /// variable's standard deviation (`Σ_j L_ij² ≤ C_ii`), so a covariance that integration error has
    /// pushed a hair outside the positive semidefinite cone (aligned units) cannot produce huge
    /// conditional coefficients — the analogue of clamping a correlation to [−1, 1]. Without
    /// pivoting it can drop first-order correlations of a nearly dependent variable (the test
    /// below); the teacher–student quadrature pivots ([`cholesky_psd_pivoted`]).
    fn cholesky_psd<const N: usize>(d: usize, c: impl Fn(usize, usize) -> f64) -> [[f64; N]; N] {
        let mut l = [[0.0; N]; N];
        for j in 0..d {
            let mut p = c(j, j);
            for m in 0..j {
                p -= l[j][m] * l[j][m];
            }
            let piv = if p > DROPPED_PIVOT * c(j, j).abs().max(1e-300) {
                p.sqrt()
            } else {
                0.0
            };
            l[j][j] = piv;
            for i in j + 1..d {
                let mut s = c(i, j);
                let mut used = 0.0;
                for m in 0..j {
                    s -= l[i][m] * l[j][m];
                    used += l[i][m] * l[i][m];
                }
                let room = (c(i, i) - used).max(0.0).sqrt();
                l[i][j] = if piv > 0.0 {
                    (s / piv).clamp(-room, room)
                } else {
                    0.0
                };
            }
        }
        l
    }

    /// `x1 = z1`, `x2 = z1 + s z2`, `x3 = z2` with `s = 1e-8`: x2 nearly coincides with x1 but
    /// correlates with x3 at first order in s. In the given order x2's pivot `s²` is below
    /// rounding and its column — with the correlation s — is dropped; pivoted, x2 is factored
    /// last and `LLᵀ = C` to rounding.
    #[test]
    fn pivoting_keeps_first_order_correlations_of_a_nearly_dependent_variable() {
        let s = 1e-8;
        let c = [[1.0, 1.0, 0.0], [1.0, 1.0 + s * s, s], [0.0, s, 1.0]];
        let worst = |order: [usize; 3], l: [[f64; 3]; 3]| {
            let mut w = 0.0f64;
            for i in 0..3 {
                for j in 0..3 {
                    let llt: f64 = (0..3).map(|k| l[i][k] * l[j][k]).sum();
                    w = w.max((llt - c[order[i]][order[j]]).abs());
                }
            }
            w
        };
        let plain: [[f64; 3]; 3] = cholesky_psd(3, |i, j| c[i][j]);
        assert!(
            worst([0, 1, 2], plain) > 0.5 * s,
            "the fixed order drops the correlation"
        );
        let (order, l) = cholesky_psd_pivoted(3, 3, [0, 1, 2], |i, j| c[i][j]);
        assert_eq!(order[2], 1, "the nearly dependent variable goes last");
        assert!(worst(order, l) < 1e-15, "{}", worst(order, l));
        // a held variable keeps its place at the end although pivoting over all three would
        // move it (to the middle, above)
        let (order, _) = cholesky_psd_pivoted(3, 2, [0, 1, 2], |i, j| c[i][j]);
        assert_eq!(order[2], 2);
    }

    /// Where the given order is well conditioned the factor keeps it, so it is a smooth function
    /// of the covariance: x1 and x2's correlations with x0 cross (0.3 ± u), which swapped them
    /// (and jumped the factor) when every step took the largest unexplained share.
    #[test]
    fn a_well_conditioned_order_is_kept_where_shares_cross() {
        let factor = |u: f64| {
            let c = [
                [1.0, 0.3 + u, 0.3 - u],
                [0.3 + u, 1.0, 0.2],
                [0.3 - u, 0.2, 1.0],
            ];
            cholesky_psd_pivoted(3, 3, [0, 1, 2], |i, j| c[i][j])
        };
        let (below, above) = (factor(-1e-9), factor(1e-9));
        assert_eq!(below.0, [0, 1, 2]);
        assert_eq!(above.0, [0, 1, 2]);
        for i in 0..3 {
            for j in 0..3 {
                assert!((below.1[i][j] - above.1[i][j]).abs() < 1e-8, "L{i}{j}");
            }
        }
    }
}
