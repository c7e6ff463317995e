//! The normal form of docs/integrals.md: an activation (and its derivatives) as a finite sum of terms
//! `c · xᵖ · exp(−α x² + β x) · Π_j B_j(a_j x + b_j)`, `B ∈ {Θ, δ⁽ⁿ⁾, erf}`.

use crate::expr::{Expr, Func};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Base {
    Step,
    Erf,
    Delta(u32),
}

/// `base(a x + b)`
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Factor {
    pub base: Base,
    pub a: f64,
    pub b: f64,
}

/// `c · xᵖ · exp(−quad x² + lin x) · Π factors`
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub c: f64,
    pub p: u32,
    pub quad: f64,
    pub lin: f64,
    pub factors: Vec<Factor>,
}

pub type Series = Vec<Term>;

impl Term {
    pub fn constant(c: f64) -> Self {
        Term {
            c,
            p: 0,
            quad: 0.0,
            lin: 0.0,
            factors: vec![],
        }
    }
    pub fn x() -> Self {
        Term {
            p: 1,
            ..Term::constant(1.0)
        }
    }
    pub fn factor(base: Base, a: f64, b: f64) -> Self {
        Term {
            factors: vec![Factor { base, a, b }],
            ..Term::constant(1.0)
        }
    }
    pub fn mul(&self, o: &Term) -> Term {
        let mut factors = self.factors.clone();
        factors.extend(o.factors.iter().copied());
        Term {
            c: self.c * o.c,
            p: self.p + o.p,
            quad: self.quad + o.quad,
            lin: self.lin + o.lin,
            factors,
        }
    }
    pub fn is_constant(&self) -> bool {
        self.p == 0 && self.quad == 0.0 && self.lin == 0.0 && self.factors.is_empty()
    }
}

/// Why an expression is outside the algebra.
#[derive(Clone, Debug, PartialEq)]
pub struct NotInAlgebra(pub String);

pub fn product(a: &Series, b: &Series) -> Series {
    let mut out = Vec::with_capacity(a.len() * b.len());
    for s in a {
        for t in b {
            out.push(s.mul(t));
        }
    }
    out
}

fn scale(s: Series, k: f64) -> Series {
    s.into_iter()
        .map(|mut t| {
            t.c *= k;
            t
        })
        .collect()
}

/// Affine `a x + b` if the series is one.
fn affine(s: &Series) -> Option<(f64, f64)> {
    let (mut a, mut b) = (0.0, 0.0);
    for t in s {
        if !t.factors.is_empty() || t.quad != 0.0 || t.lin != 0.0 {
            return None;
        }
        match t.p {
            0 => b += t.c,
            1 => a += t.c,
            _ => return None,
        }
    }
    Some((a, b))
}

/// Quadratic `q2 x² + q1 x + q0` if the series is one.
fn quadratic(s: &Series) -> Option<[f64; 3]> {
    let mut q = [0.0; 3];
    for t in s {
        if !t.factors.is_empty() || t.quad != 0.0 || t.lin != 0.0 || t.p > 2 {
            return None;
        }
        q[t.p as usize] += t.c;
    }
    Some(q)
}

fn affine_series(a: f64, b: f64) -> Series {
    vec![Term { c: a, ..Term::x() }, Term::constant(b)]
}

