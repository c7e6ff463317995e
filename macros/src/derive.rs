//! Derivation of Gaussian expectations (INTEGRALS.md, rules 1–4) and emission of straight-line
//! code over the run-time kernels of `aedyn::kernels`.
//!
//! An integrand is a sum of multi-variable terms `c · Π_v [x_vᵖ exp(−α_v x_v² + β_v x_v) Π B(a x_v + b)]`.
//! `expect` applies, in this order: conditioning on a δ (rule 3), tilting away Gaussian factors
//! (rule 1), Stein's lemma on one polynomial factor (rule 2), and the orthant base cases (rule 4).
//! The structure of the recursion depends only on the activation, so it runs at compile time; the
//! emitted code evaluates the resulting closed form for run-time means and covariances.

use crate::expr::{float_tokens, num_text};
use crate::series::{Base, Factor, Term, normalize};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

/// Why an integral could not be derived.
#[derive(Clone, Debug, PartialEq)]
pub enum DeriveError {
    /// Outside the closed-form algebra (quadrature may help).
    NoClosedForm(String),
    /// Not a defined expectation (e.g. δ(x)² or δ' against a kink).
    Undefined(String),
}

/// One term over up to three variables: `c · Π_v part_v(x_v)`, each part with `c = 1`.
#[derive(Clone, Debug)]
pub struct MTerm {
    pub c: f64,
    pub parts: [Term; 3],
}

impl MTerm {
    pub fn one() -> Self {
        MTerm {
            c: 1.0,
            parts: [
                Term::constant(1.0),
                Term::constant(1.0),
                Term::constant(1.0),
            ],
        }
    }
    /// Multiplies variable `v`'s part by `t`, normalising; `None` when the product vanishes.
    pub fn times(mut self, v: usize, t: &Term) -> Option<Self> {
        let mut prod = self.parts[v].mul(t);
        prod.c *= self.c;
        let mut n = normalize(vec![prod]);
        let mut t = n.pop()?;
        self.c = t.c;
        t.c = 1.0;
        self.parts[v] = t;
        Some(self)
    }
    fn text(&self) -> String {
        let mut s = num_text(self.c);
        for (v, p) in self.parts.iter().enumerate() {
            let x = format!("x{}", v + 1);
            if p.p > 0 {
                s += &if p.p == 1 {
                    format!("·{x}")
                } else {
                    format!("·{x}^{}", p.p)
                };
            }
            if p.quad != 0.0 || p.lin != 0.0 {
                s += &format!(
                    "·exp({})",
                    affine_text(-p.quad, &format!("{x}²"), p.lin, &x, 0.0)
                );
            }
            for f in &p.factors {
                let name = match f.base {
                    Base::Step => "Θ".to_string(),
                    Base::Erf => "erf".to_string(),
                    Base::Delta(0) => "δ".to_string(),
                    Base::Delta(n) => format!("δ{}", "'".repeat(n as usize)),
                };
                s += &format!("·{name}({})", affine_text(0.0, "", f.a, &x, f.b));
            }
        }
        s.replace("+ -", "- ")
    }
}

/// `a2·y + a1·x + a0` without zero terms or unit coefficients.
fn affine_text(a2: f64, y: &str, a1: f64, x: &str, a0: f64) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (c, v) in [(a2, y), (a1, x)] {
        if c == 0.0 {
            continue;
        }
        parts.push(match c {
            1.0 => v.to_string(),
            -1.0 => format!("-{v}"),
            _ => format!("{}·{v}", num_text(c)),
        });
    }
    if a0 != 0.0 || parts.is_empty() {
        parts.push(num_text(a0));
    }
    parts.join(" + ").replace("+ -", "- ")
}

/// Collects emitted statements and the derivation trace.
pub struct Emitter {
    pub stmts: Vec<TokenStream>,
    pub trace: Vec<String>,
    next: usize,
    /// Common-subexpression cache: a tilt or conditioning of the same Gaussian with the same
    /// constants is emitted once and its bindings reused (all bindings share one scope).
    cache: std::collections::HashMap<String, (Ident, Ident)>,
}

