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
}

impl Default for IntegratorOptions {
    fn default() -> Self {
        IntegratorOptions {
            method: Method::default(),
            rtol: 1e-9,
            atol: 1e-12,
            max_steps: 5_000_000,
        }
    }
}

struct Rhs<'s, 'a> {
    sys: &'s OdeSystem<'a>,
    ws: RefCell<RhsWorkspace>,
}

impl<'s, 'a> Rhs<'s, 'a> {
    fn new(sys: &'s OdeSystem<'a>) -> Self {
        Rhs {
            sys,
            ws: RefCell::new(sys.workspace()),
        }
    }
}

impl System<f64, DVector<f64>> for Rhs<'_, '_> {
    fn system(&self, _t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        self.sys.rhs_with(y, dy, &mut self.ws.borrow_mut());
    }
}

/// Integrates from `y0` at `times[0]` and returns the state at every time of `times` (increasing).
/// `progress` is called with each reached time.
pub fn integrate(
    sys: &OdeSystem,
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
    for w in times.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b <= a {
            out.push(OdeState { t: b, y: y.clone() });
            continue;
        }
        let (stats, ts, ys) = match opts.method {
            Method::Dopri5 => {
                let mut solver = Dopri5::from_param(
                    Rhs::new(sys),
                    a,
                    b,
                    b - a,
                    y.clone(),
                    opts.rtol,
                    opts.atol,
                    0.9,
                    0.04,
                    0.2,
                    10.0,
                    b - a,
                    h,
                    opts.max_steps,
                    1000,
                    OutputType::Sparse,
                );
                let stats = solver.integrate();
                let (ts, ys) = solver.results().get();
                (stats, ts.clone(), ys.clone())
            }
            Method::Dop853 => {
                let mut solver = Dop853::from_param(
                    Rhs::new(sys),
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
                    1000,
                    OutputType::Sparse,
                );
                let stats = solver.integrate();
                let (ts, ys) = solver.results().get();
                (stats, ts.clone(), ys.clone())
            }
        };
        let stats = stats.map_err(|e| Error::Integration {
            t: a,
            message: format!("{e:?}"),
        })?;
        if std::env::var_os("AEDYN_ODE_STATS").is_some() {
            eprintln!(
                "segment [{a}, {b}]: {} RHS evaluations, {} accepted, {} rejected steps",
                stats.num_eval, stats.accepted_steps, stats.rejected_steps
            );
        }
        let (Some(&t_end), Some(y_end)) = (ts.last(), ys.last()) else {
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
        if ys.len() >= 2 {
            h = (ts[ts.len() - 1] - ts[ts.len() - 2]).abs();
        }
        y = y_end.clone();
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
