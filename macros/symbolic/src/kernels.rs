//! Run-time kernels of the closed forms: the few special functions a derived formula is built
//! from. The evaluator ([`crate::render::eval`]) and the Rust code emitted by `#[activation]`
//! (through `aedyn::kernels`, which re-exports this module) call the same functions, so both give
//! the same numbers. Nothing here integrates numerically.

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

/// The correlation `s12/√(s11 s22)` clamped to [−1, 1]; 0 when a variance vanishes (the
/// orthant probability then no longer depends on it).
#[inline]
pub fn corr(s12: f64, s11: f64, s22: f64) -> f64 {
    let d = (s11 * s22).sqrt();
    if d > 0.0 {
        (s12 / d).clamp(-1.0, 1.0)
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
    if s11 <= 0.0 {
        return heaviside(m1) * orthant1(m2, s22);
    }
    if s22 <= 0.0 {
        return heaviside(m2) * orthant1(m1, s11);
    }
    let (r1, r2) = (s11.sqrt(), s22.sqrt());
    let rho = (s12 / (r1 * r2)).clamp(-1.0, 1.0);
    if m1 == 0.0 && m2 == 0.0 {
        // Sheppard: P[y1 > 0, y2 > 0] = 1/4 + asin(ρ)/(2π) at zero mean
        return 0.25 + rho.asin() / (2.0 * PI);
    }
    let (h, k) = (m1 / r1, m2 / r2);
    if rho >= 1.0 - 1e-15 {
        return big_phi(h.min(k));
    }
    if rho <= -1.0 + 1e-15 {
        return (big_phi(h) + big_phi(k) - 1.0).max(0.0);
    }
    owens_t::biv_norm(-h, -k, rho)
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

    #[test]
    fn corr_is_clamped_and_safe() {
        assert_eq!(corr(2.0, 1.0, 1.0), 1.0);
        assert_eq!(corr(1.0, 0.0, 1.0), 0.0);
        assert!((corr(0.3, 1.0, 4.0) - 0.15).abs() < 1e-16);
    }
}
