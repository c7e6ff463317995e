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
//! tensor Gauss–Hermite quadrature on the pivoted Cholesky factor of its covariance, continued
//! across the boundary of the cone of covariances where the overlaps are singular (plateaus, the
//! perfectly learned state; [`nearest_psd`], docs/theory.md §8.3) — only if one of the
//! activations is declared with quadrature and the student's g is continuous (a jump puts a Dirac
//! term into g' and δ² into E[g'²]). A student with kinks, or a teacher with kinks or jumps, is
//! integrated piecewise instead: its fields are factored first and summed by composite Gauss–Legendre with
//! panel edges at its breaks ([`PIECEWISE`]) and, where a later field's break shows smoothed over
//! a small width (nearly coinciding students at the plateaus), graded panels about it
//! ([`Nest::edges`]); a Gauss–Hermite rule across a kink converges only like 1/n. The rule's order depends on the number of
//! factors (I2, J2, I3 or I4) and on the largest variance of the integrated fields — a field that
//! enters only linearly does not count ([`GH_TIERS`]: Gauss–Hermite converges more slowly as the
//! variance brings the activation's complex singularities nearer the real axis of the
//! standardised variable) — never on how many fields coincide, so a pattern over
//! fields that coincide (aligned students: a singular covariance, whose
//! Cholesky column vanishes) gives exactly the value of the merged pattern — the manifold of
//! identical students stays invariant, as it is for the exact ODE (with orders chosen by
//! dimension, the quadrature error pushed the state across det Q = 0 and the integrator stalled).
//! A field that enters only linearly (`b` in I3) is integrated exactly where the other fields'
//! covariance is well conditioned, so I3 then needs at most a 2-D rule.

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::quad::{DROPPED_PIVOT, cholesky_well_conditioned};
use aedyn_symbolic::closed::Graph;
use aedyn_symbolic::derive::DeriveError;
use aedyn_symbolic::expr::Expr;
use aedyn_symbolic::product::{Factor, expect_product};
use aedyn_symbolic::render::Program;
use aedyn_symbolic::series::{self, Series};
use std::collections::HashMap;

/// Gauss–Hermite nodes per dimension of the quadrature fallback by the largest variance of the
/// pattern's integrated fields, scaled to tanh's (`variance · 4 / trusted variance`,
/// [`TsIntegrals::quadrature_trusted_variance`]): `(up to this scaled variance, nodes for I2, J2
/// and I3, nodes for I4)`. Gauss–Hermite's error for tanh, whose poles at ±iπ/2 lie at
/// ±iπ/(2σ) in the standardised variable, falls like `exp(−c √n / σ)`, so the order needed for
/// one accuracy grows like the variance. Measured for tanh
/// (`core/tests/teacher_student.rs`, `tanh_quadrature_accuracy_holds_up_to_the_trusted_variance`,
/// where each tier is used alone at its largest variance, 5 % below its bound): I2, J2, I3 within
/// 1e-8 of their size (≤ 6.4e-9); I4 (which enters the ODE only with η²) within 1e-4 absolute
/// (≤ 5.6e-5). With 64 and 20 nodes at every variance (before), J2 was off by 2.5e-4 relative
/// and I4 by 7.5e-4 at variance 4.
pub const GH_TIERS: [(f64, usize, usize); 6] = [
    (1.2, 88, 20),
    (1.5, 112, 20),
    (2.0, 128, 24),
    (2.5, 160, 28),
    (3.0, 176, 32),
    (f64::INFINITY, 240, 40),
];

/// The composite Gauss–Legendre rule over a field whose activation has kinks or jumps (and over
/// the levels before one), for I2, J2 and I3 (`[0]`) and for I4 (`[1]`): the field's level
/// `x = base + s z` of the nested sums ([`Nest`]) runs over `|z| ≤ reach`, cut at
/// each break (`z = (b − base)/s`), at the smoothed breaks of later levels ([`Nest::edges`]) and
/// into panels no wider than `panel`, with `nodes` Gauss–Legendre nodes each and weights `φ(z)`.
/// Between the edges the integrand is smooth in z, so the panels converge as fast as on a smooth
/// function of that width — narrowed where the pieces are steeper ([`PIECEWISE_SELF_CHECK`]); a
/// Gauss–Hermite rule over a kink converges only like 1/n. The fields with breaks come first in
/// the factor, so their own breaks are exact (where pivoting moves a smooth field before one,
/// that level is summed by panels too).
#[derive(Clone, Copy, Debug)]
pub struct Piecewise {
    /// widest panel in standard deviations of the level's conditional Gaussian (a student's
    /// level is held to a width in x as well, [`TsIntegrals::resolve_student_panels`])
    pub panel: f64,
    /// Gauss–Legendre nodes per panel
    pub nodes: usize,
    /// half-width of the level's range in standard deviations (the tails beyond hold less
    /// than `2Φ(−reach)` of the mass: 2e-19 at 9, 2e-9 at 6)
    pub reach: f64,
    /// below this width (in standard deviations) a later level's smoothed break is summed as a
    /// hard one ([`Nest::edges`]): the smoothing moves the sum by `O(w)` of a jump's size where
    /// the level's own factors jump at the same place (nearly coinciding students: the odd
    /// difference between the smoothed and the hard jump no longer integrates to zero)
    pub floor: f64,
}

/// [`Piecewise`] rules for I2, J2, I3 and for I4.
pub const PIECEWISE: [Piecewise; 2] = [
    Piecewise {
        panel: 1.5,
        nodes: 16,
        reach: 9.0,
        floor: 1e-10,
    },
    Piecewise {
        panel: 3.0,
        nodes: 8,
        reach: 6.0,
        floor: 1e-5,
    },
];

/// The accuracy the [`PIECEWISE`] panels must reach on the teacher's pieces, relative to `E|f|`
/// (against panels three times finer), for I2, J2, I3 and for I4 (which enters only with η² and
/// is held to 1e-4 absolute: a tanh student with a ReLU teacher passes with I4's panels at
/// 2.1e-5, and with I2's at 1e-11).
pub const PIECEWISE_SELF_CHECK: [f64; 2] = [1e-11, 5e-5];

/// The largest correlation between two teacher fields at which a teacher with kinks or jumps is
/// integrated piecewise: the second field's breaks are exact given the first, but the first
/// level then sees them smoothed over `√(1 − ρ²)/ρ` standard deviations (0.48 at 0.9), which
/// its panels must resolve ([`TsIntegrals::check_teacher_overlaps`]).
pub const PIECEWISE_MAX_TEACHER_CORRELATION: f64 = 0.9;

impl Piecewise {
    fn rule(&self) -> (Vec<f64>, Vec<f64>) {
        aedyn_symbolic::kernels::gauss_legendre_rule(self.nodes)
    }
}

/// The relative width of the band below each bound of [`GH_TIERS`] in which the next tier's
/// rule is blended in (`TsIntegrals::rules_at`).
pub const TIER_BLEND: f64 = 0.05;

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
/// variable whose only factor is the variable itself (integrated exactly where the others'
/// covariance is well conditioned, [`TsIntegrals::eval`]); `four`: an I4 pattern (four factors),
/// which takes the lower orders of [`GH_TIERS`]; `kinked[v]`: variable `v` carries a factor
/// with kinks or jumps (g* of a teacher with breaks, or g, g' of a student with breaks),
/// integrated piecewise ([`PIECEWISE`]) and factored first; `student[v]`: those breaks are the
/// student's (else the teacher's).
#[derive(Clone)]
struct Numeric {
    four: bool,
    factors: Vec<Vec<(Slot, bool)>>,
    linear: Option<usize>,
    kinked: [bool; 4],
    student: [bool; 4],
    /// the pattern with variables `a < b` merged, for each pair (built once, [`Numeric::merged`])
    merges: Vec<(usize, usize, Numeric)>,
}

