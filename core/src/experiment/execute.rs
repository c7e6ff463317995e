//! Running a problem: the ODE from run 0's initial weights, and the SGD runs in parallel from the
//! same weights, measured on the shared time grid.

use super::problem::Problem;
use super::report::Trajectory;
use super::seeds::sgd_stream_seed;
use crate::error::{Error, Result};
use crate::ode::integrate::integrate_with_progress;
use crate::order::{ModeDensity, OrderParams};
use crate::sim::{EigenbasisGaussian, ImageRows, Sampler, Sgd};
use rayon::prelude::*;

/// Runs the ODE and the SGD seeds (progress bars on stderr with `show_progress` and the default
/// `cli` feature); the first failure of either is the error.
pub fn run(pb: &Problem, show_progress: bool) -> Result<Trajectory> {
    // (without keeping going, every stop is the error)
    run_keeping(pb, show_progress, false).map(|(tr, _)| tr)
}

/// [`run`], keeping what was computed when the ODE or SGD stops early (divergence, a stalled
/// integration, an unphysical ODE state): the trajectory's values of a run that stopped are NaN
/// from the first output time it did not reach, and the reasons are returned (ODE first). Errors
/// before anything is computed (the set-up) are errors.
pub fn run_partial(pb: &Problem, show_progress: bool) -> Result<(Trajectory, Vec<Error>)> {
    run_keeping(pb, show_progress, true)
}

/// A run's early stop `why`: the error when not `keep_going`, else added to `stopped`.
pub(crate) fn keep_stop(
    why: Option<Error>,
    keep_going: bool,
    stopped: &mut Vec<Error>,
) -> Result<()> {
    match why {
        Some(e) if !keep_going => Err(e),
        Some(e) => {
            stopped.push(e);
            Ok(())
        }
        None => Ok(()),
    }
}

/// `NaN` order parameters (rows a stopped run did not reach).
fn missing_order(k: usize) -> OrderParams {
    let mut o = OrderParams::zeros(k);
    for v in [
        &mut o.q,
        &mut o.r,
        &mut o.t0,
        &mut o.t,
        &mut o.beta,
        &mut o.m,
        &mut o.n,
    ] {
        v.fill(f64::NAN);
    }
    o
}

fn missing_modes(k: usize, modes: usize) -> Vec<ModeDensity> {
    let mut m = ModeDensity::zeros(k);
    for v in [&mut m.q, &mut m.r, &mut m.t] {
        v.fill(f64::NAN);
    }
    vec![m; modes]
}

