//! A teacher–student experiment end to end (docs/theory.md §8): config → teacher and student
//! weights (seeded) → {SGD seeds in parallel from the same initial weights; the ODE from their
//! order parameters} → ε_g on the shared log-spaced time grid.

use super::ode::{TsOrder, TsParams, TsSystem};
use super::sgd::{TeacherInit, TsSgd, TsWeights};
use crate::activation::Activation;
use crate::config::{Config, MethodName, TeacherWeights};
use crate::error::{Error, Result};
use crate::experiment::execute::{keep_stop, mean_std, run_seeds};
use crate::experiment::report::{error_table, max_relative_gap};
use crate::experiment::sgd_stream_seed;
use crate::ode::integrate::Method;
use crate::ode::integrate::integrate_with_progress;
use crate::ode::{Flow, IntegratorOptions};
use crate::run::time_grid;
use nalgebra::DVector;

/// A resolved teacher–student problem.
pub struct TsProblem {
    pub student: &'static dyn Activation,
    pub teacher: &'static dyn Activation,
    pub params: TsParams,
    /// input dimension N
    pub n: usize,
    /// output noise σ (the SGD's; the ODE sees σ²)
    pub noise: f64,
    pub teacher_init: TeacherInit,
    pub init_std: f64,
    pub seed: u64,
    pub seeds: usize,
    pub times: Vec<f64>,
    pub integrator: IntegratorOptions,
}

/// Results on the shared time grid.
pub struct TsTrajectory {
    pub times: Vec<f64>,
    pub eps_ode: Vec<f64>,
    /// mean over seeds of ε_g of the SGD weights (NaN without SGD)
    pub eps_sgd: Vec<f64>,
    pub eps_sgd_std: Vec<f64>,
    pub ode_order: Vec<TsOrder>,
    /// mean over seeds
    pub sgd_order: Vec<TsOrder>,
    /// ε_g of the symmetric plateau of the soft committee machine when it applies (K = M,
    /// T = I, v = v* = 1, g = g*), else NaN
    pub plateau: f64,
    pub k: usize,
    pub m: usize,
    pub n: usize,
    pub student: &'static str,
    pub teacher: &'static str,
}

impl TsProblem {
    /// Resolves a validated config with `model = "teacher_student"`.
    pub fn from_config(cfg: &Config) -> Result<Self> {
        cfg.validate_values()?;
        let student = crate::registry::resolve_key("activation", &cfg.activation, cfg.quadrature)?;
        let teacher = match &cfg.teacher.activation {
            Some(a) => crate::registry::resolve_key("teacher.activation", a, cfg.quadrature)?,
            None => student,
        };
        Self::with_activations(cfg, student, teacher)
    }

    /// Resolves a config with any student and teacher activations (the config's `activation`
    /// and `teacher.activation` are ignored).
    pub fn with_activations(
        cfg: &Config,
        student: &'static dyn Activation,
        teacher: &'static dyn Activation,
    ) -> Result<Self> {
        cfg.validate_values()?;
        let (k, m) = (cfg.k, cfg.teacher.m);
        // at zero weights every field is exactly 0: the order parameters Q = R = 0 determine the
        // ODE's kernels there only if g and g' are continuous at 0 (ReLU's E[Θ(λ₁)Θ(λ₂)] is 1/2
        // for coinciding and 1/4 for independent fields; SGD keeps the K zero vectors identical),
        // and even for one student SGD then steps with the pointwise g'(0) where the ODE's
        // normal form has its own value (|x|: SGD's g'(0)² = 0, the ODE's sign² = 1, so the ODE's
        // η² term grows Q while SGD's weights stay at 0)
        let jumps_at_zero = |f: &dyn Fn(f64) -> f64| {
            let (a, b) = (f(1e-9), f(-1e-9));
            (a - b).abs() > 1e-6 * (1.0 + a.abs().max(b.abs()))
        };
        let ambiguous = jumps_at_zero(&|x| student.g(x)) || jumps_at_zero(&|x| student.dg(x));
        if cfg.init_std == 0.0 && ambiguous {
            return Err(crate::error::config_err(
                "init_std",
                0,
                &format!(
                    "above 0 (e.g. 1e-3) when the student activation `{}` or its derivative \
                     jumps at 0: every student field would start at 0, on the jump, where SGD \
                     steps with the pointwise g'(0) and the ODE cannot (and with k > 1 the order \
                     parameters Q = R = 0 cannot tell the identical zero vectors from \
                     independent students)",
                    student.name()
                ),
            ));
        }
        let v_star = cfg
            .teacher
            .second_layer
            .clone()
            .unwrap_or_else(|| vec![1.0; m]);
        let teacher_init = match cfg.teacher.weights {
            TeacherWeights::Orthonormal => TeacherInit::Orthonormal,
            TeacherWeights::Gaussian => TeacherInit::Gaussian,
        };
        let n = cfg.data.d;
        let noise = cfg.teacher.noise;
        let params = TsParams {
            k,
            m,
            lr: cfg.lr,
            lr_v: cfg.student.lr_second_layer.unwrap_or(cfg.lr),
            noise_var: noise * noise,
            train_v: cfg.student.train_second_layer,
            v_star,
            // replaced by the teacher's actual overlaps in `system`
            t: vec![0.0; m * m],
            v_fixed: vec![1.0; k],
        };
        Ok(TsProblem {
            student,
            teacher,
            params,
            n,
            noise,
            teacher_init,
            init_std: cfg.init_std,
            seed: cfg.seed,
            seeds: cfg.sgd.seeds,
            times: time_grid(cfg.t_max, cfg.output.points, n),
            integrator: IntegratorOptions {
                method: match cfg.ode.method {
                    MethodName::Dopri5 => Method::Dopri5,
                    MethodName::Dop853 => Method::Dop853,
                },
                rtol: cfg.ode.rtol,
                atol: cfg.ode.atol,
                stats: cfg.ode.stats,
                stiffness_check: cfg.ode.stiffness_check,
                two_threads: cfg.ode.threads == 2,
                ..IntegratorOptions::default()
            },
        })
    }