/// Converts an expression to the normal form, or says which sub-expression has none.
pub fn to_series(e: &Expr) -> Result<Series, NotInAlgebra> {
    let s = match e {
        Expr::Const(v) => vec![Term::constant(*v)],
        Expr::X => vec![Term::x()],
        Expr::Add(v) => {
            let mut out = Vec::new();
            for t in v {
                out.extend(to_series(t)?);
            }
            out
        }
        Expr::Mul(v) => {
            let mut acc = vec![Term::constant(1.0)];
            for t in v {
                acc = product(&acc, &to_series(t)?);
            }
            acc
        }
        Expr::Div(a, b) => match crate::expr::simplify((**b).clone()) {
            Expr::Const(k) if k != 0.0 => scale(to_series(a)?, 1.0 / k),
            _ => {
                return Err(NotInAlgebra(format!(
                    "division by a non-constant `{}`",
                    crate::expr::to_text(b)
                )));
            }
        },
        Expr::Powi(a, n) => {
            if *n < 0 {
                return Err(NotInAlgebra(format!(
                    "negative power of `{}`",
                    crate::expr::to_text(a)
                )));
            }
            let base = to_series(a)?;
            let mut acc = vec![Term::constant(1.0)];
            for _ in 0..*n {
                acc = product(&acc, &base);
            }
            acc
        }
        Expr::Max(a, k) | Expr::Min(a, k) => {
            let inner = to_series(a)?;
            let Some((p, q)) = affine(&inner) else {
                return piecewise_series(e).ok_or_else(|| not_affine(e, a));
            };
            // max(u, k) = k + (u − k)Θ(u − k);  min(u, k) = k + (u − k)Θ(k − u)
            let sgn = if matches!(e, Expr::Max(..)) {
                1.0
            } else {
                -1.0
            };
            let step = Term::factor(Base::Step, sgn * p, sgn * (q - k));
            let mut out = vec![Term::constant(*k)];
            out.extend(product(&affine_series(p, q - k), &vec![step]));
            out
        }
        Expr::Call(f, a) => {
            let inner = to_series(a)?;
            match f {
                Func::Exp => {
                    let Some(q) = quadratic(&inner) else {
                        return exp_of_piecewise(&inner).map_err(|why| not_in(e, why));
                    };
                    if q[2] > 0.0 {
                        return Err(not_in(
                            e,
                            "exp(+αx²), α > 0 (its Gaussian expectations exist only while 2αC < 1 for the \
                             variance C, so no closed form valid for every Gaussian is derived)",
                        ));
                    }
                    vec![Term {
                        c: q[0].exp(),
                        p: 0,
                        quad: -q[2],
                        lin: q[1],
                        factors: vec![],
                    }]
                }
                Func::Tanh | Func::Sigmoid | Func::Softplus => {
                    return Err(not_in(
                        e,
                        "a function with no closed-form Gaussian integrals",
                    ));
                }
                _ => {
                    let Some((p, q)) = affine(&inner) else {
                        return match f {
                            Func::Relu | Func::Abs | Func::Heaviside | Func::Sign => {
                                piecewise_series(e).ok_or_else(|| not_affine(e, a))
                            }
                            _ => Err(not_affine(e, a)),
                        };
                    };
                    match f {
                        Func::Erf => vec![Term::factor(Base::Erf, p, q)],
                        Func::Heaviside => vec![Term::factor(Base::Step, p, q)],
                        Func::Delta(n) => vec![Term::factor(Base::Delta(*n), p, q)],
                        Func::Sign => vec![
                            Term {
                                c: 2.0,
                                ..Term::factor(Base::Step, p, q)
                            },
                            Term::constant(-1.0),
                        ],
                        Func::Relu => {
                            product(&affine_series(p, q), &vec![Term::factor(Base::Step, p, q)])
                        }
                        Func::Abs => product(
                            &affine_series(p, q),
                            &vec![
                                Term {
                                    c: 2.0,
                                    ..Term::factor(Base::Step, p, q)
                                },
                                Term::constant(-1.0),
                            ],
                        ),
                        _ => unreachable!("handled above"),
                    }
                }
            }
        }
    };
    Ok(normalize(s))
}

/// Most breaks of a piecewise-quadratic argument of exp ([`exp_of_piecewise`]).
pub const EXP_MAX_BREAKS: usize = 4;

