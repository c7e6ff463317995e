//! Run-time kernels of the closed forms: the few special functions a derived formula is built
//! from. The evaluator ([`crate::render::eval`]) and the Rust code emitted by `#[activation]`
//! (through `aedyn::kernels`, which re-exports this module) call the same functions, so both give
//! the same numbers. Two base cases integrate numerically, deterministically and to a stated error:
//! Φ₃ at non-zero means (≤ 1e-12) and Φ₄ (≤ 1e-10), both by Plackett's identity.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Smallest variance treated as non-degenerate: conditioning divides by `max(C_vv, MIN_VAR)`.
pub const MIN_VAR: f64 = 1e-300;

/// Standard normal density φ(z).
#[inline]
pub fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * PI).sqrt()
}

/// Standard normal CDF Φ(z), accurate in both tails (via erfc).
#[inline]
pub fn big_phi(z: f64) -> f64 {
    0.5 * libm::erfc(-z * FRAC_1_SQRT_2)
}

/// The error function.
#[inline]
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// Heaviside step with Θ(0) = ½ (the symmetric convention used throughout).
#[inline]
pub fn heaviside(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        0.0
    } else {
        0.5
    }
}

/// `sign(x)` with sign(0) = 0 (= 2Θ(x) − 1).
#[inline]
pub fn sign(x: f64) -> f64 {
    2.0 * heaviside(x) - 1.0
}

/// `max(v, MIN_VAR)`: a variance that is divided by.
#[inline]
pub fn floor_var(v: f64) -> f64 {
    v.max(MIN_VAR)
}

/// Relative size below which a difference of nearly equal terms is rounding, not signal: a
/// conditional variance `C_ii − C_iv²/C_vv` computed in f64 carries an error of a few ulps of
/// `C_ii`, and a correlation `C_12/√(C_11 C_22)` a few ulps of 1.
pub const ROUNDING: f64 = 8.0 * f64::EPSILON;

/// The Schur complement `a − b·c/d` (a conditional covariance `C_ij − C_iv C_jv/C_vv`) with
/// the determinant `a·d − b·c` from error-free products (`fma` recovers each product's rounding):
/// free of cancellation, within a few ulps of the exact value for the f64 inputs (1.4 ulp worst
/// near singular, 2.3 ulp in general, against exact rationals); `a` itself where `b` or `c` is 0
/// (a floored `d` of 1e-300 would push `a·d` into subnormals). The naive form loses the digits
/// that cancel:
/// for nearly aligned units (`C_iv² ≈ C_ii C_vv`, a student close to a rescaled teacher unit) a
/// conditional variance of 2e-15·C_ii came out 5 % off, and the closed forms that divide by its
/// square root (`Φ((m_i − C_iv m_v/C_vv)/√v)`) were off by up to 3.5e-4 (E[g(x₁)g(x₂)] of a clamp
/// at correlation 1 − 1e-15 with unequal variances).
#[inline]
pub fn schur(a: f64, b: f64, c: f64, d: f64) -> f64 {
    if b == 0.0 || c == 0.0 {
        return a;
    }
    let (p, q) = (a * d, b * c);
    let (ep, eq) = (a.mul_add(d, -p), b.mul_add(c, -q));
    ((p - q) + (ep - eq)) / d
}

/// A conditional variance `v = C_ii − C_iv²/C_vv` whose unconditional variance is `scale = C_ii`
/// (NaN propagates): 0 where `v ≤ ROUNDING·|scale|`. When the conditioning variable determines
/// x_i (aligned or rescaled units, `C_iv² = C_ii C_vv`) the exact value is 0 and the computed one
/// is rounding of either sign; kept, its square root (≈ 1e-8·√C_ii) would enter the closed forms
/// as an error far above their accuracy.
#[inline]
pub fn cond_var(v: f64, scale: f64) -> f64 {
    if v <= ROUNDING * scale.abs() { 0.0 } else { v }
}

/// A conditional mean `a + b` (`a = μ_i`, `b = C_iv (c − μ_v)/C_vv`, or a step's shifted mean)
/// of a variable with variance `var`: where the variable is determined (`var = 0`, see
/// [`cond_var`]) and the sum is within rounding of its terms, `|a + b| ≤ ROUNDING·(|a| + |b|)`,
/// it is 0. A step of a determined variable is `Θ(a + b)`, and a sum that is exactly 0 in exact
/// arithmetic (aligned or rescaled units) must give `Θ(0) = ½`, not the sign of rounding. With a
/// variance, the sum is kept as it is (Φ of it is continuous).
#[inline]
pub fn cond_mean(a: f64, b: f64, var: f64) -> f64 {
    let s = a + b;
    if var == 0.0 && s.abs() <= ROUNDING * (a.abs() + b.abs()) {
        0.0
    } else {
        s
    }
}

/// Whether a step's variable sits at its threshold, determined there by a Dirac condition: its
/// variance and mean are exactly 0 (after [`cond_var`] and [`cond_mean`]) and it depends on a
/// conditioning variable (`orient`, ±the index of that condition times the step's sign, see
/// [`orientation`], is non-zero).
#[inline]
fn at_threshold(var: f64, mean: f64, orient: f64) -> bool {
    var == 0.0 && mean == 0.0 && orient != 0.0 && !orient.is_nan()
}

/// The variance of a step's variable in an orthant probability: 1 where the step sits at its
/// threshold, determined by the Dirac condition (`orient`, see [`at_threshold`]), `var`
/// otherwise. Steps `Θ(s_i z)` that one condition `δ(z)` determines are one function of z, and
/// their joint value is that of steps on one variable, consistent with `Θⁿ = Θ`:
/// `E[δ(z) Θ(z)^p Θ(−z)^q] = φ(0) p!q!/(p+q+1)!` (a Beta integral, the limit of any smoothing
/// common to all the steps as functions of z), not `φ(0)/2^(p+q)` — e.g. 1/3 for two steps facing one way, 1/6 for two facing
/// opposite ways. It is the orthant probability of `y_i = s_i(ξ + η_i)/√2` with ξ, η_i
/// independent standard normals, `P[y_i > 0 ∀i] = E[Φ(ξ)^p Φ(−ξ)^q]`: unit variances and
/// correlations `s_i s_j/2` ([`threshold_cov`]) make the orthant kernels return it. One such step
/// alone keeps `Θ(0) = ½`.
#[inline]
pub fn threshold_var(var: f64, mean: f64, orient: f64) -> f64 {
    if at_threshold(var, mean, orient) {
        1.0
    } else {
        var
    }
}

/// The covariance of two steps' variables in an orthant probability (see [`threshold_var`]):
/// `sign(oi·oj)/2` when both sit at their thresholds, determined by the same condition (equal
/// `|o|`, see [`orientation`]), 0 when only one does or two conditions determine them (each is
/// independent of the other's fluctuation), `c` otherwise.
#[inline]
pub fn threshold_cov(c: f64, vi: f64, mi: f64, oi: f64, vj: f64, mj: f64, oj: f64) -> f64 {
    match (at_threshold(vi, mi, oi), at_threshold(vj, mj, oj)) {
        (true, true) if oi.abs() == oj.abs() => 0.5 * (oi * oj).signum(),
        (false, false) => c,
        _ => 0.0,
    }
}

/// The orientation of a variable after the `depth`-th Dirac condition (depth ≥ 1) of a chain:
/// `±depth` by the sign of its covariance `cov` with the conditioned variable, taken before the
/// condition; where that is exactly 0 (a variable an earlier condition determined: its
/// covariances are 0 from then on) it keeps its orientation `prev` from the condition that
/// determined it. Its magnitude names the condition, so steps that two different conditions
/// determine are independent ([`threshold_cov`]).
#[inline]
pub fn orientation(cov: f64, prev: f64, depth: f64) -> f64 {
    if cov == 0.0 || cov.is_nan() {
        prev
    } else {
        cov.signum() * depth
    }
}

