//! Error-controlled integration: the project's allocation-free Dopri5 with dense output
//! ([`super::dopri5`], the default) through all output times in one run, or ode_solvers' Dop853
//! segment by segment between the output times.

use super::dopri5::{Control, Dopri5, Dopri5Failure, Dopri5Options, Dopri5Stats};
use super::system::{OdeState, OdeSystem, RhsWorkspace};
use crate::error::{Error, Result};
use nalgebra::DVector;
use ode_solvers::dop_shared::OutputType;
use ode_solvers::{Dop853, System};
use std::cell::RefCell;

/// The embedded Runge–Kutta pair of `ode_solvers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    /// Dormand–Prince 5(4), 6 evaluations per step (the default; the fewest evaluations at the
    /// default tolerances on the problems benchmarked here).
    #[default]
    Dopri5,
    /// Dormand–Prince 8(5,3), 12 evaluations per step and about half as many steps; can pay off
    /// at tolerances far below 1e-9.
    Dop853,
}

/// Tolerances of the adaptive integrator (relative and absolute, per component).
#[derive(Clone, Copy, Debug)]
pub struct IntegratorOptions {
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    /// step limit per output segment (ode_solvers' default is 100 000)
    pub max_steps: u32,
    /// Print the statistics of each output segment on stderr (config `ode.stats`).
    pub stats: bool,
    /// Stop when the integrator detects stiffness (config `ode.stiffness_check`); otherwise go on
    /// with the steps stability allows.
    pub stiffness_check: bool,
    /// Integrate a large vector-form system in two halves on two threads (Dopri5 only; where the
    /// machine has two cores and the state at least [`super::system::HALVES_MIN_LEN`]
    /// components: `super::halves`). The result differs from one thread's only by the order in
    /// which a few sums are added.
    pub two_threads: bool,
}

impl Default for IntegratorOptions {
    fn default() -> Self {
        IntegratorOptions {
            method: Method::default(),
            rtol: 1e-9,
            atol: 1e-12,
            max_steps: 5_000_000,
            stats: false,
            stiffness_check: true,
            two_threads: true,
        }
    }
}

/// An autonomous ODE system `dy/dt = F(y)` as the integrator and the fixed-point analysis see
/// it: the problem definition, apart from the solvers.
pub trait Flow {
    /// Buffers one evaluation of F needs (allocated once per integration).
    type Workspace;
    fn workspace(&self) -> Self::Workspace;
    /// `dy = F(y)`, without allocation.
    fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, ws: &mut Self::Workspace);
    /// Why an evaluation could not be completed, if one could not.
    fn failure(ws: &Self::Workspace) -> Option<String>;
    /// The system as a vector form that two threads can integrate in halves, with the component
    /// where the halves meet ([`OdeSystem::halves_split`]); default: none. The two-thread driver
    /// never asks [`Flow::settled`]: a flow that offers halves must not need it.
    fn halves(&self) -> Option<(&OdeSystem<'_>, usize)> {
        None
    }
    /// An exact fixed point that `y` has reached to within `tol` (relative, [`reached_within`]),
    /// where F is not differentiable (a teacher–student student with kinks at its perfectly
    /// learned state): when the integrator's steps stall there, it holds this state for the
    /// remaining output times instead of failing (default: none).
    fn settled(&self, _y: &DVector<f64>, _tol: f64) -> Option<DVector<f64>> {
        None
    }
}

impl Flow for OdeSystem<'_> {
    type Workspace = RhsWorkspace;
    fn workspace(&self) -> RhsWorkspace {
        OdeSystem::workspace(self)
    }
    fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, ws: &mut RhsWorkspace) {
        self.rhs_with(y, dy, ws);
    }
    fn failure(ws: &RhsWorkspace) -> Option<String> {
        ws.failure.clone()
    }
    fn halves(&self) -> Option<(&OdeSystem<'_>, usize)> {
        self.halves_split().map(|split| (self, split))
    }
}

/// The system as ode_solvers sees it, with the RHS buffers shared by all output segments.
struct Rhs<'s, F: Flow> {
    sys: &'s F,
    ws: &'s RefCell<F::Workspace>,
}

impl<F: Flow> System<f64, DVector<f64>> for Rhs<'_, F> {
    fn system(&self, _t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        self.sys.rhs(y, dy, &mut self.ws.borrow_mut());
    }
}

/// What an integration reached: the states at the output times up to where it stopped (all of
/// them when `stopped` is `None`), and why it stopped before the last one.
#[derive(Debug)]
pub struct Integrated {
    pub states: Vec<OdeState>,
    pub stopped: Option<Error>,
}

impl Integrated {
    /// All states, or the reason the integration stopped early.
    pub fn into_result(self) -> Result<Vec<OdeState>> {
        match self.stopped {
            None => Ok(self.states),
            Some(e) => Err(e),
        }
    }

