//! The distributional part of the quadrature of a non-smooth activation (docs/integrals.md
//! §Quadrature). Where g or a derivative jumps at a break b (sizes `J⁽ᵏ⁾ = g⁽ᵏ⁾(b⁺) − g⁽ᵏ⁾(b⁻)`),
//! the derivatives carry Dirac terms that no quadrature rule sees:
//!
//! `g⁽ᵏ⁾ = g⁽ᵏ⁾_pw + Σ_b Σ_{j<k} J⁽ᵏ⁻¹⁻ʲ⁾ δ⁽ʲ⁾(x − b)`
//!
//! (`g' = g'_pw + J⁰δ`, `g'' = g''_pw + J¹δ + J⁰δ'`, `g''' = g'''_pw + J²δ + J¹δ' + J⁰δ''`). The
//! quadrature integrates the pointwise parts piecewise (panel edges at the breaks); this module
//! adds the Dirac terms exactly, moving their derivatives onto the Gaussian density:
//!
//! - one variable: `E[δ⁽ʲ⁾(x − b)] = s^(−j−1) He_j(u) φ(u)`, u = (b − m)/s;
//! - a Dirac in x₁ against B(x₂): `(−1)ʲ ∂ʲ_{x₁}[p₁(x₁) M(x₁)]` at b, with
//!   `M⁽ⁱ⁾(x₁) = (β/r)ⁱ E[He_i(w) B(μ(x₁) + r w)]` (x₂ | x₁ ~ N(μ(x₁), r²), μ' = β);
//! - Diracs in both: `(−1)^{i+j} ∂ⁱ₁∂ʲ₂ p(b, b')`, with
//!   `∂ⁱ₁∂ʲ₂ p = (−1)ʲ r^(−j−1) Σ_n C(i,n) p₁⁽ⁱ⁻ⁿ⁾(b) (β/r)ⁿ He_{j+n}(w) φ(w)`, w = (b' − μ(b))/r.
//!
//! A Dirac term times another factor of the same variable is defined when that factor is smooth
//! enough at b (`δ⁽ʲ⁾h = Σ_m (−1)ᵐ C(j,m) h⁽ᵐ⁾(b) δ⁽ʲ⁻ᵐ⁾`, h ∈ Cʲ); two Dirac terms at one point
//! (`δ·δ`, sign's E[g'²]) or a Dirac term against a factor that jumps there are not: such an
//! integral is undefined, as in the closed-form derivation.

use super::composite::{Rule, expect_standard};
use crate::kernels::phi;

/// A point where g or one of its first three derivatives jumps.
#[derive(Clone, Debug, PartialEq)]
pub struct Break {
    pub at: f64,
    /// `(g⁽ᵏ⁾(b⁺) + g⁽ᵏ⁾(b⁻))/2`, k = 0 … 3.
    pub value: [f64; 4],
    /// `g⁽ᵏ⁾(b⁺) − g⁽ᵏ⁾(b⁻)`, k = 0 … 3 (zero when below 1e-9 of the piece's size: rounding).
    pub jump: [f64; 4],
}

