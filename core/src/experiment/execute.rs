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
/// `cli` feature).
pub fn run(pb: &Problem, show_progress: bool) -> Result<Trajectory> {
    let d = pb.d();
    let k = pb.training.k;
    let times = pb.times.clone();
    // ODE
    let (sys, y0) = pb.ode_start()?;
    let states = integrate_with_progress(&sys, y0, &times, pb.integrator, show_progress)?;
    let ode_order: Vec<OrderParams> = states.iter().map(|s| sys.order_params(&s.y)).collect();
    let modes = pb.modes.min(sys.single_modes());
    let ode_modes: Vec<Vec<ModeDensity>> = states
        .iter()
        .map(|s| sys.mode_densities(&s.y, modes))
        .collect();
    let eps_ode: Vec<f64> = ode_order
        .iter()
        .map(|o| o.error(pb.act, sys.half_trace))
        .collect();
    // ε ≥ ε_PCA(K) for any weights (the reconstruction lies in the span of K decoder vectors): a
    // state below it describes no network (a tolerance of 1e-9 of ε_PCA(0) for the integrator's
    // error where runs converge to PCA)
    let pca: Vec<f64> = (0..=k).map(|m| pb.spectrum.pca_error(m)).collect();
    let floor = pca[k];
    let tol = 1e-9 * pca[0] + 1e-12;
    if let Some((j, &eps)) = eps_ode.iter().enumerate().find(|(_, e)| **e < floor - tol) {
        return Err(Error::Unphysical {
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
        });
    }
    // SGD: every seed starts from the ODE's initial weights; seeds differ in the samples only
    let sampler: Box<dyn Sampler + '_> = match &pb.real {
        None => Box::new(EigenbasisGaussian::new(&pb.spectrum.rho)),
        Some(r) => Box::new(ImageRows { d, rows: &r.rows }),
    };
    let runs = run_seeds(
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
    )?;
    let n = times.len();
    let mut eps_sgd = vec![f64::NAN; n];
    let mut eps_sgd_std = vec![f64::NAN; n];
    let mut sgd_order = vec![OrderParams::zeros(k); n];
    let mut sgd_modes = vec![vec![ModeDensity::zeros(k); modes]; n];
    if !runs.is_empty() {
        let s = runs.len() as f64;
        for j in 0..n {
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
                for (a, b) in o.beta.iter_mut().zip(&p.beta) {
                    *a += b / s;
                }
                for (mean, m) in sgd_modes[j].iter_mut().zip(&r[j].2) {
                    mean.add_scaled(1.0 / s, m);
                }
            }
        }
    }
    Ok(Trajectory {
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
    })
}

/// Runs `seeds` simulations in parallel (`start(i)` builds run i), advancing each to every time
/// of `times` (`t·dim` steps in all) and measuring it there; stops with the time and seed of the
/// first run whose state is no longer finite. A progress bar counts the steps with
/// `show_progress`.
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
) -> Result<Vec<Vec<M>>> {
    let steps: Vec<u64> = times
        .iter()
        .map(|t| (t * dim as f64).round() as u64)
        .collect();
    let total = steps.last().copied().unwrap_or(0) * seeds as u64;
    let bar =
        (show_progress && seeds > 0).then(|| crate::progress::Progress::new(total.max(1), "SGD"));
    let runs: Vec<Result<Vec<M>>> = (0..seeds)
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
                    return Err(Error::Diverged {
                        what: "SGD",
                        t: times[j],
                        detail: format!("non-finite weights after {s} steps (seed {i})"),
                    });
                }
                out.push(measure(&mut sim));
            }
            Ok(out)
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    runs.into_iter().collect()
}

/// Mean and standard deviation (n − 1 in the denominator; 0 for one value) of the values.
pub(crate) fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}