/// `exp(S)` for a piecewise-quadratic `S = Σ c xᵖ Π Θ(±x + b)` (p ≤ 2; e.g. `min(x, 0) = x −
/// x Θ(x)`, the argument of ELU's `exp(min(x, 0))`): between consecutive breaks `t₁ < … < t_r`
/// of its steps S is one quadratic `q_I`, so `exp(S) = Σ_I Θ(x − lo_I) Θ(hi_I − x) exp(q_I(x))`
/// over the r + 1 intervals (an unbounded side has no step). Normalised, so the series of
/// `exp(min(x, 0))` is `Θ(x) + eˣ Θ(−x)`.
fn exp_of_piecewise(s: &Series) -> Result<Series, &'static str> {
    let mut breaks: Vec<f64> = Vec::new();
    for t in s {
        if t.quad != 0.0 || t.lin != 0.0 || t.p > 2 {
            return Err("exp of a non-quadratic argument");
        }
        for f in &t.factors {
            if f.base != Base::Step {
                return Err("exp of a non-quadratic argument");
            }
            // Θ(a x + b) with a = ±1 (normalised) breaks at x = −b/a
            breaks.push(-f.b * f.a);
        }
    }
    breaks.sort_by(f64::total_cmp);
    // breaks that differ by rounding (0.3 and 0.30000000000000004) are one
    let same = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + a.abs());
    breaks.dedup_by(|a, b| same(*a, *b));
    // the message says "four"
    const _: () = assert!(EXP_MAX_BREAKS == 4);
    if breaks.len() > EXP_MAX_BREAKS {
        return Err("exp of an argument with more than four breaks");
    }
    let mut out = Vec::new();
    for i in 0..=breaks.len() {
        let lo = i.checked_sub(1).map(|j| breaks[j]);
        let hi = breaks.get(i).copied();
        // a step Θ(a x + b), a = ±1, breaking at t = −b·a is 1 on the interval iff the
        // interval lies on its positive side: t at or below lo (a = 1), at or above hi (a = −1)
        let on = |f: &Factor| {
            let t = -f.b * f.a;
            if f.a > 0.0 {
                lo.is_some_and(|l| t <= l || same(t, l))
            } else {
                hi.is_some_and(|h| t >= h || same(t, h))
            }
        };
        let mut q = [0.0; 3];
        for t in s {
            if t.factors.iter().all(on) {
                q[t.p as usize] += t.c;
            }
        }
        if q[2] > 0.0 {
            return Err(
                "exp(+αx²) on a piece (a positive x² coefficient: the algebra's Gaussian \
                 factors must decay)",
            );
        }
        let mut factors = Vec::new();
        if let Some(l) = lo {
            factors.push(Factor {
                base: Base::Step,
                a: 1.0,
                b: -l,
            });
        }
        if let Some(h) = hi {
            factors.push(Factor {
                base: Base::Step,
                a: -1.0,
                b: h,
            });
        }
        out.push(Term {
            c: q[0].exp(),
            p: 0,
            quad: -q[2],
            lin: q[1],
            factors,
        });
    }
    Ok(out)
}

/// Pointwise value of a series at `x` (Dirac terms are 0 pointwise, Θ(0) = ½).
pub fn eval_series(s: &Series, x: f64) -> f64 {
    s.iter()
        .map(|t| {
            let mut v = t.c * x.powi(t.p as i32) * (-t.quad * x * x + t.lin * x).exp();
            for f in &t.factors {
                let u = f.a * x + f.b;
                v *= match f.base {
                    Base::Step => crate::kernels::heaviside(u),
                    Base::Erf => crate::kernels::erf(u),
                    Base::Delta(_) => 0.0,
                };
            }
            v
        })
        .sum()
}

/// `d/dx` of one term (product rule; distributional): `xᵖ → p xᵖ⁻¹`,
/// `exp(−αx² + βx) → (−2αx + β) exp(…)`, `Θ(ax + b) → a δ(ax + b)`,
/// `erf(ax + b) → (2a/√π) e^{−b²} exp(−a²x² − 2abx)`, `δ⁽ⁿ⁾(ax + b) → a δ⁽ⁿ⁺¹⁾(ax + b)`.
/// The result is normalised, so powers of steps and signs were already reduced (Θⁿ = Θ).
pub fn term_derivative(t: &Term) -> Series {
    let mut out = Vec::new();
    if t.p > 0 {
        out.push(Term {
            c: t.c * t.p as f64,
            p: t.p - 1,
            ..t.clone()
        });
    }
    if t.quad != 0.0 {
        out.push(Term {
            c: -2.0 * t.quad * t.c,
            p: t.p + 1,
            ..t.clone()
        });
    }
    if t.lin != 0.0 {
        out.push(Term {
            c: t.lin * t.c,
            ..t.clone()
        });
    }
    for (idx, f) in t.factors.iter().enumerate() {
        let mut rest = t.clone();
        rest.factors.remove(idx);
        let extra = match f.base {
            Base::Step => Term {
                c: f.a,
                ..Term::factor(Base::Delta(0), f.a, f.b)
            },
            Base::Erf => Term {
                c: f.a * std::f64::consts::FRAC_2_SQRT_PI * (-f.b * f.b).exp(),
                quad: f.a * f.a,
                lin: -2.0 * f.a * f.b,
                ..Term::constant(1.0)
            },
            Base::Delta(n) => Term {
                c: f.a,
                ..Term::factor(Base::Delta(n + 1), f.a, f.b)
            },
        };
        out.push(rest.mul(&extra));
    }
    normalize(out)
}