/// One-sided limits of g … g''' at each point of `at` (ascending, distinct, finite), by cubic
/// extrapolation from four points `b ± iε`, i = 1 … 4 (error O(ε⁴ g⁽ᵏ⁺⁴⁾), ε = 1e-4 or an
/// eighth of the distance to the next break). A jump below 1e-9 of the piece's size near b
/// (its largest |g⁽ᵏ⁾| at b ± {ε, 0.01, 0.1, 1} and the limits) is rounding, and zero.
pub fn breaks_of(pieces: &dyn Fn(usize, f64) -> f64, at: &[f64]) -> Vec<Break> {
    at.iter()
        .enumerate()
        .map(|(i, &b)| {
            let gap = [i.checked_sub(1).map(|j| at[j]), at.get(i + 1).copied()]
                .iter()
                .flatten()
                .map(|o| (o - b).abs())
                .fold(f64::INFINITY, f64::min);
            let eps = 1e-4f64.min(gap / 8.0);
            let extrapolated = |k: usize, side: f64, eps: f64| {
                let f = |n: f64| pieces(k, b + side * n * eps);
                4.0 * f(1.0) - 6.0 * f(2.0) + 4.0 * f(3.0) - f(4.0)
            };
            // ε shrinks tenfold (to 1e-4 of its start at most) until two extrapolations agree to
            // 1e-12: g changing on a scale a ≪ 1e-4 at b (`1/(|x| + 0.001)`) needs ε ≪ a
            let limit = |k: usize, side: f64| {
                let mut e = eps;
                let mut last = extrapolated(k, side, e);
                for _ in 0..4 {
                    let next = extrapolated(k, side, e / 10.0);
                    let agree = (next - last).abs() <= 1e-12 * next.abs().max(last.abs());
                    if agree || !next.is_finite() {
                        return if next.is_finite() { next } else { last };
                    }
                    (e, last) = (e / 10.0, next);
                }
                last
            };
            let mut value = [0.0; 4];
            let mut jump = [0.0; 4];
            for k in 0..4 {
                let (l, r) = (limit(k, -1.0), limit(k, 1.0));
                value[k] = 0.5 * (l + r);
                let d = r - l;
                let near = [eps, 0.01, 0.1, 1.0]
                    .iter()
                    .flat_map(|&h| [pieces(k, b - h), pieces(k, b + h)])
                    .filter(|v| v.is_finite())
                    .fold(0.0f64, |m, v| m.max(v.abs()));
                let scale = near.max(l.abs()).max(r.abs());
                jump[k] = if d.abs() > 1e-9 * scale { d } else { 0.0 };
            }
            Break { at: b, value, jump }
        })
        .collect()
}

/// A factor of an integrand in one variable: `g⁽ᵏ⁾(x)` or `xᵖ`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Factor {
    G(usize),
    X(u32),
}

/// The Dirac part of a product of factors in one variable: `Σ c δ⁽ʲ⁾(x − b)` as `(b, j, c)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diracs(pub Vec<(f64, usize, f64)>);

/// The Dirac part of `Π factors` at the breaks, or why the product is not a distribution.
pub fn split(breaks: &[Break], factors: &[Factor]) -> Result<Diracs, String> {
    let mut out = Vec::new();
    for br in breaks {
        // the Dirac terms of each factor at this break: (factor, j, coefficient)
        let mut terms = Vec::new();
        for (i, f) in factors.iter().enumerate() {
            if let Factor::G(k) = *f {
                for j in 0..k {
                    let c = br.jump[k - 1 - j];
                    if c != 0.0 {
                        terms.push((i, j, c));
                    }
                }
            }
        }
        let Some(&(owner, _, _)) = terms.first() else {
            continue;
        };
        if terms.iter().any(|t| t.0 != owner) {
            return Err(format!(
                "two Dirac terms meet at x = {} (g jumps there: a product δ·δ)",
                br.at
            ));
        }
        let jmax = terms.iter().map(|t| t.1).max().unwrap_or(0);
        // derivatives h⁽ᵐ⁾(b), m ≤ jmax, of the product of the other factors
        let mut h = [1.0, 0.0, 0.0, 0.0];
        for (i, f) in factors.iter().enumerate() {
            if i == owner {
                continue;
            }
            let mut d = [0.0; 4];
            for (m, dm) in d.iter_mut().enumerate().take(jmax + 1) {
                *dm = match *f {
                    Factor::X(p) => {
                        let p = p as usize;
                        if m > p {
                            0.0
                        } else {
                            let falling: f64 = (p - m + 1..=p).map(|q| q as f64).product();
                            falling * br.at.powi((p - m) as i32)
                        }
                    }
                    Factor::G(k) => {
                        if k + m > 3 {
                            return Err(format!(
                                "a Dirac term at x = {} meets g⁽{}⁾, which is not available",
                                br.at,
                                k + m
                            ));
                        }
                        // g⁽ᵏ⁺¹⁾·g⁽ᵏ⁾ = ((g⁽ᵏ⁾)²/2)': its δ at a jump J of g⁽ᵏ⁾ weighs
                        // J·(g⁽ᵏ⁾(b⁺) + g⁽ᵏ⁾(b⁻))/2, the mean value taken below
                        let square =
                            factors.len() == 2 && jmax == 0 && factors[owner] == Factor::G(k + 1);
                        if br.jump[k + m] != 0.0 && !square {
                            return Err(format!(
                                "a Dirac term at x = {} meets a factor that jumps there \
                                 (g⁽{}⁾)",
                                br.at,
                                k + m
                            ));
                        }
                        br.value[k + m]
                    }
                };
            }
            h = leibniz(&h, &d, jmax);
        }
        for &(_, j, c) in &terms {
            for m in 0..=j {
                let sign = minus_one_pow(m);
                let coef = c * sign * binomial(j, m) * h[m];
                if coef != 0.0 {
                    out.push((br.at, j - m, coef));
                }
            }
        }
    }
    Ok(Diracs(out))
}

