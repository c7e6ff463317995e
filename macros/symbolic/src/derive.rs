//! Derivation of Gaussian expectations into the closed-form IR (docs/integrals.md, "rules").
//!
//! An integrand is a sum of multi-variable terms `c · Π_v [x_vᵖ exp(−α_v x_v² + β_v x_v) Π B(a x_v + b)]`
//! (`B ∈ {Θ, erf, δ⁽ⁿ⁾}`) under a *symbolic* Gaussian whose means and covariance entries are IR
//! nodes. [`Deriver::expect`] applies, in this order:
//! 1. **δ** (conditioning): `E[δ(x_v − c) F] = p_v(c) · E[F | x_v = c]`;
//!    **δ⁽ⁿ⁾, n ≥ 1** (integration by parts on the density, one order at a time):
//!    `E[δ⁽ⁿ⁾(x_v − c) F] = E[δ⁽ⁿ⁻¹⁾(x_v − c) {(x_v − μ_v)/C_vv · F − ∂_v F − Σ_{i≠v} (C_iv/C_vv) ∂_i F}]`,
//!    defined whenever F is smooth at `x_v = c` (a δ meeting a δ or a step at the same point is
//!    refused as undefined);
//! 2. **tilt**: absorb `exp(−½xᵀAx + bᵀx)` into (μ, C) by sequential Sherman–Morrison updates;
//! 3. **Stein**: `E[x_v F] = μ_v E[F] + Σ_j C_vj E[∂_j F]`;
//! 4. **orthants**: `Θ(u) = P[u > 0]`, `erf(u) = 2P[u − ξ/√2 > 0] − 1` with an independent ξ, so
//!    the remaining factors are orthant probabilities of one to four Gaussian forms
//!    (Φ, Φ₂, Φ₃, Φ₄; Φ₃ in closed form at zero means, numerically by Plackett's identity
//!    otherwise; Φ₄ numerically by Plackett's identity, error ≤ 1e-10). Five or more are refused.
//!
//! Results are memoised on (term, Gaussian), so polynomial factors of high degree cost a number
//! of sub-expectations polynomial in the degree.

use crate::closed::{Graph, Id};
use crate::numbers::text_number;
use crate::series::{Base, Factor, Term, normalize, term_derivative};
use rustc_hash::FxHashMap as HashMap;

/// Why an integral could not be derived.
#[derive(Clone, Debug, PartialEq)]
pub enum DeriveError {
    /// Outside the closed-form algebra (quadrature may help).
    NoClosedForm(String),
    /// Not a defined expectation (e.g. δ(x)² or δ' against a step at the same point).
    Undefined(String),
}

/// One term over the integration variables: `c · Π_v part_v(x_v)`, each part with `c = 1`.
#[derive(Clone, Debug)]
pub struct MTerm {
    pub c: f64,
    pub parts: Vec<Term>,
}

impl MTerm {
    pub fn one(dim: usize) -> Self {
        MTerm {
            c: 1.0,
            parts: vec![Term::constant(1.0); dim],
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

    fn key(&self) -> String {
        format!("{:?}", self.parts)
    }

    /// Readable form for the derivation trace, e.g. `2·x1·Θ(x1)·erf(x2 + 0.3)`.
    pub fn text(&self) -> String {
        let mut s = text_number(self.c);
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
            _ => format!("{}·{v}", text_number(c)),
        });
    }
    if a0 != 0.0 || parts.is_empty() {
        parts.push(text_number(a0));
    }
    parts.join(" + ").replace("+ -", "- ")
}

