//! The teacher–student ODEs (docs/theory.md §8), exact as N → ∞ at finite learning rate:
//!
//! `dR_km/dt = −η v_k E[g'(λ_k) ν_m Δ̄]`,
//! `dQ_kl/dt = −η v_k E[g'(λ_k) λ_l Δ̄] − η v_l E[g'(λ_l) λ_k Δ̄]
//!             + η² v_k v_l (E[g'(λ_k) g'(λ_l) Δ̄²] + σ² E[g'(λ_k) g'(λ_l)])`,
//! `dv_k/dt = −η_v E[g(λ_k) Δ̄]` (trained second layer only),
//!
//! with `Δ̄ = Σ_c u_c g_c(f_c)` over all fields `f = (λ_1..λ_K, ν_1..ν_M)` and `u = (v, −v*)`, so
//! `E[g'(λ_k) b Δ̄] = Σ_c u_c I3(k, b, c)`, `E[g'(λ_k) g'(λ_l) Δ̄²] = Σ_cd u_c u_d I4(k, l, c, d)`,
//! and the error `ε_g = ½ Σ_cd u_c u_d I2(c, d)`.
//! The state is `y = (Q_kl for k ≤ l, R_km, v_k if trained)`; T and v* are constant.

use super::integrals::{Scratch, Slot, Term, TsIntegrals, fields_coincide};
use crate::error::Result;
use crate::ode::Flow;
use nalgebra::DVector;

/// The fixed parameters of a teacher–student set-up.
#[derive(Clone, Debug)]
pub struct TsParams {
    /// student hidden units K
    pub k: usize,
    /// teacher hidden units M
    pub m: usize,
    /// first-layer learning rate η
    pub lr: f64,
    /// second-layer learning rate η_v
    pub lr_v: f64,
    /// output noise variance σ²
    pub noise_var: f64,
    /// train the student's second layer
    pub train_v: bool,
    /// teacher second layer v*
    pub v_star: Vec<f64>,
    /// teacher overlaps T (M×M, row-major)
    pub t: Vec<f64>,
    /// the student's second layer when it is not trained (all ones: soft committee machine)
    pub v_fixed: Vec<f64>,
}

/// The ODE system of one teacher–student set-up.
pub struct TsSystem {
    pub p: TsParams,
    ints: TsIntegrals,
    /// `I2(c, d)` for all fields, `n × n`
    i2: Vec<Term>,
    /// `I3(k, b, c)`, `K × n × n`
    i3: Vec<Term>,
    /// `I4(k, l, c, d)` for `k ≤ l`, `c ≤ d`
    i4: Vec<(usize, usize, usize, usize, Term)>,
    /// `J2(k, l)` for `k ≤ l`
    j2: Vec<Term>,
    /// g's degree of positive homogeneity and parity ([`TsSystem::homogeneity_degree`],
    /// [`TsSystem::parity`]): properties of the activation, found once
    shape: std::sync::OnceLock<(Option<f64>, Option<f64>)>,
}

/// Buffers of one right-hand side.
pub struct TsWorkspace {
    omega: Vec<f64>,
    u: Vec<f64>,
    /// `A_k(b) = Σ_c u_c I3(k, b, c)`, `K × n`
    a: Vec<f64>,
    b4: Vec<f64>,
    scratch: Scratch,
    /// the I3 and I4 values of one right-hand side, computed serially or in parallel
    terms: TermValues,
    /// each student's representative among the students it coincides with
    /// ([`TsSystem::coinciding_students`])
    twins: Vec<usize>,
    /// why an evaluation was refused (a field's variance beyond what quadrature is trusted at)
    failure: Option<String>,
}

/// Order parameters of a state: `Q` (K×K), `R` (K×M), `v` (K).
#[derive(Clone, Debug)]
pub struct TsOrder {
    pub q: Vec<f64>,
    pub r: Vec<f64>,
    pub v: Vec<f64>,
}

impl TsSystem {
    /// Derives the integrals for a student `g` and teacher `g*` (expressions in x) and binds
    /// every term one right-hand side needs.
    pub fn new(p: TsParams, student: &str, teacher: &str) -> Result<Self> {
        let ints = TsIntegrals::new(student, teacher, p.k)?;
        Self::with_integrals(p, ints)
    }

    /// The system of two declared activations: closed forms where they exist, Gauss–Hermite
    /// quadrature where not and allowed (see [`TsIntegrals::for_activations`]).
    pub fn for_activations(
        p: TsParams,
        student: &'static dyn crate::activation::Activation,
        teacher: &'static dyn crate::activation::Activation,
    ) -> Result<Self> {
        let ints = TsIntegrals::for_activations(student, teacher, p.k)?;
        Self::with_integrals(p, ints)
    }

    /// Whether some expectations are evaluated by quadrature instead of a closed form.
    pub fn uses_quadrature(&self) -> bool {
        self.ints.uses_quadrature()
    }