/// Upper bound on emitted statements per integral (guards against exponential blow-up).
const MAX_STMTS: usize = 20_000;

impl Emitter {
    pub fn new() -> Self {
        Emitter {
            stmts: Vec::new(),
            trace: Vec::new(),
            next: 0,
            cache: std::collections::HashMap::new(),
        }
    }
    fn fresh(&mut self, p: &str) -> Ident {
        self.next += 1;
        format_ident!("{}{}", p, self.next)
    }
    fn note(&mut self, depth: usize, s: String) {
        self.trace.push(format!("{}{}", "  ".repeat(depth), s));
    }

    /// Emits `acc += s · E_g[mt]`.
    pub fn expect(
        &mut self,
        mt: MTerm,
        g: &Ident,
        s: &Ident,
        depth: usize,
    ) -> Result<(), DeriveError> {
        if self.stmts.len() > MAX_STMTS {
            return Err(DeriveError::NoClosedForm(
                "the derivation grows too large".into(),
            ));
        }
        if mt.c == 0.0 {
            return Ok(());
        }
        // Rule 3: condition on a delta.
        for v in 0..3 {
            let Some(idx) = mt.parts[v]
                .factors
                .iter()
                .position(|f| matches!(f.base, Base::Delta(_)))
            else {
                continue;
            };
            let f = mt.parts[v].factors[idx];
            let point = -f.b; // normalised to δ⁽ⁿ⁾(x + b)
            let others: Vec<Factor> = mt.parts[v]
                .factors
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != idx)
                .map(|(_, f)| *f)
                .collect();
            if others.iter().any(|o| matches!(o.base, Base::Delta(_))) {
                return Err(DeriveError::Undefined(format!(
                    "product of Dirac deltas in x{} ({})",
                    v + 1,
                    mt.text()
                )));
            }
            let Base::Delta(order) = f.base else {
                unreachable!()
            };
            if order > 0 {
                let alone = others.is_empty() && mt.parts[v].quad == 0.0 && mt.parts[v].lin == 0.0;
                let rest_trivial = (0..3)
                    .filter(|&u| u != v)
                    .all(|u| mt.parts[u].is_constant());
                if !(alone && rest_trivial) {
                    return Err(DeriveError::Undefined(format!(
                        "derivative of a Dirac delta against other factors ({})",
                        mt.text()
                    )));
                }
                let (c, p, pt) = (float_tokens(mt.c), mt.parts[v].p, float_tokens(point));
                self.note(depth, format!("{} → E[x^{p} δ^({order})(x{} − {})] = (−1)^{order} d^{order}/dx^{order}[x^{p} p(x)] at {}", mt.text(), v + 1, num_text(point), num_text(point)));
                self.stmts.push(quote! {
                    acc += #s * #c * ::aedyn::kernels::delta_moment(#order, #p, #pt, #g.mean[#v], #g.cov[#v][#v]);
                });
                return Ok(());
            }
            // substitute x_v = point in the rest of the part
            let part = &mt.parts[v];
            let mut k = mt.c
                * point.powi(part.p as i32)
                * (-part.quad * point * point + part.lin * point).exp();
            for o in &others {
                let u = o.a * point + o.b;
                k *= match o.base {
                    Base::Step => crate::expr::eval_func(crate::expr::Func::Heaviside, u),
                    Base::Erf => libm::erf(u),
                    Base::Delta(_) => unreachable!("checked above"),
                };
            }
            self.note(
                depth,
                format!(
                    "{} → condition on x{} = {}: p(x{}={}) · E[· | x{} = {}]",
                    mt.text(),
                    v + 1,
                    num_text(point),
                    v + 1,
                    num_text(point),
                    v + 1,
                    num_text(point)
                ),
            );
            let mut next = mt.clone();
            next.c = k;
            next.parts[v] = Term::constant(1.0);
            if k == 0.0 {
                self.note(depth + 1, "= 0".into());
                return Ok(());
            }
            let key = format!("condition|{g}|{v}|{point:e}");
            let (p, g2) = match self.cache.get(&key) {
                Some(hit) => hit.clone(),
                None => {
                    let (p, g2) = (self.fresh("p"), self.fresh("g"));
                    let pt = float_tokens(point);
                    self.stmts.push(
                        quote! { let (#p, #g2) = ::aedyn::kernels::condition(&#g, #v, #pt); },
                    );
                    self.cache.insert(key, (p.clone(), g2.clone()));
                    (p, g2)
                }
            };
            let s2 = self.fresh("s");
            self.stmts.push(quote! { let #s2 = #s * #p; });
            return self.expect(next, &g2, &s2, depth + 1);
        }
        // Rule 1: tilt away Gaussian factors.
        if mt.parts.iter().any(|p| p.quad != 0.0 || p.lin != 0.0) {
            let a: Vec<TokenStream> = mt
                .parts
                .iter()
                .map(|p| float_tokens(2.0 * p.quad))
                .collect();
            let b: Vec<TokenStream> = mt.parts.iter().map(|p| float_tokens(p.lin)).collect();
            self.note(
                depth,
                format!(
                    "{} → tilt: E[exp(−½xᵀAx + bᵀx) F] = det(I+CA)^(−1/2) e^(…) E_(μ̃,C̃)[F]",
                    mt.text()
                ),
            );
            let mut next = mt.clone();
            for p in next.parts.iter_mut() {
                p.quad = 0.0;
                p.lin = 0.0;
            }
            let key = format!(
                "tilt|{g}|{:?}",
                mt.parts
                    .iter()
                    .map(|p| (p.quad.to_bits(), p.lin.to_bits()))
                    .collect::<Vec<_>>()
            );
            let (z, g2) = match self.cache.get(&key) {
                Some(hit) => hit.clone(),
                None => {
                    let (z, g2) = (self.fresh("z"), self.fresh("g"));
                    self.stmts.push(quote! { let (#z, #g2) = ::aedyn::kernels::tilt(&#g, [#(#a),*], [#(#b),*]); });
                    self.cache.insert(key, (z.clone(), g2.clone()));
                    (z, g2)
                }
            };
            let s2 = self.fresh("s");
            self.stmts.push(quote! { let #s2 = #s * #z; });
            return self.expect(next, &g2, &s2, depth + 1);
        }
        // Rule 2: Stein's lemma on one polynomial factor.
        if let Some(v) = (0..3).find(|&v| mt.parts[v].p > 0) {
            self.note(
                depth,
                format!(
                    "{} → Stein on x{}: μ{}·E[F] + Σ_j C{}j·E[∂_j F]",
                    mt.text(),
                    v + 1,
                    v + 1,
                    v + 1
                ),
            );
            let mut rest = mt.clone();
            rest.parts[v].p -= 1;
            let sm = self.fresh("s");
            self.stmts.push(quote! { let #sm = #s * #g.mean[#v]; });
            self.expect(rest.clone(), g, &sm, depth + 1)?;
            for j in 0..3 {
                let ds = derivative(&rest, j);
                if ds.is_empty() {
                    continue;
                }
                let sj = self.fresh("s");
                self.stmts.push(quote! { let #sj = #s * #g.cov[#v][#j]; });
                for d in ds {
                    self.expect(d, g, &sj, depth + 1)?;
                }
            }
            return Ok(());
        }
        self.base(mt, g, s, depth)
    }

    /// Rule 4: `E[Π Θ(u_j) Π erf(u_k)]` with `erf(u) = 2P[u − ξ/√2 > 0] − 1` → orthant probabilities
    /// of at most two affine forms (Φ and the bivariate normal CDF).
    fn base(&mut self, mt: MTerm, g: &Ident, s: &Ident, depth: usize) -> Result<(), DeriveError> {
        let mut steps = Vec::new();
        let mut erfs = Vec::new();
        for (v, p) in mt.parts.iter().enumerate() {
            for f in &p.factors {
                match f.base {
                    Base::Step => steps.push((v, *f, 0.0)),
                    Base::Erf => erfs.push((v, *f, 0.5)),
                    Base::Delta(_) => unreachable!("conditioned before"),
                }
            }
        }
        let mut pieces = Vec::new();
        for mask in 0u32..(1 << erfs.len()) {
            let mut coef = mt.c;
            let mut ys = steps.clone();
            for (i, e) in erfs.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    coef *= 2.0;
                    ys.push(*e);
                } else {
                    coef *= -1.0;
                }
            }
            if ys.len() > 2 {
                return Err(DeriveError::NoClosedForm(format!(
                    "orthant probability of {} step/erf factors with non-zero means ({})",
                    ys.len(),
                    mt.text()
                )));
            }
            let k = float_tokens(coef);
            let aff = |(v, f, _): &(usize, Factor, f64)| {
                let (a, b) = (float_tokens(f.a), float_tokens(f.b));
                quote!((#a * #g.mean[#v] + #b))
            };
            let var = |(v, f, noise): &(usize, Factor, f64)| {
                let (a2, n) = (float_tokens(f.a * f.a), float_tokens(*noise));
                quote!((#a2 * #g.cov[#v][#v] + #n))
            };
            pieces.push(format!("{}·P{}", num_text(coef), ys.len()));
            match ys.len() {
                0 => self.stmts.push(quote! { acc += #s * #k; }),
                1 => {
                    let (m, v) = (aff(&ys[0]), var(&ys[0]));
                    self.stmts
                        .push(quote! { acc += #s * #k * ::aedyn::kernels::orthant1(#m, #v); });
                }
                _ => {
                    let (m1, m2, v1, v2) = (aff(&ys[0]), aff(&ys[1]), var(&ys[0]), var(&ys[1]));
                    let (i, j) = (ys[0].0, ys[1].0);
                    let a12 = float_tokens(ys[0].1.a * ys[1].1.a);
                    self.stmts.push(quote! {
                        acc += #s * #k * ::aedyn::kernels::orthant2(#m1, #m2, #v1, #v2, #a12 * #g.cov[#i][#j]);
                    });
                }
            }
        }
        self.note(
            depth,
            format!(
                "{} → orthant probabilities: {}",
                mt.text(),
                pieces.join(" + ").replace("+ -", "- ")
            ),
        );
        Ok(())
    }
}

impl Default for Emitter {
    fn default() -> Self {
        Self::new()
    }
}

/// `∂/∂x_j` of a term without Gaussian factors or deltas in x_j (product rule; Θ' = δ,
/// erf(ax+b)' = (2a/√π) e^{−b²} exp(−a²x² − 2abx)).
fn derivative(mt: &MTerm, j: usize) -> Vec<MTerm> {
    let part = &mt.parts[j];
    let mut out = Vec::new();
    if part.p > 0 {
        let mut d = mt.clone();
        d.c *= part.p as f64;
        d.parts[j].p -= 1;
        out.push(d);
    }
    for (idx, f) in part.factors.iter().enumerate() {
        let mut d = mt.clone();
        d.parts[j].factors.remove(idx);
        let extra = match f.base {
            Base::Step => Term {
                c: f.a.signum(),
                factors: vec![Factor {
                    base: Base::Delta(0),
                    a: 1.0,
                    b: f.b / f.a,
                }],
                ..Term::constant(1.0)
            },
            Base::Erf => Term {
                c: f.a * std::f64::consts::FRAC_2_SQRT_PI * (-f.b * f.b).exp(),
                quad: f.a * f.a,
                lin: -2.0 * f.a * f.b,
                ..Term::constant(1.0)
            },
            Base::Delta(n) => Term {
                factors: vec![Factor {
                    base: Base::Delta(n + 1),
                    a: 1.0,
                    b: f.b,
                }],
                ..Term::constant(1.0)
            },
        };
        if let Some(d) = d.times(j, &extra) {
            out.push(d);
        }
    }
    out
}

/// The root identifiers of an emitted derivation: the Gaussian `n` and the scale `one`.
pub fn roots() -> (Ident, Ident) {
    (
        Ident::new("n", Span::call_site()),
        Ident::new("one", Span::call_site()),
    )
}
