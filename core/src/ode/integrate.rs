//! Error-controlled integration with `ode_solvers` (Dopri5), segment by segment between the
//! requested output times (so no dense-output interpolation is involved: each output is the end
//! point of a converged integration).

use super::system::{OdeState, OdeSystem, RhsWorkspace};
use crate::error::{Error, Result};
use nalgebra::DVector;
use ode_solvers::dop_shared::OutputType;
use ode_solvers::{Dop853, Dopri5, System};
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

/// Integrates from `y0` at `times[0]` and returns the state at every time of `times` (increasing).
/// `progress` is called with each reached time.
pub fn integrate<F: Flow>(
    sys: &F,
    y0: DVector<f64>,
    times: &[f64],
    opts: IntegratorOptions,
    mut progress: impl FnMut(f64),
) -> Result<Vec<OdeState>> {
    let mut out = Vec::with_capacity(times.len());
    let Some(&t0) = times.first() else {
        return Ok(out);
    };
    if y0.iter().any(|v| !v.is_finite()) {
        return Err(Error::Diverged {
            what: "ODE",
            t: t0,
            detail: "non-finite initial state".into(),
        });
    }
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
        // both pairs share `from_param`'s signature; the controller constants are ode_solvers'
        // defaults for each (safety, PI β, min and max step factor)
        macro_rules! segment {
            ($solver:ident, $beta:expr, $fac_min:expr, $fac_max:expr) => {{
                let mut solver = $solver::from_param(
                    Rhs { sys, ws: &ws },
                    a,
                    b,
                    b - a,
                    y.clone(),
                    opts.rtol,
                    opts.atol,
                    0.9,
                    $beta,
                    $fac_min,
                    $fac_max,
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
                (stats, ts.last().copied(), last_step, ys.last().cloned())
            }};
        }
        let (stats, t_end, last_step, y_end) = match opts.method {
            Method::Dopri5 => segment!(Dopri5, 0.04, 0.2, 10.0),
            Method::Dop853 => segment!(Dop853, 0.0, 0.333, 6.0),
        };
        if let Some(why) = F::failure(&ws.borrow()) {
            return Err(Error::Integration { t: a, message: why });
        }
        let stats = stats.map_err(|e| Error::Integration {
            t: a,
            message: format!("{e:?}"),
        })?;
        if opts.stats {
            eprintln!(
                "segment [{a}, {b}]: {} RHS evaluations, {} accepted, {} rejected steps",
                stats.num_eval, stats.accepted_steps, stats.rejected_steps
            );
        }
        let (Some(t_end), Some(y_end)) = (t_end, y_end) else {
            return Err(Error::Integration {
                t: a,
                message: "no output".into(),
            });
        };
        if (t_end - b).abs() > 1e-9 * b.abs().max(1.0) {
            return Err(Error::Integration {
                t: t_end,
                message: format!("stopped before t = {b}"),
            });
        }
        if let Some(step) = last_step {
            h = step.abs();
        }
        y = y_end;
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::Diverged {
                what: "ODE",
                t: b,
                detail: format!("state component {i} is not finite"),
            });
        }
        if y.amax() > 1e150 {
            return Err(Error::Diverged {
                what: "ODE",
                t: b,
                detail: "state overflow (|y| > 1e150)".into(),
            });
        }
        out.push(OdeState { t: b, y: y.clone() });
        progress(b);
    }
    Ok(out)
}
