//! The closed-form result IR: a hash-consed DAG of scalar expressions in the parameters of a
//! Gaussian (means `μ_i`, covariance entries `C_ij`) over the kernel operations of
//! [`crate::kernels`] (φ, Φ via one orthant, Φ₂ via two, erf, exp, √, arcsin).
//!
//! Every node is built through a simplifying constructor: constants fold, sums collect like terms
//! (`c1·t + c2·t → (c1 + c2)·t`), products collect powers of equal bases (exponents in halves, so
//! `C·C^(−1/2) = √C`), a constant distributes over a sum, and the orthant kernels specialise at zero
//! means (`Φ₂(0, 0; ρ) = 1/4 + asin(ρ)/(2π)`, `Φ(0) = 1/2`). Because children are always created
//! before their parents, node ids are a topological order; equal expressions share one node.

use crate::kernels;
use rustc_hash::FxHashMap as HashMap;
use std::collections::hash_map::Entry;

/// A node of the graph.
pub type Id = usize;

/// One operation. Exponents of [`Node::Pow`] are in halves (`Pow(x, 1)` is `√x`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// A constant (the bits of an f64; −0 is stored as 0).
    Const(u64),
    /// The mean `μ_{i+1}` of integration variable i.
    Mean(u8),
    /// The covariance `C_{i+1, j+1}`, `i ≤ j`.
    Cov(u8, u8),
    /// A sum of at least two terms.
    Add(Vec<Id>),
    /// A product of at least two factors (at most one constant, first).
    Mul(Vec<Id>),
    /// `base^(halves/2)`, halves ∉ {0, 2}.
    Pow(Id, i32),
    Exp(Id),
    Erf(Id),
    /// arcsin, argument clamped to [−1, 1]
    Asin(Id),
    /// the standard normal density φ
    Phi(Id),
    /// `max(v, MIN_VAR)`: a variance that is divided by (printed as `v`)
    FloorVar(Id),
    /// A conditional mean `a + b` of a variable of variance `var`, 0 within rounding of 0 where
    /// `var = 0` ([`kernels::cond_mean`]; printed as `a + b`): `(a, b, var)`
    CondMean(Id, Id, Id),
    /// A conditional covariance `c` of two variables of conditional variances `vi`, `vj`, 0 where
    /// either is 0 ([`kernels::cond_cov`]; printed as `c`): `(c, vi, vj)`
    CondCov(Id, Id, Id),
    /// `a − b·c/d`, the determinant `a·d − b·c` free of cancellation ([`kernels::schur`]; printed
    /// as `a − b·c/d`): `(a, b, c, d)`
    Schur(Id, Id, Id, Id),
    /// A conditional variance `v` of unconditional variance `scale`, 0 within rounding of 0
    /// ([`kernels::cond_var`]; printed as `v`): `(v, scale)`
    CondVar(Id, Id),
    /// A variable's orientation after a Dirac condition ([`kernels::orientation`]; never
    /// printed): `(cov, prev, depth)`
    Orientation(Id, Id, Id),
    /// The variance of a step's variable in an orthant, 1 where a Dirac condition determines it
    /// at its threshold ([`kernels::threshold_var`]; printed as `var`): `(var, mean, orient)`
    ThresholdVar(Id, Id, Id),
    /// The covariance of two steps' variables in an orthant, ±½ or 0 where a Dirac condition
    /// determines them at their thresholds ([`kernels::threshold_cov`]; printed as `c`):
    /// `[c, vi, mi, oi, vj, mj, oj]`
    ThresholdCov([Id; 7]),
    /// `s12/√(s11 s22)` clamped to [−1, 1]: `(s12, s11, s22)`
    Corr(Id, Id, Id),
    /// `P[y > 0]`, `y ~ N(m, s)` = Φ(m/√s): `(m, s)`
    Orthant1(Id, Id),
    /// `P[y1 > 0, y2 > 0]` = Φ₂(m1/√s11, m2/√s22; ρ): `[m1, m2, s11, s22, s12]`
    Orthant2([Id; 5]),
    /// `P[y1 > 0, y2 > 0, y3 > 0]` = Φ₃: `[m1, m2, m3, s11, s22, s33, s12, s13, s23]`
    Orthant3([Id; 9]),
    /// `[m1..m4, s11, s22, s33, s44, s12, s13, s14, s23, s24, s34]`: four orthants (numerical base
    /// case, error ≤ 1e-10)
    Orthant4([Id; 14]),
}

/// The DAG with its hash-consing index.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<Node, Id>,
    /// [`Graph::tree_size`] of nodes already measured (nodes never change: the graph only grows).
    size_memo: HashMap<Id, usize>,
    /// [`Graph::expand_terms`] of nodes already expanded.
    expand_memo: HashMap<Id, Option<Vec<Id>>>,
}