/// `d/dx` of a normalised series (the derivative of the normal form, never of the raw tree).
pub fn derivative(s: &Series) -> Series {
    normalize(s.iter().flat_map(term_derivative).collect())
}

/// `(slope, intercept)` of one affine piece.
type Line = (f64, f64);
/// Combines two lines on an interval `(lo, hi)` into pieces: (knots inside, lines).
type PieceOp = dyn Fn(f64, f64, Line, Line) -> (Vec<f64>, Vec<Line>);

/// A piecewise-affine function: `lines[i] = (slope, intercept)` on the i-th interval between the
/// sorted `knots` (`lines.len() = knots.len() + 1`).
#[derive(Clone, Debug)]
struct Pw {
    knots: Vec<f64>,
    lines: Vec<(f64, f64)>,
}

impl Pw {
    fn line(s: f64, b: f64) -> Pw {
        Pw {
            knots: vec![],
            lines: vec![(s, b)],
        }
    }
    fn at(&self, x: f64) -> (f64, f64) {
        let i = self.knots.iter().filter(|&&k| k < x).count();
        self.lines[i]
    }
    /// Applies `op` on the common refinement of two piecewise-affine functions; `op` gets the
    /// interval and the two lines and returns the pieces (knots inside, lines).
    fn combine(&self, o: &Pw, op: &PieceOp) -> Pw {
        let mut knots: Vec<f64> = self.knots.iter().chain(&o.knots).copied().collect();
        knots.sort_by(f64::total_cmp);
        knots.dedup();
        let mut out = Pw {
            knots: vec![],
            lines: vec![],
        };
        for i in 0..=knots.len() {
            let lo = if i == 0 {
                f64::NEG_INFINITY
            } else {
                knots[i - 1]
            };
            let hi = if i == knots.len() {
                f64::INFINITY
            } else {
                knots[i]
            };
            let mid = match (lo.is_finite(), hi.is_finite()) {
                (true, true) => 0.5 * (lo + hi),
                (true, false) => lo + 1.0,
                (false, true) => hi - 1.0,
                (false, false) => 0.0,
            };
            let (ks, ls) = op(lo, hi, self.at(mid), o.at(mid));
            if i > 0 {
                out.knots.push(lo);
            }
            out.knots.extend(ks);
            out.lines.extend(ls);
        }
        out.merge();
        out
    }
    /// Removes knots between equal lines.
    fn merge(&mut self) {
        let mut knots = vec![];
        let mut lines = vec![self.lines[0]];
        for (i, &k) in self.knots.iter().enumerate() {
            let next = self.lines[i + 1];
            let last = *lines.last().unwrap_or(&next);
            if (next.0 - last.0).abs() <= 1e-15 * (1.0 + last.0.abs())
                && (next.1 - last.1).abs() <= 1e-15 * (1.0 + last.1.abs())
            {
                continue;
            }
            knots.push(k);
            lines.push(next);
        }
        self.knots = knots;
        self.lines = lines;
    }
    fn map_lines(&self, f: impl Fn((f64, f64)) -> (f64, f64)) -> Pw {
        Pw {
            knots: self.knots.clone(),
            lines: self.lines.iter().map(|&l| f(l)).collect(),
        }
    }
    fn add(&self, o: &Pw) -> Pw {
        self.combine(o, &|_, _, a, b| (vec![], vec![(a.0 + b.0, a.1 + b.1)]))
    }
    /// max (`upper`) or min of two functions: each interval splits at the lines' crossing.
    fn extremum(&self, o: &Pw, upper: bool) -> Pw {
        self.combine(o, &move |lo, hi, a, b| {
            let pick = |x: f64| {
                let (va, vb) = (a.0 * x + a.1, b.0 * x + b.1);
                if (va >= vb) == upper { a } else { b }
            };
            if a.0 != b.0 {
                let x = (b.1 - a.1) / (a.0 - b.0);
                if x > lo && x < hi {
                    return (vec![x], vec![pick(x - 1.0), pick(x + 1.0)]);
                }
            }
            let probe = if lo.is_finite() && hi.is_finite() {
                0.5 * (lo + hi)
            } else if lo.is_finite() {
                lo + 1.0
            } else if hi.is_finite() {
                hi - 1.0
            } else {
                0.0
            };
            (vec![], vec![pick(probe)])
        })
    }
    /// Θ(f): piecewise constant, split at the zeros of f.
    fn step(&self) -> Pw {
        let zero = Pw::line(0.0, 0.0);
        self.combine(&zero, &|lo, hi, a, _| {
            if a.0 == 0.0 {
                return (vec![], vec![(0.0, crate::kernels::heaviside(a.1))]);
            }
            let x = -a.1 / a.0;
            let val = |y: f64| (0.0, crate::kernels::heaviside(a.0 * y + a.1));
            if x > lo && x < hi {
                (vec![x], vec![val(x - 1.0), val(x + 1.0)])
            } else {
                let probe = if lo.is_finite() { lo + 1.0 } else { hi - 1.0 };
                (
                    vec![],
                    vec![val(if lo.is_finite() && hi.is_finite() {
                        0.5 * (lo + hi)
                    } else {
                        probe
                    })],
                )
            }
        })
    }
    fn constant(&self) -> Option<f64> {
        match self.lines.as_slice() {
            [(s, b)] if *s == 0.0 => Some(*b),
            _ => None,
        }
    }
}