/// A conditional covariance `c` of two variables with conditional variances `vi`, `vj`
/// ([`cond_var`]): 0 where either variance is 0 (a variable the condition determines), `c`
/// otherwise.
#[inline]
pub fn cond_cov(c: f64, vi: f64, vj: f64) -> f64 {
    if vi == 0.0 || vj == 0.0 { 0.0 } else { c }
}

/// The correlation `s12/√(s11 s22)` clamped to [−1, 1] (±1 where `1 − ρ² ≤` [`ROUNDING`]); 0 when a
/// variance vanishes (the orthant probability then no longer depends on it).
#[inline]
pub fn corr(s12: f64, s11: f64, s22: f64) -> f64 {
    let d = (s11 * s22).sqrt();
    if d > 0.0 {
        let r = s12 / d;
        // within rounding of ±1: exactly ±1 (aligned or rescaled units), where √(1 − ρ²) and
        // asin have infinite slope and a last-bit error would cost eight digits. The test is
        // cond_var's, 1 − ρ² ≤ ROUNDING with 1 − ρ² = (s11 s22 − s12²)/(s11 s22) free of
        // cancellation (schur), so that the Φ₂ of a closed form and the conditional variance
        // beside it from the same pair agree on whether it is aligned (up to an ulp at the
        // threshold; cond_var measures against the variance before any conditioning): their
        // √(1 − ρ) singularities cancel only then (a disagreement cost 1.6e-8 in E[g(x₁)g(x₂)]
        // of a clamp at 1 − ρ = 1e-15)
        if schur(s11, s12, s12, s22) / s11 <= ROUNDING {
            r.signum()
        } else {
            r.clamp(-1.0, 1.0)
        }
    } else {
        0.0
    }
}

/// `arcsin` with its argument clamped to [−1, 1].
#[inline]
pub fn asin(x: f64) -> f64 {
    x.clamp(-1.0, 1.0).asin()
}

/// One orthant: `P[y > 0]` for `y ~ N(m, s)` (`Θ(m)` when `s = 0`).
#[inline]
pub fn orthant1(m: f64, s: f64) -> f64 {
    if s <= 0.0 {
        heaviside(m)
    } else {
        big_phi(m / s.sqrt())
    }
}

/// Two orthants: `P[y1 > 0, y2 > 0]` for `y ~ N(m, S)`, `S = [[s11, s12], [s12, s22]]`, i.e.
/// `Φ₂(m1/√s11, m2/√s22; ρ)` (bivariate normal CDF via Owen's T). The correlation is clamped to
/// [−1, 1] and degenerate variances reduce to one dimension, so aligned units stay finite.
pub fn orthant2(m1: f64, m2: f64, s11: f64, s22: f64, s12: f64) -> f64 {
    if [m1, m2, s11, s22, s12].iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    if s11 <= 0.0 {
        return heaviside(m1) * orthant1(m2, s22);
    }
    if s22 <= 0.0 {
        return heaviside(m2) * orthant1(m1, s11);
    }
    let (r1, r2) = (s11.sqrt(), s22.sqrt());
    let rho = corr(s12, s11, s22);
    if rho.is_nan() {
        // infinite variances: no probability to give
        return f64::NAN;
    }
    if m1 == 0.0 && m2 == 0.0 {
        // Sheppard: P[y1 > 0, y2 > 0] = 1/4 + asin(ρ)/(2π) at zero mean
        return 0.25 + rho.asin() / (2.0 * PI);
    }
    let (h, k) = (m1 / r1, m2 / r2);
    if rho.abs() == 1.0 {
        return aligned_pair(rho > 0.0, h, k, big_phi);
    }
    bvn_upper(-h, -k, rho)
}

/// The Gauss–Legendre rules of [`bvn_upper`] (6, 12 and 20 points on [−1, 1]).
type BvnRules = (
    ([f64; 6], [f64; 6]),
    ([f64; 12], [f64; 12]),
    ([f64; 20], [f64; 20]),
);

/// [`BvnRules`], computed once.
fn bvn_rules() -> &'static BvnRules {
    static RULES: std::sync::OnceLock<BvnRules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| (gauss_legendre(), gauss_legendre(), gauss_legendre()))
}

/// `P[X > h, Y > k]` for standard normals with correlation `r`, |r| < 1, to about 1e-16
/// absolute (test `bivariate_orthants_match_high_precision_quadrature`: within 5e-16 of 40-digit
/// quadrature at 120 points, 1 − |r| down to 1e-14), by the integral forms of Drezner &
/// Wesolowsky (1990) as refined by Genz (2004), docs/integrals.md §3 ("Orthants"):
///
/// - |r| < 0.925: Sheppard's formula along the angle, `Φ(−h)Φ(−k) + (1/2π) ∫₀^{asin r}
///   exp(−(h² + k² − 2hk sin θ)/(2cos²θ)) dθ`, a smooth integrand (6, 12 or 20 Gauss–Legendre
///   points as |r| grows);
/// - |r| ≥ 0.925 (r < 0: k → −k): the aligned limit `Φ(−max(h, k))` less an integral over the
///   distance `a = √(1 − r²)` from alignment, whose singular part at a → 0 is integrated in
///   closed form (a second-order expansion and the exact `Φ(−|h − k|/a)` term), leaving a smooth
///   remainder on 20 points.
///
/// The Owen's-T evaluation used before lost up to 1.8e-9 as |r| → 1.
pub fn bvn_upper(h: f64, k: f64, r: f64) -> f64 {
    let (r6, r12, r20) = bvn_rules();
    let (x, w): (&[f64], &[f64]) = if r.abs() < 0.3 {
        (&r6.0, &r6.1)
    } else if r.abs() < 0.75 {
        (&r12.0, &r12.1)
    } else {
        (&r20.0, &r20.1)
    };
    let upper = |z: f64| big_phi(-z);
    let mut hk = h * k;
    if r.abs() < 0.925 {
        let hs = (h * h + k * k) / 2.0;
        let asr = r.asin();
        let sum: f64 = x
            .iter()
            .zip(w)
            .map(|(&t, &w)| {
                let sn = (asr * (t + 1.0) / 2.0).sin();
                w * ((sn * hk - hs) / (1.0 - sn * sn)).exp()
            })
            .sum();
        return sum * asr / (4.0 * PI) + upper(h) * upper(k);
    }
    let k = if r < 0.0 {
        hk = -hk;
        -k
    } else {
        k
    };
    let mut bvn = 0.0;
    if r.abs() < 1.0 {
        let one_minus_r2 = (1.0 - r) * (1.0 + r);
        let a = one_minus_r2.sqrt();
        let bs = (h - k) * (h - k);
        let c = (4.0 - hk) / 8.0;
        let d = (12.0 - hk) / 16.0;
        bvn = a
            * (-(bs / one_minus_r2 + hk) / 2.0).exp()
            * (1.0 - c * (bs - one_minus_r2) * (1.0 - d * bs / 5.0) / 3.0
                + c * d * one_minus_r2 * one_minus_r2 / 5.0);
        if hk > -160.0 {
            let b = bs.sqrt();
            bvn -= (-hk / 2.0).exp()
                * (2.0 * PI).sqrt()
                * big_phi(-b / a)
                * b
                * (1.0 - c * bs * (1.0 - d * bs / 5.0) / 3.0);
        }
        let half = a / 2.0;
        for (&t, &w) in x.iter().zip(w) {
            let xs = (half * (t + 1.0)).powi(2);
            let rs = (1.0 - xs).sqrt();
            let exponent = -(bs / xs + hk) / 2.0;
            if exponent > -100.0 {
                bvn += half
                    * w
                    * exponent.exp()
                    * ((-hk * (1.0 - rs) / (2.0 * (1.0 + rs))).exp() / rs
                        - (1.0 + c * xs * (1.0 + d * xs)));
            }
        }
        bvn = -bvn / (2.0 * PI);
    }
    if r > 0.0 {
        bvn + upper(h.max(k))
    } else {
        let bvn = -bvn;
        if k > h {
            (bvn + big_phi(k) - big_phi(h)).max(0.0)
        } else {
            bvn.max(0.0)
        }
    }
}