fn bits(v: f64) -> u64 {
    if v == 0.0 {
        0.0f64.to_bits()
    } else {
        v.to_bits()
    }
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node's id, added if new (hash-consing: one hash per call).
    fn intern(&mut self, n: Node) -> Id {
        match self.index.entry(n) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let id = self.nodes.len();
                self.nodes.push(e.key().clone());
                e.insert(id);
                id
            }
        }
    }

    /// The value of a constant node.
    pub fn as_const(&self, id: Id) -> Option<f64> {
        match self.nodes[id] {
            Node::Const(b) => Some(f64::from_bits(b)),
            _ => None,
        }
    }

    pub fn is_zero(&self, id: Id) -> bool {
        self.as_const(id) == Some(0.0)
    }

    /// A constant; values within a few ulps of a simple rational p/q (q ≤ 16) snap to it, so
    /// that `(1/√2)²·2` and 1 are one node and like terms merge.
    pub fn konst(&mut self, v: f64) -> Id {
        self.intern(Node::Const(bits(snap(v))))
    }

    pub fn zero(&mut self) -> Id {
        self.konst(0.0)
    }

    pub fn one(&mut self) -> Id {
        self.konst(1.0)
    }

    pub fn mean(&mut self, i: usize) -> Id {
        self.intern(Node::Mean(i as u8))
    }

    pub fn cov(&mut self, i: usize, j: usize) -> Id {
        let (a, b) = if i <= j { (i, j) } else { (j, i) };
        self.intern(Node::Cov(a as u8, b as u8))
    }

    /// `(coefficient, rest)` of a term: `c·rest`, rest without a constant factor.
    fn split_coef(&mut self, id: Id) -> (f64, Option<Id>) {
        match self.nodes[id].clone() {
            Node::Const(b) => (f64::from_bits(b), None),
            Node::Mul(fs) => match self.as_const(fs[0]) {
                Some(c) => {
                    let rest: Vec<Id> = fs[1..].to_vec();
                    let r = if rest.len() == 1 {
                        rest[0]
                    } else {
                        self.intern(Node::Mul(rest))
                    };
                    (c, Some(r))
                }
                None => (1.0, Some(id)),
            },
            _ => (1.0, Some(id)),
        }
    }

    /// Σ terms, simplified.
    pub fn add(&mut self, terms: Vec<Id>) -> Id {
        let mut flat = Vec::new();
        for t in terms {
            match &self.nodes[t] {
                Node::Add(inner) => flat.extend(inner.iter().copied()),
                _ => flat.push(t),
            }
        }
        // coefficients with the sum of their addends' magnitudes: a sum that cancels to within
        // its rounding (0.3·3 − 0.9 = 1.1e-16) is zero, not a term `2.8e-17·C12·…`
        let (mut k, mut k_size) = (0.0, 0.0);
        let mut acc: Vec<(Id, f64, f64)> = Vec::new();
        for t in flat {
            match self.split_coef(t) {
                (c, None) => {
                    k += c;
                    k_size += c.abs();
                }
                (c, Some(r)) => match acc.iter_mut().find(|(x, _, _)| *x == r) {
                    Some(slot) => {
                        slot.1 += c;
                        slot.2 += c.abs();
                    }
                    None => acc.push((r, c, c.abs())),
                },
            }
        }
        let cancelled = |c: f64, size: f64| c.abs() <= CANCELLATION * f64::EPSILON * size;
        let mut out: Vec<Id> = Vec::new();
        for (r, c, size) in acc {
            if c != 0.0 && !cancelled(c, size) {
                let cid = self.konst(c);
                out.push(self.mul_raw(cid, r));
            }
        }
        if k != 0.0 && !cancelled(k, k_size) {
            out.push(self.konst(k));
        }
        match out.len() {
            0 => self.zero(),
            1 => out[0],
            _ => {
                out.sort_unstable();
                self.intern(Node::Add(out))
            }
        }
    }

    /// `c·r` for a non-constant r without a constant factor (no distribution).
    fn mul_raw(&mut self, c: Id, r: Id) -> Id {
        if self.as_const(c) == Some(1.0) {
            return r;
        }
        let mut fs = match &self.nodes[r] {
            Node::Mul(fs) => fs.clone(),
            _ => vec![r],
        };
        fs.sort_unstable();
        fs.insert(0, c);
        self.intern(Node::Mul(fs))
    }

    /// Π factors, simplified.
    pub fn mul(&mut self, factors: Vec<Id>) -> Id {
        let mut k = 1.0;
        let mut powers: Vec<(Id, i32)> = Vec::new();
        let mut stack = factors;
        while let Some(f) = stack.pop() {
            match &self.nodes[f] {
                Node::Const(b) => k *= f64::from_bits(*b),
                Node::Mul(inner) => stack.extend_from_slice(inner),
                Node::Pow(b, h) => push_power(&mut powers, *b, *h),
                _ => push_power(&mut powers, f, 2),
            }
        }
        if k == 0.0 {
            return self.zero();
        }
        let mut out: Vec<Id> = Vec::new();
        for (b, h) in powers {
            if h != 0 {
                out.push(self.pow(b, h));
            }
        }
        // a constant distributes over a lone sum: 4·(1/4 + a) = 1 + 4a
        if out.len() == 1
            && k != 1.0
            && let Node::Add(terms) = self.nodes[out[0]].clone()
        {
            let terms = terms
                .into_iter()
                .map(|t| {
                    let c = self.konst(k);
                    self.mul(vec![c, t])
                })
                .collect();
            return self.add(terms);
        }
        // flatten products produced by powers of products
        let mut flat = Vec::new();
        for f in out {
            match &self.nodes[f] {
                Node::Mul(inner) => {
                    for &g in inner {
                        match self.as_const(g) {
                            Some(c) => k *= c,
                            None => flat.push(g),
                        }
                    }
                }
                _ => flat.push(f),
            }
        }
        if flat.is_empty() {
            return self.konst(k);
        }
        flat.sort_unstable();
        if k == 1.0 && flat.len() == 1 {
            return flat[0];
        }
        if k != 1.0 {
            flat.insert(0, self.konst(k));
        }
        self.intern(Node::Mul(flat))
    }

    /// `base^(halves/2)`.
    pub fn pow(&mut self, base: Id, halves: i32) -> Id {
        if halves == 0 {
            return self.one();
        }
        if halves == 2 {
            return base;
        }
        if let Some(v) = self.as_const(base) {
            return self.konst(v.powf(halves as f64 / 2.0));
        }
        match self.nodes[base].clone() {
            // (b^(m/2))^(n/2) = b^(mn/4) when n is even (integer outer power)
            Node::Pow(b, m) if halves % 2 == 0 => self.pow(b, m * halves / 2),
            // (Π f)^(h/2) = Π f^(h/2): every product raised to a half power is a product of
            // non-negative quantities (variances, determinants of covariances)
            Node::Mul(fs) => {
                let parts = fs.into_iter().map(|f| self.pow(f, halves)).collect();
                self.mul(parts)
            }
            _ => self.intern(Node::Pow(base, halves)),
        }
    }

    pub fn sqrt(&mut self, x: Id) -> Id {
        self.pow(x, 1)
    }

    pub fn recip(&mut self, x: Id) -> Id {
        self.pow(x, -2)
    }

    pub fn div(&mut self, a: Id, b: Id) -> Id {
        let r = self.recip(b);
        self.mul(vec![a, r])
    }

    pub fn neg(&mut self, a: Id) -> Id {
        let m = self.konst(-1.0);
        self.mul(vec![m, a])
    }

    pub fn sub(&mut self, a: Id, b: Id) -> Id {
        let nb = self.neg(b);
        self.add(vec![a, nb])
    }

    pub fn scale(&mut self, c: f64, a: Id) -> Id {
        let k = self.konst(c);
        self.mul(vec![k, a])
    }

    pub fn exp(&mut self, x: Id) -> Id {
        match self.as_const(x) {
            Some(v) => self.konst(v.exp()),
            None => self.intern(Node::Exp(x)),
        }
    }

    pub fn erf(&mut self, x: Id) -> Id {
        match self.as_const(x) {
            Some(v) => self.konst(kernels::erf(v)),
            None => self.intern(Node::Erf(x)),
        }
    }

    pub fn asin(&mut self, x: Id) -> Id {
        match self.as_const(x) {
            Some(v) => self.konst(kernels::asin(v)),
            None => self.intern(Node::Asin(x)),
        }
    }

    pub fn phi(&mut self, x: Id) -> Id {
        match self.as_const(x) {
            Some(v) => self.konst(kernels::phi(v)),
            None => self.intern(Node::Phi(x)),
        }
    }

    pub fn floor_var(&mut self, x: Id) -> Id {
        match self.as_const(x) {
            Some(v) => self.konst(kernels::floor_var(v)),
            None => self.intern(Node::FloorVar(x)),
        }
    }

    /// `a − b·c/d` ([`Node::Schur`]); `a` where `b` or `c` is 0.
    pub fn schur(&mut self, a: Id, b: Id, c: Id, d: Id) -> Id {
        if self.is_zero(b) || self.is_zero(c) {
            return a;
        }
        match [a, b, c, d].map(|x| self.as_const(x)) {
            [Some(a), Some(b), Some(c), Some(d)] => self.konst(kernels::schur(a, b, c, d)),
            _ => self.intern(Node::Schur(a, b, c, d)),
        }
    }

    pub fn cond_var(&mut self, x: Id, scale: Id) -> Id {
        match (self.as_const(x), self.as_const(scale)) {
            (Some(v), Some(s)) => self.konst(kernels::cond_var(v, s)),
            _ => self.intern(Node::CondVar(x, scale)),
        }
    }

    pub fn cond_mean(&mut self, a: Id, b: Id, var: Id) -> Id {
        if self.is_zero(a) {
            return b;
        }
        if self.is_zero(b) {
            return a;
        }
        match (self.as_const(a), self.as_const(b), self.as_const(var)) {
            (Some(x), Some(y), Some(v)) => self.konst(kernels::cond_mean(x, y, v)),
            (_, _, Some(v)) if v != 0.0 => self.add(vec![a, b]),
            _ => self.intern(Node::CondMean(a, b, var)),
        }
    }

    pub fn cond_cov(&mut self, c: Id, vi: Id, vj: Id) -> Id {
        if self.is_zero(c) {
            return c;
        }
        match (self.as_const(c), self.as_const(vi), self.as_const(vj)) {
            (Some(c), Some(a), Some(b)) => self.konst(kernels::cond_cov(c, a, b)),
            (_, Some(a), _) | (_, _, Some(a)) if a == 0.0 => self.zero(),
            (_, Some(_), Some(_)) => c,
            _ => self.intern(Node::CondCov(c, vi, vj)),
        }
    }

    /// [`kernels::orientation`] after the `depth`-th condition of a chain.
    pub fn orientation(&mut self, cov: Id, prev: Id, depth: usize) -> Id {
        match self.as_const(cov) {
            Some(0.0) => prev,
            Some(c) if !c.is_nan() => self.konst(c.signum() * depth as f64),
            _ => {
                let d = self.konst(depth as f64);
                self.intern(Node::Orientation(cov, prev, d))
            }
        }
    }

    /// Whether a step of variance `var` and mean `mean` can sit at its threshold at run time
    /// ([`kernels::threshold_var`]): neither is a non-zero constant (the orientation is checked
    /// by the callers).
    pub fn may_sit_at_threshold(&self, var: Id, mean: Id) -> bool {
        let nonzero = |id: Id| self.as_const(id).is_some_and(|x| x != 0.0);
        !nonzero(var) && !nonzero(mean)
    }

    /// [`kernels::threshold_var`]: `var` itself unless the step can sit at its threshold.
    pub fn threshold_var(&mut self, var: Id, mean: Id, orient: Id) -> Id {
        if self.is_zero(orient) || !self.may_sit_at_threshold(var, mean) {
            return var;
        }
        match (
            self.as_const(var),
            self.as_const(mean),
            self.as_const(orient),
        ) {
            (Some(v), Some(m), Some(o)) => self.konst(kernels::threshold_var(v, m, o)),
            _ => self.intern(Node::ThresholdVar(var, mean, orient)),
        }
    }

    /// [`kernels::threshold_cov`] of `[c, vi, mi, oi, vj, mj, oj]`: `c` itself unless both
    /// steps can sit at their thresholds.
    pub fn threshold_cov(&mut self, a: [Id; 7]) -> Id {
        let sits = |g: &Self, v: Id, m: Id, o: Id| !g.is_zero(o) && g.may_sit_at_threshold(v, m);
        if !sits(self, a[1], a[2], a[3]) || !sits(self, a[4], a[5], a[6]) {
            return a[0];
        }
        let k = a.map(|i| self.as_const(i));
        match k.iter().copied().collect::<Option<Vec<f64>>>() {
            Some(c) => self.konst(kernels::threshold_cov(
                c[0], c[1], c[2], c[3], c[4], c[5], c[6],
            )),
            None => self.intern(Node::ThresholdCov(a)),
        }
    }

    pub fn corr(&mut self, s12: Id, s11: Id, s22: Id) -> Id {
        if self.is_zero(s12) {
            return self.zero();
        }
        if s11 == s22 && s12 == s11 {
            return self.one();
        }
        if s11 == s22 {
            // s12/√(s11²) = s12/s11 (a variance, floored)
            let f = self.floor_var(s11);
            return self.div(s12, f);
        }
        match (self.as_const(s12), self.as_const(s11), self.as_const(s22)) {
            (Some(a), Some(b), Some(c)) => self.konst(kernels::corr(a, b, c)),
            _ => self.intern(Node::Corr(s12, s11, s22)),
        }
    }

    pub fn orthant1(&mut self, m: Id, s: Id) -> Id {
        if self.is_zero(m) {
            return self.konst(0.5);
        }
        match (self.as_const(m), self.as_const(s)) {
            (Some(a), Some(b)) => self.konst(kernels::orthant1(a, b)),
            _ => self.intern(Node::Orthant1(m, s)),
        }
    }

    pub fn orthant2(&mut self, m1: Id, m2: Id, s11: Id, s22: Id, s12: Id) -> Id {
        if self.is_zero(s12) {
            let (a, b) = (self.orthant1(m1, s11), self.orthant1(m2, s22));
            return self.mul(vec![a, b]);
        }
        if self.is_zero(m1) && self.is_zero(m2) {
            // Sheppard's formula
            let rho = self.corr(s12, s11, s22);
            let a = self.asin(rho);
            let q = self.konst(0.25);
            let t = self.scale(1.0 / (2.0 * std::f64::consts::PI), a);
            return self.add(vec![q, t]);
        }
        let all: Option<Vec<f64>> = [m1, m2, s11, s22, s12]
            .iter()
            .map(|&i| self.as_const(i))
            .collect();
        match all {
            Some(v) => self.konst(kernels::orthant2(v[0], v[1], v[2], v[3], v[4])),
            None => self.intern(Node::Orthant2([m1, m2, s11, s22, s12])),
        }
    }

    /// Three orthants: `[m1, m2, m3, s11, s22, s33, s12, s13, s23]`. Zero means give the arcsin
    /// form `1/8 + (asin ρ12 + asin ρ13 + asin ρ23)/(4π)`; a variable uncorrelated with the other
    /// two factorises out.
    pub fn orthant3(&mut self, v: [Id; 9]) -> Id {
        let [m1, m2, m3, s11, s22, s33, s12, s13, s23] = v;
        if self.is_zero(s12) && self.is_zero(s13) {
            let (a, b) = (self.orthant1(m1, s11), self.orthant2(m2, m3, s22, s33, s23));
            return self.mul(vec![a, b]);
        }
        if self.is_zero(s12) && self.is_zero(s23) {
            let (a, b) = (self.orthant1(m2, s22), self.orthant2(m1, m3, s11, s33, s13));
            return self.mul(vec![a, b]);
        }
        if self.is_zero(s13) && self.is_zero(s23) {
            let (a, b) = (self.orthant1(m3, s33), self.orthant2(m1, m2, s11, s22, s12));
            return self.mul(vec![a, b]);
        }
        if self.is_zero(m1) && self.is_zero(m2) && self.is_zero(m3) {
            let r12 = self.corr(s12, s11, s22);
            let r13 = self.corr(s13, s11, s33);
            let r23 = self.corr(s23, s22, s33);
            let (a, b, c) = (self.asin(r12), self.asin(r13), self.asin(r23));
            let sum = self.add(vec![a, b, c]);
            let q = self.konst(0.125);
            let t = self.scale(1.0 / (4.0 * std::f64::consts::PI), sum);
            return self.add(vec![q, t]);
        }
        let all: Option<Vec<f64>> = v.iter().map(|&i| self.as_const(i)).collect();
        match all {
            Some(c) => self.konst(kernels::orthant3(
                [c[0], c[1], c[2]],
                [c[3], c[4], c[5]],
                [c[6], c[7], c[8]],
            )),
            None => self.intern(Node::Orthant3(v)),
        }
    }

    /// Four orthants: `[m1..m4, s11, s22, s33, s44, s12, s13, s14, s23, s24, s34]`. A variable
    /// uncorrelated with the other three factorises out; otherwise the numerical base case
    /// ([`kernels::orthant4`], error ≤ 1e-10).
    pub fn orthant4(&mut self, v: [Id; 14]) -> Id {
        let (m, s) = (&v[0..4], &v[4..8]);
        let cov = |i: usize, j: usize| -> Id { v[8 + kernels::pair4(i, j)] };
        for lone in 0..4 {
            let o: Vec<usize> = (0..4).filter(|&x| x != lone).collect();
            if o.iter().all(|&x| self.is_zero(cov(lone, x))) {
                let a = self.orthant1(m[lone], s[lone]);
                let b = self.orthant3([
                    m[o[0]],
                    m[o[1]],
                    m[o[2]],
                    s[o[0]],
                    s[o[1]],
                    s[o[2]],
                    cov(o[0], o[1]),
                    cov(o[0], o[2]),
                    cov(o[1], o[2]),
                ]);
                return self.mul(vec![a, b]);
            }
        }
        let all: Option<Vec<f64>> = v.iter().map(|&i| self.as_const(i)).collect();
        match all {
            Some(c) => self.konst(kernels::orthant4(
                [c[0], c[1], c[2], c[3]],
                [c[4], c[5], c[6], c[7]],
                [c[8], c[9], c[10], c[11], c[12], c[13]],
            )),
            None => self.intern(Node::Orthant4(v)),
        }
    }

    /// The children of a node.
    pub fn children(&self, id: Id) -> Vec<Id> {
        match &self.nodes[id] {
            Node::Const(_) | Node::Mean(_) | Node::Cov(..) => vec![],
            Node::Add(v) | Node::Mul(v) => v.clone(),
            Node::Pow(b, _) => vec![*b],
            Node::Exp(x) | Node::Erf(x) | Node::Asin(x) | Node::Phi(x) | Node::FloorVar(x) => {
                vec![*x]
            }
            Node::CondVar(x, s) => vec![*x, *s],
            Node::Schur(a, b, c, d) => vec![*a, *b, *c, *d],
            Node::CondMean(a, b, v) => vec![*a, *b, *v],
            Node::CondCov(c, a, b) => vec![*c, *a, *b],
            Node::ThresholdVar(v, m, o) => vec![*v, *m, *o],
            Node::Orientation(c, p, d) => vec![*c, *p, *d],
            Node::ThresholdCov(v) => v.to_vec(),
            Node::Corr(a, b, c) => vec![*a, *b, *c],
            Node::Orthant1(a, b) => vec![*a, *b],
            Node::Orthant2(v) => v.to_vec(),
            Node::Orthant3(v) => v.to_vec(),
            Node::Orthant4(v) => v.to_vec(),
        }
    }

    /// The nodes `root` depends on (itself included), in topological order.
    pub fn reachable(&self, roots: &[Id]) -> Vec<Id> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<Id> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if seen[id] {
                continue;
            }
            seen[id] = true;
            stack.extend(self.children(id));
        }
        (0..self.nodes.len()).filter(|&i| seen[i]).collect()
    }

    /// Rebuilds `root` through the simplifying constructors with each leaf mapped by `leaf`
    /// (e.g. means set to zero) and, if `display`, the variance floor dropped (so that
    /// `C·max(C, ε)^(−1/2)` prints as `√C`). Returns the new root in this graph.
    pub fn rebuild(&mut self, root: Id, leaf: &dyn Fn(&Node) -> Option<f64>, display: bool) -> Id {
        self.rebuild_leaves(
            root,
            &|g: &mut Graph, n: &Node| leaf(n).map(|v| g.konst(v)),
            display,
        )
    }

    /// [`Graph::rebuild`] with leaves mapped to any node (e.g. the variables of an integral
    /// exchanged: `μ1 ↔ μ2`, `C11 ↔ C22`).
    pub fn rebuild_leaves(
        &mut self,
        root: Id,
        leaf: &dyn Fn(&mut Graph, &Node) -> Option<Id>,
        display: bool,
    ) -> Id {
        let order = self.reachable(&[root]);
        let mut map: HashMap<Id, Id> = HashMap::default();
        for id in order {
            let n = self.nodes[id].clone();
            let new = match &n {
                Node::Const(_) => id,
                Node::Mean(_) | Node::Cov(..) => leaf(self, &n).unwrap_or(id),
                Node::FloorVar(x)
                | Node::CondVar(x, _)
                | Node::CondCov(x, ..)
                | Node::ThresholdVar(x, ..)
                    if display =>
                {
                    map[x]
                }
                Node::ThresholdCov(v) if display => map[&v[0]],
                Node::Schur(a, b, c, d) if display => {
                    let r = self.recip(map[d]);
                    let bc = self.mul(vec![map[b], map[c], r]);
                    self.sub(map[a], bc)
                }
                Node::CondMean(a, b, _) if display => self.add(vec![map[a], map[b]]),
                _ => self.with_children(&n, &|x| map[&x]),
            };
            map.insert(id, new);
        }
        map[&root]
    }

    /// `root` with integration variables 1 and 2 exchanged.
    pub fn swap12(&mut self, root: Id) -> Id {
        self.rebuild_leaves(
            root,
            &|g: &mut Graph, n: &Node| match n {
                Node::Mean(i) if *i < 2 => Some(g.mean(1 - *i as usize)),
                Node::Cov(0, 0) => Some(g.cov(1, 1)),
                Node::Cov(1, 1) => Some(g.cov(0, 0)),
                Node::Cov(0, 2) => Some(g.cov(1, 2)),
                Node::Cov(1, 2) => Some(g.cov(0, 2)),
                _ => None,
            },
            false,
        )
    }

    /// The form printed for general means (variance floor dropped, sums over a common
    /// denominator where that is shorter).
    pub fn display_form(&mut self, root: Id) -> Id {
        let r = self.rebuild(root, &|_| None, true);
        self.together_all(r)
    }

    /// The zero-mean specialisation (all `μ_i = 0`), printed form.
    pub fn zero_mean_form(&mut self, root: Id) -> Id {
        let r = self.rebuild(
            root,
            &|n| match n {
                Node::Mean(_) => Some(0.0),
                _ => None,
            },
            true,
        );
        self.together_all(r)
    }

    /// Every sum of `root` (bottom-up) brought over a common denominator by [`Graph::together`]:
    /// of two passes — one taking each rewrite that makes its sum smaller, one also those that
    /// make it less than 50 % larger (they can pay off outside: `√(1 + C/(1 + C))` becomes
    /// `√(1 + 2C)/√(1 + C)`, whose root merges with other powers of 1 + C) — the smaller whole.
    pub fn together_all(&mut self, root: Id) -> Id {
        let strict = self.together_pass(root, 1.0);
        let loose = self.together_pass(root, 1.5);
        if self.tree_size_memo(loose) < self.tree_size_memo(strict) {
            loose
        } else {
            strict
        }
    }

    fn together_pass(&mut self, root: Id, slack: f64) -> Id {
        let order = self.reachable(&[root]);
        let mut map: HashMap<Id, Id> = HashMap::default();
        for id in order {
            let n = self.nodes[id].clone();
            let kids = self.children(id);
            let new = if kids.iter().all(|k| map[k] == *k) {
                id
            } else {
                self.with_children(&n, &|x| map[&x])
            };
            let new = match self.nodes[new] {
                Node::Add(_) => match self.together(new) {
                    Some(t)
                        if (self.tree_size_memo(t) as f64)
                            < slack * self.tree_size_memo(new) as f64 =>
                    {
                        t
                    }
                    _ => new,
                },
                _ => new,
            };
            map.insert(id, new);
        }
        map[&root]
    }

    /// `n` rebuilt through the constructors with its children mapped by `m`.
    fn with_children(&mut self, n: &Node, m: &dyn Fn(Id) -> Id) -> Id {
        match n {
            Node::Const(_) | Node::Mean(_) | Node::Cov(..) => self.intern(n.clone()),
            Node::Add(v) => {
                let v = v.iter().map(|&x| m(x)).collect();
                self.add(v)
            }
            Node::Mul(v) => {
                let v = v.iter().map(|&x| m(x)).collect();
                self.mul(v)
            }
            Node::Pow(b, h) => self.pow(m(*b), *h),
            Node::Exp(x) => self.exp(m(*x)),
            Node::Erf(x) => self.erf(m(*x)),
            Node::Asin(x) => self.asin(m(*x)),
            Node::Phi(x) => self.phi(m(*x)),
            Node::CondVar(x, s) => self.cond_var(m(*x), m(*s)),
            Node::Schur(a, b, c, d) => self.schur(m(*a), m(*b), m(*c), m(*d)),
            Node::CondCov(c, a, b) => self.cond_cov(m(*c), m(*a), m(*b)),
            Node::ThresholdVar(v, a, o) => self.threshold_var(m(*v), m(*a), m(*o)),
            Node::Orientation(c, p, d) => {
                let depth = self.as_const(m(*d)).unwrap_or(1.0) as usize;
                self.orientation(m(*c), m(*p), depth)
            }
            Node::ThresholdCov(v) => self.threshold_cov(v.map(m)),
            Node::CondMean(a, b, v) => self.cond_mean(m(*a), m(*b), m(*v)),
            Node::FloorVar(x) => self.floor_var(m(*x)),
            Node::Corr(a, b, c) => self.corr(m(*a), m(*b), m(*c)),
            Node::Orthant1(a, b) => self.orthant1(m(*a), m(*b)),
            Node::Orthant2(v) => self.orthant2(m(v[0]), m(v[1]), m(v[2]), m(v[3]), m(v[4])),
            Node::Orthant3(v) => self.orthant3(v.map(m)),
            Node::Orthant4(v) => self.orthant4(v.map(m)),
        }
    }

    /// A sum over its common denominator: the sum is expanded into terms `c·Π b^(h/2)`, the
    /// denominator is `Π_b b^(−h_b/2)` with `h_b` the most negative exponent of base b over the
    /// terms (bases that would leave a half power in some numerator term stay where they are),
    /// and the numerator `Σ term · Π_b b^(h_b/2)` is expanded again, so that like terms
    /// cancel: `−a/√(1+C) + a·C/(1+C)^(3/2) = −a/(1+C)^(3/2)`. `None` if the expansion would
    /// exceed [`TOGETHER_MAX_TERMS`] terms or there is no denominator.
    pub fn together(&mut self, sum: Id) -> Option<Id> {
        let terms = self.expand_terms(sum)?;
        let mut den: Vec<(Id, i32)> = Vec::new();
        for &t in &terms {
            for (b, h) in self.powers_of(t) {
                if h < 0 {
                    match den.iter_mut().find(|(x, _)| *x == b) {
                        Some(slot) => slot.1 = slot.1.min(h),
                        None => den.push((b, h)),
                    }
                }
            }
        }
        // a base stays in the denominator only if no numerator would get a half power of it
        // (`C·Φ + μ·φ/√C` keeps its form instead of `(C^(3/2)·Φ + μ·φ)/√C`)
        let powers: Vec<Vec<(Id, i32)>> = terms.iter().map(|&t| self.powers_of(t)).collect();
        den.retain(|&(b, h)| {
            powers.iter().all(|p| {
                let own = p.iter().find(|(x, _)| *x == b).map_or(0, |&(_, k)| k);
                (own - h) % 2 == 0
            })
        });
        if den.is_empty() {
            return None;
        }
        let lift: Vec<Id> = den.iter().map(|&(b, h)| self.pow(b, -h)).collect();
        let mut numerators = Vec::with_capacity(terms.len());
        for t in terms {
            let mut fs = lift.clone();
            fs.push(t);
            let lifted = self.mul(fs);
            numerators.extend(self.expand_terms(lifted)?);
            if numerators.len() > TOGETHER_MAX_TERMS {
                return None;
            }
        }
        let num = self.add_cancelling(numerators);
        let num = self.factor_common(num);
        let mut fs: Vec<Id> = den.iter().map(|&(b, h)| self.pow(b, h)).collect();
        fs.push(num);
        Some(self.mul(fs))
    }

    /// Σ terms with like terms collected, where a collected coefficient that is rounding left
    /// over from a cancellation (|Σ c| ≤ 1e-13 Σ |c| over the contributions: `√(2/π)·C` computed
    /// in two ways, minus each other) is set to zero.
    fn add_cancelling(&mut self, terms: Vec<Id>) -> Id {
        // (monomial without its coefficient, Σ c, Σ |c|); `None` is the constant term
        let mut acc: Vec<(Option<Id>, f64, f64)> = Vec::new();
        for t in terms {
            let (c, r) = self.split_coef(t);
            match acc.iter_mut().find(|(x, ..)| *x == r) {
                Some(slot) => {
                    slot.1 += c;
                    slot.2 += c.abs();
                }
                None => acc.push((r, c, c.abs())),
            }
        }
        let kept: Vec<Id> = acc
            .into_iter()
            .filter(|&(_, sum, abs)| sum.abs() > 1e-13 * abs)
            .map(|(r, sum, _)| {
                let c = self.konst(sum);
                match r {
                    Some(r) => self.mul(vec![c, r]),
                    None => c,
                }
            })
            .collect();
        self.add(kept)
    }

    /// A sum with the factors common to all its terms (and a common coefficient magnitude)
    /// taken out: `a·u·x + a·u·y → a·u·(x + y)`.
    fn factor_common(&mut self, sum: Id) -> Id {
        let Node::Add(ts) = self.nodes[sum].clone() else {
            return sum;
        };
        let mut common: Vec<(Id, i32)> = self.powers_of(ts[0]);
        for &t in &ts[1..] {
            let p = self.powers_of(t);
            common.retain_mut(|(b, h)| match p.iter().find(|(x, _)| x == b) {
                Some(&(_, k)) if k.signum() == h.signum() => {
                    *h = if *h > 0 { (*h).min(k) } else { (*h).max(k) };
                    true
                }
                _ => false,
            });
        }
        let coefs: Vec<f64> = ts.iter().map(|&t| self.split_coef(t).0).collect();
        let c0 = coefs[0].abs();
        let same = c0 > 0.0 && coefs.iter().all(|c| (c.abs() - c0).abs() <= 1e-14 * c0);
        let scale = if same && c0 != 1.0 { c0 } else { 1.0 };
        if common.is_empty() && scale == 1.0 {
            return sum;
        }
        let mut inv: Vec<Id> = common.iter().map(|&(b, h)| self.pow(b, -h)).collect();
        inv.push(self.konst(1.0 / scale));
        let rest: Vec<Id> = ts
            .iter()
            .map(|&t| {
                let mut fs = inv.clone();
                fs.push(t);
                self.mul(fs)
            })
            .collect();
        let rest = self.add(rest);
        let mut fs: Vec<Id> = common.iter().map(|&(b, h)| self.pow(b, h)).collect();
        fs.push(self.konst(scale));
        fs.push(rest);
        self.mul(fs)
    }

    /// The factors of a term as (base, exponent in halves), constants left out.
    fn powers_of(&self, t: Id) -> Vec<(Id, i32)> {
        let one = |g: &Graph, f: Id| match &g.nodes[f] {
            Node::Const(_) => None,
            Node::Pow(b, h) => Some((*b, *h)),
            _ => Some((f, 2)),
        };
        match &self.nodes[t] {
            Node::Mul(fs) => fs.iter().filter_map(|&f| one(self, f)).collect(),
            _ => one(self, t).into_iter().collect(),
        }
    }

    /// `x` as a list of terms with products distributed over sums (integer powers of sums
    /// multiplied out); `None` beyond [`TOGETHER_MAX_TERMS`] terms.
    fn expand_terms(&mut self, x: Id) -> Option<Vec<Id>> {
        if let Some(known) = self.expand_memo.get(&x) {
            return known.clone();
        }
        let terms = self.expand_terms_once(x);
        self.expand_memo.insert(x, terms.clone());
        terms
    }

    /// [`Graph::expand_terms`] of a node not expanded before (its parts through the memo).
    fn expand_terms_once(&mut self, x: Id) -> Option<Vec<Id>> {
        match self.nodes[x].clone() {
            Node::Add(ts) => {
                let mut out = Vec::new();
                for t in ts {
                    out.extend(self.expand_terms(t)?);
                    if out.len() > TOGETHER_MAX_TERMS {
                        return None;
                    }
                }
                Some(out)
            }
            Node::Mul(fs) => {
                let mut acc = vec![self.one()];
                for f in fs {
                    let parts = self.expand_terms(f)?;
                    acc = self.distribute(&acc, &parts)?;
                }
                Some(acc)
            }
            Node::Pow(b, h) if h > 0 && h % 2 == 0 && matches!(self.nodes[b], Node::Add(_)) => {
                let base = self.expand_terms(b)?;
                let mut acc = vec![self.one()];
                for _ in 0..h / 2 {
                    acc = self.distribute(&acc, &base)?;
                }
                Some(acc)
            }
            _ => Some(vec![x]),
        }
    }

    /// The terms of `(Σ a)(Σ p)`; `None` beyond [`TOGETHER_MAX_TERMS`] terms.
    fn distribute(&mut self, a: &[Id], p: &[Id]) -> Option<Vec<Id>> {
        if a.len() * p.len() > TOGETHER_MAX_TERMS {
            return None;
        }
        let mut out = Vec::with_capacity(a.len() * p.len());
        for &x in a {
            for &y in p {
                out.push(self.mul(vec![x, y]));
            }
        }
        Some(out)
    }

    /// [`Graph::tree_size`], remembering the size of every node it measures (the together pass
    /// measures each sum and its rewrite: without the memo each measure walked the whole graph).
    fn tree_size_memo(&mut self, root: Id) -> usize {
        let mut stack = vec![(root, false)];
        while let Some((id, children_done)) = stack.pop() {
            if self.size_memo.contains_key(&id) {
                continue;
            }
            let kids = self.children(id);
            if children_done {
                let size = kids
                    .iter()
                    .map(|c| self.size_memo[c])
                    .fold(1usize, |a, b| a.saturating_add(b));
                self.size_memo.insert(id, size);
            } else {
                stack.push((id, true));
                stack.extend(
                    kids.into_iter()
                        .filter(|k| !self.size_memo.contains_key(k))
                        .map(|k| (k, false)),
                );
            }
        }
        self.size_memo[&root]
    }

    /// Number of nodes of the expression tree when every shared node is inlined (saturating).
    pub fn tree_size(&self, root: Id) -> usize {
        let order = self.reachable(&[root]);
        let mut size: HashMap<Id, usize> = HashMap::default();
        for id in order {
            let s = 1 + self
                .children(id)
                .iter()
                .map(|c| size[c])
                .fold(0usize, |a, b| a.saturating_add(b));
            size.insert(id, s);
        }
        size[&root]
    }
}