    /// The states reached; where the integration stopped early its reason goes to `stopped`
    /// when `keep_going` — or is the error when not, or when nothing past the start was computed.
    pub fn keeping(self, keep_going: bool, stopped: &mut Vec<Error>) -> Result<Vec<OdeState>> {
        if let Some(e) = self.stopped {
            if !keep_going || self.states.len() <= 1 {
                return Err(e);
            }
            stopped.push(e);
        }
        Ok(self.states)
    }

    fn complete(states: Vec<OdeState>) -> Self {
        Integrated {
            states,
            stopped: None,
        }
    }

    fn stopped(states: Vec<OdeState>, why: Error) -> Self {
        Integrated {
            states,
            stopped: Some(why),
        }
    }
}

/// Integrates from `y0` at `times[0]` and returns the state at every time of `times` (increasing).
/// `progress` is called with each reached time.
///
/// Dopri5 runs once through all times with dense output (order 4, [`super::dopri5`]); Dop853
/// (ode_solvers) is stopped at each output time.
pub fn integrate<F: Flow>(
    sys: &F,
    y0: DVector<f64>,
    times: &[f64],
    opts: IntegratorOptions,
    progress: impl FnMut(f64),
) -> Result<Vec<OdeState>> {
    integrate_partial(sys, y0, times, opts, progress).into_result()
}

/// [`integrate`], keeping the states reached when it stops early (divergence, a stalled step
/// size, a refused state): a failed run loses nothing it computed.
pub fn integrate_partial<F: Flow>(
    sys: &F,
    y0: DVector<f64>,
    times: &[f64],
    opts: IntegratorOptions,
    progress: impl FnMut(f64),
) -> Integrated {
    let Some(&t0) = times.first() else {
        return Integrated::complete(Vec::new());
    };
    if y0.iter().any(|v| !v.is_finite()) {
        let why = Error::Diverged {
            what: "ODE",
            t: t0,
            detail: "non-finite initial state".into(),
        };
        return Integrated::stopped(Vec::new(), why);
    }
    if let Some(w) = times
        .windows(2)
        .find(|w| w[1] < w[0] || w[0].is_nan() || w[1].is_nan())
    {
        let why = Error::Integration {
            t: w[0],
            message: format!("output times must not decrease ({} after {})", w[1], w[0]),
        };
        return Integrated::stopped(Vec::new(), why);
    }
    match opts.method {
        Method::Dopri5 => integrate_dopri5(sys, y0, times, opts, progress),
        Method::Dop853 => integrate_segments(sys, y0, times, opts, progress),
    }
}