/// The expression as a piecewise-affine function, if it is one (constants, x, sums, constant
/// multiples, max/min with constants, relu, abs, Θ, sign, nested in any order).
fn piecewise(e: &Expr) -> Option<Pw> {
    Some(match e {
        Expr::Const(c) => Pw::line(0.0, *c),
        Expr::X => Pw::line(1.0, 0.0),
        Expr::Add(v) => {
            let mut acc = Pw::line(0.0, 0.0);
            for t in v {
                acc = acc.add(&piecewise(t)?);
            }
            acc
        }
        Expr::Mul(v) => {
            let mut k = 1.0;
            let mut rest: Option<Pw> = None;
            for t in v {
                let p = piecewise(t)?;
                match (p.constant(), &rest) {
                    (Some(c), _) => k *= c,
                    (None, None) => rest = Some(p),
                    (None, Some(_)) => return None,
                }
            }
            match rest {
                Some(p) => p.map_lines(|(s, b)| (k * s, k * b)),
                None => Pw::line(0.0, k),
            }
        }
        Expr::Div(a, b) => {
            let d = piecewise(b)?.constant()?;
            if d == 0.0 {
                return None;
            }
            piecewise(a)?.map_lines(|(s, c)| (s / d, c / d))
        }
        Expr::Powi(a, 1) => piecewise(a)?,
        Expr::Powi(a, n) => Pw::line(0.0, piecewise(a)?.constant()?.powi(*n)),
        Expr::Max(a, k) => piecewise(a)?.extremum(&Pw::line(0.0, *k), true),
        Expr::Min(a, k) => piecewise(a)?.extremum(&Pw::line(0.0, *k), false),
        Expr::Call(f, a) => {
            let p = piecewise(a)?;
            match f {
                Func::Relu => p.extremum(&Pw::line(0.0, 0.0), true),
                Func::Abs => p.extremum(&p.map_lines(|(s, b)| (-s, -b)), true),
                Func::Heaviside => p.step(),
                Func::Sign => p.step().map_lines(|(s, b)| (2.0 * s, 2.0 * b - 1.0)),
                _ => return None,
            }
        }
    })
}