/// Standardised orthants `P[Z_i > −h_i, Z_j > −h_j, rest]` of an exactly aligned pair
/// (`Z_j = Z_i` when `same`, else `Z_j = −Z_i`) through `tail(a) = P[Z_i > −a, rest]`:
/// `Z_j = Z_i` leaves `Z_i > −min(h_i, h_j)`; `Z_j = −Z_i` leaves `−h_i < Z_i < h_j`,
/// `tail(h_i) − tail(−h_j)` (0 for an empty interval). Orthants of two, three and four variables
/// reduce so; Plackett's integrand would condition on the pair along its whole path and lose six
/// digits near t = 1 to cancellation (rank-one R: 0.499994 for ½).
fn aligned_pair(same: bool, hi: f64, hj: f64, tail: impl Fn(f64) -> f64) -> f64 {
    if same {
        tail(hi.min(hj))
    } else if hi + hj <= 0.0 {
        0.0
    } else {
        (tail(hi) - tail(-hj)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthant2_limits() {
        // independent
        let p = orthant2(0.2, -0.3, 1.0, 2.0, 0.0);
        let want = big_phi(0.2) * big_phi(-0.3 / 2f64.sqrt());
        assert!((p - want).abs() < 1e-14);
        // zero mean: 1/4 + asin(ρ)/(2π)
        let p = orthant2(0.0, 0.0, 1.0, 1.0, 0.6);
        assert!((p - (0.25 + 0.6f64.asin() / (2.0 * PI))).abs() < 1e-14);
        // aligned
        assert!((orthant2(0.1, 0.5, 1.0, 1.0, 1.0) - big_phi(0.1)).abs() < 1e-15);
        assert!((orthant2(0.1, 0.5, 1.0, 1.0, 1.0 - 1e-13) - big_phi(0.1)).abs() < 1e-6);
    }

    include!("testdata/bvn_reference.rs");

    /// Φ₂ against 40-digit quadrature, 120 points with |h|, |k| ≤ 6 and 1 − |r| from 0.06 down
    /// to 1e-14 (two in three), equal limits h = k among them: within 5e-16 absolute.
    #[test]
    fn bivariate_orthants_match_high_precision_quadrature() {
        let mut worst: f64 = 0.0;
        for (h, k, r, want) in BVN_REFERENCE {
            let got = bvn_upper(h, k, r);
            let err = (got - want).abs();
            assert!(
                err < 5e-16,
                "Φ₂ at h = {h}, k = {k}, r = {r}: {got:e} vs {want:e}"
            );
            worst = worst.max(err);
            // through orthant2's standardisation: P[y > 0] for means −h, −k
            let via = orthant2(-h, -k, 1.0, 1.0, r);
            assert!(
                (via - want).abs() < 5e-16,
                "orthant2 at {h}, {k}, {r}: {via:e} vs {want:e}"
            );
        }
        println!("worst |Φ₂ − reference| = {worst:e}");
    }

    #[test]
    fn corr_is_clamped_and_safe() {
        assert_eq!(corr(2.0, 1.0, 1.0), 1.0);
        assert_eq!(corr(1.0, 0.0, 1.0), 0.0);
        assert!((corr(0.3, 1.0, 4.0) - 0.15).abs() < 1e-16);
    }
}

/// `(P_n(z), P_n'(z))` of the Legendre polynomial, by the three-term recurrence.
fn legendre(n: usize, z: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, z);
    for k in 2..=n {
        let p2 = ((2 * k - 1) as f64 * z * p1 - (k - 1) as f64 * p0) / k as f64;
        p0 = p1;
        p1 = p2;
    }
    (p1, n as f64 * (z * p1 - p0) / (z * z - 1.0))
}

/// Gauss–Legendre nodes (ascending) and weights on [−1, 1], N points, by Newton's method on P_N
/// from Tricomi's initial guesses.
pub fn gauss_legendre<const N: usize>() -> ([f64; N], [f64; N]) {
    let (mut x, mut w) = ([0.0; N], [0.0; N]);
    fill_gauss_legendre(&mut x, &mut w);
    (x, w)
}

/// [`gauss_legendre`] with the number of points chosen at run time.
pub fn gauss_legendre_rule(n: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut x, mut w) = (vec![0.0; n], vec![0.0; n]);
    fill_gauss_legendre(&mut x, &mut w);
    (x, w)
}