/// Derivatives up to `n` of a product from those of its factors.
fn leibniz(a: &[f64; 4], b: &[f64; 4], n: usize) -> [f64; 4] {
    let mut out = [0.0; 4];
    for (m, o) in out.iter_mut().enumerate().take(n + 1) {
        *o = (0..=m).map(|i| binomial(m, i) * a[i] * b[m - i]).sum();
    }
    out
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Whether `x` is the break `b` to rounding (1e-12 relative).
pub fn at_point(b: f64, x: f64) -> bool {
    (x - b).abs() <= 1e-12 * (1.0 + b.abs())
}

/// (−1)ⁿ.
fn minus_one_pow(n: usize) -> f64 {
    if n.is_multiple_of(2) { 1.0 } else { -1.0 }
}

/// Probabilists' Hermite polynomial He_n(x).
pub fn hermite(n: usize, x: f64) -> f64 {
    let (mut a, mut b) = (1.0, x);
    if n == 0 {
        return a;
    }
    for k in 1..n {
        let c = x * b - k as f64 * a;
        a = b;
        b = c;
    }
    b
}

/// `p⁽ⁿ⁾(b)` of the density of N(m, s²): `(−1)ⁿ s⁻ⁿ He_n(u) φ(u)/s`, u = (b − m)/s.
fn density_derivative(n: usize, b: f64, m: f64, s: f64) -> f64 {
    let u = (b - m) / s;
    let sign = minus_one_pow(n);
    sign * s.powi(-(n as i32)) * hermite(n, u) * phi(u) / s
}

/// `E[Σ c δ⁽ʲ⁾(x − b)]` over x ~ N(m, var) (NaN when var = 0 and there is a term).
pub fn point(d: &Diracs, m: f64, var: f64) -> f64 {
    if d.0.is_empty() {
        return 0.0;
    }
    if var.is_nan() || var <= 0.0 {
        // a point mass at m: the Dirac terms are zero unless one sits at m
        return if var.is_nan() || d.0.iter().any(|t| at_point(t.0, m)) {
            f64::NAN
        } else {
            0.0
        };
    }
    let s = var.sqrt();
    d.0.iter()
        .map(|&(b, j, c)| {
            let sign = minus_one_pow(j);
            c * sign * density_derivative(j, b, m, s)
        })
        .sum()
}

/// A pair seen from one of its variables: x ~ N(m, s²) and the other given x,
/// `N(m_o + β(x − m), r²)`.
#[derive(Clone, Copy, Debug)]
pub struct Conditioned {
    pub m: f64,
    pub s: f64,
    pub m_o: f64,
    pub beta: f64,
    pub r: f64,
}

impl Conditioned {
    /// Whether the other variable is this one (β = 1, equal means, no conditional variance).
    pub fn identical(&self) -> bool {
        self.beta == 1.0 && self.m_o == self.m && self.r == 0.0
    }

    /// Variable `first` (0 or 1) of the pair with means `m` and covariance entries c11, c12, c22.
    pub fn of(first: usize, m: [f64; 2], c11: f64, c12: f64, c22: f64) -> Self {
        let (m, m_o, v, v_o) = if first == 0 {
            (m[0], m[1], c11, c22)
        } else {
            (m[1], m[0], c22, c11)
        };
        let beta = if v > 0.0 { c12 / v } else { 0.0 };
        let r2 = v_o - beta * c12;
        Self {
            m,
            s: v.max(0.0).sqrt(),
            m_o,
            beta,
            r: if r2 > super::DROPPED_PIVOT * v_o.abs() {
                r2.sqrt()
            } else {
                0.0
            },
        }
    }
}

/// B(y) at y = μ exactly, the other variable a function of x (r = 0), against a Dirac term in x:
/// B(μ) where B is continuous (its mean value across a break where it does not jump); at a jump
/// of B the product δ·B is defined only for identical variables (g'·g = (g²/2)': B's mean
/// value), else `None` (undefined).
pub fn aligned_value(
    rule: &Rule,
    mu: f64,
    identical: bool,
    other: &dyn Fn(f64) -> f64,
) -> Option<f64> {
    let Some(br) = rule.breaks.iter().find(|br| at_point(br.at, mu)) else {
        return Some(other(mu));
    };
    let h = 1e-9 * (1.0 + br.at.abs());
    let (l, r) = (other(br.at - h), other(br.at + h));
    let continuous = (l - r).abs() <= 1e-7 * (1.0 + l.abs().max(r.abs()));
    (identical || continuous).then_some(0.5 * (l + r))
}

/// `E[Σ c δ⁽ʲ⁾(x − b) · B(y)]` with the pair seen from x (`c`), B the pointwise product of the
/// other variable's factors.
pub fn line(rule: &Rule, d: &Diracs, c: &Conditioned, other: &dyn Fn(f64) -> f64) -> f64 {
    let mut total = 0.0;
    for &(b, j, coef) in &d.0 {
        if c.s.is_nan() || c.s <= 0.0 {
            if c.s.is_nan() || at_point(b, c.m) {
                return f64::NAN;
            }
            continue; // x is the constant m ≠ b
        }
        let mu = c.m_o + c.beta * (b - c.m);
        // M⁽ⁱ⁾(b), i ≤ j
        let mut dm = [0.0; 4];
        for (i, v) in dm.iter_mut().enumerate().take(j + 1) {
            *v = if c.r > 0.0 {
                (c.beta / c.r).powi(i as i32)
                    * expect_standard(rule, mu, c.r, 1.0, |y, w| hermite(i, w) * other(y))
            } else if i == 0 {
                match aligned_value(rule, mu, c.identical(), other) {
                    Some(v) => v,
                    None => return f64::NAN,
                }
            } else {
                return f64::NAN;
            };
        }
        let sum: f64 = (0..=j)
            .map(|i| binomial(j, i) * density_derivative(j - i, b, c.m, c.s) * dm[i])
            .sum();
        let sign = minus_one_pow(j);
        total += coef * sign * sum;
    }
    total
}

/// `E[Σ c δ⁽ⁱ⁾(x − b) · Σ c' δ⁽ʲ⁾(y − b')]` with the pair seen from x (`c`).
pub fn double(dx: &Diracs, dy: &Diracs, c: &Conditioned) -> f64 {
    let mut total = 0.0;
    for &(b, i, cx) in &dx.0 {
        for &(b2, j, cy) in &dy.0 {
            if c.s.is_nan() || c.s <= 0.0 || c.r.is_nan() || c.r <= 0.0 {
                return f64::NAN;
            }
            let w = (b2 - (c.m_o + c.beta * (b - c.m))) / c.r;
            let mixed: f64 = (0..=i)
                .map(|n| {
                    binomial(i, n)
                        * density_derivative(i - n, b, c.m, c.s)
                        * (c.beta / c.r).powi(n as i32)
                        * hermite(j + n, w)
                })
                .sum::<f64>()
                * phi(w)
                * c.r.powi(-(j as i32) - 1);
            // (−1)^{i+j} from moving the derivatives, (−1)^j from ∂ʲ₂
            let sign = minus_one_pow(i);
            total += cx * cy * sign * mixed;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermite_polynomials() {
        for &x in &[-1.3, 0.0, 0.7, 2.5] {
            assert_eq!(hermite(0, x), 1.0);
            assert_eq!(hermite(1, x), x);
            assert!((hermite(2, x) - (x * x - 1.0)).abs() < 1e-14);
            assert!((hermite(3, x) - (x * x * x - 3.0 * x)).abs() < 1e-13);
            assert!((hermite(4, x) - (x.powi(4) - 6.0 * x * x + 3.0)).abs() < 1e-12);
        }
    }

    /// The density's derivatives against central differences.
    #[test]
    fn density_derivatives() {
        let (m, s, b) = (0.3, 1.7, -0.4);
        let p = |x: f64| phi((x - m) / s) / s;
        let h = 1e-3;
        let d1 = (p(b + h) - p(b - h)) / (2.0 * h);
        let d2 = (p(b + h) - 2.0 * p(b) + p(b - h)) / (h * h);
        assert!((density_derivative(0, b, m, s) - p(b)).abs() < 1e-15);
        assert!((density_derivative(1, b, m, s) - d1).abs() < 1e-8);
        assert!((density_derivative(2, b, m, s) - d2).abs() < 1e-6);
    }

    /// One-sided limits where g changes on a scale far below 1e-4: `1/(|x| + a)`, a = 0.001,
    /// jumps by −2/a² in g' and −12/a⁴ in g''' at 0 (the fixed ε = 1e-4 gave 0.42 % and 2.1 %
    /// off); `relu(x − 0.3)`'s kink stays exactly 1.
    #[test]
    fn jumps_at_a_break_on_a_fine_scale() {
        let a = 0.001;
        let pieces = |k: usize, x: f64| {
            let (u, s) = (x.abs() + a, if x > 0.0 { -1.0 } else { 1.0 });
            match k {
                0 => 1.0 / u,
                1 => s / (u * u),
                2 => 2.0 / u.powi(3),
                _ => 6.0 * s / u.powi(4),
            }
        };
        let br = &breaks_of(&pieces, &[0.0])[0];
        let want = [0.0, -2.0 / (a * a), 0.0, -12.0 / a.powi(4)];
        for k in 0..4 {
            let tol = 1e-10 * want[k].abs().max(1.0 / a.powi(k as i32 + 1));
            assert!(
                (br.jump[k] - want[k]).abs() <= tol,
                "g^({k}): {} vs {}",
                br.jump[k],
                want[k]
            );
        }
        let relu = |k: usize, x: f64| match k {
            0 => (x - 0.3).max(0.0),
            1 => f64::from(u8::from(x > 0.3)),
            _ => 0.0,
        };
        assert_eq!(breaks_of(&relu, &[0.3])[0].jump, [0.0, 1.0, 0.0, 0.0]);
    }

    /// relu's g'' = δ and (relu²)''' = 2δ; a jump of sign gives g' = 2δ, g'' = 2δ'.
    #[test]
    fn dirac_parts_of_kinks_and_jumps() {
        let relu = Break {
            at: 0.0,
            value: [0.0, 0.5, 0.0, 0.0],
            jump: [0.0, 1.0, 0.0, 0.0],
        };
        let d = split(std::slice::from_ref(&relu), &[Factor::G(2)]).expect("defined");
        assert_eq!(d, Diracs(vec![(0.0, 0, 1.0)]));
        // δ(x)·x = 0, δ'(x)·x = −δ(x)
        let sign = Break {
            at: 0.0,
            value: [0.0; 4],
            jump: [2.0, 0.0, 0.0, 0.0],
        };
        let d = split(std::slice::from_ref(&sign), &[Factor::G(2), Factor::X(1)]).expect("ok");
        assert_eq!(d, Diracs(vec![(0.0, 0, -2.0)]));
        // δ·δ and δ' against a jump are refused; g'·g = (g²/2)' takes g's mean value at b
        assert!(split(std::slice::from_ref(&sign), &[Factor::G(1), Factor::G(1)]).is_err());
        assert!(split(std::slice::from_ref(&sign), &[Factor::G(2), Factor::G(0)]).is_err());
        let step = Break {
            at: 0.2,
            value: [0.5, 0.0, 0.0, 0.0],
            jump: [1.0, 0.0, 0.0, 0.0],
        };
        let d = split(std::slice::from_ref(&step), &[Factor::G(1), Factor::G(0)]).expect("ok");
        assert_eq!(d, Diracs(vec![(0.2, 0, 0.5)]));
        // E[δ'(x − 0.2)] over N(0.5, 2) = −p'(0.2)
        let d = Diracs(vec![(0.2, 1, 1.0)]);
        let s = 2f64.sqrt();
        let want = -density_derivative(1, 0.2, 0.5, s);
        assert!((point(&d, 0.5, 2.0) - want).abs() < 1e-16);
    }
}