/// [`integrate_partial`] with a progress bar on stderr over `[times[0], last time]` when `show`.
pub fn integrate_with_progress<F: Flow>(
    sys: &F,
    y0: DVector<f64>,
    times: &[f64],
    opts: IntegratorOptions,
    show: bool,
) -> Integrated {
    let t_max = times.last().copied().unwrap_or(0.0);
    let bar = show.then(|| crate::progress::Progress::new(1000, "ODE"));
    let states = integrate_partial(sys, y0, times, opts, |t| {
        if let Some(b) = &bar {
            b.set_position((1000.0 * t / t_max) as u64);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    states
}

/// Why the state at `t` ends the run, if it does (non-finite or overflowing components).
fn divergence(t: f64, y: &[f64]) -> Option<Error> {
    // the common case in one pass the compiler vectorises (NaN fails the comparison too)
    let bounded = |c: &[f64]| c.iter().fold(true, |ok, v| ok & (v.abs() <= 1e150));
    if y.chunks(16).all(bounded) {
        return None;
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Some(Error::Diverged {
            what: "ODE",
            t,
            detail: format!("state component {i} is not finite"),
        });
    }
    if y.iter().any(|v| v.abs() > 1e150) {
        return Some(Error::Diverged {
            what: "ODE",
            t,
            detail: "state overflow (|y| > 1e150)".into(),
        });
    }
    None
}

/// Whether `y` is at the exact fixed point `star` to within the integration's accuracy
/// (`|y − y*|∞ ≤ 1e-6·(1 + |y*|∞)`): where [`Flow::settled`] holds it and the fixed-point analysis
/// lists it instead of Newton's nearby zero.
pub fn reached(y: &DVector<f64>, star: &DVector<f64>) -> bool {
    reached_within(y, star, REACHED)
}

/// The relative distance of [`reached`].
pub const REACHED: f64 = 1e-6;

/// `|y − y*|∞ ≤ tol·(1 + |y*|∞)`.
pub fn reached_within(y: &DVector<f64>, star: &DVector<f64>, tol: f64) -> bool {
    (y - star).amax() <= tol * (1.0 + star.amax())
}

/// RHS evaluations of one output interval after which, and then every as many again within it,
/// the integration asks the flow whether it has reached a non-differentiable fixed point
/// ([`Flow::settled`]) to [`hold_tolerance`]. A creeping approach can spread over many
/// log-spaced output intervals of a few hundred evaluations each (a clamp student learning its
/// teacher, K = M = 2, t = 300: 107 s creeping from t ≈ 170 when only intervals of 2 000
/// evaluations were checked, 7.8 s from 200, held at t ≈ 178), or fill one long interval (an
/// over-realisable `x.max(-1.0)` student, K = 3, M = 2: 125 k evaluations in [660, 700], 3 min,
/// when only output times were checked).
const CREEPING_CHECK: u64 = 200;

/// How close a creeping integration must be to an exact fixed point to hold it: [`REACHED`] at
/// [`CREEPING_CHECK`] evaluations in one output interval, looser in proportion to the
/// evaluations spent, up to 1e-4 (at 20 000). Near a perfectly learned state of a kinked
/// activation F has a square-root-like dependence on the distance, so the steps shrink with it
/// and the last decades of an exponential approach cost most of the run (|x| students,
/// K = M = 2, t = 100: 926 k evaluations holding at 1e-6); the note says how far it was.
fn hold_tolerance(evaluations: u64) -> f64 {
    (REACHED * evaluations as f64 / CREEPING_CHECK as f64).clamp(REACHED, 1e-4)
}

/// Whether the machine runs two threads at once.
fn two_cores() -> bool {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) >= 2
}

fn integrate_dopri5<F: Flow>(
    sys: &F,
    y0: DVector<f64>,
    times: &[f64],
    opts: IntegratorOptions,
    mut progress: impl FnMut(f64),
) -> Integrated {
    let n = y0.len();
    let mut out: Vec<OdeState> = Vec::with_capacity(times.len());
    let mut ws = sys.workspace();
    let mut diverged = None;
    // (time, |y − y*|∞ there, y*)
    let mut settled: Option<(f64, f64, DVector<f64>)> = None;
    // evaluations of the current output interval at the last creeping check
    let mut checked_at = 0u64;
    let dopri5_options = Dopri5Options {
        rtol: opts.rtol,
        atol: opts.atol,
        max_steps: opts.max_steps,
        n_stiff: opts.stiffness_check.then_some(1000),
    };
    let mut record = |i: usize, t: f64, y: &DVector<f64>, stats: Dopri5Stats| {
        if i > 0 {
            if opts.stats {
                eprintln!(
                    "segment [{}, {t}]: {} RHS evaluations, {} accepted, {} rejected steps",
                    times[i - 1],
                    stats.evaluations,
                    stats.accepted,
                    stats.rejected
                );
            }
            if let Some(e) = divergence(t, y.as_slice()) {
                diverged = Some(e);
                return Control::Stop;
            }
            progress(t);
        }
        out.push(OdeState { t, y: y.clone() });
        Control::Continue
    };
    let halves = sys.halves().filter(|_| opts.two_threads && two_cores());
    let mut halves_failure = None;
    let result = if let Some((split_sys, split)) = halves {
        let outcome = super::halves::integrate_halves(
            split_sys,
            split,
            y0.as_slice(),
            times,
            dopri5_options,
            &mut record,
        );
        halves_failure = outcome.failure;
        outcome.result
    } else {
        Dopri5::new(n).integrate_observed(
            y0.as_slice(),
            times,
            0.0,
            dopri5_options,
            |y, dy| {
                sys.rhs(y, dy, &mut ws);
                if F::failure(&ws).is_some() {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
            &mut record,
            // creeping towards a non-differentiable fixed point: hold it (asked after every
            // CREEPING_CHECK evaluations of an output interval, so every interval that takes more
            // than that many is asked at least once)
            |t, y, stats| {
                if stats.evaluations < checked_at {
                    checked_at = 0; // a new output interval
                }
                if stats.evaluations > CREEPING_CHECK
                    && stats.evaluations >= checked_at + CREEPING_CHECK
                {
                    checked_at = stats.evaluations;
                    if let Some(star) = sys.settled(y, hold_tolerance(stats.evaluations)) {
                        settled = Some((t, (y - &star).amax(), star));
                        return Control::Stop;
                    }
                }
                Control::Continue
            },
        )
    };
    if let Some(why) = F::failure(&ws).or(halves_failure) {
        let t = match &result {
            Err(Dopri5Failure::Stopped { t }) => *t,
            _ => out.last().map_or(times[0], |s| s.t),
        };
        return Integrated::stopped(out, Error::Refused { t, message: why });
    }
    if let Some(e) = diverged {
        return Integrated::stopped(out, e);
    }
    let stalled = matches!(
        result,
        Err(Dopri5Failure::StepUnderflow { .. }
            | Dopri5Failure::StepLimit { .. }
            | Dopri5Failure::Stiff { .. })
    );
    if settled.is_none()
        && stalled
        && let Some(last) = out.last()
        && let Some(star) = sys.settled(&last.y, REACHED)
    {
        settled = Some((last.t, (&last.y - &star).amax(), star));
    }
    if let Some((t_hold, from, star)) = settled {
        eprintln!(
            "note: the ODE reached an exact fixed point y* (F(y*) = 0; |y − y*|∞ = {from:.1e} at \
             t = {t_hold:.4}) while its steps kept shrinking (F is not differentiable there for \
             activations with kinks); it is held there for the output times after the last one \
             integrated"
        );
        for &t in &times[out.len()..] {
            out.push(OdeState { t, y: star.clone() });
        }
        return Integrated::complete(out);
    }
    let why = match result {
        Ok(_) => {
            return Integrated::complete(out);
        }
        Err(Dopri5Failure::StepLimit { t, steps }) => Error::Integration {
            t,
            message: format!("{steps} steps without reaching the next output time (step limit)"),
        },
        Err(Dopri5Failure::NonFinite { t }) => Error::Diverged {
            what: "ODE",
            t,
            detail: "the right-hand side is not finite near this state".into(),
        },
        Err(Dopri5Failure::StepUnderflow { t }) => Error::Integration {
            t,
            message: "the step size fell below the resolution of t".into(),
        },
        Err(Dopri5Failure::Stiff { t }) => Error::Integration {
            t,
            message: "stiffness detected (h·λ > 3.25 in 15 tests)".into(),
        },
        Err(Dopri5Failure::Stopped { t }) => Error::Integration {
            t,
            message: "stopped".into(),
        },
    };
    Integrated::stopped(out, why)
}

/// Dop853 (ode_solvers), restarted at each output time (no dense-output interpolation: each
/// output is the end point of a converged integration).
fn integrate_segments<F: Flow>(
    sys: &F,
    y0: DVector<f64>,
    times: &[f64],
    opts: IntegratorOptions,
    mut progress: impl FnMut(f64),
) -> Integrated {
    let mut out = Vec::with_capacity(times.len());
    let t0 = times[0];
    out.push(OdeState {
        t: t0,
        y: y0.clone(),
    });
    let mut y = y0;
    let mut h = 0.0;
    let ws = RefCell::new(sys.workspace());
    for w in times.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b <= a {
            out.push(OdeState { t: b, y: y.clone() });
            continue;
        }
        // the controller constants are ode_solvers' defaults for Dop853 (safety, PI β, min and
        // max step factor)
        let mut solver = Dop853::from_param(
            Rhs { sys, ws: &ws },
            a,
            b,
            b - a,
            y.clone(),
            opts.rtol,
            opts.atol,
            0.9,
            0.0,
            0.333,
            6.0,
            b - a,
            h,
            opts.max_steps,
            if opts.stiffness_check { 1000 } else { u32::MAX },
            OutputType::Sparse,
        );
        let stats = solver.integrate();
        let (ts, ys) = solver.results().get();
        let last_step = match ts.len() {
            n if n >= 2 => Some(ts[n - 1] - ts[n - 2]),
            _ => None,
        };
        let (t_end, y_end) = (ts.last().copied(), ys.last().cloned());
        if let Some(why) = F::failure(&ws.borrow()) {
            return Integrated::stopped(out, Error::Refused { t: a, message: why });
        }
        let stats = match stats {
            Ok(stats) => stats,
            Err(e) => {
                let why = Error::Integration {
                    t: a,
                    message: format!("{e:?}"),
                };
                return Integrated::stopped(out, why);
            }
        };
        if opts.stats {
            eprintln!(
                "segment [{a}, {b}]: {} RHS evaluations, {} accepted, {} rejected steps",
                stats.num_eval, stats.accepted_steps, stats.rejected_steps
            );
        }
        let (Some(t_end), Some(y_end)) = (t_end, y_end) else {
            let why = Error::Integration {
                t: a,
                message: "no output".into(),
            };
            return Integrated::stopped(out, why);
        };
        if (t_end - b).abs() > 1e-9 * b.abs().max(1.0) {
            let why = Error::Integration {
                t: t_end,
                message: format!("stopped before t = {b}"),
            };
            return Integrated::stopped(out, why);
        }
        if let Some(step) = last_step {
            h = step.abs();
        }
        y = y_end;
        if let Some(e) = divergence(b, y.as_slice()) {
            return Integrated::stopped(out, e);
        }
        out.push(OdeState { t: b, y: y.clone() });
        progress(b);
    }
    Integrated::complete(out)
}