    fn with_integrals(p: TsParams, mut ints: TsIntegrals) -> Result<Self> {
        let (k, n) = (p.k, p.k + p.m);
        let mut i2 = Vec::with_capacity(n * n);
        for c in 0..n {
            for d in 0..n {
                i2.push(ints.term(&[(c, Slot::Act), (d, Slot::Act)])?);
            }
        }
        let mut i3 = Vec::with_capacity(k * n * n);
        for a in 0..k {
            for b in 0..n {
                for c in 0..n {
                    i3.push(ints.term(&[(a, Slot::Dg), (b, Slot::X), (c, Slot::Act)])?);
                }
            }
        }
        let mut i4 = Vec::new();
        let mut j2 = Vec::new();
        for a in 0..k {
            for b in a..k {
                j2.push(ints.term(&[(a, Slot::Dg), (b, Slot::Dg)])?);
                for c in 0..n {
                    for d in c..n {
                        let t = ints.term(&[
                            (a, Slot::Dg),
                            (b, Slot::Dg),
                            (c, Slot::Act),
                            (d, Slot::Act),
                        ])?;
                        i4.push((a, b, c, d, t));
                    }
                }
            }
        }
        ints.check_teacher_overlaps(&p.t, p.m)?;
        Ok(TsSystem {
            p,
            ints,
            i2,
            i3,
            i4,
            j2,
            shape: std::sync::OnceLock::new(),
        })
    }

    /// The same system (same derived integrals and terms) with other learning rates, noise or
    /// teacher overlaps; K, M and whether v is trained must stay as they are.
    pub fn with_params(&self, p: TsParams) -> TsSystem {
        assert!(
            (p.k, p.m, p.train_v) == (self.p.k, self.p.m, self.p.train_v),
            "with_params keeps the state layout"
        );
        TsSystem {
            p,
            ints: self.ints.clone(),
            i2: self.i2.clone(),
            i3: self.i3.clone(),
            i4: self.i4.clone(),
            j2: self.j2.clone(),
            shape: self.shape.clone(),
        }
    }

    /// Number of fields K + M.
    pub fn fields(&self) -> usize {
        self.p.k + self.p.m
    }