    /// The initial weights (seed `self.seed`; every SGD seed starts from them).
    pub fn initial_weights(&self) -> TsWeights {
        TsWeights::init(
            self.params.k,
            self.n,
            self.init_std,
            self.teacher_init,
            &self.params.v_star,
            self.seed,
        )
    }

    /// The ODE system with the teacher's actual overlaps T, and the initial state of the
    /// order parameters of [`TsProblem::initial_weights`].
    pub fn system(&self) -> Result<(TsSystem, DVector<f64>)> {
        let w = self.initial_weights();
        let (q, r, t) = w.overlaps();
        let params = TsParams {
            t,
            ..self.params.clone()
        };
        let sys = TsSystem::for_activations(params, self.student, self.teacher)?;
        let y0 = sys.state(&q, &r, &w.v);
        Ok((sys, y0))
    }
}

/// The soft committee machine's dynamics restricted to the symmetric subspace `Q_kk = q`,
/// `Q_kl = c` (k ≠ l), `R_km = r` for all k, l, m (invariant when K = M, T = I, v = v* = 1 and g = g*), divided by η:
/// its fixed point at η → 0 is the symmetric plateau. The plateau lies on the boundary of the
/// states that describe networks (all students the same vector `r Σ_m B_m`, so `c = q = M r²`);
/// closed forms extend analytically across it and the quadrature linearly (docs/theory.md §8.3);
/// smaller invariant manifolds, on which the plateau is an interior point, are offered too (see
/// [`Symmetry`]).
struct SymmetricSubspace<'a> {
    sys: &'a TsSystem,
    symmetry: Symmetry,
}

/// The unknowns of [`SymmetricSubspace`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Symmetry {
    /// `(q, c, r)`
    Full,
    /// `(q, r)` with `c = q`: all students the same vector
    Identical,
    /// `(r)` with `c = q = M r²`: all students the same vector in the teachers' span
    InSpan,
}

impl Flow for SymmetricSubspace<'_> {
    type Workspace = (DVector<f64>, <TsSystem as Flow>::Workspace);
    fn workspace(&self) -> Self::Workspace {
        (DVector::zeros(self.sys.len()), self.sys.workspace())
    }
    fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, ws: &mut Self::Workspace) {
        let k = self.sys.p.k;
        let (q, c, r) = self.symmetry.unpack(y, self.sys.p.m);
        let full = self.sys.state(&symmetric_q(k, q, c), &vec![r; k * k], &[]);
        self.sys.rhs(&full, &mut ws.0, &mut ws.1);
        let eta = self.sys.p.lr;
        let (mut diag, mut off, mut i) = (0.0, 0.0, 0);
        for a in 0..k {
            for b in a..k {
                if a == b {
                    diag += ws.0[i];
                } else {
                    off += ws.0[i];
                }
                i += 1;
            }
        }
        let dq = diag / (k as f64 * eta);
        let dr = ws.0.rows(i, k * k).sum() / ((k * k) as f64 * eta);
        match self.symmetry {
            Symmetry::InSpan => dy[0] = dr,
            Symmetry::Identical => (dy[0], dy[1]) = (dq, dr),
            Symmetry::Full => {
                // K = 1 has no off-diagonal overlap: pin c to q
                let dc = if k > 1 {
                    off / ((k * (k - 1) / 2) as f64 * eta)
                } else {
                    y[1] - y[0]
                };
                (dy[0], dy[1], dy[2]) = (dq, dc, dr);
            }
        }
    }
    fn failure(_: &Self::Workspace) -> Option<String> {
        None
    }
}

