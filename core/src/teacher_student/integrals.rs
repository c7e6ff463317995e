//! The teacher–student expectations (docs/theory.md §8), derived at run time by the same
//! derivation library as `#[activation]` from the student's and the teacher's expressions:
//!
//! `I2(a, b) = E[g_a(a) g_b(b)]`, `I3(k, b, c) = E[g'(λ_k) b g_c(c)]`,
//! `I4(k, l, c, d) = E[g'(λ_k) g'(λ_l) g_c(c) g_d(d)]`, `J2(k, l) = E[g'(λ_k) g'(λ_l)]`,
//!
//! with `g_c = g` on a student field and `g*` on a teacher field. Fields that coincide (`λ_k` twice,
//! e.g. `I3(k, k, j)`) are merged into one integration variable before the derivation, so no
//! expectation is ever taken over a singular covariance built from repeated fields. Each distinct
//! product pattern is derived once into a compiled [`Program`]; a [`Term`] binds a pattern to the
//! fields it is evaluated at.
//!
//! A pattern without a closed form (tanh, or five and more step/erf factors) is evaluated by
//! tensor Gauss–Hermite quadrature on the Cholesky factor of its covariance — only if one of the
//! activations is declared with quadrature and both are smooth (no kinks or jumps: a rule cannot
//! see Dirac terms, and converges slowly across kinks). The rule's order depends on the number of factors only
//! ([`GH_ORDER_FEW`] for I2, J2, I3; [`GH_ORDER_I4`] for I4), never on how many fields coincide,
//! so a pattern over fields that coincide (aligned students: a singular covariance, whose
//! Cholesky column vanishes) gives exactly the value of the merged pattern — the manifold of
//! identical students stays invariant, as it is for the exact ODE (with orders chosen by
//! dimension, the quadrature error pushed the state across det Q = 0 and the integrator stalled).
//! A field that enters only linearly (`b` in I3) is integrated exactly (its conditional mean), so
//! I3 needs at most a 2-D rule.

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::quad::cholesky_psd;
use aedyn_symbolic::closed::Graph;
use aedyn_symbolic::derive::DeriveError;
use aedyn_symbolic::product::{Factor, expect_product};
use aedyn_symbolic::render::Program;
use aedyn_symbolic::series::{self, Series};
use std::collections::HashMap;

/// Gauss–Hermite nodes per dimension of the quadrature fallback for I2, J2 and I3 (at most 64²
/// nodes). Measured for tanh (variances ≤ 1.5, strong correlations): ≤ 2e-8 relative.
pub const GH_ORDER_FEW: usize = 64;
/// Gauss–Hermite nodes per dimension for I4 (at most 20⁴ nodes; it enters the ODE only with
/// η²). Measured for tanh: ≤ 1e-4 relative — GH converges slowly for tanh, whose poles at ±iπ/2
/// lie near the real axis (`core/tests/teacher_student.rs`).
pub const GH_ORDER_I4: usize = 20;

/// What multiplies at one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// the field's own function: `g` for a student field, `g*` for a teacher field
    Act,
    /// `g'` (student fields only)
    Dg,
    /// the field itself
    X,
}

/// A derived pattern bound to the fields it is evaluated at (at most four distinct fields).
#[derive(Clone, Copy, Debug)]
pub struct Term {
    program: usize,
    fields: [usize; 4],
    dim: usize,
}

/// How one product pattern is evaluated.
#[derive(Clone)]
enum Evaluator {
    /// the derived closed form
    Closed(Program),
    /// tensor Gauss–Hermite quadrature of the pattern's factors
    Quadrature(Numeric),
}

/// A pattern evaluated by quadrature: `factors[v]` multiply at variable `v`; `linear` is a
/// variable whose only factor is the variable itself (integrated exactly, moved last); `rule`
/// indexes `[GH_ORDER_FEW, GH_ORDER_I4]`.
#[derive(Clone)]
struct Numeric {
    rule: usize,
    factors: Vec<Vec<(Slot, bool)>>,
    linear: Option<usize>,
}

/// The numerical activations for the quadrature fallback.
#[derive(Clone, Copy)]
struct Pointwise {
    student: &'static dyn Activation,
    teacher: &'static dyn Activation,
}

/// The derived teacher–student expectations of one (student, teacher) pair of activations.
#[derive(Clone)]
pub struct TsIntegrals {
    /// `[g, g', g*]` in normal form (`None`: outside the closed-form algebra)
    series: [Option<Series>; 3],
    /// why the student's / the teacher's series is `None`
    outside: [Option<String>; 2],
    /// fields `0..k` are students, `k..` teachers
    k: usize,
    graph: Graph,
    programs: Vec<Evaluator>,
    patterns: HashMap<String, usize>,
    /// set when quadrature may stand in for missing closed forms
    pointwise: Option<Pointwise>,
    /// the Gauss–Hermite rules of [`GH_ORDER_FEW`] and [`GH_ORDER_I4`] nodes (nodes, weights
    /// for N(0, 1))
    rules: Vec<(Vec<f64>, Vec<f64>)>,
}

