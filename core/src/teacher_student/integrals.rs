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

use crate::error::{Error, Result};
use aedyn_symbolic::closed::Graph;
use aedyn_symbolic::derive::DeriveError;
use aedyn_symbolic::product::{Factor, expect_product};
use aedyn_symbolic::render::Program;
use aedyn_symbolic::series::{self, Series};
use std::collections::HashMap;

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

/// The derived teacher–student expectations of one (student, teacher) pair of activations.
#[derive(Clone)]
pub struct TsIntegrals {
    /// `[g, g', g*]` in normal form
    series: [Series; 3],
    /// fields `0..k` are students, `k..` teachers
    k: usize,
    graph: Graph,
    programs: Vec<Program>,
    patterns: HashMap<String, usize>,
}

/// Scratch space for [`TsIntegrals::eval`] (no allocation per evaluation).
#[derive(Default)]
pub struct Scratch {
    values: Vec<f64>,
    cov: [f64; 16],
}

impl TsIntegrals {
    /// Prepares the derivation for a student `g` and a teacher `g*` given as expressions in x
    /// (the activations' `expression()`), with `k` student fields.
    pub fn new(student: &str, teacher: &str, k: usize) -> Result<Self> {
        let normal = |who: &str, src: &str| -> Result<Series> {
            let e = aedyn_symbolic::activation::parse_expression(src)
                .map_err(|m| Error::TeacherStudent(format!("{who} activation `{src}`: {m}")))?;
            series::to_series(&e).map_err(|e| {
                Error::TeacherStudent(format!(
                    "the teacher–student model needs closed forms, and the {who} activation \
                     `{src}` is outside the closed-form algebra ({}); its four-point integrals \
                     would need four-dimensional quadrature, which is not offered",
                    e.0
                ))
            })
        };
        let g = normal("student", student)?;
        let dg = series::derivative(&g);
        let gt = normal("teacher", teacher)?;
        Ok(TsIntegrals {
            series: [g, dg, gt],
            k,
            graph: Graph::new(),
            programs: Vec::new(),
            patterns: HashMap::new(),
        })
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
            let teacher = f >= self.k;
            if teacher && s == Slot::Dg {
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
                let list: Vec<(usize, Factor)> = factors
                    .iter()
                    .map(|&(v, s, teacher)| {
                        let f = match (s, teacher) {
                            (Slot::X, _) => Factor::Power(1),
                            (Slot::Dg, _) => Factor::Series(&self.series[1]),
                            (Slot::Act, false) => Factor::Series(&self.series[0]),
                            (Slot::Act, true) => Factor::Series(&self.series[2]),
                        };
                        (v, f)
                    })
                    .collect();
                let (root, _trace) = expect_product(&mut self.graph, dim, &list);
                let root = root.map_err(|e| {
                    let why = match e {
                        DeriveError::NoClosedForm(w) | DeriveError::Undefined(w) => w,
                    };
                    Error::TeacherStudent(format!(
                        "teacher–student integral {} cannot be derived: {why}",
                        describe(&factors)
                    ))
                })?;
                let program = Program::new(&self.graph, root);
                self.programs.push(program);
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
        self.programs[term.program].eval_n(&ZERO[..d], &s.cov[..d * d], d, &mut s.values)
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