impl Symmetry {
    /// `(q, c, r)` of the unknowns `y`.
    fn unpack(self, y: &DVector<f64>, m: usize) -> (f64, f64, f64) {
        match self {
            Symmetry::Full => (y[0], y[1], y[2]),
            Symmetry::Identical => (y[0], y[0], y[1]),
            Symmetry::InSpan => (m as f64 * y[0] * y[0], m as f64 * y[0] * y[0], y[0]),
        }
    }

    /// Saad & Solla's erf plateau `q = c = 1/(2K − 1)`, `r = 1/√(K(2K − 1))` as unknowns.
    fn start(self, k: usize) -> DVector<f64> {
        let q = 1.0 / (2 * k - 1) as f64;
        let r = 1.0 / ((k * (2 * k - 1)) as f64).sqrt();
        DVector::from_vec(match self {
            Symmetry::Full => vec![q, q, r],
            Symmetry::Identical => vec![q, r],
            Symmetry::InSpan => vec![r],
        })
    }
}

/// `Q` with `q` on the diagonal and `c` off it.
fn symmetric_q(k: usize, q: f64, c: f64) -> Vec<f64> {
    (0..k * k)
        .map(|i| if i / k == i % k { q } else { c })
        .collect()
}

/// ε_g of the symmetric plateau of the soft committee machine as η → 0 when the set-up is one
/// (K = M, v = v* = 1 fixed, g = g*, T = I), NaN otherwise: the fixed point of the dynamics in
/// the symmetric subspace with 0 < r < 1, found by Newton from Saad & Solla's erf values
/// `q = 1/(2K − 1)`, `r = 1/√(K(2K − 1))` (for any activation: only the starting point is erf's).
fn plateau_error(pb: &TsProblem, sys: &TsSystem) -> f64 {
    let (k, m) = (pb.params.k, pb.params.m);
    let t_is_identity = (0..m)
        .all(|a| (0..m).all(|b| (sys.p.t[a * m + b] - f64::from(u8::from(a == b))).abs() < 1e-9));
    if k != m
        || pb.params.train_v
        || pb.params.v_star.iter().any(|v| *v != 1.0)
        || pb.student.expression() != pb.teacher.expression()
        || !t_is_identity
    {
        return f64::NAN;
    }
    let params = TsParams {
        lr: 1e-9,
        noise_var: 0.0,
        ..sys.p.clone()
    };
    let slow = sys.with_params(params);
    // quadrature sums carry rounding noise of ~1e-11 in F/η; closed forms reach 1e-13
    let tol = if sys.uses_quadrature() { 1e-9 } else { 1e-13 };
    for symmetry in [Symmetry::Full, Symmetry::Identical, Symmetry::InSpan] {
        let flow = SymmetricSubspace {
            sys: &slow,
            symmetry,
        };
        let start = symmetry.start(k);
        // a budget: activations whose kernels need numerical orthant probabilities (kinks on
        // both sides, e.g. a clamp) cost milliseconds per evaluation of F
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        if let Ok(c) =
            crate::ode::fixed_points::newton(&flow, &start, tol, 200, Some(deadline), None)
        {
            let (q, c, r) = symmetry.unpack(&c.y, m);
            let y = slow.state(&symmetric_q(k, q, c), &vec![r; k * m], &[]);
            // a network: 0 < r < 1 and the overlaps positive semidefinite
            if r > 1e-6 && r < 1.0 - 1e-6 && slow.cone_margin(&y) > -1e-9 {
                return slow.error(&y);
            }
        }
    }
    f64::NAN
}

/// One right-hand side above this many seconds gets a note on stderr before the integration.
const SLOW_RHS_SECONDS: f64 = 0.05;

/// [`slow_note`] on stderr, so that a run of hours is not mistaken for a hang (with or without
/// progress bars, as the integrator's own notes).
fn warn_if_slow(sys: &TsSystem, y0: &DVector<f64>, pb: &TsProblem) {
    if let Some(note) = slow_note(sys, y0, pb) {
        eprintln!("note: {note}");
    }
}