/// A piecewise-affine expression rewritten exactly as
/// `a x + b + Σ_i Δs_i (x − k_i) Θ(x − k_i) + Σ_i J_i Θ(x − k_i)` (slope changes and jumps at
/// the knots), which is in the algebra.
fn piecewise_series(e: &Expr) -> Option<Series> {
    let p = piecewise(e)?;
    let (s0, b0) = p.lines[0];
    let mut out = affine_series(s0, b0);
    for (i, &k) in p.knots.iter().enumerate() {
        let (sl, bl) = p.lines[i];
        let (sr, br) = p.lines[i + 1];
        let ds = sr - sl;
        let jump = (sr * k + br) - (sl * k + bl);
        let step = Term::factor(Base::Step, 1.0, -k);
        out.push(Term {
            c: ds,
            ..Term::x().mul(&step)
        });
        out.push(Term {
            c: jump - ds * k,
            ..step
        });
    }
    Some(normalize(out))
}

fn not_in(e: &Expr, why: &str) -> NotInAlgebra {
    NotInAlgebra(format!("`{}`: {why}", crate::expr::to_text(e)))
}

fn not_affine(e: &Expr, a: &Expr) -> NotInAlgebra {
    NotInAlgebra(format!(
        "`{}`: its argument `{}` is not affine in x",
        crate::expr::to_text(e),
        crate::expr::to_text(a)
    ))
}

/// Simplifies each term (constant factors folded, Θ of unit scale, the Θ of one term merged into
/// at most one lower and one upper bound, xᵖ·δ(x − c) → cᵖ·δ(x − c)), drops zero terms and
/// merges equal terms.
pub fn normalize(s: Series) -> Series {
    let mut out: Series = Vec::new();
    // per merged term, the largest |c| of its addends: a sum within rounding of it is a
    // cancellation (e.g. the Dirac terms of two pieces of a continuous g at their common break,
    // e^{−0.6}·e^{0.6} − 1 = −1.1e-16), not a coefficient
    let mut largest: Vec<f64> = Vec::new();
    for t in s {
        let Some(t) = normalize_term(t) else { continue };
        if let Some(i) = out.iter().position(|u| {
            u.p == t.p && u.quad == t.quad && u.lin == t.lin && u.factors == t.factors
        }) {
            out[i].c += t.c;
            largest[i] = largest[i].max(t.c.abs());
        } else {
            largest.push(t.c.abs());
            out.push(t);
        }
    }
    let mut scales = largest.iter();
    out.retain(|t| {
        let scale = scales.next().copied().unwrap_or(0.0);
        t.c.abs() > CANCELLED * scale
    });
    out
}

/// A merged coefficient at most this multiple of its largest addend is a cancellation to
/// rounding ([`normalize`]): 8 ulp.
const CANCELLED: f64 = 8.0 * f64::EPSILON;