/// A Gaussian with symbolic parameters.
#[derive(Clone, Debug)]
pub struct SymGauss {
    pub mean: Vec<Id>,
    pub cov: Vec<Vec<Id>>,
    /// The variances `C_ii` of the integral's own Gaussian, before any conditioning or tilt: the
    /// scale of the rounding in every covariance derived from it (kernels::cond_var).
    pub scale: Vec<Id>,
    /// The Dirac conditions applied in the chain that led to this Gaussian, in order: every
    /// variable's covariance with the conditioned one before the condition. They give each
    /// variable its orientation ([`SymGauss::orientation`]): ± the index of the condition that
    /// determined it (or of the last one), by the sign of that covariance — the direction in
    /// which it moves with the conditioned variable, which decides the joint value of steps one
    /// condition determines at their thresholds ([`crate::kernels::threshold_var`]).
    pub orient: Vec<Vec<Id>>,
}

impl SymGauss {
    /// The orientation of variable i ([`crate::kernels::orientation`]), built from
    /// [`SymGauss::orient`] only where an orthant needs it (so that formulas without steps at
    /// thresholds get no nodes); `None` before any condition.
    fn orientation(&self, graph: &mut Graph, i: usize) -> Option<Id> {
        if self.orient.is_empty() {
            return None;
        }
        // (the conditioned variable itself has cov = its variance > 0: orientation +k, unused,
        // since its steps are constants after the condition)
        let mut o = graph.zero();
        for (k, cov) in self.orient.iter().enumerate() {
            o = graph.orientation(cov[i], o, k + 1);
        }
        Some(o)
    }
}

/// Upper bound on rule applications per integral (a guard, far above what the algebra needs:
/// a degree-12 polynomial takes a few thousand).
const MAX_STEPS: usize = 200_000;

/// The derivation of expectations of one activation into one graph.
pub struct Deriver<'g> {
    pub graph: &'g mut Graph,
    gauss: Vec<SymGauss>,
    gauss_cache: HashMap<String, (Id, usize)>,
    memo: HashMap<(String, usize), Id>,
    /// Derivation trace: one line per rule application, indented by depth.
    pub trace: Vec<String>,
    steps: usize,
}

impl<'g> Deriver<'g> {
    /// A deriver whose Gaussian 0 is `N(μ, C)` over `dim` variables with the graph's leaves.
    pub fn new(graph: &'g mut Graph, dim: usize) -> Self {
        let mean: Vec<Id> = (0..dim).map(|i| graph.mean(i)).collect();
        let cov: Vec<Vec<Id>> = (0..dim)
            .map(|i| (0..dim).map(|j| graph.cov(i, j)).collect())
            .collect();
        Deriver {
            graph,
            gauss: vec![SymGauss {
                scale: (0..mean.len()).map(|i| cov[i][i]).collect(),
                orient: Vec::new(),
                mean,
                cov,
            }],
            gauss_cache: HashMap::default(),
            memo: HashMap::default(),
            trace: Vec::new(),
            steps: 0,
        }
    }

    /// Resets the trace and step counter (between integrals; the memo is kept).
    pub fn start(&mut self) {
        self.trace.clear();
        self.steps = 0;
    }

    fn note(&mut self, depth: usize, s: String) {
        self.trace.push(format!("{}{}", "  ".repeat(depth), s));
    }