fn fill_gauss_legendre(x: &mut [f64], w: &mut [f64]) {
    let n = x.len();
    for i in 0..n {
        let mut z = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        for _ in 0..100 {
            let (p, dp) = legendre(n, z);
            let dz = p / dp;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        let (_, dp) = legendre(n, z);
        // z runs through the roots in descending order
        x[n - 1 - i] = z;
        w[n - 1 - i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
}

/// Points of the Gauss–Legendre rule on each panel of [`phi4`]'s dyadic mesh, and the mesh's
/// levels beyond the smallest feature ([`PLACKETT_MARGIN`]): with 10 points and a margin of 1 level,
/// `phi4` agrees with 20 points on a mesh three levels finer to 2.4e-12 over 2 000 random, nearly
/// singular and singular correlation matrices with means up to ±6 (test
/// `the_dyadic_mesh_agrees_with_a_finer_one`); 12 points with a margin of 4, used before, cost
/// twice as much for the same agreement.
const PLACKETT_POINTS: usize = 10;

/// Dyadic levels of [`phi4`]'s mesh below the bound `√(det R/64)` of its smallest feature.
const PLACKETT_MARGIN: i32 = 1;

/// The N-point Gauss–Legendre rule mapped to [0, 1], nodes ascending.
fn unit_rule<const N: usize>() -> ([f64; N], [f64; N]) {
    let (t, w) = gauss_legendre::<N>();
    (
        std::array::from_fn(|i| 0.5 * (1.0 - t[N - 1 - i])),
        std::array::from_fn(|i| 0.5 * w[N - 1 - i]),
    )
}

/// [`unit_rule`] with [`PLACKETT_POINTS`] points, computed once.
fn legendre_plackett() -> &'static ([f64; PLACKETT_POINTS], [f64; PLACKETT_POINTS]) {
    static RULE: std::sync::OnceLock<([f64; PLACKETT_POINTS], [f64; PLACKETT_POINTS])> =
        std::sync::OnceLock::new();
    RULE.get_or_init(unit_rule::<PLACKETT_POINTS>)
}

/// [`unit_rule`] with 20 points, computed once (test references).
#[cfg(test)]
fn legendre20() -> &'static ([f64; 20], [f64; 20]) {
    static RULE: std::sync::OnceLock<([f64; 20], [f64; 20])> = std::sync::OnceLock::new();
    RULE.get_or_init(unit_rule::<20>)
}

/// Bivariate standard normal density φ₂(a, b; r).
fn phi2(a: f64, b: f64, r: f64) -> f64 {
    let s = 1.0 - r * r;
    (-(a * a - 2.0 * r * a * b + b * b) / (2.0 * s)).exp() / (2.0 * PI * s.sqrt())
}

/// `Φ₃(h; R)` for standard normals by Plackett's identity (docs/integrals.md §3): along
/// `R(t)` with `ρ12, ρ13` scaled by t and `ρ23` fixed,
/// `Φ₃(h; R) = Φ(h1)Φ₂(h2, h3; ρ23) + ∫₀¹ [ρ12 φ₂(h1, h2; tρ12) Φ(c_{3|12}) + ρ13 φ₂(h1, h3; tρ13) Φ(c_{2|13})] dt`,
/// `c_{3|12}` the standardised h3 given (Z1, Z2) = (h1, h2) under R(t). The integrand is smooth on
/// [0, 1) with a square-root singularity at t = 1 where R is singular; it is integrated over
/// `t = 1 − u²` on [`dyadic_in_u`]'s mesh, its smallest feature bounded by `√λ_min(R) ≥
/// √(det R/9)` (deliberately loose: the other two eigenvalues sum to at most 3, so their product
/// is at most 9/4): 40–270 evaluations, against 60 or more (up to 4 000 panels of 20) for the
/// adaptive bisection to 1e-15 it replaces, with which it agrees to 8e-15 over 3 000 random,
/// nearly singular and singular correlation matrices with means up to ±6 (test
/// `trivariate_mesh_agrees_with_adaptive_bisection`).
fn phi3(h: [f64; 3], r12: f64, r13: f64, r23: f64) -> f64 {
    let det = 1.0 + 2.0 * r12 * r13 * r23 - r12 * r12 - r13 * r13 - r23 * r23;
    let start = big_phi(h[0]) * orthant2(h[1], h[2], 1.0, 1.0, r23);
    start
        + dyadic_in_u(
            plackett3(h, r12, r13, r23),
            det / 9.0,
            legendre_plackett(),
            PLACKETT_MARGIN,
        )
}

/// The integrand of Plackett's identity for [`phi3`], a function of t ∈ [0, 1].
fn plackett3(h: [f64; 3], r12: f64, r13: f64, r23: f64) -> impl Fn(f64) -> f64 {
    let cond = move |t: f64, a: usize, b: usize, c: usize| -> f64 {
        // Φ((h_c − E[Z_c | Z_a = h_a, Z_b = h_b]) / sd) under R(t), pair (a, b) with correlation rab
        let r = move |i: usize, j: usize| -> f64 {
            let (i, j) = if i < j { (i, j) } else { (j, i) };
            match (i, j) {
                (0, 1) => t * r12,
                (0, 2) => t * r13,
                _ => r23,
            }
        };
        let (rab, rac, rbc) = (r(a, b), r(a, c), r(b, c));
        let s = 1.0 - rab * rab;
        let mu = ((rac - rab * rbc) * h[a] + (rbc - rab * rac) * h[b]) / s;
        let var = 1.0 - (rac * rac - 2.0 * rab * rac * rbc + rbc * rbc) / s;
        if var <= 1e-300 {
            return heaviside(h[c] - mu);
        }
        big_phi((h[c] - mu) / var.sqrt())
    };
    move |t: f64| -> f64 {
        let mut v = 0.0;
        // defensive: exactly aligned pairs (|ρ| = 1) are reduced before Plackett's integral
        // (`aligned_pair`), so t|ρ| < 1 here
        if r12 != 0.0 && t * r12.abs() < 1.0 {
            v += r12 * phi2(h[0], h[1], t * r12) * cond(t, 0, 1, 2);
        }
        if r13 != 0.0 && t * r13.abs() < 1.0 {
            v += r13 * phi2(h[0], h[2], t * r13) * cond(t, 0, 2, 1);
        }
        v
    }
}

/// `∫₀¹ f(t) dt = ∫₀¹ f(1 − u²) 2u du` on the dyadic panels `[0, 2^-L], [2^-L, 2^-(L-1)], …,
/// [½, 1]` in u with the Gauss–Legendre `rule` on [0, 1] on each. Plackett's integrands have their
/// features at `u ~ √λ_min(R)` (where R(t) comes close to singular) or at scales set by the
/// means, and the substitution removes the square-root singularity of a singular R at t = 1; a
/// dyadic mesh resolves every scale down to 2^-L with the same relative resolution.
/// `L = ⌈log₂(1/√bound)⌉ + margin` (at least `margin + 1`, at most 30) for a lower `bound` of
/// λ_min (floored at [`ROUNDING`]): `margin` levels below the smallest feature.
fn dyadic_in_u<const N: usize>(
    f: impl Fn(f64) -> f64,
    bound: f64,
    rule: &([f64; N], [f64; N]),
    margin: i32,
) -> f64 {
    let (x, w) = rule;
    let panel = |a: f64, b: f64| -> f64 {
        (0..N)
            .map(|n| {
                let u = a + (b - a) * x[n];
                w[n] * f(1.0 - u * u) * 2.0 * u
            })
            .sum::<f64>()
            * (b - a)
    };
    let delta = bound.max(ROUNDING);
    let levels = ((-0.5 * delta.log2()).ceil() as i32 + margin).clamp(margin + 1, 30);
    let mut total = panel(0.0, 0.5f64.powi(levels));
    for k in (1..=levels).rev() {
        total += panel(0.5f64.powi(k), 0.5f64.powi(k - 1));
    }
    total
}

/// Panel evaluations beyond which [`adaptive_unit`] (a test reference) stops refining (near-singular correlation
/// matrices, where the integrand of Plackett's identity is singular at t = 1 and rounding keeps
/// two halves from agreeing with their whole: unbounded bisection once took minutes).
#[cfg(test)]
const MAX_ADAPTIVE_PANELS: usize = 4000;

/// `∫₀¹` by adaptive bisection of `panel` (a quadrature rule on [a, b]): an interval is accepted
/// when its halves agree with it to `tol`, at depth 30, or once [`MAX_ADAPTIVE_PANELS`] panels
/// have been evaluated (the intervals still open then keep their halves' estimates).
#[cfg(test)]
fn adaptive_unit(panel: &dyn Fn(f64, f64) -> f64, tol: f64) -> f64 {
    let mut stack = vec![(0.0, 1.0, panel(0.0, 1.0), 0u32)];
    let (mut total, mut evaluated) = (0.0, 1usize);
    while let Some((a, b, whole, depth)) = stack.pop() {
        let m = 0.5 * (a + b);
        let (l, r) = (panel(a, m), panel(m, b));
        evaluated += 2;
        if depth >= 30 || (l + r - whole).abs() <= tol || evaluated >= MAX_ADAPTIVE_PANELS {
            total += l + r;
        } else {
            stack.push((m, b, r, depth + 1));
            stack.push((a, m, l, depth + 1));
        }
    }
    total
}

/// Three orthants: `P[y1 > 0, y2 > 0, y3 > 0]` for `y ~ N(m, S)` with variances `s` and
/// covariances `c = (s12, s13, s23)`. Zero means: `1/8 + (asin ρ12 + asin ρ13 + asin ρ23)/(4π)`;
/// otherwise Plackett's identity integrated numerically ([`phi3`], error ≤ 1e-12 away from
/// singular correlation matrices); a vanishing variance reduces to two orthants.
pub fn orthant3(m: [f64; 3], s: [f64; 3], c: [f64; 3]) -> f64 {
    let [s12, s13, s23] = c;
    if s[0] <= 0.0 {
        return heaviside(m[0]) * orthant2(m[1], m[2], s[1], s[2], s23);
    }
    if s[1] <= 0.0 {
        return heaviside(m[1]) * orthant2(m[0], m[2], s[0], s[2], s13);
    }
    if s[2] <= 0.0 {
        return heaviside(m[2]) * orthant2(m[0], m[1], s[0], s[1], s12);
    }
    let (r12, r13, r23) = (
        corr(s12, s[0], s[1]),
        corr(s13, s[0], s[2]),
        corr(s23, s[1], s[2]),
    );
    if m == [0.0; 3] {
        return 0.125 + (r12.asin() + r13.asin() + r23.asin()) / (4.0 * PI);
    }
    let h = [m[0] / s[0].sqrt(), m[1] / s[1].sqrt(), m[2] / s[2].sqrt()];
    // an exactly aligned pair (proportional fields): two orthants ([`aligned_pair`])
    let r = [[1.0, r12, r13], [r12, 1.0, r23], [r13, r23, 1.0]];
    if let Some((i, j)) = [(0, 1), (0, 2), (1, 2)]
        .into_iter()
        .find(|&(i, j)| r[i][j].abs() == 1.0)
    {
        let k = 3 - i - j;
        let two = |a: f64| orthant2(a, h[k], 1.0, 1.0, r[i][k]);
        return aligned_pair(r[i][j] > 0.0, h[i], h[j], two);
    }
    let key = [h[0], h[1], h[2], r12, r13, r23].map(f64::to_bits);
    memoized(&ORTHANT3_MEMO, key, || {
        phi3(h, r12, r13, r23).clamp(0.0, 1.0)
    })
}

/// `Φ₄(h; R)` for standard normals by Plackett's identity along `R(t) = I + t(R − I)`
/// (docs/integrals.md §3):
/// `Φ₄(h; R) = Π Φ(h_i) + ∫₀¹ Σ_{i<j} ρ_ij φ₂(h_i, h_j; tρ_ij) Φ₂(h_kl − μ_kl|ij(t); S_kl|ij(t)) dt`
/// with (k, l) the complementary pair and μ, S the conditional mean and covariance of (Z_k, Z_l)
/// given (Z_i, Z_j) = (h_i, h_j) under R(t). The substitution `t = 1 − u²` removes the
/// square-root singularity at t = 1 of a singular R; the integral is taken with
/// [`PLACKETT_POINTS`]-point Gauss–Legendre panels on a dyadic mesh in u that reaches below the scale
/// of R's smallest eigenvalue (error ≤ 1e-10, tested; 50–270 evaluations of the integrand).
fn phi4(h: [f64; 4], r: [[f64; 4]; 4]) -> f64 {
    phi4_with(h, r, legendre_plackett(), PLACKETT_MARGIN)
}

/// [`phi4`] with the Gauss–Legendre `rule` on [0, 1] on each panel of its mesh, `margin` levels
/// below the bound of the smallest feature.
fn phi4_with<const N: usize>(
    h: [f64; 4],
    r: [[f64; 4]; 4],
    rule: &([f64; N], [f64; N]),
    margin: i32,
) -> f64 {
    const PAIRS: [(usize, usize, usize, usize); 6] = [
        (0, 1, 2, 3),
        (0, 2, 1, 3),
        (0, 3, 1, 2),
        (1, 2, 0, 3),
        (1, 3, 0, 2),
        (2, 3, 0, 1),
    ];
    let zero_means = h == [0.0; 4];
    let f = |t: f64| -> f64 {
        let mut v = 0.0;
        for &(i, j, k, l) in &PAIRS {
            let rij = r[i][j];
            if rij == 0.0 {
                continue;
            }
            let rho = t * rij;
            let det = 1.0 - rho * rho;
            if det <= 0.0 {
                continue;
            }
            // B = R(t)[(k, l), (i, j)], A⁻¹ = [[1, −ρ], [−ρ, 1]]/det
            let b = [[t * r[k][i], t * r[k][j]], [t * r[l][i], t * r[l][j]]];
            let ba = |row: [f64; 2]| [(row[0] - rho * row[1]) / det, (row[1] - rho * row[0]) / det];
            let (bk, bl) = (ba(b[0]), ba(b[1]));
            let mk = bk[0] * h[i] + bk[1] * h[j];
            let ml = bl[0] * h[i] + bl[1] * h[j];
            let skk = cond_var(1.0 - (bk[0] * b[0][0] + bk[1] * b[0][1]), 1.0);
            let sll = cond_var(1.0 - (bl[0] * b[1][0] + bl[1] * b[1][1]), 1.0);
            let skl = t * r[k][l] - (bk[0] * b[1][0] + bk[1] * b[1][1]);
            v += if zero_means {
                // φ₂(0, 0; ρ) = 1/(2π√(1 − ρ²)) and Sheppard's Φ₂(0, 0; r) = 1/4 + asin(r)/(2π):
                // what the general branch computes, without its exponential and case analysis
                rij / (2.0 * PI * det.sqrt()) * (0.25 + corr(skl, skk, sll).asin() / (2.0 * PI))
            } else {
                rij * phi2(h[i], h[j], rho) * orthant2(h[k] - mk, h[l] - ml, skk, sll, skl)
            };
        }
        v
    };
    let start: f64 = h.iter().map(|&v| big_phi(v)).product();
    // λ_min ≥ det R / 4³ (the other eigenvalues are ≤ 4; where they are near 1, as they mostly
    // are, √λ_min is about 8 times the bound)
    let det = cholesky_pivots(&r).iter().product::<f64>().max(0.0);
    start + dyadic_in_u(f, det / 64.0, rule, margin)
}

/// The pivots `d_j` of the Cholesky factorisation `R = L D Lᵀ` of a 4×4 correlation matrix (0
/// from the first non-positive one on: a singular R); their product is det R.
fn cholesky_pivots(r: &[[f64; 4]; 4]) -> [f64; 4] {
    let mut l = [[0.0f64; 4]; 4];
    let mut d = [0.0f64; 4];
    for j in 0..4 {
        let dj = r[j][j] - (0..j).map(|k| l[j][k] * l[j][k] * d[k]).sum::<f64>();
        if dj <= 0.0 {
            return d;
        }
        d[j] = dj;
        l[j][j] = 1.0;
        for i in j + 1..4 {
            l[i][j] = (r[i][j] - (0..j).map(|k| l[i][k] * l[j][k] * d[k]).sum::<f64>()) / dj;
        }
    }
    d
}

/// The six pairs of four variables, in the order of the covariance arguments of [`orthant4`].
pub const PAIRS4: [(usize, usize); 6] = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];