pub fn normalize_term(mut t: Term) -> Option<Term> {
    if t.c == 0.0 {
        return None;
    }
    let mut factors: Vec<Factor> = Vec::new();
    for f in std::mem::take(&mut t.factors) {
        if f.a == 0.0 {
            match f.base {
                Base::Step => t.c *= crate::expr::eval_func(Func::Heaviside, f.b),
                Base::Erf => t.c *= libm::erf(f.b),
                Base::Delta(_) if f.b != 0.0 => return None,
                Base::Delta(_) => factors.push(f), // δ(0): kept, reported as undefined later
            }
            continue;
        }
        let f = match f.base {
            // Θ(a x + b) = Θ(sgn(a)(x + b/a)): scale |a| to 1
            Base::Step => Factor {
                base: Base::Step,
                a: f.a.signum(),
                b: f.b / f.a.abs(),
            },
            // δ⁽ⁿ⁾(a(x − c)) = δ⁽ⁿ⁾(x − c)/(aⁿ|a|)
            Base::Delta(n) => {
                t.c /= f.a.powi(n as i32) * f.a.abs();
                Factor {
                    base: Base::Delta(n),
                    a: 1.0,
                    b: f.b / f.a,
                }
            }
            Base::Erf => f,
        };
        factors.push(f);
    }
    // steps of one variable: Θ(x − l₁)Θ(x − l₂) = Θ(x − max l), Θ(u₁ − x)Θ(u₂ − x) = Θ(min u − x),
    // and Θ(x − l)Θ(u − x) = 0 almost everywhere when u ≤ l
    // (after the scaling above, Θ(x + b) holds for x > −b and Θ(−x + b) for x < b)
    let steps = |dir: f64| {
        factors
            .iter()
            .filter(move |f| f.base == Base::Step && f.a == dir)
            .map(|f| f.b)
    };
    let lower = steps(1.0).map(|b| -b).reduce(f64::max);
    let upper = steps(-1.0).reduce(f64::min);
    if let (Some(l), Some(u)) = (lower, upper)
        && u <= l
    {
        return None;
    }
    // (steps of a NaN scale match neither direction and are kept as they are; `0.0 − l` and
    // `u + 0.0` turn −0 into +0, so that equal terms compare and sort equal)
    factors.retain(|f| f.base != Base::Step || !(f.a == 1.0 || f.a == -1.0));
    if let Some(l) = lower {
        factors.push(Factor {
            base: Base::Step,
            a: 1.0,
            b: 0.0 - l,
        });
    }
    if let Some(u) = upper {
        factors.push(Factor {
            base: Base::Step,
            a: -1.0,
            b: u + 0.0,
        });
    }
    // xᵖ·exp(…)·B(x)·δ(x − c) = cᵖ·exp(…)|_c·B(c)·δ(x − c)
    let deltas = factors.iter().filter(|f| f.base == Base::Delta(0)).count();
    let higher = factors
        .iter()
        .any(|f| matches!(f.base, Base::Delta(n) if n > 0));
    if deltas == 1 && !higher {
        let point = factors
            .iter()
            .find(|f| f.base == Base::Delta(0))
            .map(|f| -f.b)
            .unwrap_or(0.0);
        t.c *= point.powi(t.p as i32) * (-t.quad * point * point + t.lin * point).exp();
        t.p = 0;
        t.quad = 0.0;
        t.lin = 0.0;
        factors.retain(|f| {
            let u = f.a * point + f.b;
            match f.base {
                Base::Step => {
                    t.c *= crate::expr::eval_func(Func::Heaviside, u);
                    false
                }
                Base::Erf => {
                    t.c *= libm::erf(u);
                    false
                }
                Base::Delta(_) => true,
            }
        });
    }
    // xᵖ·δ⁽ⁿ⁾(x) = 0 for p > n (every term of the Leibniz expansion keeps a factor x at 0)
    if let [f] = factors
        .iter()
        .filter(|f| matches!(f.base, Base::Delta(_)))
        .copied()
        .collect::<Vec<_>>()
        .as_slice()
        && let Base::Delta(n) = f.base
        && f.b == 0.0
        && t.p > n
    {
        return None;
    }
    if t.c == 0.0 {
        return None;
    }
    factors.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
    t.factors = factors;
    Some(t)
}

#[cfg(test)]
mod tests {
    /// The steps of one term merge into at most one lower and one upper bound: hard tanh
    /// written as `x.abs().min(1.0) * x.signum()` had kept Θ(x − 1)Θ(x)Θ(x + 1) (five step
    /// factors in a teacher–student I4, refused) and now has the clamp's pieces; empty intervals
    /// vanish.
    #[test]
    fn steps_of_one_variable_merge_into_an_interval() {
        for src in [
            "x.abs().min(1.0) * x.signum()",
            "heaviside(x - 0.5) * heaviside(x + 0.2) * heaviside(1.5 - x) * x",
            "heaviside(x) * heaviside(-x - 1.0)",
            "x.clamp(-1.0, 1.0)",
        ] {
            let e = crate::activation::parse_expression(src).unwrap();
            let s = normalize(to_series(&e).unwrap());
            for t in &s {
                let (up, down) = t.factors.iter().fold((0, 0), |(u, d), f| match f.base {
                    Base::Step if f.a > 0.0 => (u + 1, d),
                    Base::Step => (u, d + 1),
                    _ => (u, d),
                });
                assert!(up <= 1 && down <= 1, "{src}: {t:?}");
            }
            for x in [-2.3, -1.2, -0.4, 0.2, 0.7, 1.4, 3.1] {
                let want = crate::expr::eval(&e, x);
                assert!((eval_series(&s, x) - want).abs() < 1e-14, "{src} at {x}");
            }
        }
        let empty = crate::activation::parse_expression("heaviside(x) * heaviside(-x - 1.0)");
        assert!(normalize(to_series(&empty.unwrap()).unwrap()).is_empty());
    }