/// Scratch space for [`TsIntegrals::eval`] (no allocation per evaluation once warm).
#[derive(Default)]
pub struct Scratch {
    values: Vec<f64>,
    cov: [f64; 16],
    /// quadrature patterns with a linear field: `E[h z_j]` over the integrated fields, reused by
    /// every linear field at the same integrated fields and covariance (I3(k, b, c) for all b)
    moments: Vec<Moments>,
}

impl Scratch {
    /// Forgets the cached quadrature moments: call once per new set of overlaps (they would
    /// still be correct, keyed by covariance, but never hit again and slow the lookup).
    pub fn new_state(&mut self) {
        self.moments.clear();
    }
}

/// `E[h(L z) z_j]` of one quadrature pattern at a covariance of its integrated fields (the
/// pattern fixes the factors and their order, so the two identify the moments).
struct Moments {
    program: usize,
    cov: [f64; 9],
    m: [f64; 3],
}

/// The normal form of an activation's expression (or why it has none), and whether the expression
/// is smooth (no kinks or jumps), so quadrature may stand in for it.
fn normal_form(src: &str) -> (std::result::Result<Series, String>, bool) {
    match aedyn_symbolic::activation::parse_expression(src) {
        Ok(e) => (
            series::to_series(&e).map_err(|e| e.0),
            aedyn_symbolic::activation::is_smooth(&e),
        ),
        Err(why) => (Err(why), false),
    }
}

impl TsIntegrals {
    /// Prepares the derivation for a student `g` and a teacher `g*` given as expressions in x
    /// (the activations' `expression()`), with `k` student fields. Closed forms only: a pattern
    /// without one is an error.
    pub fn new(student: &str, teacher: &str, k: usize) -> Result<Self> {
        let normal = |who: &str, src: &str| -> Result<Series> {
            normal_form(src).0.map_err(|why| {
                Error::TeacherStudent(format!(
                    "the {who} activation `{src}` is outside the closed-form algebra ({why}); \
                     declare it with quadrature to let Gauss–Hermite quadrature stand in"
                ))
            })
        };
        let g = normal("student", student)?;
        let dg = series::derivative(&g);
        let gt = normal("teacher", teacher)?;
        Ok(Self::with_series(
            [Some(g), Some(dg), Some(gt)],
            [None, None],
            k,
            None,
        ))
    }

    /// Prepares the integrals of two declared activations: closed forms where they exist; where
    /// not, Gauss–Hermite quadrature ([`GH_ORDER_FEW`], [`GH_ORDER_I4`]) if both activations allow quadrature
    /// ([`Activation::allows_quadrature`]: one of them suffices) and both are smooth, and an
    /// error otherwise.
    pub fn for_activations(
        student: &'static dyn Activation,
        teacher: &'static dyn Activation,
        k: usize,
    ) -> Result<Self> {
        let (s, t) = (student.expression(), teacher.expression());
        let ((gs, smooth_s), (gt, smooth_t)) = (normal_form(s), normal_form(t));
        let why = |who: &str, src: &str, e: &std::result::Result<Series, String>| {
            e.as_ref().err().map(|why| {
                format!("the {who} activation `{src}` is outside the closed-form algebra ({why})")
            })
        };
        let outside = [why("student", s, &gs), why("teacher", t, &gt)];
        let quadrature = student.allows_quadrature() || teacher.allows_quadrature();
        let pointwise =
            (quadrature && smooth_s && smooth_t).then_some(Pointwise { student, teacher });
        let g = gs.ok();
        let dg = g.as_ref().map(series::derivative);
        Ok(Self::with_series([g, dg, gt.ok()], outside, k, pointwise))
    }

    fn with_series(
        series: [Option<Series>; 3],
        outside: [Option<String>; 2],
        k: usize,
        pointwise: Option<Pointwise>,
    ) -> Self {
        let rules = if pointwise.is_some() {
            [GH_ORDER_FEW, GH_ORDER_I4]
                .iter()
                .map(|&n| aedyn_symbolic::hermite::rule(n))
                .collect()
        } else {
            Vec::new()
        };
        TsIntegrals {
            series,
            outside,
            k,
            graph: Graph::new(),
            programs: Vec::new(),
            patterns: HashMap::new(),
            pointwise,
            rules,
        }
    }