fn run_keeping(
    pb: &Problem,
    show_progress: bool,
    keep_going: bool,
) -> Result<(Trajectory, Vec<Error>)> {
    let d = pb.d();
    let k = pb.training.k;
    let times = pb.times.clone();
    let n = times.len();
    let mut stopped: Vec<Error> = Vec::new();
    // ODE
    let (sys, y0) = pb.ode_start()?;
    let states = integrate_with_progress(&sys, y0, &times, pb.integrator, show_progress)
        .keeping(keep_going, &mut stopped)?;
    let mut ode_order: Vec<OrderParams> = states.iter().map(|s| sys.order_params(&s.y)).collect();
    let modes = pb.modes.min(sys.single_modes());
    let mut ode_modes: Vec<Vec<ModeDensity>> = states
        .iter()
        .map(|s| sys.mode_densities(&s.y, modes))
        .collect();
    let mut eps_ode: Vec<f64> = ode_order
        .iter()
        .map(|o| o.error(pb.act, sys.half_trace))
        .collect();
    // ε ≥ ε_PCA(K) for any weights (the reconstruction lies in the span of K decoder vectors): a
    // state below it describes no network (a tolerance of 1e-9 of ε_PCA(0) for the integrator's
    // error where runs converge to PCA)
    let pca: Vec<f64> = (0..=k).map(|m| pb.pca_error(m)).collect();
    let floor = pca[k];
    let tol = 1e-9 * pca[0] + 1e-12;
    if let Some((j, &eps)) = eps_ode.iter().enumerate().find(|(_, e)| **e < floor - tol) {
        let why = Error::Unphysical {
            t: times[j],
            eps,
            k,
            floor,
            hint: if pb.typical_init {
                "typical initial conditions (q_τ = σ0² I) average over initial weights, which is \
                 exact for the self-averaging bulk but not for single spike modes, whose densities \
                 must stay rank one: use `ode.initial = \"weights\"`"
                    .into()
            } else {
                "tighten `ode.rtol` or lower `lr`".into()
            },
        };
        if !keep_going || j == 0 {
            return Err(why);
        }
        // the ODE's rows from there on describe no network: dropped, the reason first
        eps_ode.truncate(j);
        ode_order.truncate(j);
        ode_modes.truncate(j);
        stopped.insert(0, why);
    }
    eps_ode.resize(n, f64::NAN);
    ode_order.resize(n, missing_order(k));
    ode_modes.resize(n, missing_modes(k, modes));
    // SGD: every seed starts from the ODE's initial weights; seeds differ in the samples only
    let sampler: Box<dyn Sampler + '_> = match &pb.real {
        None => Box::new(EigenbasisGaussian::new(&pb.spectrum.rho)),
        Some(r) => Box::new(ImageRows { d, rows: &r.rows }),
    };
    let (runs, sgd_stop) = run_seeds(
        pb.seeds,
        &times,
        d,
        show_progress,
        |i| {
            Sgd::new(
                pb.initial_weights(0),
                pb.training,
                pb.act,
                sgd_stream_seed(pb.seed, i),
            )
        },
        |sgd, n| sgd.run(sampler.as_ref(), n),
        |sgd| sgd.is_finite(),
        |sgd| pb.sgd_error(&sgd.weights, modes),
    );
    keep_stop(sgd_stop, keep_going, &mut stopped)?;
    let mut eps_sgd = vec![f64::NAN; n];
    let mut eps_sgd_std = vec![f64::NAN; n];
    let mut sgd_order = vec![OrderParams::zeros(k); n];
    let mut sgd_modes = vec![vec![ModeDensity::zeros(k); modes]; n];
    if !runs.is_empty() {
        let s = runs.len() as f64;
        // rows every seed reached (all of them unless one diverged)
        let sgd_reached = runs.iter().map(Vec::len).min().unwrap_or(0);
        for j in sgd_reached..n {
            sgd_order[j] = missing_order(k);
            sgd_modes[j] = missing_modes(k, modes);
        }
        for j in 0..sgd_reached {
            (eps_sgd[j], eps_sgd_std[j]) = mean_std(runs.iter().map(|r| r[j].0));
            let o = &mut sgd_order[j];
            for r in &runs {
                let p = &r[j].1;
                for (dst, src) in [
                    (&mut o.q, &p.q),
                    (&mut o.r, &p.r),
                    (&mut o.t0, &p.t0),
                    (&mut o.t, &p.t),
                ] {
                    for (a, b) in dst.iter_mut().zip(src.iter()) {
                        *a += b / s;
                    }
                }
                for (a, b) in o
                    .beta
                    .iter_mut()
                    .zip(&p.beta)
                    .chain(o.m.iter_mut().zip(&p.m))
                    .chain(o.n.iter_mut().zip(&p.n))
                {
                    *a += b / s;
                }
                for (mean, m) in sgd_modes[j].iter_mut().zip(&r[j].2) {
                    mean.add_scaled(1.0 / s, m);
                }
            }
        }
    }
    let tr = Trajectory {
        times,
        eps_ode,
        eps_sgd,
        eps_sgd_std,
        pca,
        ode_order,
        sgd_order,
        ode_modes,
        sgd_modes,
        mode_rho: pb.spectrum.rho[..modes].to_vec(),
        activation: pb.act.name(),
        k,
        d,
        input_mean: pb.input_mean.is_some(),
    };
    Ok((tr, stopped))
}

/// Runs `seeds` simulations in parallel (`start(i)` builds run i), advancing each to every time
/// of `times` (`t·dim` steps in all) and measuring it there. A run whose state is no longer
/// finite stops there (its measurements end at the last finite time); the error names the
/// earliest such time and its seed. A progress bar counts the steps with `show_progress`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_seeds<S, M: Send>(
    seeds: usize,
    times: &[f64],
    dim: usize,
    show_progress: bool,
    start: impl Fn(usize) -> S + Sync,
    advance: impl Fn(&mut S, u64) + Sync,
    finite: impl Fn(&S) -> bool + Sync,
    measure: impl Fn(&mut S) -> M + Sync,
) -> (Vec<Vec<M>>, Option<Error>) {
    let steps: Vec<u64> = times
        .iter()
        .map(|t| (t * dim as f64).round() as u64)
        .collect();
    let total = steps.last().copied().unwrap_or(0) * seeds as u64;
    let bar =
        (show_progress && seeds > 0).then(|| crate::progress::Progress::new(total.max(1), "SGD"));
    let runs: Vec<(Vec<M>, Option<Error>)> = (0..seeds)
        .into_par_iter()
        .map(|i| {
            let mut sim = start(i);
            let mut out = Vec::with_capacity(steps.len());
            let mut done = 0;
            for (j, &s) in steps.iter().enumerate() {
                advance(&mut sim, s - done);
                if let Some(b) = &bar {
                    b.inc(s - done);
                }
                done = s;
                if !finite(&sim) {
                    let why = Error::Diverged {
                        what: "SGD",
                        t: times[j],
                        detail: format!(
                            "weights non-finite or above {:.0e} after {s} steps (seed {i})",
                            crate::sim::WEIGHT_OVERFLOW
                        ),
                    };
                    return (out, Some(why));
                }
                out.push(measure(&mut sim));
            }
            (out, None)
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut first: Option<(usize, Error)> = None;
    let mut kept = Vec::with_capacity(runs.len());
    for (out, why) in runs {
        if let Some(e) = why
            && first.as_ref().is_none_or(|(j, _)| out.len() < *j)
        {
            first = Some((out.len(), e));
        }
        kept.push(out);
    }
    (kept, first.map(|(_, e)| e))
}

/// Mean and standard deviation (n − 1 in the denominator; 0 for one value) of the values.
pub(crate) fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}