    /// exp of a piecewise-quadratic argument splits at its breaks: equal to the expression
    /// pointwise away from the breaks (ELU's exp(min(x, 0)), exp(relu), exp(clamp), a
    /// piecewise quadratic), refused with more than four breaks or exp(+αx²) on a piece.
    #[test]
    fn exp_of_piecewise_arguments() {
        for src in [
            "x.min(0.0).exp()",
            "relu(x).exp()",
            "x.clamp(-1.0, 0.5).exp()",
            "(0.5 * x - relu(x - 1.0) * 2.0 - 0.3 * x.powi(2) * heaviside(-x)).exp()",
            "(x - 0.6).min(0.0).exp()",
            "relu(x - 0.25).exp()",
            "(relu(x - 0.3) - relu(x - 0.1 - 0.2) + x).exp()",
        ] {
            let e = crate::activation::parse_expression(src).unwrap();
            let s = to_series(&e).unwrap_or_else(|w| panic!("{src}: {}", w.0));
            for x in [-2.3, -1.2, -0.4, 0.2, 0.7, 1.4, 3.1] {
                let want = crate::expr::eval(&e, x);
                let got = eval_series(&s, x);
                assert!(
                    (got - want).abs() < 1e-14 * want.abs(),
                    "{src} at {x}: {got} vs {want}"
                );
            }
        }
        for (src, why) in [
            ("(x.max(0.0).powi(2)).exp()", "exp(+αx²)"),
            (
                "(relu(x) + relu(x - 1.0) + relu(x - 2.0) + relu(x - 3.0) + relu(x + 1.0)).exp()",
                "more than four breaks",
            ),
            ("(x * erf(x)).exp()", "non-quadratic"),
        ] {
            let e = crate::activation::parse_expression(src).unwrap();
            let why_not = to_series(&e).expect_err(src).0;
            assert!(why_not.contains(why), "{src}: {why_not}");
        }
        // continuous at its break: no Dirac term in g' (e^{−0.6}·e^{0.6} rounds to 1 − 1.1e-16;
        // a residue δ made E[g'²] a product of deltas, and the activation was refused)
        for src in ["(x - 0.6).min(0.0).exp()", "relu(x - 0.25).exp()"] {
            let e = crate::activation::parse_expression(src).unwrap();
            let d = derivative(&to_series(&e).unwrap());
            assert!(
                d.iter()
                    .all(|t| t.factors.iter().all(|f| !matches!(f.base, Base::Delta(_)))),
                "{src}: {d:?}"
            );
        }
    }

    use super::*;
    use crate::expr::{parse, simplify};

    fn series(src: &str) -> Series {
        let e: syn::Expr = syn::parse_str(src).expect("valid rust");
        to_series(&simplify(parse(&e, "x").expect("supported"))).expect("in algebra")
    }

    #[test]
    fn normal_form_evaluates_like_the_function() {
        for src in [
            "relu(x)",
            "x.abs()",
            "x.max(0.3)",
            "x.min(-0.2)",
            "0.5*x*(1.0+erf(x/SQRT_2))",
            "(-(x*x)/2.0).exp()*x.powi(3)",
            "sign(2.0*x-1.0)",
            "relu(1.0 - x)*erf(x)",
        ] {
            let s = series(src);
            let e: syn::Expr = syn::parse_str(src).expect("valid rust");
            let g = parse(&e, "x").expect("supported");
            for x in [-1.7, -0.25, 0.1, 0.45, 2.3] {
                let (a, b) = (eval_series(&s, x), crate::expr::eval(&g, x));
                assert!((a - b).abs() < 1e-14, "{src} at {x}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn tanh_is_outside_the_algebra() {
        let e: syn::Expr = syn::parse_str("x.tanh()").expect("valid rust");
        let g = parse(&e, "x").expect("supported");
        assert!(to_series(&g).is_err());
    }
}