/// Largest number of terms [`Graph::together`] expands a sum into.
pub const TOGETHER_MAX_TERMS: usize = 64;

/// A sum of constant coefficients within this many units in the last place of its addends'
/// magnitudes is rounding, and zero ([`Graph::add`]).
const CANCELLATION: f64 = 8.0;

/// `v` snapped to a nearby simple rational (relative distance ≤ 8·10⁻¹⁶).
fn snap(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    for q in 1..=16u32 {
        let p = (v * q as f64).round();
        let r = p / q as f64;
        if (r - v).abs() <= 8e-16 * v.abs() {
            return r;
        }
    }
    v
}

fn push_power(powers: &mut Vec<(Id, i32)>, base: Id, halves: i32) {
    match powers.iter_mut().find(|(b, _)| *b == base) {
        Some(slot) => slot.1 += halves,
        None => powers.push((base, halves)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_terms_and_powers_collect() {
        let mut g = Graph::new();
        let c = g.cov(0, 0);
        let two = g.konst(2.0);
        let a = g.mul(vec![two, c]);
        let b = g.neg(c);
        let s = g.add(vec![a, b]);
        assert_eq!(s, c, "2C − C = C");
        let r = g.sqrt(c);
        let r = g.recip(r);
        let p = g.mul(vec![c, r]);
        assert_eq!(p, g.sqrt(c), "C·C^(−1/2) = √C");
        let x = g.mul(vec![c, c]);
        assert_eq!(g.node(x), &Node::Pow(c, 4));
    }

    /// −a/√(1+C) + a·C/(1+C)^(3/2) = −a/(1+C)^(3/2) (erf's third-derivative mean at zero mean),
    /// and a sum whose common denominator is longer is left as it is.
    #[test]
    fn sums_over_a_common_denominator() {
        let mut g = Graph::new();
        let c = g.cov(0, 0);
        let one = g.one();
        let b = g.add(vec![one, c]);
        let a = g.konst((2.0 / std::f64::consts::PI).sqrt());
        let r1 = g.pow(b, -1);
        let t1 = g.mul(vec![a, r1]);
        let t1 = g.neg(t1);
        let r3 = g.pow(b, -3);
        let t2 = g.mul(vec![a, c, r3]);
        let sum = g.add(vec![t1, t2]);
        let shown = g.zero_mean_form(sum);
        let na = g.neg(a);
        let want = g.mul(vec![na, r3]);
        assert_eq!(shown, want);
        // μ2 − μ1·C12/(1 + C11) stays: (μ2 + μ2·C11 − μ1·C12)/(1 + C11) is longer
        let (m1, m2, c12) = (g.mean(0), g.mean(1), g.cov(0, 1));
        let rb = g.recip(b);
        let q = g.mul(vec![m1, c12, rb]);
        let d = g.sub(m2, q);
        assert_eq!(g.display_form(d), d);
    }

    #[test]
    fn sheppard_at_zero_mean() {
        let mut g = Graph::new();
        let (s11, s22, s12) = (g.cov(0, 0), g.cov(1, 1), g.cov(0, 1));
        let (m1, m2) = (g.mean(0), g.mean(1));
        let p = g.orthant2(m1, m2, s11, s22, s12);
        // 4 Φ₂ − 2Φ − 2Φ + 1 at zero mean = (2/π) asin ρ
        let (p1, p2) = (g.orthant1(m1, s11), g.orthant1(m2, s22));
        let four = g.scale(4.0, p);
        let a = g.scale(-2.0, p1);
        let b = g.scale(-2.0, p2);
        let one = g.one();
        let i2 = g.add(vec![four, a, b, one]);
        let z = g.zero_mean_form(i2);
        let rho = g.corr(s12, s11, s22);
        let asin = g.asin(rho);
        let want = g.scale(2.0 / std::f64::consts::PI, asin);
        assert_eq!(z, want);
    }
}