/// Where one evaluation of the problem's right-hand side is slow (many students and teacher
/// units: the η² term needs O(K²(K + M)²) four-point integrals), what a step costs (timed on two
/// evaluations of the initial state); `None` when it is quick. A run prints it on stderr before
/// it integrates.
pub fn slow_rhs_note(pb: &TsProblem) -> Result<Option<String>> {
    let (sys, y0) = pb.system()?;
    Ok(slow_note(&sys, &y0, pb))
}

fn slow_note(sys: &TsSystem, y0: &DVector<f64>, pb: &TsProblem) -> Option<String> {
    let mut ws = sys.workspace();
    let mut dy = y0.clone();
    let mut timed = || {
        let start = std::time::Instant::now();
        crate::ode::integrate::Flow::rhs(sys, y0, &mut dy, &mut ws);
        start.elapsed().as_secs_f64()
    };
    // the first evaluation also sets up what later ones reuse (lazily built kernels): a second
    // one, where the first was slow, says what a step costs
    if timed() <= SLOW_RHS_SECONDS {
        return None;
    }
    let one = timed();
    (one > SLOW_RHS_SECONDS).then(|| {
        format!(
            "K = {}, M = {}: one evaluation of the ODE's right-hand side takes {one:.2} s \
             (its η² term has O(K²(K + M)²) four-point integrals); a Dormand–Prince step needs \
             six, so expect at least {:.1} s per step and many steps to t_max = {} (lower k, \
             teacher.m or t_max for a quicker run)",
            pb.params.k,
            pb.params.m,
            6.0 * one,
            pb.times.last().copied().unwrap_or(0.0)
        )
    })
}

/// Runs the ODE and the SGD seeds; the first failure of either is the error.
pub fn run(pb: &TsProblem, show_progress: bool) -> Result<TsTrajectory> {
    // (without keeping going, every stop is the error)
    run_keeping(pb, show_progress, false).map(|(tr, _)| tr)
}

/// [`run`], keeping what was computed when the ODE or SGD stops early (divergence, a stalled
/// integration): the trajectory's values of a run that stopped are NaN from the first output
/// time it did not reach, and the reasons are returned (ODE first). Errors before anything is
/// computed (the set-up) are errors.
pub fn run_partial(pb: &TsProblem, show_progress: bool) -> Result<(TsTrajectory, Vec<Error>)> {
    run_keeping(pb, show_progress, true)
}

/// `NaN` order parameters (rows a stopped run did not reach).
fn missing_order(k: usize, m: usize) -> TsOrder {
    TsOrder {
        q: vec![f64::NAN; k * k],
        r: vec![f64::NAN; k * m],
        v: vec![f64::NAN; k],
    }
}

fn run_keeping(
    pb: &TsProblem,
    show_progress: bool,
    keep_going: bool,
) -> Result<(TsTrajectory, Vec<Error>)> {
    let (sys, y0) = pb.system()?;
    let times = pb.times.clone();
    let len = times.len();
    let (k, m) = (pb.params.k, pb.params.m);
    warn_if_slow(&sys, &y0, pb);
    let mut stopped: Vec<Error> = Vec::new();
    let states = integrate_with_progress(&sys, y0, &times, pb.integrator, show_progress)
        .keeping(keep_going, &mut stopped)?;
    let mut ws = sys.workspace();
    let mut eps_ode: Vec<f64> = states
        .iter()
        .map(|s| sys.error_with(&s.y, &mut ws))
        .collect();
    let mut ode_order: Vec<TsOrder> = states.iter().map(|s| sys.order(&s.y)).collect();
    eps_ode.resize(len, f64::NAN);
    ode_order.resize(len, missing_order(k, m));
    // SGD: every seed starts from the same weights; seeds differ in the samples only
    let w0 = pb.initial_weights();
    let (runs, sgd_stop) = run_seeds(
        pb.seeds,
        &times,
        pb.n,
        show_progress,
        |i| {
            let sgd = TsSgd::new(
                w0.clone(),
                pb.student,
                pb.teacher,
                pb.params.lr,
                pb.params.lr_v,
                pb.noise,
                pb.params.train_v,
                sgd_stream_seed(pb.seed, i),
            );
            (sgd, sys.workspace())
        },
        |(sgd, _), n| sgd.run(n),
        |(sgd, _)| sgd.is_finite(),
        |(sgd, ws)| {
            let (q, r, _) = sgd.weights.overlaps();
            let y = sys.state(&q, &r, &sgd.weights.v);
            (sys.error_with(&y, ws), sys.order(&y))
        },
    );
    keep_stop(sgd_stop, keep_going, &mut stopped)?;
    let mut eps_sgd = vec![f64::NAN; len];
    let mut eps_sgd_std = vec![f64::NAN; len];
    let zero = TsOrder {
        q: vec![0.0; k * k],
        r: vec![0.0; k * m],
        v: vec![0.0; k],
    };
    let mut sgd_order = vec![zero; len];
    if !runs.is_empty() {
        let s = runs.len() as f64;
        // rows every seed reached (all of them unless one diverged)
        let sgd_reached = runs.iter().map(Vec::len).min().unwrap_or(0);
        for o in &mut sgd_order[sgd_reached..] {
            *o = missing_order(k, m);
        }
        for j in 0..sgd_reached {
            (eps_sgd[j], eps_sgd_std[j]) = mean_std(runs.iter().map(|r| r[j].0));
            let o = &mut sgd_order[j];
            for r in &runs {
                let p = &r[j].1;
                for (dst, src) in [(&mut o.q, &p.q), (&mut o.r, &p.r), (&mut o.v, &p.v)] {
                    for (a, b) in dst.iter_mut().zip(src) {
                        *a += b / s;
                    }
                }
            }
        }
    }
    let tr = TsTrajectory {
        plateau: plateau_error(pb, &sys),
        times,
        eps_ode,
        eps_sgd,
        eps_sgd_std,
        ode_order,
        sgd_order,
        k,
        m,
        n: pb.n,
        student: pb.student.name(),
        teacher: pb.teacher.name(),
    };
    Ok((tr, stopped))
}