    /// Whether any pattern so far is evaluated by quadrature.
    pub fn uses_quadrature(&self) -> bool {
        self.programs
            .iter()
            .any(|p| matches!(p, Evaluator::Quadrature(_)))
    }

    /// Derives (once per pattern) `E[Π slot(field)]` and binds it to the fields.
    pub fn term(&mut self, slots: &[(usize, Slot)]) -> Result<Term> {
        let mut fields: Vec<usize> = Vec::new();
        let mut factors: Vec<(usize, Slot, bool)> = Vec::new();
        for &(f, s) in slots {
            let v = match fields.iter().position(|&x| x == f) {
                Some(v) => v,
                None => {
                    fields.push(f);
                    fields.len() - 1
                }
            };
            // which function acts at the field; irrelevant for X (so the pattern, and the cached
            // quadrature moments, are shared by student and teacher fields b of I3)
            let teacher = f >= self.k && s != Slot::X;
            if f >= self.k && s == Slot::Dg {
                return Err(Error::TeacherStudent(
                    "internal: g' of a teacher field is never needed".into(),
                ));
            }
            factors.push((v, s, teacher));
        }
        let dim = fields.len();
        let key = format!("{dim}:{factors:?}");
        let program = match self.patterns.get(&key) {
            Some(&p) => p,
            None => {
                let evaluator = match self.derive(dim, &factors) {
                    Ok(program) => Evaluator::Closed(program),
                    Err(why) => match self.pointwise {
                        Some(_) => Evaluator::Quadrature(numeric(dim, &factors, slots.len())),
                        None => {
                            return Err(Error::TeacherStudent(format!(
                                "teacher–student integral {} cannot be derived: {why}; \
                                 Gauss–Hermite quadrature stands in only when an activation \
                                 is declared with quadrature and both are smooth",
                                describe(&factors),
                            )));
                        }
                    },
                };
                self.programs.push(evaluator);
                self.patterns.insert(key, self.programs.len() - 1);
                self.programs.len() - 1
            }
        };
        let mut f = [0; 4];
        f[..dim].copy_from_slice(&fields);
        Ok(Term {
            program,
            fields: f,
            dim,
        })
    }

    /// The closed form of a pattern, or why there is none.
    fn derive(
        &mut self,
        dim: usize,
        factors: &[(usize, Slot, bool)],
    ) -> std::result::Result<Program, String> {
        let mut list: Vec<(usize, Factor)> = Vec::new();
        for &(v, s, teacher) in factors {
            let which = match (s, teacher) {
                (Slot::X, _) => {
                    list.push((v, Factor::Power(1)));
                    continue;
                }
                (Slot::Dg, _) => 1,
                (Slot::Act, false) => 0,
                (Slot::Act, true) => 2,
            };
            match &self.series[which] {
                Some(s) => list.push((v, Factor::Series(s))),
                None => {
                    return Err(self.outside[usize::from(which == 2)]
                        .clone()
                        .unwrap_or_else(|| "outside the closed-form algebra".into()));
                }
            }
        }
        let (root, _trace) = expect_product(&mut self.graph, dim, &list);
        let root = root.map_err(|e| match e {
            DeriveError::NoClosedForm(w) | DeriveError::Undefined(w) => w,
        })?;
        Ok(Program::new(&self.graph, root))
    }

    /// The value of `term` when the fields are jointly Gaussian with mean 0 and covariance
    /// `omega` (row-major, `n × n`, all fields).
    #[inline]
    pub fn eval(&self, term: &Term, omega: &[f64], n: usize, s: &mut Scratch) -> f64 {
        let d = term.dim;
        for a in 0..d {
            for b in 0..d {
                s.cov[a * d + b] = omega[term.fields[a] * n + term.fields[b]];
            }
        }
        const ZERO: [f64; 4] = [0.0; 4];
        match &self.programs[term.program] {
            Evaluator::Closed(p) => p.eval_n(&ZERO[..d], &s.cov[..d * d], d, &mut s.values),
            Evaluator::Quadrature(q) => self.quadrature(term, q, s),
        }
    }