/// The first `m` of `items` reordered with those for which `kinked` holds first, each group in
/// its given order (so that a kinked variable's breaks are exact at its own level of the
/// factor).
fn kinked_first(items: [usize; 4], m: usize, kinked: impl Fn(usize) -> bool) -> [usize; 4] {
    let mut out = items;
    let mut p = 0;
    for first in [true, false] {
        for &v in &items[..m] {
            if kinked(v) == first {
                out[p] = v;
                p += 1;
            }
        }
    }
    out
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
    /// the Gauss–Hermite rules of [`GH_TIERS`] (nodes, weights for N(0, 1)): index
    /// `2 · tier + four`
    rules: Vec<(Vec<f64>, Vec<f64>)>,
    /// the Gauss–Legendre panels of [`PIECEWISE`] (nodes, weights on [−1, 1]) for I2, J2, I3
    /// and for I4
    piecewise: [(Vec<f64>, Vec<f64>); 2],
    /// the panel widths in use: [`PIECEWISE`]'s, narrowed where the teacher's pieces need it
    /// ([`Self::check_teacher_overlaps`])
    piecewise_width: [f64; 2],
    /// where the teacher's g* or one of its derivatives jumps (ascending; empty when g* is
    /// smooth): its fields are integrated piecewise between them ([`PIECEWISE`])
    teacher_breaks: Vec<f64>,
    /// where the student's g or one of its derivatives jumps (ascending; empty when g is
    /// smooth; g itself is continuous, else quadrature does not stand in): its fields are
    /// integrated piecewise between them, with graded panels where another student's breaks
    /// are nearly aligned ([`Nest::edges`])
    student_breaks: Vec<f64>,
    /// the widest panel of a student field in units of x (not of standard deviations: the
    /// student's variance changes along a run), for I2, J2, I3 and for I4
    /// ([`Self::resolve_student_panels`]; infinite until resolved)
    student_width: [f64; 2],
    /// why quadrature cannot stand in although an activation allows it (a student with kinks)
    no_quadrature: Option<String>,
    /// the largest field variance at which the rules are trusted for these activations
    /// ([`crate::quad::feature::trusted_variance`]; `None`: their features are not resolved),
    /// found when the first pattern needs quadrature
    trusted: std::sync::OnceLock<Option<f64>>,
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

/// The normal form of an activation's expression (or why it has none), and the parsed expression
/// (`None` when it does not parse), whose smoothness and breaks decide how quadrature may stand
/// in for it.
fn normal_form(src: &str) -> (std::result::Result<Series, String>, Option<Expr>) {
    match aedyn_symbolic::activation::parse_expression(src) {
        Ok(e) => (series::to_series(&e).map_err(|e| e.0), Some(e)),
        Err(why) => (Err(why), None),
    }
}

/// The variance up to which the Gauss–Hermite rules are trusted on a teacher field, which carries
/// only g*: from g*'s and g*²'s own features ([`crate::quad::feature::trusted_variance`]).
fn teacher_trusted(teacher: &dyn Activation) -> Option<f64> {
    let own: [crate::quad::feature::Product<'_>; 2] = [
        Box::new(|x| teacher.g(x)),
        Box::new(|x| teacher.g(x).powi(2)),
    ];
    crate::quad::feature::trusted_variance(&own)
}

/// `g⁽ᵏ⁾(x)` of the student, k = 0 … 3 (the one-sided limits of [`crate::quad::dirac::breaks_of`]).
fn student_piece(a: &dyn Activation, k: usize, x: f64) -> f64 {
    match k {
        0 => a.g(x),
        1 => a.dg(x),
        2 => a.d2g(x),
        _ => a.d3g(x),
    }
}

/// Where g breaks (its kinks and jumps, ascending; empty for a smooth g).
fn breaks_of(e: &Expr) -> Vec<f64> {
    if aedyn_symbolic::activation::is_smooth(e) {
        Vec::new()
    } else {
        aedyn_symbolic::breaks::break_points(e, aedyn_symbolic::breaks::BREAK_RANGE)
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
    /// not, quadrature if the activations allow it ([`Activation::allows_quadrature`]: one of
    /// them suffices) and the student's g is continuous — Gauss–Hermite ([`GH_TIERS`]) over the
    /// fields of a smooth activation, composite Gauss–Legendre between the breaks
    /// ([`PIECEWISE`]) over those of an activation with kinks or jumps — and an error otherwise.
    pub fn for_activations(
        student: &'static dyn Activation,
        teacher: &'static dyn Activation,
        k: usize,
    ) -> Result<Self> {
        let (s, t) = (student.expression(), teacher.expression());
        let ((gs, expr_s), (gt, expr_t)) = (normal_form(s), normal_form(t));
        let why = |who: &str, src: &str, e: &std::result::Result<Series, String>| {
            e.as_ref().err().map(|why| {
                format!("the {who} activation `{src}` is outside the closed-form algebra ({why})")
            })
        };
        let outside = [why("student", s, &gs), why("teacher", t, &gt)];
        let quadrature = student.allows_quadrature() || teacher.allows_quadrature();
        let student_breaks = expr_s.as_ref().map(breaks_of).unwrap_or_default();
        let teacher_breaks = expr_t.as_ref().map(breaks_of).unwrap_or_default();
        let no_quadrature = (quadrature && expr_s.is_some() && expr_t.is_some())
            .then(|| Self::piecewise_refusal(student, teacher, &student_breaks, &teacher_breaks))
            .flatten();
        let pointwise =
            (quadrature && expr_s.is_some() && expr_t.is_some() && no_quadrature.is_none())
                .then_some(Pointwise { student, teacher });
        let g = gs.ok();
        let dg = g.as_ref().map(series::derivative);
        let mut ints = Self::with_series([g, dg, gt.ok()], outside, k, pointwise);
        ints.teacher_breaks = teacher_breaks;
        ints.student_breaks = student_breaks;
        ints.no_quadrature = no_quadrature;
        Ok(ints)
    }

    /// Why the piecewise quadrature cannot stand in for a student with `student_breaks` and a
    /// teacher with `teacher_breaks`, if it cannot: a student that jumps (its g' has a Dirac
    /// term, and E[g'(λ)²] in the ODE is undefined), or more breaks than [`MAX_BREAKS`].
    fn piecewise_refusal(
        student: &dyn Activation,
        teacher: &dyn Activation,
        student_breaks: &[f64],
        teacher_breaks: &[f64],
    ) -> Option<String> {
        let piece = |k, x| student_piece(student, k, x);
        if let Some(b) = crate::quad::dirac::breaks_of(&piece, student_breaks)
            .into_iter()
            .find(|b| b.jump[0] != 0.0)
        {
            return Some(format!(
                "the student `{}` jumps at x = {} (by {:.3e}): its g' has a Dirac term there, so \
                 E[g'(λ)²] in the ODE's η² term is undefined and quadrature cannot stand in",
                student.name(),
                b.at,
                b.jump[0]
            ));
        }
        let kinked_student = !student_breaks.is_empty();
        let (most, who, breaks) = if kinked_student && student_breaks.len() > MAX_BREAKS[0] {
            (MAX_BREAKS[0], student.name(), student_breaks.len())
        } else if kinked_student && teacher_breaks.len() > MAX_BREAKS[0] {
            (MAX_BREAKS[0], teacher.name(), teacher_breaks.len())
        } else if teacher_breaks.len() > MAX_BREAKS[1] {
            (MAX_BREAKS[1], teacher.name(), teacher_breaks.len())
        } else {
            return None;
        };
        Some(format!(
            "`{who}` breaks (has a kink or jump) at {breaks} points, more than the {most} the \
             piecewise quadrature takes{}, so quadrature cannot stand in",
            if kinked_student {
                " when the student has kinks"
            } else {
                ""
            }
        ))
    }

    fn with_series(
        series: [Option<Series>; 3],
        outside: [Option<String>; 2],
        k: usize,
        pointwise: Option<Pointwise>,
    ) -> Self {
        let rules = if pointwise.is_some() {
            GH_TIERS
                .iter()
                .flat_map(|&(_, few, four)| [few, four])
                .map(aedyn_symbolic::hermite::rule)
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
            piecewise: [PIECEWISE[0].rule(), PIECEWISE[1].rule()],
            piecewise_width: [PIECEWISE[0].panel, PIECEWISE[1].panel],
            teacher_breaks: Vec::new(),
            student_breaks: Vec::new(),
            student_width: [f64::INFINITY; 2],
            no_quadrature: None,
            trusted: std::sync::OnceLock::new(),
        }
    }

    /// The names of the student's and the teacher's activation when some pattern so far is
    /// evaluated by quadrature.
    pub fn quadrature_activations(&self) -> Option<(&'static str, &'static str)> {
        let pw = self.pointwise.filter(|_| self.uses_quadrature())?;
        Some((pw.student.name(), pw.teacher.name()))
    }

    /// The largest field variance at which the quadrature is trusted for this pair of
    /// activations, once a pattern is evaluated by quadrature (`None` before, and where their
    /// features could not be resolved: [`Self::term`] then refuses every such pattern).
    /// A student with kinks is integrated piecewise, its panels held to a width in x that is
    /// checked up to standard deviation [`STUDENT_PANEL_MAX_SD`] ([`Self::resolve_student_panels`]):
    /// its square then.
    pub fn quadrature_trusted_variance(&self) -> Option<f64> {
        if !self.student_breaks.is_empty() {
            return self
                .uses_quadrature()
                .then_some(STUDENT_PANEL_MAX_SD.powi(2));
        }
        self.trusted.get().copied().flatten()
    }

    /// [`Self::quadrature_trusted_variance`] for pointwise activations `pw`, found on first use.
    /// A teacher with kinks or jumps is integrated piecewise ([`PIECEWISE`]), not by the
    /// Gauss–Hermite rules, so only the student's products set the variance then.
    fn trusted(&self, pw: Pointwise) -> Option<f64> {
        *self.trusted.get_or_init(|| {
            let (st, te) = (pw.student, pw.teacher);
            if !self.student_breaks.is_empty() {
                // the student's fields are integrated piecewise: only a smooth teacher's fields
                // take the Gauss–Hermite rules (none where the teacher has kinks too)
                if !self.teacher_breaks.is_empty() {
                    return Some(f64::INFINITY);
                }
                return teacher_trusted(te);
            }
            let (g, dg) = (|x| st.g(x), |x| st.dg(x));
            let gt = |x| te.g(x);
            let gt: &dyn Fn(f64) -> f64 = if self.teacher_breaks.is_empty() {
                &gt
            } else {
                &g
            };
            crate::quad::feature::trusted_variance(&crate::quad::feature::products(&g, &dg, gt))
        })
    }

    /// Refuses teacher overlaps `t` (`m × m`, row-major; fixed for a run) under which the
    /// quadrature would be wrong from the start: a smooth teacher's field with a variance beyond
    /// the variance at which the rules are trusted for the teacher's own features
    /// ([`crate::quad::feature::trusted_variance`] of g* and g*²; `tanh(2x)` is trusted to 0.92,
    /// below an orthonormal teacher's 1), or two fields of a teacher with kinks or
    /// jumps correlated beyond [`PIECEWISE_MAX_TEACHER_CORRELATION`] (the first level would see
    /// the second's breaks smoothed over less than half a standard deviation). Nothing to check
    /// where no pattern is evaluated by quadrature.
    pub fn check_teacher_overlaps(&mut self, t: &[f64], m: usize) -> Result<()> {
        let Some(pw) = self.pointwise.filter(|_| self.uses_quadrature()) else {
            return Ok(());
        };
        let largest = (0..m).map(|a| t[a * m + a]).fold(0.0, f64::max);
        if !self.student_breaks.is_empty() {
            self.resolve_student_panels()?;
        }
        if !self.teacher_breaks.is_empty() {
            self.check_teacher_correlations(t, m, pw.teacher.name())?;
        }
        if !(self.teacher_breaks.is_empty() && self.student_breaks.is_empty()) {
            // a kinked teacher's fields, and a smooth teacher's that pivoting moves onto panels
            // where kinked students nearly coincide
            return self.resolve_teacher_panels(largest);
        }
        let teacher = pw.teacher.name();
        let trusted = teacher_trusted(pw.teacher).unwrap_or(0.0);
        if let Some(a) = (0..m).find(|&a| t[a * m + a].is_nan() || t[a * m + a] > trusted) {
            return Err(Error::TeacherStudent(format!(
                "the teacher field ν_{0} has variance T_{0}{0} = {1:.3}, beyond {trusted:.3} \
                 where the Gauss–Hermite fallback for activation `{teacher}` is trusted (for \
                 its features' width; its integrals would be wrong by 1e-4 and more), and the \
                 teacher's overlaps are fixed: use activations with closed forms (e.g. erf) or \
                 with wider features",
                a + 1,
                t[a * m + a]
            )));
        }
        Ok(())
    }

    /// Finds the widest panels, in units of x, that resolve a kinked student's pieces: every
    /// product of g, g' and x that one student field carries in I2, J2, I3, I4 (g, g', x·g, x·g',
    /// g², g'², g·g', x·g·g', g'²·g, g²·g'²) over Gaussians of standard deviation 0.25 …
    /// [`STUDENT_PANEL_MAX_SD`] and means 0, ±0.5, ±1.5, ±3 of it, summed on panels no wider than `min(`[`PIECEWISE`]` width, width_x/sd)`
    /// standard deviations with edges at the breaks, must agree with panels three times finer
    /// to [`PIECEWISE_SELF_CHECK`] of `E|f|`. From twice the [`PIECEWISE`] width, at most eight
    /// halvings, else a refusal. A width in x (not in standard deviations, as for the teacher,
    /// whose variance is fixed) holds at every variance the student's fields reach along a run up
    /// to `STUDENT_PANEL_MAX_SD²`, beyond which the ODE stops with an error naming the field
    /// ([`Self::quadrature_trusted_variance`]).
    fn resolve_student_panels(&mut self) -> Result<()> {
        let Some(pw) = self.pointwise else {
            return Ok(());
        };
        let st = pw.student;
        let fs: [&dyn Fn(f64) -> f64; 10] = [
            &|x| st.g(x),
            &|x| st.dg(x),
            &|x| x * st.g(x),
            &|x| x * st.dg(x),
            &|x| st.g(x).powi(2),
            &|x| st.dg(x).powi(2),
            &|x| st.g(x) * st.dg(x),
            &|x| x * st.g(x) * st.dg(x),
            &|x| st.dg(x).powi(2) * st.g(x),
            &|x| (st.g(x) * st.dg(x)).powi(2),
        ];
        let sds =
            [1.0 / 32.0, 1.0 / 16.0, 1.0 / 8.0, 0.25, 0.5, 1.0].map(|f| f * STUDENT_PANEL_MAX_SD);
        for (r, &tol) in PIECEWISE_SELF_CHECK.iter().enumerate() {
            let sd_width = PIECEWISE[r].panel;
            let z_width = |width_x: f64, sd: f64| sd_width.min(width_x / sd);
            let breaks = &self.student_breaks;
            let Some(width) =
                self.widest_resolved(r, breaks, &fs, &sds, z_width, tol, 2.0 * sd_width)
            else {
                return Err(Error::TeacherStudent(format!(
                    "the piecewise quadrature cannot resolve the student activation `{}` (its \
                     pieces vary faster than panels {:.2e} wide follow to {tol:e})",
                    st.name(),
                    2.0 * sd_width / 256.0
                )));
            };
            self.student_width[r] = width;
        }
        Ok(())
    }

    /// Narrows the [`PIECEWISE`] panels until they resolve the kinked teacher's pieces at its
    /// fields' variances (up to `variance`, the largest): for g*, g*² and g*·g, g*·g' (a student
    /// aligned with the teacher), over Gaussians of standard deviation `√variance` and half of
    /// it, means 0, ±0.5, ±1.5, ±3 of it, the panel rule must agree with one three times finer
    /// to [`PIECEWISE_SELF_CHECK`] of `E|f|` (a steep teacher, `relu(tanh(10x))`, was off by 7e-7
    /// with I2's panels and 5e-3 with I4's); at most eight halvings, else a refusal.
    fn resolve_teacher_panels(&mut self, variance: f64) -> Result<()> {
        let Some(pw) = self.pointwise else {
            return Ok(());
        };
        if variance.is_nan() || variance <= 0.0 {
            return Ok(()); // no spread: the fields are their means, no panel is summed
        }
        let (st, te) = (pw.student, pw.teacher);
        let fs: [&dyn Fn(f64) -> f64; 4] = [
            &|x| te.g(x),
            &|x| te.g(x).powi(2),
            &|x| te.g(x) * st.g(x),
            &|x| te.g(x) * st.dg(x),
        ];
        // a student with kinks, aligned with a teacher field, breaks at the same level
        let mut breaks = [self.teacher_breaks.as_slice(), &self.student_breaks].concat();
        breaks.sort_by(f64::total_cmp);
        let sds = [1.0, 0.5].map(|k| k * variance.sqrt());
        for (r, &tol) in PIECEWISE_SELF_CHECK.iter().enumerate() {
            let start = self.piecewise_width[r];
            let Some(width) = self.widest_resolved(r, &breaks, &fs, &sds, |w, _| w, tol, start)
            else {
                return Err(Error::TeacherStudent(format!(
                    "the piecewise quadrature cannot resolve the teacher activation `{}` at \
                     variance {variance:.3} (its pieces vary faster than panels of {:.2e} \
                     standard deviations follow to {tol:e})",
                    te.name(),
                    start / 256.0
                )));
            };
            self.piecewise_width[r] = width;
        }
        Ok(())
    }

    /// The widest panel width, from `start` halved at most eight times, at which the panels of
    /// rule `r` (edges at `breaks`, `z_width(width, sd)` standard deviations wide) sum each of
    /// `fs` over N(μ·sd, sd²), for each `sd` of `sds` and μ = 0, ±0.5, ±1.5, ±3, within `tol` of
    /// `E|f|` of panels three times finer; `None` if none does.
    #[allow(clippy::too_many_arguments)]
    fn widest_resolved(
        &self,
        r: usize,
        breaks: &[f64],
        fs: &[&dyn Fn(f64) -> f64],
        sds: &[f64],
        z_width: impl Fn(f64, f64) -> f64,
        tol: f64,
        start: f64,
    ) -> Option<f64> {
        let (t, w) = &self.piecewise[r];
        let panels = Panels {
            t,
            w,
            reach: PIECEWISE[r].reach,
            floor: PIECEWISE[r].floor,
        };
        let resolved = |width: f64| {
            sds.iter().all(|&sd| {
                [0.0, 0.5, -0.5, 1.5, -1.5, 3.0, -3.0].iter().all(|&mu| {
                    let m = mu * sd;
                    fs.iter().all(|f| {
                        let sum = |width: f64| {
                            let (mut a, mut size) = (0.0, 0.0);
                            panels.for_each_at(width, breaks, m, sd, |z, w| {
                                let v = f(m + sd * z);
                                a += w * v;
                                size += w * v.abs();
                            });
                            (a, size)
                        };
                        let z = z_width(width, sd);
                        let ((a, _), (b, size)) = (sum(z), sum(z / 3.0));
                        (a - b).abs() <= tol * size
                    })
                })
            })
        };
        let mut width = start;
        for _ in 0..=8 {
            if resolved(width) {
                return Some(width);
            }
            width /= 2.0;
        }
        None
    }

    /// The correlation check of [`Self::check_teacher_overlaps`] for a teacher with kinks.
    fn check_teacher_correlations(&self, t: &[f64], m: usize, teacher: &str) -> Result<()> {
        for a in 0..m {
            for b in a + 1..m {
                let rho = t[a * m + b] / (t[a * m + a] * t[b * m + b]).sqrt();
                if rho.is_nan() || rho.abs() > PIECEWISE_MAX_TEACHER_CORRELATION {
                    return Err(Error::TeacherStudent(format!(
                        "teacher fields ν_{} and ν_{} are correlated by {rho:.3}, beyond {} \
                         where the piecewise quadrature of a teacher with kinks or jumps \
                         (`{teacher}`) is accurate; use `[teacher] weights = \"orthonormal\"` \
                         or a larger input dimension",
                        a + 1,
                        b + 1,
                        PIECEWISE_MAX_TEACHER_CORRELATION
                    )));
                }
            }
        }
        Ok(())
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
                        Some(pw) if self.trusted(pw).is_none() => {
                            return Err(Error::TeacherStudent(format!(
                                "teacher–student integral {} cannot be derived ({why}), and \
                                 quadrature cannot resolve the activations' features (no \
                                 trapezoidal step down to 1e-3 integrates them to 1e-10, or \
                                 they are not finite on Gaussians of standard deviation 10)",
                                describe(&factors),
                            )));
                        }
                        Some(_) => Evaluator::Quadrature(numeric(
                            dim,
                            &factors,
                            slots.len(),
                            Kinked {
                                student: !self.student_breaks.is_empty(),
                                teacher: !self.teacher_breaks.is_empty(),
                            },
                        )),
                        None => {
                            // a refusal of the quadrature is the cause to lead with
                            return Err(Error::TeacherStudent(match &self.no_quadrature {
                                Some(refusal) => format!(
                                    "{refusal} for the teacher–student integral {}, which has \
                                     no closed form ({why})",
                                    describe(&factors),
                                ),
                                None => format!(
                                    "teacher–student integral {} cannot be derived: {why}; \
                                     quadrature stands in only when an activation is declared \
                                     with quadrature (with kinks or jumps, the fields are \
                                     integrated piecewise between the breaks; the student's g \
                                     must be continuous)",
                                    describe(&factors),
                                ),
                            }));
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

    /// `E[Π factors]` over N(0, cov) by tensor Gauss–Hermite on the (pivoted) Cholesky factor of
    /// the covariance, continued outside the cone of covariances ([`Self::continued`]).
    ///
    /// A field `b` that enters only linearly is integrated exactly where the other fields' (the
    /// integrated ones') covariance `C_II` is well conditioned: `E[h x_b] = Σ_j L_bj E[h z_j]`
    /// with `x_I = L_II z` and `L_b = L_II⁻¹ C_Ib` (linear in `C_Ib`, so it continues exactly
    /// where `C` is not positive semidefinite). The moments `E[h z_j]` depend only on the
    /// integrated fields and their covariance, so they are cached in the scratch space and shared
    /// by all `b`. Where `C_II` is (nearly) singular, `C_Ib` can have a part outside its range
    /// (a teacher's overlap with a student that coincides with another teacher, stepped by
    /// Newton or the integrator) that a conditional mean loses: there `b` is summed like the
    /// others ([`Self::continued`], pivoted), which costs nothing extra where a pivot vanishes.
    ///
    /// The rule's order follows the largest variance of the fields other than the linear one, on
    /// both paths ([`GH_TIERS`], blended into the next tier's just below a tier's bound,
    /// [`Self::rules_at`]), so that coinciding students summed on the singular path use the rule
    /// of the merged pattern, which takes the linear path.
    fn quadrature(&self, term: &Term, q: &Numeric, s: &mut Scratch) -> f64 {
        let Some(pw) = self.pointwise else {
            return f64::NAN;
        };
        let d = q.factors.len();
        if let Some((a, b)) = coinciding(d, &s.cov) {
            // two fields that coincide (identical students: the plateaus, a symmetric start)
            // are one variable, as in the merged pattern, so the manifold of identical students
            // stays invariant to rounding (summed apart, panels and the rebuilt covariance
            // differed from the merged pattern by 5e-12 in I4, which the plateau's saddle
            // amplified into students drifting apart)
            let merged = q
                .merges
                .iter()
                .find(|m| (m.0, m.1) == (a, b))
                .map(|m| &m.2)
                .expect("every pair of variables has its merged pattern");
            let mut cov = [0.0; 16];
            let keep = |i: usize| i + usize::from(i >= b);
            for i in 0..d - 1 {
                for j in 0..d - 1 {
                    cov[i * (d - 1) + j] = s.cov[keep(i) * d + keep(j)];
                }
            }
            let saved = s.cov;
            s.cov = cov;
            let t = Term {
                program: term.program.wrapping_mul(31).wrapping_add(1 + 4 * a + b)
                    | MERGED_PROGRAMS,
                fields: term.fields,
                dim: d - 1,
            };
            let value = self.quadrature(&t, merged, s);
            s.cov = saved;
            return value;
        }
        let all = [0, 1, 2, 3];
        let summed = |s: &Scratch| {
            let var = (0..d)
                .filter(|&i| Some(i) != q.linear && !q.kinked[i])
                .map(|i| s.cov[i * d + i])
                .fold(0.0, f64::max);
            self.rules_at(pw, q.four, var)
                .iter()
                .filter(|(_, weight)| *weight > 0.0)
                .map(|&(rule, weight)| weight * self.continued(pw, q, rule, &all, d, &s.cov))
                .sum()
        };
        let Some(b) = q.linear else {
            return summed(s);
        };
        let m = d - 1;
        let mut vars = [0usize; 4];
        for (p, v) in (0..d).filter(|&v| v != b).enumerate() {
            vars[p] = v;
        }
        let vars = kinked_first(vars, m, |v| q.kinked[v]);
        let mut cov = [0.0; 9];
        for i in 0..m {
            for j in 0..m {
                cov[i * 3 + j] = s.cov[vars[i] * d + vars[j]];
            }
        }
        let Some(l) = cholesky_well_conditioned(m, |i, j| cov[i * 3 + j]) else {
            return summed(s);
        };
        // L_b = L_II⁻¹ C_Ib by forward substitution
        let mut lb = [0.0; 3];
        for i in 0..m {
            let r: f64 = (0..i).map(|j| l[i][j] * lb[j]).sum();
            lb[i] = (s.cov[b * d + vars[i]] - r) / l[i][i];
        }
        let hit = s
            .moments
            .iter()
            .find(|e| e.program == term.program && e.cov == cov)
            .map(|e| e.m);
        let moments = match hit {
            Some(mo) => mo,
            None => {
                // by the rules the integrated fields' variance calls for (a function of `cov`,
                // so the blend is cached with it)
                let var = (0..m)
                    .filter(|&i| !q.kinked[vars[i]])
                    .map(|i| cov[i * 3 + i])
                    .fold(0.0, f64::max);
                let mut acc = [0.0; 3];
                for (rule, weight) in self.rules_at(pw, q.four, var) {
                    if weight > 0.0 {
                        self.nest(pw, q, rule, &l, vars, m).walk(
                            0,
                            &mut [0.0; 4],
                            weight,
                            &mut |zs, h| {
                                for j in 0..m {
                                    acc[j] += h * zs[j];
                                }
                            },
                        );
                    }
                }
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
        (0..m).map(|j| lb[j] * moments[j]).sum()
    }

    /// `E[h]` over the `m` variables `vars` of the pattern, `m × m` covariance `c` (row-major), on
    /// the pivoted factor of `c` where it is well conditioned, else on that of the nearest point
    /// of the cone, continued linearly along its negative eigendirections,
    /// `E(C) = 2 E(C₊) − E(C₊ + N) + O(|N|²)` where the expectation is a smooth function of C
    /// on the closed cone (smooth activations; [`nearest_psd`]). For a student with kinks it is
    /// not at coinciding fields: where g' jumps, J2 behaves like `¼ + arcsin(ρ)/2π`, whose
    /// derivative in ρ is singular at ρ = 1, so the error there is `O(|N|^½)` (softsign, whose g'
    /// is continuous: `O(|N|^{3/2})`) — as the closed forms of ReLU behave across the boundary. The same (pivoted) factor on both sides of the
    /// conditioning test keeps the sum continuous where a state crosses it.
    fn continued(
        &self,
        pw: Pointwise,
        q: &Numeric,
        rule: usize,
        vars: &[usize; 4],
        m: usize,
        c: &[f64; 16],
    ) -> f64 {
        if cholesky_well_conditioned(m, |i, j| c[i * m + j]).is_some() {
            return self.pivoted_sum(pw, q, rule, vars, m, c);
        }
        let psd = nearest_psd(m, c);
        let on_cone = self.pivoted_sum(pw, q, rule, vars, m, &psd.plus);
        match psd.reflected {
            Some(r) => 2.0 * on_cone - self.pivoted_sum(pw, q, rule, vars, m, &r),
            None => on_cone,
        }
    }

    /// `Σ w h(x)` on the pivoted factor `x = L z` of a positive semidefinite `c`
    /// ([`Self::continued`]).
    fn pivoted_sum(
        &self,
        pw: Pointwise,
        q: &Numeric,
        rule: usize,
        vars: &[usize; 4],
        m: usize,
        c: &[f64; 16],
    ) -> f64 {
        let order = kinked_first([0, 1, 2, 3], m, |i| q.kinked[vars[i]]);
        // the kinked fields stay first unless one of them nearly vanishes given the others
        // (a smooth level before a kinked one is summed by panels, and costs more)
        let group = (0..m).filter(|&i| q.kinked[vars[i]]).count();
        let (pos, l) =
            crate::quad::cholesky_psd_pivoted_grouped(m, m, group, order, |i, j| c[i * m + j]);
        let var = std::array::from_fn(|lvl| vars[pos[lvl]]);
        let mut acc = 0.0;
        self.nest(pw, q, rule, &l, var, m)
            .walk(0, &mut [0.0; 4], 1.0, &mut |_, h| acc += h);
        acc
    }

    /// The rules (indices into `rules`) and their weights for a pattern (`four`: I4) whose
    /// integrated fields' largest variance is `variance`: the tier of [`GH_TIERS`] that holds the
    /// variance scaled to tanh's by the activations' trusted variance, and within
    /// [`TIER_BLEND`] (relative) below the tier's bound, the next tier's rule with the weight
    /// `3u² − 2u³` rising from 0 to 1 across that band — so the value is continuous where a
    /// variance crosses a bound (a jump there cost the integrator seven rejected steps), with a
    /// continuous derivative except where two fields' variances trade the largest place inside a
    /// band. Each rule is used up to its tier's bound, with a weight falling to 0 there; its
    /// accuracy is measured across the band.
    fn rules_at(&self, pw: Pointwise, four: bool, variance: f64) -> [(usize, f64); 2] {
        let tanh = crate::quad::QUADRATURE_MAX_VARIANCE;
        let scaled = variance * tanh / self.trusted(pw).unwrap_or(tanh);
        let tier = GH_TIERS
            .iter()
            .position(|t| scaled <= t.0)
            .unwrap_or(GH_TIERS.len() - 1);
        let index = |tier: usize| 2 * tier + usize::from(four);
        let bound = GH_TIERS[tier].0;
        let u = (scaled - bound * (1.0 - TIER_BLEND)) / (bound * TIER_BLEND);
        if tier + 1 < GH_TIERS.len() && u > 0.0 {
            let next = u * u * (3.0 - 2.0 * u);
            [(index(tier), 1.0 - next), (index(tier + 1), next)]
        } else {
            [(index(tier), 1.0), (index(tier), 0.0)]
        }
    }

    /// The nested sums of pattern `q` with rule `rule` on the factor `l` (level → variable
    /// `var`, `m` levels).
    fn nest<'a>(
        &'a self,
        pw: Pointwise,
        q: &'a Numeric,
        rule: usize,
        l: &'a [[f64; 4]; 4],
        var: [usize; 4],
        m: usize,
    ) -> Nest<'a> {
        let (z, w) = &self.rules[rule];
        let r = usize::from(q.four);
        let (t, tw) = &self.piecewise[r];
        Nest {
            pw,
            q,
            l,
            var,
            levels: m,
            z,
            w,
            panels: Panels {
                t,
                w: tw,
                reach: PIECEWISE[r].reach,
                floor: PIECEWISE[r].floor,
            },
            widths: [
                PIECEWISE[r].panel,
                self.piecewise_width[r],
                self.student_width[r],
            ],
            breaks: [&self.teacher_breaks, &self.student_breaks],
            paneled: std::array::from_fn(|lvl| (lvl..m).any(|k| q.kinked[var[k]])),
        }
    }
}

/// Eigenvalues within this fraction of the largest variance are zero ([`nearest_psd`]): the size
/// below which the pivoted factor drops a pivot ([`DROPPED_PIVOT`]).
const ZERO_EIGENVALUE: f64 = DROPPED_PIVOT;

/// A covariance replaced by the nearest point of the cone ([`nearest_psd`]).
struct NearestPsd {
    /// `C₊ = V max(Λ, 0) Vᵀ` with eigenvalues within [`ZERO_EIGENVALUE`] set to zero
    plus: [f64; 16],
    /// `C₊ + N`, `N = Σ_{λ_i < 0} |λ_i| e_i e_iᵀ`, when C has negative eigenvalues beyond them
    reflected: Option<[f64; 16]>,
}

/// The nearest positive semidefinite matrix to the `d × d` covariance `cov` (row-major, `d ≤ 4`)
/// with its zero eigenvalues exact, and the reflection of the negative ones — for covariances
/// that are not well conditioned (a Cholesky pivot at or below
/// [`crate::quad::WELL_CONDITIONED`] of its variance; the others are factored directly).
///
/// Where the overlaps are singular (aligned units: the plateaus and the perfectly learned state
/// lie on the boundary of the cone of Gram matrices) the integrator's and Newton's finite
/// differences step a little outside or along it. Factoring such a covariance directly drops
/// the vanishing pivot's column *and its off-diagonal entries*, an error of first order in the
/// step (a student that coincides with a teacher, stepped by h in its overlap with another
/// teacher, lost that overlap: Jacobians at the perfectly learned tanh state came out with
/// three spurious unstable directions). Eigenvalues near zero are set to zero, which moves C
/// by their size only, and the factor of `C₊` is consistent. The exact ODE continues
/// analytically across the boundary; quadrature cannot evaluate an indefinite Gaussian, so
/// [`TsIntegrals::eval`] continues it linearly, `E(C) ≈ 2E(C₊) − E(C₊ + N)`, with error
/// `O(|N|²)` for smooth activations ([`TsIntegrals::continued`] for a student with kinks).
fn nearest_psd(d: usize, cov: &[f64; 16]) -> NearestPsd {
    let scale = (0..d).map(|i| cov[i * d + i].abs()).fold(0.0, f64::max);
    // padded with a multiple of the identity to a fixed size (no allocation; at the covariance's
    // scale, so that the eigen-solver's rounding is relative to it)
    let c = nalgebra::Matrix4::from_fn(|i, j| match (i < d && j < d, i == j) {
        (true, _) => cov[i * d + j],
        (false, true) => scale,
        (false, false) => 0.0,
    });
    let eig = c.symmetric_eigen();
    let (mut plus, mut reflected) = ([0.0; 16], [0.0; 16]);
    let mut negative = false;
    for (k, &lam) in eig.eigenvalues.iter().enumerate() {
        let e = eig.eigenvectors.column(k);
        let (kept, reflect) = if lam > ZERO_EIGENVALUE * scale {
            (lam, lam)
        } else if lam < -ZERO_EIGENVALUE * scale {
            negative = true;
            (0.0, -lam)
        } else {
            (0.0, 0.0)
        };
        for a in 0..d {
            for b in 0..d {
                plus[a * d + b] += kept * e[a] * e[b];
                reflected[a * d + b] += reflect * e[a] * e[b];
            }
        }
    }
    NearestPsd {
        plus,
        reflected: negative.then_some(reflected),
    }
}

/// The nested sums of one quadrature pattern, `x = L z` with L lower triangular: level `lvl`
/// sums over `z_lvl`, which fixes the variable `var[lvl]` — by composite Gauss–Legendre panels
/// ([`Self::edges`]) where its variable has breaks, or a later one has and shows sharply at this
/// level, and by Gauss–Hermite otherwise. A level
/// whose pivot vanishes (a variable that is a combination of the earlier ones) is evaluated
/// once.
struct Nest<'a> {
    pw: Pointwise,
    q: &'a Numeric,
    l: &'a [[f64; 4]; 4],
    var: [usize; 4],
    levels: usize,
    z: &'a [f64],
    w: &'a [f64],
    /// the rule of the piecewise levels
    panels: Panels<'a>,
    /// the widest panel of another level and of a teacher level (standard deviations), and of
    /// a student level with breaks (units of x)
    widths: [f64; 3],
    /// the teacher's and the student's breaks
    breaks: [&'a [f64]; 2],
    /// whether a level may be summed piecewise: its variable or a later one has breaks
    paneled: [bool; 4],
}

/// The composite Gauss–Legendre rule of the piecewise levels ([`Piecewise`]).
struct Panels<'a> {
    /// Gauss–Legendre nodes and weights on [−1, 1]
    t: &'a [f64],
    w: &'a [f64],
    /// the range `|z| ≤ reach` and the width below which a smoothed break is hard
    /// ([`Piecewise`])
    reach: f64,
    floor: f64,
}

impl Panels<'_> {
    /// Visits `(z, weight)` for `E[f(z)]`, z ~ N(0, 1): panels over `|z| ≤`
    /// `reach` no wider than `width`, with an edge at each of `edges` (ascending).
    #[inline]
    fn for_each(&self, width: f64, edges: &[f64], mut visit: impl FnMut(f64, f64)) {
        self.for_each_plain(width, edges, |z, w| visit(z, w * crate::kernels::phi(z)));
    }

    /// [`Self::for_each`] with the Gauss–Legendre weight alone (the caller multiplies `φ(z)`
    /// where the integrand does not vanish).
    #[inline]
    fn for_each_plain(&self, width: f64, edges: &[f64], visit: impl FnMut(f64, f64)) {
        // at most `2·reach·pivot/width_x` panels on a student level: below 1.3e4 for the
        // variances the guard admits (`STUDENT_PANEL_MAX_SD`, at most eight halvings of
        // width_x), under the cap; beyond it the sum would stop short, so it becomes NaN
        let mut visit = visit;
        let complete = crate::quad::composite::for_each_panel_node(
            self.t,
            self.w,
            -self.reach,
            self.reach,
            |_| width,
            edges.iter().copied(),
            &mut visit,
        );
        if !complete {
            visit(0.0, f64::NAN);
        }
    }

    /// [`Self::for_each`] for `E[f(m + s z)]` with an edge at each break `b` of f
    /// (`z = (b − m)/s`, `s > 0`).
    fn for_each_at(&self, width: f64, breaks: &[f64], m: f64, s: f64, visit: impl FnMut(f64, f64)) {
        let edges: Vec<f64> = breaks.iter().map(|b| (b - m) / s).collect();
        self.for_each(width, &edges, visit);
    }
}

/// The most panel edges one level of [`Nest`] puts down ([`Nest::edges`]): its own breaks and,
/// for each of at most three later levels, a centre and up to 12 graded pairs per break (widths
/// from I2's `floor` to 1.5 by factors of [`GRADING`]), which
/// [`MAX_BREAKS`] keeps below it.
const MAX_EDGES: usize = 320;

/// The largest standard deviation of a student field with kinks at which its panels are checked
/// ([`TsIntegrals::resolve_student_panels`]); the ODE stops beyond it, naming the field.
pub const STUDENT_PANEL_MAX_SD: f64 = 8.0;

/// The most breaks the piecewise quadrature takes: a student's g or, with such a student, the
/// teacher's g* (`[0]`), and a teacher's g* against a smooth student (`[1]`, whose later teacher
/// levels, correlated by at most [`PIECEWISE_MAX_TEACHER_CORRELATION`], need at most one graded
/// pair).
pub const MAX_BREAKS: [usize; 2] = [4, 24];

/// A later level's break seen at an earlier level is smoothed over `w` (the later variable's
/// standard deviation given the earlier levels, in the earlier level's z): below this fraction
/// of the panel width it gets an edge and graded panels ([`Nest::edges`]).
const FEATURE_WIDEST: f64 = 0.5;

/// Ratio of the graded panels around a smoothed break ([`Nest::edges`]).
const GRADING: f64 = 8.0;

impl Nest<'_> {
    /// The nodes of level `lvl`: the rule's, or the single node 0 of weight 1 where its pivot
    /// vanishes (the rule's weights sum to 1).
    fn nodes(&self, lvl: usize) -> (&[f64], &[f64]) {
        if self.l[lvl][lvl] == 0.0 {
            (&[0.0], &[1.0])
        } else {
            (self.z, self.w)
        }
    }

    /// The outer levels' part of `x` at level `lvl`, `Σ_{j<lvl} L_lvl,j z_j` (fixed while the
    /// level's node runs).
    #[inline]
    fn base(&self, lvl: usize, zs: &[f64; 4]) -> f64 {
        let row = &self.l[lvl];
        (0..lvl).map(|j| row[j] * zs[j]).sum()
    }

    /// The breaks of variable `var` (none where its factors are smooth).
    fn breaks(&self, var: usize) -> &[f64] {
        match (self.q.kinked[var], self.q.student[var]) {
            (false, _) => &[],
            (true, student) => self.breaks[usize::from(student)],
        }
    }

    /// The widest panel of level `lvl` (pivot `pivot > 0`), in its standard deviations: a
    /// student's panels are held to a width in x ([`TsIntegrals::resolve_student_panels`]), a
    /// teacher's to the width resolved at its variance.
    fn width(&self, lvl: usize, pivot: f64) -> f64 {
        let var = self.var[lvl];
        let factors = &self.q.factors[var];
        if self.q.kinked[var] && self.q.student[var] {
            self.widths[0].min(self.widths[2] / pivot)
        } else if factors.contains(&(Slot::Act, true)) {
            // a teacher field, kinked or (moved here by pivoting) smooth: its panels are
            // resolved at the teacher's variance ([`TsIntegrals::resolve_teacher_panels`])
            self.widths[1]
        } else {
            self.widths[0]
        }
    }

    /// The panel edges of piecewise level `lvl` (ascending, in its z), given the outer levels'
    /// nodes `zs`: where its own variable `x = base + pivot·z` breaks, `z = (b − base)/pivot`,
    /// and where each later variable's break `b` lies given the levels up to this one. A later
    /// variable `x_k = Σ_j L_kj z_j` is, given `z_0 … z_lvl`, Gaussian about
    /// `Σ_{j≤lvl} L_kj z_j` with standard deviation `r = (Σ_{lvl<j≤k} L_kj²)^½`: after the
    /// inner sums its break shows at this level as a kink or jump smoothed over
    /// `w = r/|L_k,lvl|` about `z = (b − Σ_{j<lvl} L_kj z_j)/L_k,lvl`. Where students nearly
    /// coincide (the plateaus) w is tiny and a smooth rule would straddle what is nearly a kink;
    /// such a feature gets an edge at its centre and graded panels `±w·8ⁱ` out to
    /// the panel width (a hard edge alone below the rule's `floor`).
    fn edges(
        &self,
        lvl: usize,
        zs: &[f64; 4],
        base: f64,
        pivot: f64,
        width: f64,
        out: &mut [f64; MAX_EDGES],
    ) -> usize {
        let mut n = 0;
        let reach = self.panels.reach + width;
        let mut push = |out: &mut [f64; MAX_EDGES], e: f64| {
            debug_assert!(n < MAX_EDGES, "MAX_BREAKS keeps the edges below MAX_EDGES");
            if n < MAX_EDGES && e.abs() < reach {
                out[n] = e;
                n += 1;
            }
        };
        for &b in self.breaks(self.var[lvl]) {
            push(out, (b - base) / pivot);
        }
        for k in lvl + 1..self.levels {
            let (breaks, row) = (self.breaks(self.var[k]), &self.l[k]);
            let coef = row[lvl];
            if breaks.is_empty() || coef == 0.0 {
                continue;
            }
            let rest = (lvl + 1..=k).map(|j| row[j] * row[j]).sum::<f64>().sqrt();
            let w = rest / coef.abs();
            let sharp = w < FEATURE_WIDEST * width; // false for NaN
            if !sharp {
                continue;
            }
            let outer: f64 = (0..lvl).map(|j| row[j] * zs[j]).sum();
            for &b in breaks {
                let centre = (b - outer) / coef;
                let inside = centre.abs() < reach + FEATURE_WIDEST * width; // false for NaN
                if !inside {
                    continue;
                }
                push(out, centre);
                let mut d = w;
                while d >= self.panels.floor && d < width {
                    push(out, centre - d);
                    push(out, centre + d);
                    d *= GRADING;
                }
            }
        }
        out[..n].sort_unstable_by(f64::total_cmp);
        n
    }

    /// The nested sums over levels `lvl..`: `leaf(z, h)` at every node of the last level with the
    /// nodes `z` and `h = Π w·(factors)` (`weight`: the product over the outer levels).
    fn walk(
        &self,
        lvl: usize,
        zs: &mut [f64; 4],
        weight: f64,
        leaf: &mut impl FnMut(&[f64; 4], f64),
    ) {
        let (var, base, pivot) = (self.var[lvl], self.base(lvl, zs), self.l[lvl][lvl]);
        // `wf`: the node's weight times the factors there
        let mut visit_factor = |z: f64, wf: f64, zs: &mut [f64; 4]| {
            let h = weight * wf;
            if h == 0.0 {
                return;
            }
            zs[lvl] = z;
            if lvl + 1 < self.levels {
                self.walk(lvl + 1, zs, h, leaf);
            } else {
                leaf(zs, h);
            }
        };
        if self.paneled[lvl] && pivot > 0.0 {
            let width = self.width(lvl, pivot);
            let mut edges = [0.0; MAX_EDGES];
            let n = self.edges(lvl, zs, base, pivot, width, &mut edges);
            // a smooth level at which no later break shows sharply (a student nearly
            // coinciding with another, moved behind the teachers by pivoting, with little
            // weight on this level) keeps its Gauss–Hermite rule: panels there multiplied the
            // cost of a right-hand side tenfold
            if n > 0 || self.q.kinked[var] {
                self.panels.for_each_plain(width, &edges[..n], |z, w| {
                    let f = self.factors(var, base + pivot * z);
                    if f != 0.0 {
                        visit_factor(z, w * crate::kernels::phi(z) * f, zs);
                    }
                });
                return;
            }
        }
        {
            let (nodes, weights) = self.nodes(lvl);
            for (&z, &w) in nodes.iter().zip(weights) {
                visit_factor(z, w * self.factors(var, base + pivot * z), zs);
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

/// The quadrature form of a pattern (`kinked`: whether the student's g and the teacher's g*
/// have kinks or jumps).
fn numeric(
    dim: usize,
    factors: &[(usize, Slot, bool)],
    n_factors: usize,
    kinked: Kinked,
) -> Numeric {
    let mut per: Vec<Vec<(Slot, bool)>> = vec![Vec::new(); dim];
    for &(v, s, teacher) in factors {
        per[v].push((s, teacher));
    }
    let linear = (0..dim).find(|&v| dim > 1 && per[v].len() == 1 && per[v][0].0 == Slot::X);
    let teacher = |v: usize| v < dim && per[v].contains(&(Slot::Act, true));
    let student =
        |v: usize| v < dim && per[v].iter().any(|&(s, t)| !t && s != Slot::X) && !teacher(v);
    Numeric {
        four: n_factors >= 4,
        linear,
        kinked: std::array::from_fn(|v| {
            (kinked.teacher && teacher(v)) || (kinked.student && student(v))
        }),
        student: std::array::from_fn(student),
        factors: per,
        merges: Vec::new(),
    }
    .with_merges()
}

/// Fields `a < b` of a `d × d` covariance that coincide: equal variances and covariances with
/// every field, each within [`COINCIDING`] of the scale of the entry (the first such pair).
fn coinciding(d: usize, cov: &[f64; 16]) -> Option<(usize, usize)> {
    let c = |i: usize, j: usize| cov[i * d + j];
    (0..d)
        .flat_map(|a| (a + 1..d).map(move |b| (a, b)))
        .find(|&(a, b)| c(a, a) > 0.0 && c(b, b) > 0.0 && fields_coincide(d, c, a, b, COINCIDING))
}

/// Whether fields `a` and `b` of a `d × d` covariance `c` coincide to the relative tolerance
/// `tol`: `C_aa`, `C_bb` and `C_ab` agree within `tol·√(C_aa C_bb)`, and
/// `|C_av − C_bv| ≤ tol·max(√C_aa, √C_bb)·√C_vv` for every field v (the Cauchy–Schwarz scale of
/// `E[(x_a − x_b) x_v]`). Fields of variance 0 coincide where all their covariances are equal
/// (0). The test is of second order in the fields' difference δ where δ is orthogonal to every
/// field (it shows only through `C_aa − C_ab = E[δ²]`): fields within `√tol` of each other pass.
pub(crate) fn fields_coincide(
    d: usize,
    c: impl Fn(usize, usize) -> f64,
    a: usize,
    b: usize,
    tol: f64,
) -> bool {
    let sd = |i: usize| c(i, i).max(0.0).sqrt();
    let scale = sd(a) * sd(b);
    (c(a, a) - c(a, b)).abs() <= tol * scale
        && (c(b, b) - c(a, b)).abs() <= tol * scale
        && (0..d).all(|v| (c(a, v) - c(b, v)).abs() <= tol * sd(a).max(sd(b)) * sd(v))
}

/// Relative tolerance of [`fields_coincide`] for merging a quadrature pattern's fields: rounding
/// of the overlaps' own integration. Closer than this, a student whose g' jumps cannot be told
/// apart from its twin anyway: `E[g'(λ_a) …]` moves with `√(E[(λ_a − λ_b)²])`, which the
/// overlaps, stored to 1e-16, give only to ≈ 1e-8.
const COINCIDING: f64 = 1e-13;

/// The bit that marks the moments of a merged pattern in the scratch cache
/// ([`TsIntegrals::quadrature`]; keyed by the pattern's id times 31 plus which fields merged).
const MERGED_PROGRAMS: usize = 1 << (usize::BITS - 1);

impl Numeric {
    /// The pattern with variable `b` merged into `a` (`a < b`): their factors multiply at one
    /// variable.
    fn merged(&self, a: usize, b: usize) -> Numeric {
        let mut factors = self.factors.clone();
        let moved = factors.remove(b);
        factors[a].extend(moved);
        let dim = factors.len();
        let linear =
            (0..dim).find(|&v| dim > 1 && factors[v].len() == 1 && factors[v][0].0 == Slot::X);
        let mut kinked = [false; 4];
        let mut student = [false; 4];
        for (i, v) in (0..self.factors.len()).filter(|&v| v != b).enumerate() {
            kinked[i] = self.kinked[v] || (v == a && self.kinked[b]);
            student[i] = self.student[v] || (v == a && self.student[b]);
        }
        Numeric {
            four: self.four,
            factors,
            linear,
            kinked,
            student,
            merges: Vec::new(),
        }
        .with_merges()
    }

    /// This pattern with [`Self::merges`] filled (recursively: up to four variables).
    fn with_merges(mut self) -> Numeric {
        let d = self.factors.len();
        self.merges = (0..d)
            .flat_map(|a| (a + 1..d).map(move |b| (a, b)))
            .map(|(a, b)| (a, b, self.merged(a, b)))
            .collect();
        self
    }
}

/// Whether the student's g and the teacher's g* have kinks or jumps (their fields are then
/// integrated piecewise, [`PIECEWISE`]).
#[derive(Clone, Copy, Debug, Default)]
struct Kinked {
    student: bool,
    teacher: bool,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// The quadrature of erf(x/√2) patterns (erf is entire: Gauss–Hermite converges fast) at
    /// covariances on and just outside the cone, against the closed forms, which continue
    /// analytically: the linear continuation along the negative eigendirection is exact to
    /// `O(h²)`, and a linear field whose overlap lies outside the range of the others'
    /// singular covariance keeps it.
    #[test]
    fn quadrature_continues_the_closed_forms_across_the_cone_boundary() {
        let erf = crate::registry::resolve("erf", false).unwrap();
        let ints = TsIntegrals::with_series(
            [None, None, None],
            [None, None],
            2,
            Some(Pointwise {
                student: erf,
                teacher: erf,
            }),
        );
        let eval = |factors: &[(usize, Slot, bool)], dim: usize, cov: &[f64]| {
            let q = numeric(dim, factors, factors.len(), Kinked::default());
            let term = Term {
                program: 0,
                fields: [0, 1, 2, 3],
                dim,
            };
            let mut s = Scratch::default();
            s.cov[..dim * dim].copy_from_slice(cov);
            ints.quadrature(&term, &q, &mut s)
        };
        // I2 = (2/π) asin(C12 / √((1 + C11)(1 + C22))), at C12 = 1 + h: eigenvalue −h
        let i2 = [(0, Slot::Act, false), (1, Slot::Act, true)];
        for h in [1e-4, 1e-3] {
            let got = eval(&i2, 2, &[1.0, 1.0 + h, 1.0 + h, 1.0]);
            let want = 2.0 / PI * ((1.0 + h) / 2.0).asin();
            assert!((got - want).abs() < 2.0 * h * h, "h = {h}: {got} vs {want}");
        }
        // I3 = E[g'(x1) x2 g(x3)] = (2/π)(C23(1 + C11) − C12 C13) / ((1 + C11)√((1 + C11)(1 +
        // C33) − C13²)) with x3 = x1 (singular) and x2 correlated with x1 only: −h/(π√3). The
        // covariance is indefinite at order h² (below the zero threshold for h = 1e-8, reflected
        // for h = 1e-4); what matters is that the correlation h is kept (x2 is summed, not
        // integrated as a linear field, since the others' covariance is singular)
        let i3 = [
            (0, Slot::Dg, false),
            (1, Slot::X, false),
            (2, Slot::Act, true),
        ];
        for h in [1e-8, 1e-4] {
            let cov = [1.0, h, 1.0, h, 1.0, 0.0, 1.0, 0.0, 1.0];
            let got = eval(&i3, 3, &cov);
            let want = -h / (PI * 3f64.sqrt());
            assert!((got - want).abs() < 1e-6 * h, "h = {h}: {got} vs {want}");
        }
    }

    /// The quadrature of a smooth student (erf) against teachers with kinks and jumps (ReLU, a
    /// shifted ReLU, hard tanh, sign), forced through the piecewise path, against the same
    /// patterns' closed forms: at a generic covariance, with a student aligned with a teacher
    /// (correlation 1 − 1e-8 and exactly 1, where the student's conditional variance vanishes)
    /// and with coinciding students. Measured: I2 and I3 within 1.3e-14 relative (an 88-node
    /// Gauss–Hermite sum across the teacher's kink is off by 5e-3); I4 within 1.6e-5 absolute,
    /// the error of the 20-node Gauss–Hermite student levels (the same with the teacher's panels
    /// of I2, 1.5 wide with 16 nodes, instead of I4's 3.0 with 8).
    #[test]
    fn piecewise_quadrature_of_kinked_teachers_matches_the_closed_forms() {
        let erf = crate::registry::resolve("erf", false).unwrap();
        // fields: students 0, 1; teachers 2, 3
        let generic = GENERIC;
        // student 0 = a·teacher 2 + e·(unit vector orthogonal to the other fields)
        let aligned = |a: f64, e2: f64| -> [f64; 16] {
            let mut c = generic;
            let (t22, t23) = (c[10], c[11]);
            c[0] = a * a * t22 + e2;
            for (j, v) in [(1, a * c[9]), (2, a * t22), (3, a * t23)] {
                c[j] = v;
                c[j * 4] = v;
            }
            c
        };
        // students 0 and 1 the same vector
        let mut same = generic;
        for j in 0..4 {
            same[4 + j] = same[j];
            same[j * 4 + 1] = same[j * 4];
        }
        same[5] = same[0];
        let covs = [
            ("generic", generic),
            ("aligned 1e-8", aligned(0.9, 1e-8 * 0.81)),
            ("aligned", aligned(0.9, 0.0)),
            ("same students", same),
        ];
        let patterns: [&[(usize, Slot)]; 10] = [
            &[(0, Slot::Act), (2, Slot::Act)],
            &[(2, Slot::Act), (3, Slot::Act)],
            &[(2, Slot::Act), (2, Slot::Act)],
            &[(0, Slot::Dg), (1, Slot::X), (2, Slot::Act)],
            &[(0, Slot::Dg), (2, Slot::X), (3, Slot::Act)],
            &[(0, Slot::Dg), (2, Slot::X), (2, Slot::Act)],
            &[(0, Slot::Dg), (1, Slot::Dg), (2, Slot::Act), (3, Slot::Act)],
            &[(0, Slot::Dg), (0, Slot::Dg), (2, Slot::Act), (2, Slot::Act)],
            &[(0, Slot::Dg), (1, Slot::Dg), (0, Slot::Act), (2, Slot::Act)],
            &[(0, Slot::Dg), (1, Slot::Dg), (1, Slot::Act), (3, Slot::Act)],
        ];
        for teacher in ["relu", "relu(x - 0.5)", "x.max(-1.0).min(1.0)", "sign"] {
            forced_piecewise(erf, teacher, &patterns, &covs, [1e-12, 5e-5]);
        }
    }

    /// A teacher outside the closed-form algebra with a kink, `relu(tanh x)`, against an
    /// independent reference: `E[erf(λ/√2) g*(ν)] = E_ν[g*(ν) erf(μ(ν)/√(2(1 + s²)))]` with the
    /// conditional mean `μ = C_λν ν / C_νν` and variance `s²`, a one-dimensional integral over
    /// `ν > 0` by the composite Simpson rule on 2·10⁵ intervals.
    #[test]
    fn piecewise_quadrature_resolves_a_kinked_teacher_outside_the_algebra() {
        let erf = crate::registry::resolve("erf", false).unwrap();
        // relu(tanh(c x)) with c = 10: features ten times narrower, resolved by narrower panels
        // (the default ones were off by ~1e-6)
        for (src, c) in [("relu(x.tanh())", 1.0), ("relu((10.0 * x).tanh())", 10.0)] {
            let teacher = crate::registry::resolve(src, true).unwrap();
            let mut ints = TsIntegrals::for_activations(erf, teacher, 1).unwrap();
            assert_eq!(ints.teacher_breaks, [0.0]);
            let i2 = ints.term(&[(0, Slot::Act), (1, Slot::Act)]).unwrap();
            ints.check_teacher_overlaps(&[1.0], 1).unwrap();
            let narrowed = ints.piecewise_width[0] < PIECEWISE[0].panel;
            assert_eq!(narrowed, c > 1.0, "{src}: {:?}", ints.piecewise_width);
            piecewise_teacher_i2(&ints, &i2, c);
        }
    }

    /// [`piecewise_quadrature_resolves_a_kinked_teacher_outside_the_algebra`] for one
    /// `relu(tanh(c x))`, at three covariances.
    fn piecewise_teacher_i2(ints: &TsIntegrals, i2: &Term, c: f64) {
        let mut s = Scratch::default();
        for (cll, cln, cnn) in [(1.0, 0.5, 1.0), (2.5, -1.2, 0.8), (0.7, 0.7, 1.0)] {
            let got = ints.eval(i2, &[cll, cln, cln, cnn], 2, &mut s);
            let (beta, s2) = (cln / cnn, cll - cln * cln / cnn);
            let f = |nu: f64| {
                let density = (-0.5 * nu * nu / cnn).exp() / (2.0 * PI * cnn).sqrt();
                density * (c * nu).tanh() * libm::erf(beta * nu / (2.0 * (1.0 + s2)).sqrt())
            };
            let (hi, n) = (12.0 * cnn.sqrt(), 200_000);
            let h = hi / n as f64;
            let mut want = f(0.0) + f(hi);
            for i in 1..n {
                want += if i % 2 == 1 { 4.0 } else { 2.0 } * f(i as f64 * h);
            }
            want *= h / 3.0;
            assert!(
                (got - want).abs() < 1e-12,
                "c = {c}, C = ({cll}, {cln}, {cnn}): {got} vs {want}"
            );
        }
    }

    /// Students with kinks (ReLU, a shifted ReLU, hard tanh, a leaky ReLU), forced through the
    /// piecewise path, against the closed forms of the same patterns, with a smooth teacher (erf,
    /// Gauss–Hermite levels) and with a ReLU teacher (all levels piecewise): at a generic
    /// covariance, with the two students at 1 − ρ² = 1e-2 … 1e-12 and coinciding in direction (the
    /// plateaus: one student's kink, seen at the other's level, is smoothed over a vanishing
    /// width, [`Nest::edges`]), and with a student aligned with a teacher.
    #[test]
    fn piecewise_quadrature_of_kinked_students_matches_the_closed_forms() {
        let generic = GENERIC;
        // student 1 = a·student 0 + e·(unit vector orthogonal to the other fields)
        let near = |a: f64, e2: f64| -> [f64; 16] {
            let mut c = generic;
            for j in [0, 2, 3] {
                c[4 + j] = a * generic[j];
                c[j * 4 + 1] = a * generic[j];
            }
            c[5] = a * a * c[0] + e2;
            c
        };
        // student 0 = 0.9 · teacher 2
        let mut aligned = generic;
        aligned[0] = 0.81 * generic[10];
        for j in [1, 2, 3] {
            aligned[j] = 0.9 * generic[8 + j];
            aligned[j * 4] = aligned[j];
        }
        let covs = [
            ("generic", generic),
            ("students 1 - ρ² = 1e-2", near(0.8, 1e-2 * 0.64 * 1.3)),
            ("students 1 - ρ² = 1e-6", near(0.8, 1e-6 * 0.64 * 1.3)),
            ("students 1 - ρ² = 1e-9", near(0.8, 1e-9 * 0.64 * 1.3)),
            ("students 1 - ρ² = 1e-12", near(0.8, 1e-12 * 0.64 * 1.3)),
            ("same direction", near(0.8, 0.0)),
            ("aligned with a teacher", aligned),
        ];
        let patterns: [&[(usize, Slot)]; 12] = [
            &[(0, Slot::Act), (1, Slot::Act)],
            &[(0, Slot::Act), (2, Slot::Act)],
            &[(0, Slot::Dg), (1, Slot::Dg)],
            &[(0, Slot::Dg), (0, Slot::Dg)],
            &[(0, Slot::Dg), (1, Slot::X), (2, Slot::Act)],
            &[(0, Slot::Dg), (2, Slot::X), (1, Slot::Act)],
            &[(0, Slot::Dg), (0, Slot::X), (1, Slot::Act)],
            &[(0, Slot::Dg), (3, Slot::X), (0, Slot::Act)],
            &[(0, Slot::Dg), (1, Slot::Dg), (2, Slot::Act), (3, Slot::Act)],
            &[(0, Slot::Dg), (1, Slot::Dg), (0, Slot::Act), (1, Slot::Act)],
            &[(0, Slot::Dg), (1, Slot::Dg), (1, Slot::Act), (3, Slot::Act)],
            &[(0, Slot::Dg), (0, Slot::Dg), (1, Slot::Act), (2, Slot::Act)],
        ];
        let mut worst = [0.0f64; 2];
        for student in [
            "relu",
            "relu(x - 0.5)",
            "x.max(-1.0).min(1.0)",
            "x.max(0.1 * x)",
        ] {
            let st = crate::registry::resolve(student, false).unwrap();
            for teacher in ["erf", "relu"] {
                let w = forced_piecewise(st, teacher, &patterns, &covs, [1e-9, 1e-6]);
                worst = [worst[0].max(w[0]), worst[1].max(w[1])];
            }
        }
        eprintln!(
            "worst: I2, J2, I3 {:.2e} relative, I4 {:.2e} absolute",
            worst[0], worst[1]
        );
    }

    /// A student outside the algebra with a kink and curved pieces (softsign), at variances where
    /// its panels are held to their width in x, against an independent one-dimensional reference:
    /// `E[g(λ) erf(ν/√2)] = E_λ[g(λ) erf(βλ/√(2(1 + s²)))]` with `β = C_λν/C_λλ`, `s² = C_νν −
    /// C_λν²/C_λλ`, by the composite Simpson rule on 2·10⁵ intervals on each side of the kink.
    #[test]
    fn piecewise_quadrature_resolves_a_kinked_student_outside_the_algebra() {
        let erf = crate::registry::resolve("erf", false).unwrap();
        let soft = crate::registry::resolve("x / (1.0 + x.abs())", true).unwrap();
        let mut ints = TsIntegrals::for_activations(soft, erf, 1).unwrap();
        assert_eq!(ints.student_breaks, [0.0]);
        let i2 = ints.term(&[(0, Slot::Act), (1, Slot::Act)]).unwrap();
        ints.check_teacher_overlaps(&[1.0], 1).unwrap();
        let width_x = ints.student_width[0];
        assert!(width_x.is_finite(), "{width_x}");
        assert_eq!(ints.quadrature_trusted_variance(), Some(64.0));
        let mut s = Scratch::default();
        for (cll, cln, cnn) in [(1.0, 0.5, 1.0), (36.0, 3.0, 1.0), (49.0, -5.0, 0.9)] {
            let got = ints.eval(&i2, &[cll, cln, cln, cnn], 2, &mut s);
            let (beta, s2) = (cln / cll, cnn - cln * cln / cll);
            let f = |l: f64| {
                let density = (-0.5 * l * l / cll).exp() / (2.0 * PI * cll).sqrt();
                density * l / (1.0 + l.abs()) * libm::erf(beta * l / (2.0 * (1.0 + s2)).sqrt())
            };
            let (hi, n) = (12.0 * cll.sqrt(), 200_000);
            let h = hi / n as f64;
            let mut want = 0.0;
            for side in [-1.0, 1.0] {
                let mut sum = f(0.0) + f(side * hi);
                for i in 1..n {
                    sum += if i % 2 == 1 { 4.0 } else { 2.0 } * f(side * i as f64 * h);
                }
                want += sum * h / 3.0;
            }
            let binds = cll.sqrt() * PIECEWISE[0].panel > width_x;
            eprintln!(
                "softsign, C = ({cll}, {cln}, {cnn}), width in x {width_x}, binding {binds}: \
                 error {:.2e} relative",
                (got - want).abs() / want.abs()
            );
            assert!(
                (got - want).abs() < 1e-11 * want.abs(),
                "C = ({cll}, {cln}, {cnn}), x-width binding: {binds}: {got} vs {want}"
            );
        }
    }

    /// A covariance of two students (fields 0, 1) and two teachers (2, 3), well conditioned.
    const GENERIC: [f64; 16] = [
        1.3, 0.4, 0.5, -0.3, //
        0.4, 0.8, 0.2, 0.35, //
        0.5, 0.2, 1.0, 0.1, //
        -0.3, 0.35, 0.1, 0.9,
    ];

    /// The patterns of `student` against `teacher` forced through the quadrature (both
    /// activations' breaks set, so whichever has them is summed piecewise) against their closed
    /// forms at each covariance: within `bound[0]` relative (of `max(|E|, 1e-3)`) for I2, J2,
    /// I3 and `bound[1]` absolute for I4; returns the largest errors.
    fn forced_piecewise(
        student: &'static dyn Activation,
        teacher: &str,
        patterns: &[&[(usize, Slot)]],
        covs: &[(&str, [f64; 16])],
        bound: [f64; 2],
    ) -> [f64; 2] {
        let te = crate::registry::resolve(teacher, false).unwrap();
        let mut closed = TsIntegrals::new(student.expression(), te.expression(), 2).unwrap();
        let mut quad = TsIntegrals::with_series(
            [None, None, None],
            [None, None],
            2,
            Some(Pointwise {
                student,
                teacher: te,
            }),
        );
        quad.student_breaks = breaks_of(&normal_form(student.expression()).1.unwrap());
        quad.teacher_breaks = breaks_of(&normal_form(te.expression()).1.unwrap());
        assert!(!(quad.student_breaks.is_empty() && quad.teacher_breaks.is_empty()));
        let terms: Vec<_> = patterns.iter().map(|p| quad.term(p).unwrap()).collect();
        quad.check_teacher_overlaps(&[1.0, 0.1, 0.1, 0.9], 2)
            .unwrap();
        let mut worst = [0.0f64; 2];
        let mut s = Scratch::default();
        for (name, c) in covs {
            for (p, tq) in patterns.iter().zip(&terms) {
                let tc = closed.term(p).unwrap();
                s.new_state();
                let want = closed.eval(&tc, c, 4, &mut s);
                let got = quad.eval(tq, c, 4, &mut s);
                let err = (got - want).abs();
                let four = usize::from(p.len() == 4);
                let e = if four == 1 {
                    err
                } else {
                    err / want.abs().max(1e-3)
                };
                worst[four] = worst[four].max(e);
                assert!(
                    e <= bound[four],
                    "{} / {teacher}, {name}, {p:?}: {got} vs {want} (error {err:.2e})",
                    student.name()
                );
            }
        }
        worst
    }
}