    /// Length of the state vector.
    pub fn len(&self) -> usize {
        let k = self.p.k;
        k * (k + 1) / 2 + k * self.p.m + if self.p.train_v { k } else { 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Groups of students that nearly coincide at `y` — squared separation
    /// `|w_a − w_b|² = Q_aa + Q_bb − 2Q_ab ≤ tol·(Q_aa + Q_bb)` (joined transitively), and equal
    /// fixed second-layer weights where v is not trained — with an orthonormal basis (columns) of
    /// the subspace where the students of each group are identical: one coordinate per pair of
    /// groups for Q, per group and teacher for R, per group for a trained v, each the normalised
    /// indicator of the state components it sets. F maps that subspace into itself (identical
    /// students get identical updates). `None` when no two students coincide.
    pub fn coinciding_groups(
        &self,
        y: &DVector<f64>,
        tol: f64,
    ) -> Option<(Vec<Vec<usize>>, nalgebra::DMatrix<f64>)> {
        let (k, m) = (self.p.k, self.p.m);
        let o = self.order(y);
        let mut group: Vec<usize> = (0..k).collect();
        fn root(g: &mut [usize], mut a: usize) -> usize {
            while g[a] != a {
                a = g[a];
            }
            a
        }
        for a in 0..k {
            for b in a + 1..k {
                let (qa, qb, qab) = (o.q[a * k + a], o.q[b * k + b], o.q[a * k + b]);
                let close = qa + qb - 2.0 * qab <= tol * (qa + qb) && qa + qb > 0.0;
                let same_v = self.p.train_v || self.p.v_fixed[a] == self.p.v_fixed[b];
                if close && same_v {
                    let (ra, rb) = (root(&mut group, a), root(&mut group, b));
                    group[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let of: Vec<usize> = (0..k).map(|a| root(&mut group, a)).collect();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for a in 0..k {
            match groups.iter_mut().find(|g| of[g[0]] == of[a]) {
                Some(g) => g.push(a),
                None => groups.push(vec![a]),
            }
        }
        if groups.len() == k {
            return None;
        }
        let g_of: Vec<usize> = (0..k)
            .map(|a| groups.iter().position(|g| g.contains(&a)).expect("grouped"))
            .collect();
        // the state's components: Q (a ≤ b), R (a, teacher), v (a)
        let mut keys: Vec<(u8, usize, usize)> = Vec::with_capacity(self.len());
        for a in 0..k {
            for b in a..k {
                let (ga, gb) = (g_of[a], g_of[b]);
                keys.push((0, ga.min(gb), ga.max(gb)));
            }
        }
        for a in 0..k {
            for t in 0..m {
                keys.push((1, g_of[a], t));
            }
        }
        if self.p.train_v {
            for a in 0..k {
                keys.push((2, g_of[a], 0));
            }
        }
        let mut columns: Vec<(u8, usize, usize)> = keys.clone();
        columns.sort_unstable();
        columns.dedup();
        let mut basis = nalgebra::DMatrix::zeros(keys.len(), columns.len());
        for (c, col) in columns.iter().enumerate() {
            let rows: Vec<usize> = (0..keys.len()).filter(|&i| keys[i] == *col).collect();
            let w = 1.0 / (rows.len() as f64).sqrt();
            for i in rows {
                basis[(i, c)] = w;
            }
        }
        Some((groups, basis))
    }

    /// The state of order parameters `Q` (K×K), `R` (K×M) and second layer `v`.
    pub fn state(&self, q: &[f64], r: &[f64], v: &[f64]) -> DVector<f64> {
        let k = self.p.k;
        let mut y = Vec::with_capacity(self.len());
        for a in 0..k {
            for b in a..k {
                y.push(q[a * k + b]);
            }
        }
        y.extend_from_slice(r);
        if self.p.train_v {
            y.extend_from_slice(v);
        }
        DVector::from_vec(y)
    }

    /// The perfectly learned state nearest to `near`, if F vanishes there to 1e-12 (an exact
    /// fixed point); K ≥ M. Each student a is either switched off (`w_a = 0`, where its length
    /// `Q_aa` is below 1e-6 of the teachers'; exact for g(0) = 0) or takes the teacher unit b(a)
    /// it overlaps most with (|R_ab| / √T_bb largest, R's sign s_a) and a length c_a along it,
    /// `w_a = c_a s_a w*_b`, so `Q_ab = c_a c_b s_a s_b T_{b(a)b(b)}` and `R_am = c_a s_a T_{b(a)m}`;
    /// with K > M several students share a teacher. Lengths tried: 1 (the teacher itself, when
    /// the students take distinct teachers) and the student's own, `c_a = |R_ab| / T_bb` rounded
    /// to 21 significant bits (so that `c²` is exact); a positively homogeneous g trades length
    /// for second-layer weight, `v g(cλ) = v c^p g(λ)` (ReLU with a trained second layer
    /// converges to `w = c w*`, `v = v*/c`, with c set by the initial weights). The second layer
    /// is the fixed one or, when trained, `v = s·v*` (odd g), `v = v*` (even g) and the
    /// least-squares v nearest to `near`'s (`A v = B v*` with `A_ab = I2(λ_a, λ_b)`,
    /// `B_am = I2(λ_a, ν_m)`, solved by the pseudo-inverse from `near`'s v, which keeps its split
    /// between students that share a teacher), whichever F vanishes at. A fixed second layer
    /// and a g homogeneous of degree p (`homogeneity_degree`) add the candidate whose
    /// students on each teacher b have their own lengths scaled so that `Σ σ_a v_a c_a^p = v*_b`
    /// (they act as one unit there; σ_a = 1 for a student with its teacher, g's parity for one
    /// against it). With K > M three or more fields are exactly proportional;
    /// the closed forms give the steps one Dirac condition determines their joint value there
    /// (docs/integrals.md §4).
    pub fn perfect_state(&self, near: &DVector<f64>) -> Option<DVector<f64>> {
        let (k, m) = (self.p.k, self.p.m);
        if k < m {
            return None;
        }
        let o = self.order(near);
        let t = &self.p.t;
        let t_max = (0..m).map(|b| t[b * m + b]).fold(0.0, f64::max);
        // (teacher, sign) per student, None: switched off
        let pick: Vec<Option<(usize, f64)>> = (0..k)
            .map(|a| {
                if o.q[a * k + a] < 1e-6 * t_max {
                    return None;
                }
                let best = (0..m).max_by(|&b, &c| {
                    let score = |b: usize| o.r[a * m + b].abs() / t[b * m + b].sqrt();
                    score(b).total_cmp(&score(c))
                })?;
                Some((best, o.r[a * m + best].signum()))
            })
            .collect();
        let mut taken = vec![0usize; m];
        for &(b, _) in pick.iter().flatten() {
            taken[b] += 1;
        }
        let distinct = taken.iter().all(|&n| n == 1);
        if k == m && !distinct {
            return None;
        }
        let own: Vec<f64> = (0..k)
            .map(|a| match pick[a] {
                Some((b, _)) => significant_bits(o.r[a * m + b].abs() / t[b * m + b], 21),
                None => 0.0,
            })
            .collect();
        if own.iter().any(|c| !c.is_finite()) {
            return None;
        }
        // the student's own lengths first: the candidate nearest to `near`
        let mut lengths = vec![own.clone()];
        let mut ws = self.workspace();
        if !self.p.train_v {
            // a fixed second layer and a g homogeneous of degree p: students on teacher b with
            // lengths c_a act as one unit of weight Σ σ_a v_a c_a^p, which must be v*_b; the own
            // lengths scaled by the common factor κ_b = (v*_b / Σ σ_a v_a c_a^p)^(1/p)
            let &(degree, parity) = self
                .shape
                .get_or_init(|| (self.homogeneity_degree(&mut ws), self.parity(&mut ws)));
            if let Some(p) = degree {
                // a student against its teacher (s = −1) counts with g's parity:
                // g(−cλ) = ±c^p g(λ) for an even / odd g, and not at all otherwise
                let sigma = |s: f64| if s > 0.0 { Some(1.0) } else { parity };
                let mut scaled = own.clone();
                for b in 0..m {
                    let group: Vec<(usize, f64)> = (0..k)
                        .filter_map(|a| match pick[a] {
                            Some((t, s)) if t == b => sigma(s).map(|x| (a, x)),
                            _ => None,
                        })
                        .collect();
                    let weight: f64 = group
                        .iter()
                        .map(|&(a, x)| x * self.p.v_fixed[a] * own[a].powf(p))
                        .sum();
                    let kappa = (self.p.v_star[b] / weight).powf(1.0 / p);
                    if kappa.is_finite() && kappa > 0.0 {
                        for &(a, _) in &group {
                            scaled[a] = kappa * own[a];
                        }
                    }
                }
                if scaled != own {
                    lengths.push(scaled);
                }
            }
        }
        if distinct && own.iter().any(|c| *c != 1.0) {
            lengths.push(vec![1.0; k]);
        }
        let mut f = DVector::zeros(self.len());
        for c in &lengths {
            let unit = |a: usize| pick[a].map_or((0, 0.0), |(b, s)| (b, c[a] * s));
            let q: Vec<f64> = (0..k * k)
                .map(|i| {
                    let ((b, x), (d, z)) = (unit(i / k), unit(i % k));
                    x * z * t[b * m + d]
                })
                .collect();
            let r: Vec<f64> = (0..k * m)
                .map(|i| {
                    let (b, x) = unit(i / m);
                    x * t[b * m + i % m]
                })
                .collect();
            let mut second: Vec<Vec<f64>> = Vec::new();
            if self.p.train_v {
                if k == m {
                    // (each student on its own teacher, checked above)
                    for signed in [true, false] {
                        second.push(
                            pick.iter()
                                .flatten()
                                .map(|&(b, s)| if signed { s } else { 1.0 } * self.p.v_star[b])
                                .collect(),
                        );
                    }
                }
                let y = self.state(&q, &r, &o.v);
                second.extend(self.least_squares_v(&y, &o.v, &mut ws));
            } else {
                second.push(self.p.v_fixed.clone());
            }
            for v in &second {
                let y = self.state(&q, &r, v);
                self.rhs(&y, &mut f, &mut ws);
                if f.amax() < 1e-12 {
                    return Some(y);
                }
            }
        }
        None
    }

    /// The degree p of positive homogeneity of the student's g, `g(cλ) = c^p g(λ)` for c > 0, if
    /// it has one: from `E[g(λ)²]` at variances 1, 4 and 9, which scale as `c^(2p)` (the two
    /// estimates of p must agree to 1e-9; an integer within 1e-9 is taken exactly).
    fn homogeneity_degree(&self, ws: &mut TsWorkspace) -> Option<f64> {
        let k = self.p.k;
        let mut second_moment = |var: f64| {
            let q: Vec<f64> = (0..k * k)
                .map(|i| if i / k == i % k { var } else { 0.0 })
                .collect();
            self.students_i2(&q, &[(0, 0)], ws)[0]
        };
        let base = second_moment(1.0);
        let p2 = (second_moment(4.0) / base).ln() / (2.0 * 2f64.ln());
        let p3 = (second_moment(9.0) / base).ln() / (2.0 * 3f64.ln());
        if !(p2.is_finite() && p2 > 0.0 && (p2 - p3).abs() < 1e-9) {
            return None;
        }
        Some(if (p2 - p2.round()).abs() < 1e-9 {
            p2.round()
        } else {
            p2
        })
    }

    /// The parity of the student's g, +1 (even) or −1 (odd), if it has one: `E[g(λ) g(−λ)]` over
    /// `E[g(λ)²]` at unit variance, ±1 to 1e-12 (two students needed to evaluate it).
    fn parity(&self, ws: &mut TsWorkspace) -> Option<f64> {
        let k = self.p.k;
        if k < 2 {
            return None;
        }
        // students 0 and 1 opposite, unit variance; the others unit and apart
        let q: Vec<f64> = (0..k * k)
            .map(|i| match (i / k, i % k) {
                (a, b) if a == b => 1.0,
                (0, 1) | (1, 0) => -1.0,
                _ => 0.0,
            })
            .collect();
        let i2 = self.students_i2(&q, &[(0, 0), (0, 1)], ws);
        let r = i2[1] / i2[0];
        [1.0, -1.0].into_iter().find(|x| (r - x).abs() < 1e-12)
    }

    /// `I2(λ_a, λ_b)` for the student `pairs` at student overlaps `q` (K×K; R = 0).
    fn students_i2(&self, q: &[f64], pairs: &[(usize, usize)], ws: &mut TsWorkspace) -> Vec<f64> {
        let (k, m, n) = (self.p.k, self.p.m, self.fields());
        let y = self.state(q, &vec![0.0; k * m], &self.p.v_fixed);
        self.fill(&y, ws);
        ws.scratch.new_state();
        pairs
            .iter()
            .map(|&(a, b)| {
                self.ints
                    .eval(&self.i2[a * n + b], &ws.omega, n, &mut ws.scratch)
            })
            .collect()
    }

    /// The second layer that minimises ε for the first layers of `y` nearest to `from`:
    /// `v = from + A⁺(B v* − A from)` with `A_ab = I2(λ_a, λ_b)` and `B_am = I2(λ_a, ν_m)` (ε is
    /// quadratic in v; A⁺ the pseudo-inverse, so that students with parallel weights keep
    /// `from`'s split of their common weight).
    fn least_squares_v(
        &self,
        y: &DVector<f64>,
        from: &[f64],
        ws: &mut TsWorkspace,
    ) -> Option<Vec<f64>> {
        let (k, m, n) = (self.p.k, self.p.m, self.fields());
        self.fill(y, ws);
        ws.scratch.new_state();
        let mut i2 = |c: usize, d: usize| {
            self.ints
                .eval(&self.i2[c * n + d], &ws.omega, n, &mut ws.scratch)
        };
        let a = nalgebra::DMatrix::from_fn(k, k, &mut i2);
        let b = nalgebra::DVector::from_fn(k, |x, _| {
            (0..m).map(|mm| i2(x, k + mm) * self.p.v_star[mm]).sum()
        });
        let from = nalgebra::DVector::from_column_slice(from);
        let tol = 1e-10 * a.amax();
        let residual = &b - &a * &from;
        let v = from + a.pseudo_inverse(tol).ok()? * residual;
        v.iter()
            .all(|x| x.is_finite())
            .then(|| v.iter().copied().collect())
    }

    /// The order parameters of a state.
    pub fn order(&self, y: &DVector<f64>) -> TsOrder {
        let (k, m) = (self.p.k, self.p.m);
        let mut q = vec![0.0; k * k];
        let mut i = 0;
        for a in 0..k {
            for b in a..k {
                q[a * k + b] = y[i];
                q[b * k + a] = y[i];
                i += 1;
            }
        }
        let r = y.as_slice()[i..i + k * m].to_vec();
        let v = if self.p.train_v {
            y.as_slice()[i + k * m..].to_vec()
        } else {
            self.p.v_fixed.clone()
        };
        TsOrder { q, r, v }
    }

    /// Fills Ω = [[Q, R], [Rᵀ, T]] and u = (v, −v*) from a state.
    fn fill(&self, y: &DVector<f64>, ws: &mut TsWorkspace) {
        let (k, m, n) = (self.p.k, self.p.m, self.fields());
        let mut i = 0;
        for a in 0..k {
            for b in a..k {
                ws.omega[a * n + b] = y[i];
                ws.omega[b * n + a] = y[i];
                i += 1;
            }
        }
        for a in 0..k {
            for b in 0..m {
                ws.omega[a * n + k + b] = y[i];
                ws.omega[(k + b) * n + a] = y[i];
                i += 1;
            }
        }
        for a in 0..m {
            for b in 0..m {
                ws.omega[(k + a) * n + k + b] = self.p.t[a * m + b];
            }
        }
        for a in 0..k {
            ws.u[a] = if self.p.train_v {
                y[i + a]
            } else {
                self.p.v_fixed[a]
            };
        }
        for b in 0..m {
            ws.u[k + b] = -self.p.v_star[b];
        }
    }

    /// The noise-free generalisation error `ε_g = ½ Σ_cd u_c u_d I2(c, d)`.
    pub fn error_with(&self, y: &DVector<f64>, ws: &mut TsWorkspace) -> f64 {
        self.fill(y, ws);
        ws.scratch.new_state();
        let n = self.fields();
        let mut e = 0.0;
        for c in 0..n {
            for d in 0..n {
                let u = ws.u[c] * ws.u[d];
                if u != 0.0 {
                    e += u * self
                        .ints
                        .eval(&self.i2[c * n + d], &ws.omega, n, &mut ws.scratch);
                }
            }
        }
        0.5 * e
    }

    /// The smallest eigenvalue of the overlaps `Ω = [[Q, R], [Rᵀ, T]]` over their largest entry:
    /// `≥ 0` for every state that describes a network (Ω is a Gram matrix), negative outside.
    pub fn cone_margin(&self, y: &DVector<f64>) -> f64 {
        let mut ws = Flow::workspace(self);
        self.fill(y, &mut ws);
        let n = self.fields();
        let omega = nalgebra::DMatrix::from_row_slice(n, n, &ws.omega);
        omega.symmetric_eigenvalues().min() / omega.amax().max(1e-300)
    }

    /// Whether the flow is equivariant under permutations of the student units: K ≥ 2 and the
    /// second layer trained or fixed with equal entries.
    pub fn exchangeable(&self) -> bool {
        let fixed = &self.p.v_fixed;
        self.p.k >= 2 && (self.p.train_v || fixed.iter().all(|v| *v == fixed[0]))
    }

    /// The average of `y` over the permutations of the student units — the projection onto the
    /// states in which all students are alike (`Q_kk = q`, `Q_kl = c`, `R_km = r_m`, `v_k = v̄`),
    /// an invariant subspace of the flow where the students are [`Self::exchangeable`], and
    /// where the Saad–Solla plateau lies.
    pub fn symmetrised(&self, y: &DVector<f64>) -> DVector<f64> {
        let (k, m) = (self.p.k, self.p.m);
        let o = self.order(y);
        let pairs = (0..k).flat_map(|a| (0..k).map(move |b| (a, b)));
        let diag = (0..k).map(|a| o.q[a * k + a]).sum::<f64>() / k as f64;
        let off = pairs
            .filter(|(a, b)| a != b)
            .map(|(a, b)| o.q[a * k + b])
            .sum::<f64>()
            / (k * (k - 1)) as f64;
        let q: Vec<f64> = (0..k * k)
            .map(|i| if i / k == i % k { diag } else { off })
            .collect();
        let r: Vec<f64> = (0..k * m)
            .map(|i| (0..k).map(|a| o.r[a * m + i % m]).sum::<f64>() / k as f64)
            .collect();
        let v = vec![o.v.iter().sum::<f64>() / k as f64; k];
        self.state(&q, &r, &v)
    }

    /// The weight of the j-th I4 term in `B_kl = Σ_{c≤d} w_cd I4(k, l, c, d)`: `u_c²` for
    /// `c = d`, `2 u_c u_d` otherwise (I4 is symmetric in its last two fields).
    fn i4_weight(&self, j: usize, u: &[f64]) -> f64 {
        let (_, _, c, d, _) = self.i4[j];
        if c == d {
            u[c] * u[c]
        } else {
            2.0 * u[c] * u[d]
        }
    }

    /// Marks in `twins` each student's representative: the first student it coincides with
    /// (`w_a = w_b`: [`fields_coincide`] on Ω and equal second-layer weights, both within
    /// [`TWINS`]), else itself. True if some student has a twin.
    fn coinciding_students(&self, omega: &[f64], u: &[f64], twins: &mut [usize]) -> bool {
        let (k, n) = (self.p.k, self.fields());
        let mut any = false;
        for a in 0..k {
            twins[a] = (0..a)
                .find(|&b| {
                    twins[b] == b
                        && (u[a] - u[b]).abs() <= TWINS * u[a].abs().max(u[b].abs())
                        && fields_coincide(n, |i, j| omega[i * n + j], a, b, TWINS)
                })
                .unwrap_or(a);
            any |= twins[a] != a;
        }
        any
    }

    /// Gives students that coincide the derivatives of their representative: `dQ_ab/dt` becomes
    /// `dQ_{r(a) r(b)}/dt` (the representative's own `dQ_rr/dt` for twins, whose overlap is
    /// a length), `dR_am/dt` becomes `dR_{r(a) m}/dt`, `dv_a/dt` becomes `dv_{r(a)}/dt`. Identical
    /// students stay identical under SGD (their gradients are equal), and the flow keeps the set
    /// of such states invariant; computed separately, their derivatives would differ by rounding,
    /// which the symmetric saddle amplifies, and for a student whose g' jumps (a clamp),
    /// `d(Q_aa − Q_ab)/dt` grows like `√(Q_aa − Q_ab)`, so a difference of 1e-16 became one of
    /// 1e-3 by t ≈ 12 where SGD's students stayed identical.
    fn keep_twins_together(&self, twins: &[usize], dy: &mut DVector<f64>) {
        let (k, m) = (self.p.k, self.p.m);
        // index of Q_ab (a ≤ b) in the state's upper triangle, row by row
        let q = |a: usize, b: usize| {
            let (a, b) = (a.min(b), a.max(b));
            a * (2 * k - a + 1) / 2 + (b - a)
        };
        for a in 0..k {
            for b in a..k {
                let (ra, rb) = (twins[a], twins[b]);
                let from = if ra == rb { q(ra, ra) } else { q(ra, rb) };
                dy[q(a, b)] = dy[from];
            }
        }
        let r0 = k * (k + 1) / 2;
        for a in (0..k).filter(|&a| twins[a] != a) {
            for mb in 0..m {
                dy[r0 + a * m + mb] = dy[r0 + twins[a] * m + mb];
            }
            if self.p.train_v {
                dy[r0 + k * m + a] = dy[r0 + k * m + twins[a]];
            }
        }
    }

    /// The generalisation error of a state.
    pub fn error(&self, y: &DVector<f64>) -> f64 {
        self.error_with(y, &mut Flow::workspace(self))
    }
}

impl Flow for TsSystem {
    type Workspace = TsWorkspace;

    /// The perfectly learned state ([`TsSystem::perfect_state`]) once `y` is within `tol` of it
    /// (relative) and F vanishes there to 1e-12: for students with kinks F is not
    /// differentiable at it, and the integrator's steps stall on the way in.
    fn settled(&self, y: &DVector<f64>, tol: f64) -> Option<DVector<f64>> {
        let star = self.perfect_state(y)?;
        crate::ode::integrate::reached_within(y, &star, tol).then_some(star)
    }

    fn workspace(&self) -> TsWorkspace {
        let (k, n) = (self.p.k, self.fields());
        TsWorkspace {
            omega: vec![0.0; n * n],
            u: vec![0.0; n],
            a: vec![0.0; k * n],
            b4: vec![0.0; k * k],
            scratch: Scratch::default(),
            terms: TermValues::new(self.i3.len() + self.i4.len()),
            twins: vec![0; k],
            failure: None,
        }
    }

    fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, ws: &mut TsWorkspace) {
        self.fill(y, ws);
        ws.scratch.new_state();
        let (k, m, n) = (self.p.k, self.p.m, self.fields());
        if let Some((student, _)) = self.ints.quadrature_activations()
            && let Some(trusted) = self.ints.quadrature_trusted_variance()
            && ws.failure.is_none()
        {
            // the teacher's fields are fixed, checked once (`check_teacher_overlaps`)
            ws.failure = (0..k).find_map(|c| {
                let name = || {
                    (
                        format!("student field λ_{}", c + 1),
                        format!("Q_{0}{0}", c + 1),
                    )
                };
                crate::quad::untrusted_variance(ws.omega[c * n + c], trusted, name, student)
            });
        }
        let TsWorkspace {
            omega,
            u,
            a,
            b4,
            scratch,
            terms,
            twins,
            ..
        } = ws;
        // every I3 and the I4 of non-zero weight (below), on more than one thread where one
        // evaluation is costly; the sums over them stay in the same order, so the result is the
        // same to the bit either way
        let n3 = self.i3.len();
        // a twin's derivatives are its representative's (below), so its own terms are skipped:
        // from init_std = 0 one student's worth of work instead of K
        let have_twins = self.coinciding_students(omega, u, twins);
        let twins: &[usize] = twins;
        let needed = |j: usize| {
            if j < n3 {
                let a = j / (n * n);
                twins[a] == a
            } else {
                let (ka, kb, ..) = self.i4[j - n3];
                twins[ka] == ka && twins[kb] == kb && self.i4_weight(j - n3, u) != 0.0
            }
        };
        let term = |j: usize| {
            if j < n3 {
                &self.i3[j]
            } else {
                &self.i4[j - n3].4
            }
        };
        // I3(a, b, c) for all b share their quadrature moments: one group per (a, c)
        let group = |j: usize| if j < n3 { (j / (n * n)) * n + j % n } else { j };
        terms.evaluate(&needed, &group, &|j, s: &mut Scratch| {
            self.ints.eval(term(j), omega, n, s)
        });
        // A_k(b) = E[g'(λ_k) f_b Δ̄]
        for kk in 0..k {
            for b in 0..n {
                let row = &terms.values[(kk * n + b) * n..(kk * n + b + 1) * n];
                a[kk * n + b] = row.iter().zip(u.iter()).map(|(x, w)| x * w).sum();
            }
        }
        // B_kl = E[g'(λ_k) g'(λ_l) Δ̄²] (I4 symmetric in its last two fields)
        b4.iter_mut().for_each(|x| *x = 0.0);
        for (j, &(ka, kb, ..)) in self.i4.iter().enumerate() {
            let w = self.i4_weight(j, u);
            if w != 0.0 {
                b4[ka * k + kb] += w * terms.values[n3 + j];
            }
        }
        let (eta, eta2) = (self.p.lr, self.p.lr * self.p.lr);
        let mut i = 0;
        let mut pair = 0;
        for ka in 0..k {
            for kb in ka..k {
                let mut v = -eta * (u[ka] * a[ka * n + kb] + u[kb] * a[kb * n + ka]);
                let mut second = b4[ka * k + kb];
                if self.p.noise_var > 0.0 {
                    second += self.p.noise_var * self.ints.eval(&self.j2[pair], omega, n, scratch);
                }
                v += eta2 * u[ka] * u[kb] * second;
                dy[i] = v;
                i += 1;
                pair += 1;
            }
        }
        for ka in 0..k {
            for mb in 0..m {
                dy[i] = -eta * u[ka] * a[ka * n + k + mb];
                i += 1;
            }
        }
        if self.p.train_v {
            for ka in 0..k {
                let mut s = 0.0;
                for c in 0..n {
                    if u[c] != 0.0 {
                        s += u[c] * self.ints.eval(&self.i2[ka * n + c], omega, n, scratch);
                    }
                }
                dy[i] = -self.p.lr_v * s;
                i += 1;
            }
        }
        if have_twins {
            self.keep_twins_together(twins, dy);
        }
    }

    fn failure(ws: &TsWorkspace) -> Option<String> {
        ws.failure.clone()
    }
}

/// Relative tolerance within which students are twins ([`TsSystem::coinciding_students`]):
/// 8 ulps. Twins arise exactly (SGD's identical initial weights, a symmetrised state) and stay
/// equal to the bit under [`TsSystem::keep_twins_together`]; the test is of second order in the
/// students' difference (see [`fields_coincide`]), so it takes students within about 4e-8 of
/// each other, about what the overlaps, stored to 1e-16, resolve.
const TWINS: f64 = 8.0 * f64::EPSILON;

/// Values of the terms of one right-hand side (`I3` then `I4`), evaluated on the calling thread or,
/// where one right-hand side costs more than [`PARALLEL_ABOVE`] (a student with kinks or
/// quadrature: hard tanh with K = M = 4 spends 0.1 s in thousands of four-orthant integrals),
/// shared among rayon's threads. Each term's value does not depend on where it is computed (the
/// memoised orthant integrals return what they would compute, and so do the quadrature moments
/// cached in a scratch space), so the values, and every sum over them, are the same to the bit.
/// Buffers are allocated once, with the workspace.
struct TermValues {
    values: Vec<f64>,
    /// per share of the terms: its (term, value) pairs and its scratch space
    shares: Vec<(Vec<(usize, f64)>, Scratch)>,
    /// whether the next evaluation is shared among threads: decided after each one by its
    /// duration (the cost changes along a run: tiny near zero weights, where a clamp's fields
    /// rarely reach its kinks)
    parallel: bool,
}

/// Duration of one right-hand side's term evaluation above which it is shared among threads
/// (rayon's overhead is a few microseconds; erf's closed forms take about that in all).
const PARALLEL_ABOVE: std::time::Duration = std::time::Duration::from_micros(300);

impl TermValues {
    fn new(len: usize) -> Self {
        // many more shares than threads: a few terms can cost far more than the rest (four-field
        // quadratures over a kinked student's panels), so coarse shares left a thread idle
        // (softsign student, x³ teacher, K = M = 2: 22.5 s with 2 shares per thread, 19.6 s
        // with 16, the same values)
        let shares = 16 * rayon::current_num_threads();
        TermValues {
            values: vec![0.0; len],
            shares: (0..shares)
                .map(|_| (Vec::with_capacity(len), Scratch::default()))
                .collect(),
            parallel: false,
        }
    }

    /// `values[j] = eval(j)` where `needed(j)`, else 0. In parallel, term j goes to share
    /// `group(j) mod shares`, so terms of one group meet one scratch space (the I3 of one student
    /// and one function field for every linear field b share their quadrature moments).
    fn evaluate(
        &mut self,
        needed: &(dyn Fn(usize) -> bool + Sync),
        group: &(dyn Fn(usize) -> usize + Sync),
        eval: &(dyn Fn(usize, &mut Scratch) -> f64 + Sync),
    ) {
        use rayon::prelude::*;
        let len = self.values.len();
        let start = std::time::Instant::now();
        if self.parallel {
            let count = self.shares.len();
            self.shares
                .par_iter_mut()
                .enumerate()
                .for_each(|(c, (out, scratch))| {
                    scratch.new_state();
                    out.clear();
                    for j in (0..len).filter(|&j| group(j) % count == c) {
                        out.push((j, if needed(j) { eval(j, scratch) } else { 0.0 }));
                    }
                });
            for &(j, v) in self.shares.iter().flat_map(|(out, _)| out) {
                self.values[j] = v;
            }
            // back to one thread once the shared work is as cheap as a fraction of the bound
            self.parallel = start.elapsed() > PARALLEL_ABOVE / 4;
            return;
        }
        let scratch = &mut self.shares[0].1;
        scratch.new_state();
        for (j, v) in self.values.iter_mut().enumerate() {
            *v = if needed(j) { eval(j, scratch) } else { 0.0 };
        }
        self.parallel = rayon::current_num_threads() > 1 && start.elapsed() > PARALLEL_ABOVE;
    }
}

/// `x` rounded (to nearest) to `bits` significant bits, 1 ≤ bits ≤ 53: a dyadic rational whose
/// square is exact in f64 for `bits ≤ 26`. Works on the bits, so for every finite x (the carry of
/// a mantissa that rounds up moves into the exponent; the largest values may round to ±∞).
fn significant_bits(x: f64, bits: u32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let drop = 53 - bits.clamp(1, 53);
    if drop == 0 {
        return x;
    }
    let half = 1u64 << (drop - 1);
    let mask = !((1u64 << drop) - 1);
    f64::from_bits((x.to_bits() + half) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_shared_among_threads_give_the_same_right_hand_side_to_the_bit() {
        // a clamp student (four-orthant integrals) and a softsign one (piecewise quadrature with
        // cached moments), K = 3, M = 2, at a generic state: one thread, then the terms shared
        let p = TsParams {
            k: 3,
            m: 2,
            lr: 0.5,
            lr_v: 0.5,
            noise_var: 0.01,
            train_v: true,
            v_star: vec![1.0, 0.7],
            t: vec![1.0, 0.2, 0.2, 1.0],
            v_fixed: vec![1.0; 3],
        };
        let q = [0.8, 0.3, -0.1, 0.3, 0.6, 0.2, -0.1, 0.2, 1.1];
        let r = [0.4, 0.1, -0.2, 0.5, 0.3, 0.3];
        for (student, quadrature) in [("x.clamp(-1.0, 1.0)", false), ("x / (1.0 + x.abs())", true)]
        {
            let act = crate::registry::resolve(student, quadrature).unwrap();
            let teacher = crate::registry::resolve("erf", false).unwrap();
            let sys = TsSystem::for_activations(p.clone(), act, teacher).unwrap();
            let y = sys.state(&q, &r, &[0.9, 1.1, 0.8]);
            let mut ws = sys.workspace();
            let (mut serial, mut shared) = (y.clone(), y.clone());
            ws.terms.parallel = false;
            sys.rhs(&y, &mut serial, &mut ws);
            ws.terms.parallel = true;
            sys.rhs(&y, &mut shared, &mut ws);
            assert!(
                serial.iter().all(|v| v.is_finite() && *v != 0.0),
                "{student}: {serial}"
            );
            assert_eq!(serial, shared, "{student}");
        }
    }
}