impl TsTrajectory {
    /// `max_t |ε_ode − ε_sgd| / ε_ode(0)`.
    pub fn max_relative_gap(&self) -> f64 {
        max_relative_gap(&self.eps_ode, &self.eps_sgd)
    }

    /// The CSV text: `t,eps_ode,eps_sgd,eps_sgd_std`, then the order parameters of the ODE and
    /// of SGD (mean over seeds): `Q_kl` (k ≤ l), `R_km`, `v_k`.
    pub fn csv(&self) -> String {
        use std::fmt::Write;
        let (k, m) = (self.k, self.m);
        let mut s = String::from("t,eps_ode,eps_sgd,eps_sgd_std");
        for src in ["ode", "sgd"] {
            for a in 0..k {
                for b in a..k {
                    let _ = write!(s, ",{src}_Q_{}{}", a + 1, b + 1);
                }
            }
            for a in 0..k {
                for b in 0..m {
                    let _ = write!(s, ",{src}_R_{}{}", a + 1, b + 1);
                }
            }
            for a in 0..k {
                let _ = write!(s, ",{src}_v_{}", a + 1);
            }
        }
        s.push('\n');
        for j in 0..self.times.len() {
            let _ = write!(
                s,
                "{:.6e},{:.10e},{:.10e},{:.10e}",
                self.times[j], self.eps_ode[j], self.eps_sgd[j], self.eps_sgd_std[j]
            );
            for o in [&self.ode_order[j], &self.sgd_order[j]] {
                for a in 0..k {
                    for b in a..k {
                        let _ = write!(s, ",{:.10e}", o.q[a * k + b]);
                    }
                }
                for v in o.r.iter().chain(&o.v) {
                    let _ = write!(s, ",{v:.10e}");
                }
            }
            s.push('\n');
        }
        s
    }

    /// Human-readable summary for stdout.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let n = self.times.len();
        let _ = writeln!(
            s,
            "teacher–student: student {} (K = {}), teacher {} (M = {}), N = {}, t_max = {}",
            self.student,
            self.k,
            self.teacher,
            self.m,
            self.n,
            self.times[n - 1]
        );
        if self.plateau.is_finite() {
            let _ = writeln!(s, "symmetric plateau (η → 0): ε = {:.7}", self.plateau);
        }
        s.push_str(&error_table(
            &self.times,
            &self.eps_ode,
            &self.eps_sgd,
            &self.eps_sgd_std,
        ));
        s
    }

    /// The curves of the figure, with the plateau level when it applies.
    #[cfg(feature = "cli")]
    pub fn curves(&self) -> crate::plot::Curves<'_> {
        crate::plot::Curves {
            times: &self.times,
            eps_ode: &self.eps_ode,
            eps_sgd: &self.eps_sgd,
            eps_sgd_std: &self.eps_sgd_std,
            levels: if self.plateau.is_finite() {
                vec![("plateau (η → 0)".to_string(), self.plateau)]
            } else {
                vec![]
            },
            time_label: "t = steps / N",
        }
    }
}