    /// `E_g[mt]` (the root Gaussian is 0).
    pub fn expect(&mut self, mt: &MTerm, gi: usize, depth: usize) -> Result<Id, DeriveError> {
        if mt.c == 0.0 {
            return Ok(self.graph.zero());
        }
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(DeriveError::NoClosedForm(format!(
                "the derivation exceeds {MAX_STEPS} rule applications"
            )));
        }
        let mut unit = mt.clone();
        unit.c = 1.0;
        let key = (unit.key(), gi);
        let r = match self.memo.get(&key) {
            Some(&r) => {
                self.note(depth, format!("{} → (derived above)", unit.text()));
                r
            }
            None => {
                let r = self.expect_unit(&unit, gi, depth)?;
                self.memo.insert(key, r);
                r
            }
        };
        Ok(self.graph.scale(mt.c, r))
    }

    fn expect_unit(&mut self, mt: &MTerm, gi: usize, depth: usize) -> Result<Id, DeriveError> {
        let dim = mt.parts.len();
        // Rule 1: Dirac deltas.
        for v in 0..dim {
            let deltas: Vec<(usize, Factor)> = mt.parts[v]
                .factors
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, f)| matches!(f.base, Base::Delta(_)))
                .collect();
            let Some(&(idx, f)) = deltas.first() else {
                continue;
            };
            let point = -f.b; // normalised to δ⁽ⁿ⁾(x + b)
            if deltas.len() > 1 {
                if deltas.iter().all(|(_, d)| d.b == f.b) {
                    return Err(DeriveError::Undefined(format!(
                        "product of Dirac deltas at x{} = {} in {}",
                        v + 1,
                        text_number(point),
                        mt.text()
                    )));
                }
                self.note(
                    depth,
                    format!("{} → deltas at different points: 0", mt.text()),
                );
                return Ok(self.graph.zero());
            }
            let Base::Delta(order) = f.base else {
                unreachable!("filtered")
            };
            if order == 0 {
                return self.condition_on_delta(mt, gi, v, idx, point, depth);
            }
            return self.delta_by_parts(mt, gi, v, idx, order, depth);
        }
        // Rule 2: tilt away Gaussian factors.
        if mt.parts.iter().any(|p| p.quad != 0.0 || p.lin != 0.0) {
            let a: Vec<f64> = mt.parts.iter().map(|p| 2.0 * p.quad).collect();
            let b: Vec<f64> = mt.parts.iter().map(|p| p.lin).collect();
            self.note(
                depth,
                format!(
                    "{} → tilt: E[exp(−½xᵀAx + bᵀx) F] = det(I+CA)^(−1/2) e^(…) E_(μ̃,C̃)[F]",
                    mt.text()
                ),
            );
            let (z, g2) = self.tilt(gi, &a, &b);
            let mut next = mt.clone();
            for p in next.parts.iter_mut() {
                p.quad = 0.0;
                p.lin = 0.0;
            }
            let e = self.expect(&next, g2, depth + 1)?;
            return Ok(self.graph.mul(vec![z, e]));
        }
        // Rule 3: Stein's lemma on one polynomial factor.
        if let Some(v) = (0..dim).find(|&v| mt.parts[v].p > 0) {
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
            let mut terms = Vec::new();
            let mu = self.gauss[gi].mean[v];
            if !self.graph.is_zero(mu) {
                let e = self.expect(&rest, gi, depth + 1)?;
                terms.push(self.graph.mul(vec![mu, e]));
            }
            for j in 0..dim {
                let c = self.gauss[gi].cov[v][j];
                if self.graph.is_zero(c) {
                    continue;
                }
                for d in derivative(&rest, j) {
                    let e = self.expect(&d, gi, depth + 1)?;
                    terms.push(self.graph.mul(vec![c, e]));
                }
            }
            return Ok(self.graph.add(terms));
        }
        self.orthants(mt, gi, depth)
    }

    /// `E[δ(x_v − c) F] = p_v(c) E[F | x_v = c]`; the other factors of x_v are evaluated at c (a
    /// step at c itself has taken Θ(0) = ½ in the normal form already, the convention of
    /// Θ² = Θ; steps of *other* variables that the condition determines at their thresholds take
    /// their joint value in the orthant probabilities, `kernels::threshold_var`).
    fn condition_on_delta(
        &mut self,
        mt: &MTerm,
        gi: usize,
        v: usize,
        idx: usize,
        point: f64,
        depth: usize,
    ) -> Result<Id, DeriveError> {
        let part = &mt.parts[v];
        let mut k =
            point.powi(part.p as i32) * (-part.quad * point * point + part.lin * point).exp();
        for (i, o) in part.factors.iter().enumerate() {
            if i == idx {
                continue;
            }
            let u = o.a * point + o.b;
            k *= match o.base {
                Base::Step => crate::kernels::heaviside(u),
                Base::Erf => libm::erf(u),
                Base::Delta(_) => unreachable!("single delta"),
            };
        }
        self.note(
            depth,
            format!(
                "{} → condition on x{v1} = {c}: p(x{v1} = {c})·E[· | x{v1} = {c}]",
                mt.text(),
                v1 = v + 1,
                c = text_number(point)
            ),
        );
        if k == 0.0 {
            return Ok(self.graph.zero());
        }
        let mut next = mt.clone();
        next.c = k;
        next.parts[v] = Term::constant(1.0);
        let (p, g2) = self.condition(gi, v, point);
        let e = self.expect(&next, g2, depth + 1)?;
        Ok(self.graph.mul(vec![p, e]))
    }

    /// One order of δ⁽ⁿ⁾ moved onto the density and the other factors (rule 1, n ≥ 1).
    fn delta_by_parts(
        &mut self,
        mt: &MTerm,
        gi: usize,
        v: usize,
        idx: usize,
        order: u32,
        depth: usize,
    ) -> Result<Id, DeriveError> {
        let f = mt.parts[v].factors[idx];
        self.note(
            depth,
            format!(
                "{} → by parts on x{v1}: E[δ⁽ⁿ⁾F] = E[δ⁽ⁿ⁻¹⁾((x{v1} − μ{v1})/C{v1}{v1}·F − ∂{v1}F − Σ_i C_i{v1}/C{v1}{v1}·∂_i F)]",
                mt.text(),
                v1 = v + 1
            ),
        );
        let mut without = mt.clone();
        without.parts[v].factors.remove(idx);
        let lower = Term {
            factors: vec![Factor {
                base: Base::Delta(order - 1),
                a: 1.0,
                b: f.b,
            }],
            ..Term::constant(1.0)
        };
        let x = Term {
            p: 1,
            ..Term::constant(1.0)
        };
        let g = self.gauss[gi].clone();
        let var = self.graph.floor_var(g.cov[v][v]);
        let inv = self.graph.recip(var);
        let mut terms = Vec::new();
        // (x_v − μ_v)/C_vv · F
        if let Some(t) = without
            .clone()
            .times(v, &x)
            .and_then(|t| t.times(v, &lower))
        {
            let e = self.expect(&t, gi, depth + 1)?;
            terms.push(self.graph.mul(vec![inv, e]));
        }
        if !self.graph.is_zero(g.mean[v])
            && let Some(t) = without.clone().times(v, &lower)
        {
            let e = self.expect(&t, gi, depth + 1)?;
            let m = self.graph.neg(g.mean[v]);
            terms.push(self.graph.mul(vec![m, inv, e]));
        }
        // − ∂_v F − Σ_{i≠v} (C_iv/C_vv) ∂_i F
        for i in 0..mt.parts.len() {
            let coef = if i == v {
                self.graph.konst(-1.0)
            } else {
                if self.graph.is_zero(g.cov[i][v]) {
                    continue;
                }
                let c = self.graph.mul(vec![g.cov[i][v], inv]);
                self.graph.neg(c)
            };
            for d in derivative(&without, i) {
                if let Some(t) = d.times(v, &lower) {
                    let e = self.expect(&t, gi, depth + 1)?;
                    terms.push(self.graph.mul(vec![coef, e]));
                }
            }
        }
        Ok(self.graph.add(terms))
    }

    /// Rule 4: `E[Π Θ(u_j) Π erf(u_k)]` → orthant probabilities of at most four Gaussian forms.
    /// Each factor becomes `y = s·x_v + b/|a| + noise` (`s = sign(a)`), scaled so that x_v has
    /// coefficient ±1:
    /// `Θ(ax + b) = P[y > 0]` without noise, `erf(ax + b) = 2P[y > 0] − 1` with noise variance
    /// `1/(2a²)`.
    fn orthants(&mut self, mt: &MTerm, gi: usize, depth: usize) -> Result<Id, DeriveError> {
        struct Y {
            v: usize,
            s: f64,
            shift: f64,
            noise: f64,
        }
        let mut steps = Vec::new();
        let mut erfs = Vec::new();
        for (v, p) in mt.parts.iter().enumerate() {
            for f in &p.factors {
                let y = Y {
                    v,
                    s: f.a.signum(),
                    shift: f.b / f.a.abs(),
                    noise: 0.0,
                };
                match f.base {
                    Base::Step => steps.push(y),
                    Base::Erf => erfs.push(Y {
                        noise: 1.0 / (2.0 * f.a * f.a),
                        ..y
                    }),
                    Base::Delta(_) => unreachable!("conditioned before"),
                }
            }
        }
        // the largest orthant (every erf's noisy form next to the steps') sets the dimension
        let n = steps.len() + erfs.len();
        if n > 4 {
            return Err(DeriveError::NoClosedForm(format!(
                "{n} step/erf factors ({}) need orthant probabilities in {n} dimensions; \
                 closed forms and the numerical base case reach four",
                mt.text()
            )));
        }
        let g = self.gauss[gi].clone();
        let mut terms = Vec::new();
        let mut pieces = Vec::new();
        for mask in 0u32..(1 << erfs.len()) {
            let mut coef = mt.c;
            let mut ys: Vec<&Y> = steps.iter().collect();
            for (i, e) in erfs.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    coef *= 2.0;
                    ys.push(e);
                } else {
                    coef *= -1.0;
                }
            }
            pieces.push(format!("{}·P{}", text_number(coef), ys.len()));
            let var: Vec<Id> = ys
                .iter()
                .map(|y| {
                    let n = self.graph.konst(y.noise);
                    self.graph.add(vec![g.cov[y.v][y.v], n])
                })
                .collect();
            let m: Vec<Id> = ys
                .iter()
                .zip(&var)
                .map(|(y, &var)| {
                    let sh = self.graph.konst(y.shift);
                    let sm = self.graph.scale(y.s, g.mean[y.v]);
                    // the orthant's mean: exactly 0 where the variable is determined (zero
                    // variance) and rounding alone separates its mean from the step's point
                    // (Θ(0) = ½, not Θ(±1e-16))
                    self.graph.cond_mean(sm, sh, var)
                })
                .collect();
            // steps a Dirac condition determines at their thresholds take their joint value
            // (kernels::threshold_var) by their orientation, where one can sit there: two or
            // more steps (one alone takes Θ(0) = ½), after a condition, not an erf's noisy form
            let orient: Vec<Option<Id>> = ys
                .iter()
                .zip(var.iter().zip(&m))
                .map(|(y, (&var, &m))| {
                    if ys.len() < 2 || y.noise != 0.0 || !self.graph.may_sit_at_threshold(var, m) {
                        return None;
                    }
                    let o = g.orientation(self.graph, y.v)?;
                    if self.graph.is_zero(o) {
                        return None;
                    }
                    Some(self.graph.scale(y.s, o))
                })
                .collect();
            let cov = |gr: &mut Graph, a: usize, b: usize| -> Id {
                let c = gr.scale(ys[a].s * ys[b].s, g.cov[ys[a].v][ys[b].v]);
                match (orient[a], orient[b]) {
                    (Some(oa), Some(ob)) => {
                        gr.threshold_cov([c, var[a], m[a], oa, var[b], m[b], ob])
                    }
                    _ => c,
                }
            };
            let tvar: Vec<Id> = (0..ys.len())
                .map(|i| match orient[i] {
                    Some(o) => self.graph.threshold_var(var[i], m[i], o),
                    None => var[i],
                })
                .collect();
            let p = match ys.len() {
                0 => self.graph.one(),
                1 => self.graph.orthant1(m[0], var[0]),
                2 => {
                    let c = cov(self.graph, 0, 1);
                    self.graph.orthant2(m[0], m[1], tvar[0], tvar[1], c)
                }
                3 => {
                    let mut c = [0; 3];
                    for (slot, (a, b)) in c.iter_mut().zip([(0, 1), (0, 2), (1, 2)]) {
                        *slot = cov(self.graph, a, b);
                    }
                    self.graph.orthant3([
                        m[0], m[1], m[2], tvar[0], tvar[1], tvar[2], c[0], c[1], c[2],
                    ])
                }
                _ => {
                    let mut v = [0; 14];
                    v[..4].copy_from_slice(&m);
                    v[4..8].copy_from_slice(&tvar);
                    for (slot, (a, b)) in v[8..].iter_mut().zip(crate::kernels::PAIRS4) {
                        *slot = cov(self.graph, a, b);
                    }
                    self.graph.orthant4(v)
                }
            };
            terms.push(self.graph.scale(coef, p));
        }
        self.note(
            depth,
            format!(
                "{} → orthant probabilities: {}",
                mt.text(),
                pieces.join(" + ").replace("+ -", "- ")
            ),
        );
        Ok(self.graph.add(terms))
    }

    /// Tilt (rule 2): `E[exp(−½xᵀAx + bᵀx) F] = z · E_{N(μ̃, C̃)}[F]` with `A = diag(a)`, one
    /// coordinate at a time (Sherman–Morrison, `s = 1 + a_v C_vv ≥ 1`):
    /// `C ← C − (a_v/s) C_{:v} C_{v:}`, `μ ← μ − (a_v μ_v/s) C_{:v}`, `z ← z s^{−1/2} e^{−a_v μ_v²/(2s)}`;
    /// then `z ← z exp(bᵀμ + ½ bᵀCb)`, `μ ← μ + Cb`. Returns `(z, Gaussian index)`.
    pub fn tilt(&mut self, gi: usize, a: &[f64], b: &[f64]) -> (Id, usize) {
        let key = format!("tilt|{gi}|{a:?}|{b:?}");
        if let Some(&hit) = self.gauss_cache.get(&key) {
            return hit;
        }
        let gr = &mut *self.graph;
        let mut g = self.gauss[gi].clone();
        let dim = g.mean.len();
        let mut z_factors = Vec::new();
        let mut expo = Vec::new();
        for v in 0..dim {
            if a[v] == 0.0 {
                continue;
            }
            let col: Vec<Id> = (0..dim).map(|i| g.cov[i][v]).collect();
            let ac = gr.scale(a[v], col[v]);
            let one = gr.one();
            let s = gr.add(vec![one, ac]);
            let inv_s = gr.recip(s);
            let k = gr.scale(a[v], inv_s);
            let shift = gr.mul(vec![k, g.mean[v]]);
            let e = gr.mul(vec![shift, g.mean[v]]);
            expo.push(gr.scale(-0.5, e));
            z_factors.push(gr.pow(s, -1));
            // entries in row/column v simplify: C̃_iv = C_iv/s, μ̃_v = μ_v/s
            for i in 0..dim {
                g.mean[i] = if i == v {
                    gr.mul(vec![g.mean[v], inv_s])
                } else {
                    let d = gr.mul(vec![shift, col[i]]);
                    gr.sub(g.mean[i], d)
                };
                for j in i..dim {
                    let c = if i == v || j == v {
                        let other = if i == v { col[j] } else { col[i] };
                        gr.mul(vec![other, inv_s])
                    } else {
                        let d = gr.mul(vec![k, col[i], col[j]]);
                        gr.sub(g.cov[i][j], d)
                    };
                    g.cov[i][j] = c;
                    g.cov[j][i] = c;
                }
            }
        }
        if b.iter().any(|&x| x != 0.0) {
            let cb: Vec<Id> = (0..dim)
                .map(|i| {
                    let t = (0..dim)
                        .filter(|&j| b[j] != 0.0)
                        .map(|j| gr.scale(b[j], g.cov[i][j]))
                        .collect();
                    gr.add(t)
                })
                .collect();
            for i in 0..dim {
                if b[i] != 0.0 {
                    expo.push(gr.scale(b[i], g.mean[i]));
                    expo.push(gr.scale(0.5 * b[i], cb[i]));
                }
            }
            for i in 0..dim {
                g.mean[i] = gr.add(vec![g.mean[i], cb[i]]);
            }
        }
        let e = gr.add(expo);
        let ez = gr.exp(e);
        z_factors.push(ez);
        let z = gr.mul(z_factors);
        self.gauss.push(g);
        let out = (z, self.gauss.len() - 1);
        self.gauss_cache.insert(key, out);
        out
    }

    /// Conditioning (rule 1): `p_v(c)` and the Gaussian of the other variables given `x_v = c`
    /// (`μ_i += C_iv (c − μ_v)/C_vv`, `C_ij −= C_iv C_jv / C_vv`; x_v deterministic at c).
    pub fn condition(&mut self, gi: usize, v: usize, c: f64) -> (Id, usize) {
        let key = format!("condition|{gi}|{v}|{c:e}");
        if let Some(&hit) = self.gauss_cache.get(&key) {
            return hit;
        }
        let gr = &mut *self.graph;
        let g0 = self.gauss[gi].clone();
        let dim = g0.mean.len();
        let var = gr.floor_var(g0.cov[v][v]);
        let sd_inv = gr.pow(var, -1);
        let inv = gr.recip(var);
        let cc = gr.konst(c);
        let dev = gr.sub(cc, g0.mean[v]);
        let zarg = gr.mul(vec![dev, sd_inv]);
        let ph = gr.phi(zarg);
        let p = gr.mul(vec![ph, sd_inv]);
        let mut g = g0.clone();
        for i in 0..dim {
            if i == v {
                continue;
            }
            // a conditional variance: rounding must not leave it negative, nor a few ulps
            // above an exact 0 (aligned or rescaled units)
            let x = gr.schur(g0.cov[i][i], g0.cov[i][v], g0.cov[i][v], var);
            g.cov[i][i] = gr.cond_var(x, g0.scale[i]);
            // its mean: exactly 0 where the condition determines x_i and only rounding
            // separates the mean from 0
            let d = gr.mul(vec![g0.cov[i][v], dev, inv]);
            g.mean[i] = gr.cond_mean(g0.mean[i], d, g.cov[i][i]);
        }
        for i in (0..dim).filter(|&i| i != v) {
            for j in (i + 1..dim).filter(|&j| j != v) {
                let x = gr.schur(g0.cov[i][j], g0.cov[i][v], g0.cov[j][v], var);
                // a variable that the condition determines has no covariance left (its
                // computed one would be rounding, divided by later conditioning on it)
                let x = gr.cond_cov(x, g.cov[i][i], g.cov[j][j]);
                g.cov[i][j] = x;
                g.cov[j][i] = x;
            }
        }
        let zero = gr.zero();
        for i in 0..dim {
            g.cov[i][v] = zero;
            g.cov[v][i] = zero;
        }
        // for the orientations (kernels::orientation): the condition's variable and the
        // covariances with it before the condition
        g.orient.push((0..dim).map(|i| g0.cov[i][v]).collect());
        g.mean[v] = cc;
        self.gauss.push(g);
        let out = (p, self.gauss.len() - 1);
        self.gauss_cache.insert(key, out);
        out
    }
}

/// `∂/∂x_j` of a multi-variable term: the derivative of its x_j part
/// ([`crate::series::term_derivative`]), the other parts unchanged.
pub fn derivative(mt: &MTerm, j: usize) -> Vec<MTerm> {
    term_derivative(&mt.parts[j])
        .into_iter()
        .filter_map(|t| {
            let mut d = mt.clone();
            d.parts[j] = Term::constant(1.0);
            d.times(j, &t)
        })
        .collect()
}