    /// `E[Π factors]` over N(0, cov) by tensor Gauss–Hermite on the Cholesky factor, the
    /// linear-only variable (if any) replaced by its conditional mean.
    ///
    /// With a linear field `b` (last in the order), `E[h · x_b] = Σ_j L_bj E[h z_j]`: the moments
    /// `E[h z_j]` depend only on the integrated fields and their covariance, so they are cached in
    /// the scratch space and shared by all `b`.
    fn quadrature(&self, term: &Term, q: &Numeric, s: &mut Scratch) -> f64 {
        let Some(pw) = self.pointwise else {
            return f64::NAN;
        };
        let d = q.factors.len();
        // order: the integrated variables, then the linear one
        let mut order = [0usize; 4];
        let mut m = 0;
        for v in (0..d).filter(|&v| Some(v) != q.linear) {
            order[m] = v;
            m += 1;
        }
        if let Some(v) = q.linear {
            order[m] = v;
        }
        let l: [[f64; 4]; 4] = cholesky_psd(d, |i, j| s.cov[order[i] * d + order[j]]);
        let integrated = d - usize::from(q.linear.is_some());
        let (z, w) = &self.rules[q.rule];
        let ctx = Nest {
            pw,
            q,
            l: &l,
            order: &order,
            integrated,
            z,
            w,
        };
        if q.linear.is_none() {
            let mut acc = [0.0; 3];
            ctx.sum(0, &mut [0.0; 4], 1.0, &mut acc);
            return acc[0];
        }
        let mut cov = [0.0; 9];
        for i in 0..integrated {
            for j in 0..integrated {
                cov[i * 3 + j] = s.cov[order[i] * d + order[j]];
            }
        }
        let hit = s
            .moments
            .iter()
            .find(|e| e.program == term.program && e.cov == cov)
            .map(|e| e.m);
        let moments = match hit {
            Some(m) => m,
            None => {
                let mut acc = [0.0; 3];
                ctx.sum(0, &mut [0.0; 4], 1.0, &mut acc);
                if s.moments.len() >= 512 {
                    s.moments.clear();
                }
                s.moments.push(Moments {
                    program: term.program,
                    cov,
                    m: acc,
                });
                acc
            }
        };
        (0..integrated).map(|j| l[integrated][j] * moments[j]).sum()
    }
}

/// The nested Gauss–Hermite sums of one quadrature pattern.
struct Nest<'a> {
    pw: Pointwise,
    q: &'a Numeric,
    l: &'a [[f64; 4]; 4],
    order: &'a [usize; 4],
    integrated: usize,
    z: &'a [f64],
    w: &'a [f64],
}

impl Nest<'_> {
    /// The nested sums `Σ w h(x)` over the integrated levels, `x = L z` in the permuted order
    /// (`weight`: the product of the outer levels' `w h`). Without a linear field the sum goes to
    /// `acc[0]`; with one, the moments `Σ w h(x) z_j` go to `acc[j]`.
    fn sum(&self, lvl: usize, zs: &mut [f64; 4], weight: f64, acc: &mut [f64; 3]) {
        let row = &self.l[lvl];
        let base: f64 = (0..lvl).map(|j| row[j] * zs[j]).sum();
        let var = self.order[lvl];
        for (&z, &w) in self.z.iter().zip(self.w) {
            zs[lvl] = z;
            let h = weight * w * self.factors(var, base + row[lvl] * z);
            if h == 0.0 {
                continue;
            }
            if lvl + 1 < self.integrated {
                self.sum(lvl + 1, zs, h, acc);
            } else if self.q.linear.is_some() {
                for j in 0..self.integrated {
                    acc[j] += h * zs[j];
                }
            } else {
                acc[0] += h;
            }
        }
    }

    /// The product of the factors at variable `var`, at `x`.
    #[inline]
    fn factors(&self, var: usize, x: f64) -> f64 {
        let mut h = 1.0;
        for &(slot, teacher) in &self.q.factors[var] {
            h *= match (slot, teacher) {
                (Slot::X, _) => x,
                (Slot::Dg, _) => self.pw.student.dg(x),
                (Slot::Act, false) => self.pw.student.g(x),
                (Slot::Act, true) => self.pw.teacher.g(x),
            };
        }
        h
    }
}

/// The quadrature form of a pattern.
fn numeric(dim: usize, factors: &[(usize, Slot, bool)], n_factors: usize) -> Numeric {
    let mut per: Vec<Vec<(Slot, bool)>> = vec![Vec::new(); dim];
    for &(v, s, teacher) in factors {
        per[v].push((s, teacher));
    }
    let linear = (0..dim).find(|&v| dim > 1 && per[v].len() == 1 && per[v][0].0 == Slot::X);
    Numeric {
        rule: usize::from(n_factors >= 4),
        factors: per,
        linear,
    }
}

/// `E[g'(x1) x2 g*(x3)]`-style text of a pattern.
fn describe(factors: &[(usize, Slot, bool)]) -> String {
    let parts: Vec<String> = factors
        .iter()
        .map(|&(v, s, teacher)| {
            let x = format!("x{}", v + 1);
            match (s, teacher) {
                (Slot::X, _) => x,
                (Slot::Dg, _) => format!("g'({x})"),
                (Slot::Act, false) => format!("g({x})"),
                (Slot::Act, true) => format!("g*({x})"),
            }
        })
        .collect();
    format!("E[{}]", parts.join(" "))
}