/// The index of the pair {i, j} (i ≠ j, both < 4) in [`PAIRS4`].
pub fn pair4(i: usize, j: usize) -> usize {
    let (i, j) = (i.min(j), i.max(j));
    i * (7 - i) / 2 + j - i - 1
}

/// Four orthants: `P[y_i > 0, i = 1..4]` for `y ~ N(m, S)` with variances `s` and covariances
/// `c = (s12, s13, s14, s23, s24, s34)`. No elementary closed form exists (not even at zero
/// means): a deterministic numerical base case by Plackett's identity ([`phi4`]), error ≤ 1e-10
/// (tested against an independent integral). A vanishing variance, or a variable uncorrelated
/// with the others, reduces to three orthants.
pub fn orthant4(m: [f64; 4], s: [f64; 4], c: [f64; 6]) -> f64 {
    if m.iter().chain(&s).chain(&c).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    // the variables in a canonical order (by mean, variance, then their sorted covariances), so
    // that the same four fields in another order are one memo entry and one number
    let cov = |i: usize, j: usize| c[pair4(i, j)];
    let profiles: [[f64; 5]; 4] = std::array::from_fn(|i| {
        let mut o = [0.0; 3];
        for (slot, j) in (0..4).filter(|&j| j != i).enumerate() {
            o[slot] = cov(i, j);
        }
        o.sort_by(f64::total_cmp);
        [m[i], s[i], o[0], o[1], o[2]]
    });
    let mut order = [0usize, 1, 2, 3];
    order.sort_by(|&i, &j| {
        profiles[i]
            .iter()
            .zip(&profiles[j])
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let m: [f64; 4] = std::array::from_fn(|i| m[order[i]]);
    let s: [f64; 4] = std::array::from_fn(|i| s[order[i]]);
    let c: [f64; 6] = std::array::from_fn(|p| {
        let (i, j) = PAIRS4[p];
        cov(order[i], order[j])
    });
    let key: [u64; 14] = std::array::from_fn(|i| match i {
        0..4 => m[i].to_bits(),
        4..8 => s[i - 4].to_bits(),
        _ => c[i - 8].to_bits(),
    });
    memoized(&ORTHANT4_MEMO, key, || orthant4_uncached(m, s, c))
}

/// Four-orthant probabilities computed on this thread, by the exact bits of their arguments, in
/// a direct-mapped cache of [`MEMO_SIZE`] slots (a new value takes its key's slot). One
/// teacher–student right-hand side asks for the same sets of four fields more than once (ReLU,
/// K = 3, M = 2: 9 calls, 5 distinct; hard tanh, whose steps sit at ±1, hundreds), each a
/// numerical integral; the memo (over the canonical order of the variables) returns the
/// identical number without recomputing it. Hard tanh, K = 3, M = 2 to t = 20: 25.5 s with the
/// last 32 values kept, 17.8 s with this cache (as with 512 or 4096 slots: every repeat within a
/// right-hand side is found).
///
/// The same kind of cache holds three-orthant probabilities with means (Plackett's integral of [`phi3`]),
/// keyed by the standardised means and the correlations: hard tanh, K = 3, M = 2 to t = 20,
/// 17.9 s → 14.7 s, the trajectory identical to the last digit written.
struct Memo<const K: usize> {
    keys: [[u64; K]; MEMO_SIZE],
    values: [f64; MEMO_SIZE],
    filled: [bool; MEMO_SIZE],
}

/// Slots of [`Memo`] (a power of two).
const MEMO_SIZE: usize = 1024;

impl<const K: usize> Memo<K> {
    const EMPTY: Self = Memo {
        keys: [[0; K]; MEMO_SIZE],
        values: [0.0; MEMO_SIZE],
        filled: [false; MEMO_SIZE],
    };

    fn slot(key: &[u64; K]) -> usize {
        let h = key.iter().fold(0x243f_6a88_85a3_08d3u64, |h, &w| {
            (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
        });
        (h >> (64 - MEMO_SIZE.trailing_zeros())) as usize
    }

    fn get(&self, key: &[u64; K]) -> Option<f64> {
        let i = Self::slot(key);
        (self.filled[i] && self.keys[i] == *key).then(|| self.values[i])
    }

    fn put(&mut self, key: [u64; K], value: f64) {
        let i = Self::slot(&key);
        self.keys[i] = key;
        self.values[i] = value;
        self.filled[i] = true;
    }
}

/// The value cached in `memo` under `key`, else `compute()`, cached.
fn memoized<const K: usize>(
    memo: &'static std::thread::LocalKey<std::cell::RefCell<Memo<K>>>,
    key: [u64; K],
    compute: impl FnOnce() -> f64,
) -> f64 {
    if let Some(p) = memo.with(|m| m.borrow().get(&key)) {
        return p;
    }
    let p = compute();
    memo.with(|m| m.borrow_mut().put(key, p));
    p
}

thread_local! {
    static ORTHANT4_MEMO: std::cell::RefCell<Memo<14>> =
        const { std::cell::RefCell::new(Memo::EMPTY) };
    static ORTHANT3_MEMO: std::cell::RefCell<Memo<6>> =
        const { std::cell::RefCell::new(Memo::EMPTY) };
}

/// [`orthant4`] without the memo.
fn orthant4_uncached(m: [f64; 4], s: [f64; 4], c: [f64; 6]) -> f64 {
    for v in 0..4 {
        let others: Vec<usize> = (0..4).filter(|&o| o != v).collect();
        let lone = others.iter().all(|&o| c[pair4(v, o)] == 0.0);
        if s[v] <= 0.0 || lone {
            let [a, b, d] = [others[0], others[1], others[2]];
            let rest = orthant3(
                [m[a], m[b], m[d]],
                [s[a], s[b], s[d]],
                [c[pair4(a, b)], c[pair4(a, d)], c[pair4(b, d)]],
            );
            return orthant1(m[v], s[v]) * rest;
        }
    }
    let mut r = [[1.0; 4]; 4];
    for i in 0..4 {
        for j in 0..4 {
            if i != j {
                r[i][j] = corr(c[pair4(i, j)], s[i], s[j]);
            }
        }
    }
    let h: [f64; 4] = std::array::from_fn(|i| m[i] / s[i].sqrt());
    if let Some(p) = aligned4(h, &r) {
        return p;
    }
    phi4(h, r).clamp(0.0, 1.0)
}

/// Four standardised orthants `P[Z_i > −h_i ∀i]` where two variables are exactly aligned
/// (`ρ_ij = ±1`, as [`corr`] returns within rounding of it: proportional fields), by three
/// ([`aligned_pair`]); `None` without such a pair.
fn aligned4(h: [f64; 4], r: &[[f64; 4]; 4]) -> Option<f64> {
    let (i, j) = PAIRS4.into_iter().find(|&(i, j)| r[i][j].abs() == 1.0)?;
    // the complementary pair (PAIRS4 lists it in the mirrored position)
    let (b, d) = PAIRS4[5 - pair4(i, j)];
    let three = |a: f64| orthant3([a, h[b], h[d]], [1.0; 3], [r[i][b], r[i][d], r[b][d]]);
    Some(aligned_pair(r[i][j] > 0.0, h[i], h[j], three))
}

#[cfg(test)]
mod orthant4_tests {
    use super::*;

    /// Independent reference: `∫_{−12}^{h1} φ(z) Φ₃(h_{2..4} − ρ_{·1} z; R_{·|1}) dz` (conditioning
    /// on the first variable, trivariate orthants of the conditional law), composite 20-point
    /// Gauss–Legendre on 300 panels.
    fn reference(h: [f64; 4], r: [[f64; 4]; 4]) -> f64 {
        let f = |z: f64| {
            let m = [h[1] - r[1][0] * z, h[2] - r[2][0] * z, h[3] - r[3][0] * z];
            let s = [
                1.0 - r[1][0].powi(2),
                1.0 - r[2][0].powi(2),
                1.0 - r[3][0].powi(2),
            ];
            let c = [
                r[1][2] - r[1][0] * r[2][0],
                r[1][3] - r[1][0] * r[3][0],
                r[2][3] - r[2][0] * r[3][0],
            ];
            phi(z) * orthant3(m, s, c)
        };
        composite_legendre(&f, -12.0, h[0], 300)
    }

    fn corr_matrix(c: [f64; 6]) -> [[f64; 4]; 4] {
        let [a, b, d, e, f, g] = c;
        [
            [1.0, a, b, d],
            [a, 1.0, e, f],
            [b, e, 1.0, g],
            [d, f, g, 1.0],
        ]
    }

    #[test]
    fn pair_index_follows_the_pair_order() {
        for (n, &(i, j)) in PAIRS4.iter().enumerate() {
            assert_eq!((pair4(i, j), pair4(j, i)), (n, n));
        }
    }

    #[test]
    fn equicorrelated_half_gives_one_fifth() {
        // P[all n > 0] = 1/(n + 1) for ρ = 1/2
        let p = orthant4([0.0; 4], [1.0; 4], [0.5; 6]);
        assert!((p - 0.2).abs() < 1e-12, "{p}");
    }

    #[test]
    fn block_diagonal_factorises() {
        let p = orthant4(
            [0.2, -0.1, 0.3, 0.0],
            [1.0, 2.0, 0.5, 1.0],
            [0.4, 0.0, 0.0, 0.0, 0.0, -0.3],
        );
        let want = orthant2(0.2, -0.1, 1.0, 2.0, 0.4) * orthant2(0.3, 0.0, 0.5, 1.0, -0.3);
        assert!((p - want).abs() < 1e-11, "{p} vs {want}");
    }

    #[test]
    fn four_orthants_match_an_independent_integral() {
        for (h, c) in [
            ([0.0; 4], [0.3, 0.2, -0.1, 0.4, 0.25, 0.1]),
            ([0.3, -0.2, 0.5, 0.1], [0.4, 0.2, -0.3, 0.1, 0.35, -0.2]),
            ([1.1, 0.7, -0.9, 0.4], [-0.6, 0.5, 0.1, -0.2, 0.3, 0.45]),
            ([-0.4, -1.2, 0.25, 0.6], [0.9, 0.85, 0.8, 0.82, 0.75, 0.7]),
            ([0.2, 0.2, -0.3, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        ] {
            let r = corr_matrix(c);
            let got = orthant4(h, [1.0; 4], c);
            let want = reference(h, r);
            assert!((got - want).abs() < 1e-10, "{h:?}: {got} vs {want}");
        }
    }

    #[test]
    fn nearly_singular_correlations_match_the_independent_integral() {
        // Z2 and Z3 at an angle of 1e-3 (ρ23 = 1 − 5e-7): a teacher–student state where two
        // students share a teacher; the reference conditions on Z1, the integrand's feature sits
        // at u ~ 1e-3
        let c = [
            0.5,
            0.49999975000002084,
            0.3,
            0.9999995000000416,
            0.3232050807568877,
            0.3236049190876941,
        ];
        for h in [[0.0; 4], [0.3, -0.2, 0.1, 0.4]] {
            let got = orthant4(h, [1.0; 4], c);
            let want = reference(h, corr_matrix(c));
            assert!((got - want).abs() < 1e-10, "{h:?}: {got} vs {want}");
        }
    }

    #[test]
    fn aligned_pairs_reduce_to_an_interval_of_one_variable() {
        // Z2 = ±Z1 exactly (proportional fields): P[Z1 > −h1, ±Z1 > −h2, Z3 > −h3, Z4 > −h4] is
        // ∫ over the interval of Z1 of φ(z) times the two orthants of (Z3, Z4) given Z1 = z
        let (r13, r14, r34) = (0.4, -0.3, 0.25);
        let given = |h: [f64; 4], z: f64| {
            let m = [h[2] + r13 * z, h[3] + r14 * z];
            orthant2(
                m[0],
                m[1],
                1.0 - r13 * r13,
                1.0 - r14 * r14,
                r34 - r13 * r14,
            )
        };
        for (sign, h) in [
            (1.0, [0.3, -0.2, 0.5, 0.1]),
            (1.0, [0.0; 4]),
            (-1.0, [0.3, 0.4, -0.2, 0.6]),
            (-1.0, [0.3, -0.5, -0.2, 0.6]),
            (-1.0, [0.0; 4]),
        ] {
            let c = [sign, r13, r14, sign * r13, sign * r14, r34];
            let got = orthant4(h, [1.0; 4], c);
            // Z1 in (−h1, ∞) ∩ (−h2, ∞) or (−h1, h2)
            let (lo, hi) = if sign > 0.0 {
                (-h[0].min(h[1]), 12.0)
            } else {
                (-h[0], h[1])
            };
            let want = if hi > lo {
                composite_legendre(&|z| phi(z) * given(h, z), lo, hi, 200)
            } else {
                0.0
            };
            assert!((got - want).abs() < 1e-13, "{sign}, {h:?}: {got} vs {want}");
            // three orthants alike (drop Z4)
            let got3 = orthant3([h[0], h[1], h[2]], [1.0; 3], [sign, r13, sign * r13]);
            let want3 = if hi > lo {
                let sd = (1.0 - r13 * r13).sqrt();
                composite_legendre(&|z| phi(z) * big_phi((h[2] + r13 * z) / sd), lo, hi, 200)
                    .min(1.0)
            } else {
                0.0
            };
            // zero means take the arcsin form, exact at ρ = ±1
            assert!(
                (got3 - want3).abs() < 1e-13,
                "{sign}, {h:?}: {got3} vs {want3}"
            );
            // the same with the aligned pair last (Z4 = ±Z3): variables (2, 3, 0, 1) of the above
            let h_moved = [h[2], h[3], h[0], h[1]];
            // pairs (12, 13, 14, 23, 24, 34) of the moved order
            let c_moved = [r34, r13, sign * r13, r14, sign * r14, sign];
            let moved = orthant4_uncached(h_moved, [1.0; 4], c_moved);
            assert!((moved - want).abs() < 1e-13, "moved: {moved} vs {want}");
        }
    }

    #[test]
    fn the_dyadic_mesh_agrees_with_a_finer_one() {
        // random correlation matrices R = D^(-1/2) A Aᵀ D^(-1/2), A 4×k with k = 2..4 columns plus
        // a small multiple of I (down to singular: the dyadic mesh's finest levels), and means
        // zero or random up to ±1, ±2.5, ±6: `phi4` against the 20-point rule on a mesh three
        // levels finer (a margin of 4; 12 points with that margin were used before and cost twice
        // as much)
        let mut uniform = test_uniform();
        let mut worst = 0.0f64;
        for trial in 0..2000 {
            let ridge = [0.0, 1e-12, 1e-6, 1e-2, 0.3][trial % 5];
            let r = random_correlation::<4>(&mut uniform, 2 + trial % 3, ridge);
            let h = if trial % 2 == 0 {
                [0.0; 4]
            } else {
                // standardised means reach 1/√Q for a clamp's kinks at ±1 in small students
                let scale = [2.5, 6.0, 1.0, 30.0][trial % 4];
                std::array::from_fn(|_| scale * uniform())
            };
            let finer = phi4_with(h, r, legendre20(), PLACKETT_MARGIN + 3);
            worst = worst.max((phi4(h, r) - finer).abs());
        }
        // 2.4e-12 measured, at a singular R (det 4e-21, the deepest mesh)
        assert!(worst < 5e-12, "worst difference {worst:.2e}");
    }

    #[test]
    fn singular_correlation_stays_finite_and_right() {
        // Z2 = Z1: P[Z1 < h1, Z1 < h2, ...] is the trivariate probability at min(h1, h2)
        let c = [1.0, 0.3, 0.2, 0.3, 0.2, -0.1];
        let h = [0.4, 0.1, -0.2, 0.3];
        let got = orthant4(h, [1.0; 4], c);
        let want = orthant3([0.1, -0.2, 0.3], [1.0; 3], [0.3, 0.2, -0.1]);
        assert!((got - want).abs() < 1e-8, "{got} vs {want}");
    }
}

/// Uniform numbers in [−1, 1] from a fixed xorshift sequence (test matrices and means).
#[cfg(test)]
fn test_uniform() -> impl FnMut() -> f64 {
    let mut state = 0x9e3779b97f4a7c15u64;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// The correlation matrix of `A Aᵀ + ridge·I`, A an N×`rank` matrix of `uniform` draws (row by
/// row): of rank `rank` when `ridge` is 0, nearly singular for a small ridge (test matrices).
#[cfg(test)]
fn random_correlation<const N: usize>(
    uniform: &mut impl FnMut() -> f64,
    rank: usize,
    ridge: f64,
) -> [[f64; N]; N] {
    let a: Vec<Vec<f64>> = (0..N)
        .map(|_| (0..rank).map(|_| uniform()).collect())
        .collect();
    let cov = |i: usize, j: usize| {
        (0..rank).map(|c| a[i][c] * a[j][c]).sum::<f64>() + if i == j { ridge } else { 0.0 }
    };
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            if i == j {
                1.0
            } else {
                corr(cov(i, j), cov(i, i), cov(j, j))
            }
        })
    })
}

/// `∫_a^b f` by the 20-point Gauss–Legendre rule on `panels` equal panels (test references).
#[cfg(test)]
fn composite_legendre(f: &dyn Fn(f64) -> f64, a: f64, b: f64, panels: usize) -> f64 {
    let (x, w) = legendre20();
    let dx = (b - a) / panels as f64;
    (0..panels)
        .map(|p| {
            let lo = a + p as f64 * dx;
            (0..20).map(|i| w[i] * f(lo + dx * x[i])).sum::<f64>() * dx
        })
        .sum()
}

#[cfg(test)]
mod orthant3_tests {
    use super::*;

    /// Independent reference: `∫_{−∞}^{h1} φ(z) Φ₂((h2 − ρ12 z)/σ2, (h3 − ρ13 z)/σ3; ρ23|1) dz`
    /// by composite 20-point Gauss–Legendre on 400 panels of [−12, h1].
    fn reference(h: [f64; 3], r12: f64, r13: f64, r23: f64) -> f64 {
        let (s2, s3) = ((1.0 - r12 * r12).sqrt(), (1.0 - r13 * r13).sqrt());
        let rc = (r23 - r12 * r13) / (s2 * s3);
        let f =
            |z: f64| phi(z) * owens_t::biv_norm(-(h[1] - r12 * z) / s2, -(h[2] - r13 * z) / s3, rc);
        composite_legendre(&f, -12.0, h[0], 400)
    }

    /// [`phi3`] by the adaptive bisection it used before: 20-point Gauss–Legendre panels in t
    /// until two halves agree with their whole to 1e-15.
    fn phi3_adaptive(h: [f64; 3], r12: f64, r13: f64, r23: f64) -> f64 {
        let f = plackett3(h, r12, r13, r23);
        let (x, w) = legendre20();
        let panel = |a: f64, b: f64| -> f64 {
            (0..20).map(|i| w[i] * f(a + (b - a) * x[i])).sum::<f64>() * (b - a)
        };
        big_phi(h[0]) * orthant2(h[1], h[2], 1.0, 1.0, r23) + adaptive_unit(&panel, 1e-15)
    }

    #[test]
    fn trivariate_mesh_agrees_with_adaptive_bisection() {
        // random correlation matrices of rank 1..3 plus a ridge down to 0 (singular: the dyadic
        // mesh's finest levels), means up to ±1, ±2.5, ±6
        let mut uniform = test_uniform();
        let mut worst = 0.0f64;
        for trial in 0..3000 {
            let ridge = [0.0, 1e-12, 1e-6, 1e-2, 0.3][trial % 5];
            let r = random_correlation::<3>(&mut uniform, 1 + trial % 3, ridge);
            let (r12, r13, r23) = (r[0][1], r[0][2], r[1][2]);
            if [r12, r13, r23].iter().any(|x| x.abs() == 1.0) {
                // aligned pairs take `aligned_pair`, not Plackett's integral
                continue;
            }
            let scale = [2.5, 6.0, 1.0][trial % 3];
            let h: [f64; 3] = std::array::from_fn(|_| scale * uniform());
            worst = worst.max((phi3(h, r12, r13, r23) - phi3_adaptive(h, r12, r13, r23)).abs());
        }
        // 8.0e-15 measured
        assert!(worst < 5e-14, "worst difference {worst:.2e}");
    }

    #[test]
    fn legendre_rule_integrates_polynomials() {
        let (x, w) = legendre20();
        let s: f64 = (0..20).map(|i| w[i] * x[i].powi(39)).sum();
        assert!((s - 1.0 / 40.0).abs() < 1e-15);
    }

    #[test]
    fn trivariate_orthants_match_an_independent_integral() {
        for (h, r12, r13, r23) in [
            ([0.3, -0.2, 0.5], 0.4, 0.2, -0.3),
            ([1.1, 0.7, -0.9], -0.6, 0.5, 0.1),
            ([-0.4, -1.2, 0.25], 0.9, 0.85, 0.8),
            ([0.0, 0.6, 0.0], 0.2, -0.7, 0.3),
        ] {
            let got = phi3(h, r12, r13, r23);
            let want = reference(h, r12, r13, r23);
            assert!((got - want).abs() < 1e-12, "{h:?}: {got} vs {want}");
        }
        // zero means: the arcsin form
        let p = orthant3([0.0; 3], [1.0, 2.0, 0.5], [0.3, 0.2, -0.1]);
        let (r12, r13, r23) = (0.3 / 2f64.sqrt(), 0.2 / 0.5f64.sqrt(), -0.1);
        let want = reference([0.0; 3], r12, r13, r23);
        assert!((p - want).abs() < 1e-12, "{p} vs {want}");
    }
}

#[cfg(test)]
mod rounding_tests {
    use super::*;

    /// The Schur complement of a rounded square, `fl(s²) − s·s/1`, is the rounding of `s²`
    /// itself (recovered exactly by fma; the naive form gives 0), and a general one agrees with
    /// the naive form to its rounding.
    #[test]
    fn schur_complements_keep_the_digits_that_cancel() {
        let mut s = 0.73_f64;
        for _ in 0..1000 {
            s = (s * 7.31 + 0.17).fract() + 0.5;
            let p = s * s;
            let exact = -s.mul_add(s, -p);
            assert_eq!(schur(p, s, s, 1.0), exact, "s = {s}");
            assert_eq!(p - s * s / 1.0, 0.0);
            // a covariance ~1e-15 off the singular one: p − b² = (p − s²) + (s − b)(s + b), with
            // s − b exact (Sterbenz), to 1e-14 relative
            let b = s - 1e-15;
            let v = schur(p, b, b, 1.0);
            let want = exact + (s - b) * (s + b);
            assert!(
                (v - want).abs() < 1e-14 * want.abs(),
                "s = {s}: {v} vs {want}"
            );
            // away from singular: the naive value to a few ulps
            let g = schur(2.0 * s, 0.3, s, 1.7);
            assert!((g - (2.0 * s - 0.3 * s / 1.7)).abs() < 4.0 * f64::EPSILON * 2.0 * s);
        }
        assert_eq!(schur(1e-30, 0.0, 5.0, 1e-300), 1e-30);
    }

    /// Correlations just outside the snapping band (1 − ρ² a little above 8ε) go to Φ₂ itself,
    /// which keeps its square-root approach to the aligned value: `Φ(h) − φ(h)√((1 − ρ)/π)`.
    #[test]
    fn orthants_just_short_of_alignment_keep_their_square_root() {
        for om in [9.99e-16, 1.2e-15, 3e-15, 1e-14] {
            let rho = 1.0 - om;
            for h in [0.5, -1.0, 0.0] {
                let v = orthant2(h, h, 1.0, 1.0, rho);
                let want = big_phi(h) - phi(h) * ((1.0 - rho) / PI).sqrt();
                assert!(
                    (v - want).abs() < 1e-12,
                    "1 − ρ = {om:e}, h = {h}: {v} vs {want}"
                );
            }
        }
    }

    #[test]
    fn values_within_rounding_of_a_singular_covariance_are_exact() {
        // a conditional variance of rescaled units: C33 − C13²/C11 with C11 = c²T, C13 = cT
        let (c, t) = (0.8234777450561523_f64, 0.9_f64);
        let (c11, c13) = (c * c * t, c * t);
        let v = t - c13 * c13 / c11;
        assert!(v != 0.0 && v.abs() < 1e-15);
        assert_eq!(cond_var(v, t), 0.0);
        // a genuine small variance is kept
        assert_eq!(cond_var(1e-12, 1.0), 1e-12);
        assert_eq!(cond_var(-1e-3, 1.0), 0.0);
        // a correlation within rounding of 1, and one that is not
        assert_eq!(corr(c13, c11, t), 1.0);
        assert_eq!(corr(-c13, c11, t), -1.0);
        let r = corr(1.0 - 1e-12, 1.0, 1.0);
        assert!(r < 1.0 && (r - (1.0 - 1e-12)).abs() < 1e-16);
        // a mean snaps only where its variable is determined
        assert_eq!(cond_mean(0.3, -0.30000000000000004, 0.0), 0.0);
        assert_eq!(
            cond_mean(0.3, -0.30000000000000004, 1e-30),
            -5.551115123125783e-17
        );
        assert_eq!(cond_mean(1.0, -0.999, 0.0), 1.0 - 0.999);
        // no covariance is left with a determined variable
        assert_eq!(cond_cov(1e-17, 0.0, 1.0), 0.0);
        assert_eq!(cond_cov(1e-17, 1e-20, 1.0), 1e-17);
    }

    #[test]
    fn four_orthants_are_one_number_in_any_order() {
        let (m, s) = ([0.1, -0.2, 0.3, 0.0], [1.0, 2.0, 0.5, 1.5]);
        let c = [0.3, 0.2, -0.1, 0.4, 0.25, 0.1];
        let p = orthant4(m, s, c);
        // variables (2, 0, 3, 1)
        let o = [2usize, 0, 3, 1];
        let mp: [f64; 4] = std::array::from_fn(|i| m[o[i]]);
        let sp: [f64; 4] = std::array::from_fn(|i| s[o[i]]);
        let cp: [f64; 6] = std::array::from_fn(|k| {
            let (i, j) = PAIRS4[k];
            c[pair4(o[i], o[j])]
        });
        assert_eq!(orthant4(mp, sp, cp), p);
        assert!((orthant4_uncached(m, s, c) - p).abs() < 1e-10);
    }
}
