//! The Dormand–Prince 5(4) pair, allocation-free, with Hairer's order-4 dense output.
//!
//! One step of size h from (t, y) (k₁ = F(y) carried over from the previous step, "FSAL"):
//!
//!   kᵢ = F(y + h Σ_{j<i} a_ij k_j),  i = 2 … 6,   y₁ = y + h Σ_j b_j k_j,   k₇ = F(y₁),
//!   err = ‖h Σ_j e_j k_j‖ with ‖v‖² = (1/n) Σ_i (v_i / (atol + rtol max(|y_i|, |y₁_i|)))²,
//!
//! accepted when err ≤ 1; the next step is h / fac, fac = clamp(err^α / err_old^β / 0.9, 1/10, 5)
//! (the PI controller of Hairer's DOPRI5 with β = 0.04, α = 0.2 − 0.75 β). Outputs inside an
//! accepted step come from the continuous extension
//!
//!   y(t + θh) = r₀ + θ (r₁ + (1 − θ)(r₂ + θ (r₃ + (1 − θ) r₄))),
//!   r₀ = y, r₁ = y₁ − y, r₂ = h k₁ − r₁, r₃ = r₁ − h k₇ − r₂, r₄ = h Σ_j d_j k_j,
//!
//! so the integration never restarts at an output time (ode_solvers, used before, stopped at
//! each one and did its vector arithmetic with fresh allocations: 78 % of the run time on the
//! 8 192-component full-spectrum system). Stiffness is tested as in DOPRI5: every `n_stiff`
//! accepted steps within one output interval (so only where an interval is costly), and on each
//! step after a positive test, h λ ≈ h ‖k₇ − k₆‖ / ‖y₁ − y₆‖; fifteen tests above 3.25 without
//! six below in between stop the integration.

/// Butcher tableau a_ij (rows i = 2 … 7), nodes c_i, error weights e_j = b_j − b̂_j, dense-output
/// weights d_j (Dormand & Prince 1980; Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.5–6).
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;
const D1: f64 = -12715105075.0 / 11282082432.0;
const D3: f64 = 87487479700.0 / 32700410799.0;
const D4: f64 = -10690763975.0 / 1880347072.0;
const D5: f64 = 701980252875.0 / 199316789632.0;
const D6: f64 = -1453857185.0 / 822651844.0;
const D7: f64 = 69997945.0 / 29380423.0;

/// The state vector (nalgebra's, as the right-hand sides of the project take it).
pub type State = nalgebra::DVector<f64>;

/// Step-size controller constants (DOPRI5's defaults).
const SAFETY: f64 = 0.9;
const BETA: f64 = 0.04;
const ALPHA: f64 = 0.2 - 0.75 * BETA;
/// 1 / smallest and 1 / largest step-size factor.
const FAC_SHRINK: f64 = 5.0;
const FAC_GROW: f64 = 0.1;
/// h λ above which a step counts as stiff, and the counts of DOPRI5's test.
const STIFF_H_LAMBDA: f64 = 3.25;
const STIFF_STRIKES: u32 = 15;
const NON_STIFF_RESET: u32 = 6;
/// Consecutive non-finite error estimates (each shrinking the step five-fold) before giving up.
const NON_FINITE_REJECTIONS: u32 = 30;

/// Tolerances and limits of one integration.
#[derive(Clone, Copy, Debug)]
pub struct Dopri5Options {
    pub rtol: f64,
    pub atol: f64,
    /// Largest number of steps between two consecutive output times.
    pub max_steps: u32,
    /// Test for stiffness every `n_stiff` accepted steps of an output interval (`None`: never).
    pub n_stiff: Option<u32>,
}

/// Counts of one output interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dopri5Stats {
    pub evaluations: u64,
    pub accepted: u64,
    pub rejected: u64,
}

/// Why an integration stopped early, and where.
#[derive(Clone, Debug, PartialEq)]
pub enum Dopri5Failure {
    /// `max_steps` steps between two output times without reaching the next.
    StepLimit { t: f64, steps: u32 },
    /// The error estimate stayed non-finite while the step shrank by 5³⁰: F is not finite near t.
    NonFinite { t: f64 },
    /// The step size fell below the resolution of t.
    StepUnderflow { t: f64 },
    /// DOPRI5's stiffness test failed fifteen times.
    Stiff { t: f64 },
    /// The right-hand side reported a failure (`Stop::Failed`) or the caller stopped at an output.
    Stopped { t: f64 },
}

/// What the caller's callbacks answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// How the sums of one part of the state become sums over the whole state
/// ([`Dopri5::run`]).
pub struct Reduction<'r> {
    /// Replaces each of this part's sums by the sum over all parts (same order on every part).
    pub total: &'r mut dyn FnMut(&mut [f64]),
    /// The whole state's length.
    pub len: usize,
}

/// The buffers of one integration (eleven state-sized vectors, allocated once).
pub struct Dopri5 {
    k: [State; 7],
    y: State,
    y_stage: State,
    y_new: State,
    y_out: State,
}

impl Dopri5 {
    pub fn new(n: usize) -> Self {
        Dopri5 {
            k: std::array::from_fn(|_| State::zeros(n)),
            y: State::zeros(n),
            y_stage: State::zeros(n),
            y_new: State::zeros(n),
            y_out: State::zeros(n),
        }
    }

    /// Integrates `dy/dt = f(y)` (autonomous) from `y0` at `times[0]` through the non-decreasing
    /// `times` (panics otherwise: callers validate), calling `output(i, t_i, y(t_i), stats of the interval)` at each (including
    /// i = 0). `rhs(y, dy)` returns `Control::Stop` when the evaluation failed. Returns the last
    /// accepted step size (a good first step for a continuation).
    pub fn integrate(
        &mut self,
        y0: &[f64],
        times: &[f64],
        h_start: f64,
        opts: Dopri5Options,
        rhs: impl FnMut(&State, &mut State) -> Control,
        output: impl FnMut(usize, f64, &State, Dopri5Stats) -> Control,
    ) -> Result<f64, Dopri5Failure> {
        let every_step = |_: f64, _: &State, _: Dopri5Stats| Control::Continue;
        self.integrate_observed(y0, times, h_start, opts, rhs, output, every_step)
    }

    /// [`Dopri5::integrate`], calling `step(t, y(t), stats of the output interval so far)` after
    /// every accepted step (before the outputs inside it); `Control::Stop` ends the integration
    /// there (`Dopri5Failure::Stopped` at that t).
    #[allow(clippy::too_many_arguments)]
    pub fn integrate_observed(
        &mut self,
        y0: &[f64],
        times: &[f64],
        h_start: f64,
        opts: Dopri5Options,
        rhs: impl FnMut(&State, &mut State) -> Control,
        output: impl FnMut(usize, f64, &State, Dopri5Stats) -> Control,
        step: impl FnMut(f64, &State, Dopri5Stats) -> Control,
    ) -> Result<f64, Dopri5Failure> {
        let n = y0.len();
        self.run(
            y0,
            times,
            h_start,
            opts,
            rhs,
            output,
            step,
            Reduction {
                total: &mut |_: &mut [f64]| {},
                len: n,
            },
        )
    }

    /// [`Dopri5::integrate_observed`] on one part of a state whose other parts other threads
    /// integrate in lock-step: `reduce.total` turns this part's sums (the error norm, the
    /// starting step's norms, the stiffness test) into sums over the whole state, so every part
    /// takes the same step sizes and decisions; `reduce.len` is the whole state's length.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        y0: &[f64],
        times: &[f64],
        h_start: f64,
        opts: Dopri5Options,
        mut rhs: impl FnMut(&State, &mut State) -> Control,
        mut output: impl FnMut(usize, f64, &State, Dopri5Stats) -> Control,
        mut step: impl FnMut(f64, &State, Dopri5Stats) -> Control,
        reduce: Reduction<'_>,
    ) -> Result<f64, Dopri5Failure> {
        let Reduction { total, len } = reduce;
        let n = y0.len();
        assert_eq!(n, self.y.len(), "state size");
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "output times must not decrease"
        );
        let Some(&t0) = times.first() else {
            return Ok(h_start);
        };
        let t_end = *times.last().expect("non-empty");
        self.y.as_mut_slice().copy_from_slice(y0);
        let mut stats = Dopri5Stats::default();
        if output(0, t0, &self.y, stats) == Control::Stop {
            return Err(Dopri5Failure::Stopped { t: t0 });
        }
        let mut next = 1;
        let mut t = t0;
        // outputs at the start time itself
        while next < times.len() && times[next] <= t {
            if output(next, times[next], &self.y, stats) == Control::Stop {
                return Err(Dopri5Failure::Stopped { t });
            }
            next += 1;
        }
        if next == times.len() {
            return Ok(h_start);
        }
        let h_max = t_end - t0;
        let [k1, k2, k3, k4, k5, k6, k7] = &mut self.k;
        if rhs(&self.y, k1) == Control::Stop {
            return Err(Dopri5Failure::Stopped { t });
        }
        stats.evaluations += 1;
        let mut h = if h_start > 0.0 {
            h_start.min(h_max)
        } else {
            stats.evaluations += 1;
            initial_step(
                &self.y,
                k1,
                &mut self.y_stage,
                k2,
                &opts,
                h_max,
                &mut rhs,
                &mut *total,
            )
            .ok_or(Dopri5Failure::Stopped { t })?
        };
        let mut err_old = 1e-4_f64;
        let mut rejected_last = false;
        let mut steps_in_interval = 0u32;
        let mut accepted_total = 0u64;
        let (mut stiff_strikes, mut non_stiff) = (0u32, 0u32);
        let mut non_finite = 0u32;
        loop {
            if steps_in_interval >= opts.max_steps {
                return Err(Dopri5Failure::StepLimit {
                    t,
                    steps: steps_in_interval,
                });
            }
            if 0.1 * h.abs() <= f64::EPSILON * t.abs() {
                return Err(Dopri5Failure::StepUnderflow { t });
            }
            let last = t + 1.01 * h >= t_end;
            if last {
                h = t_end - t;
            }
            steps_in_interval += 1;
            // the six new stages
            let y = &self.y;
            let ys = &mut self.y_stage;
            combine(ys, y, h, &[(A21, k1)]);
            let stop = rhs(ys, k2) == Control::Stop;
            combine(ys, y, h, &[(A31, k1), (A32, k2)]);
            let stop = stop || rhs(ys, k3) == Control::Stop;
            combine(ys, y, h, &[(A41, k1), (A42, k2), (A43, k3)]);
            let stop = stop || rhs(ys, k4) == Control::Stop;
            combine(ys, y, h, &[(A51, k1), (A52, k2), (A53, k3), (A54, k4)]);
            let stop = stop || rhs(ys, k5) == Control::Stop;
            combine(
                ys,
                y,
                h,
                &[(A61, k1), (A62, k2), (A63, k3), (A64, k4), (A65, k5)],
            );
            let stop = stop || rhs(ys, k6) == Control::Stop;
            let yn = &mut self.y_new;
            combine(
                yn,
                y,
                h,
                &[(A71, k1), (A73, k3), (A74, k4), (A75, k5), (A76, k6)],
            );
            let stop = stop || rhs(yn, k7) == Control::Stop;
            stats.evaluations += 6;
            if stop {
                return Err(Dopri5Failure::Stopped { t });
            }
            let mut sum = [error_sum(
                y,
                yn,
                h,
                [&*k1, &*k3, &*k4, &*k5, &*k6, &*k7],
                &opts,
            )];
            total(&mut sum);
            let err = (sum[0] / len.max(1) as f64).sqrt();
            let err = if err.is_finite() {
                non_finite = 0;
                err
            } else {
                // a trial stage left the region where F is finite: shrink (as a rejection), and
                // give up once that no longer helps
                non_finite += 1;
                if non_finite > NON_FINITE_REJECTIONS {
                    return Err(Dopri5Failure::NonFinite { t });
                }
                f64::INFINITY
            };
            let fac_err = err.powf(ALPHA);
            if err > 1.0 {
                h /= FAC_SHRINK.min(fac_err / SAFETY);
                rejected_last = true;
                if accepted_total >= 1 {
                    stats.rejected += 1;
                }
                continue;
            }
            // accepted
            let fac = FAC_GROW.max(FAC_SHRINK.min(fac_err * err_old.powf(-BETA) / SAFETY));
            let mut h_new = (h / fac).min(h_max);
            if rejected_last {
                h_new = h_new.min(h);
            }
            rejected_last = false;
            err_old = err.max(1e-4);
            stats.accepted += 1;
            accepted_total += 1;
            if let Some(every) = opts.n_stiff
                && (stats.accepted.is_multiple_of(every as u64) || stiff_strikes > 0)
            {
                let mut sums = [dist2(k7, k6), dist2(yn, ys)];
                total(&mut sums);
                let [num, den] = sums;
                let h_lambda = if den > 0.0 {
                    h * (num / den).sqrt()
                } else {
                    0.0
                };
                if h_lambda > STIFF_H_LAMBDA {
                    non_stiff = 0;
                    stiff_strikes += 1;
                    if stiff_strikes == STIFF_STRIKES {
                        return Err(Dopri5Failure::Stiff { t });
                    }
                } else {
                    non_stiff += 1;
                    if non_stiff == NON_STIFF_RESET {
                        stiff_strikes = 0;
                    }
                }
            }
            let t_new = if last { t_end } else { t + h };
            if step(t_new, &self.y_new, stats) == Control::Stop {
                return Err(Dopri5Failure::Stopped { t: t_new });
            }
            // outputs inside (t, t_new]
            while next < times.len() && (times[next] <= t_new || last) {
                let tn = times[next];
                let y_at = if tn >= t_new {
                    &self.y_new
                } else {
                    let theta = (tn - t) / h;
                    dense(
                        &mut self.y_out,
                        &self.y,
                        &self.y_new,
                        h,
                        theta,
                        [&*k1, &*k3, &*k4, &*k5, &*k6, &*k7],
                    );
                    &self.y_out
                };
                if output(next, tn, y_at, stats) == Control::Stop {
                    return Err(Dopri5Failure::Stopped { t: tn });
                }
                stats = Dopri5Stats::default();
                steps_in_interval = 0;
                next += 1;
            }
            std::mem::swap(&mut self.y, &mut self.y_new);
            std::mem::swap(k1, k7);
            t = t_new;
            if last || next == times.len() {
                return Ok(h_new);
            }
            h = h_new;
        }
    }
}

/// `out = y + h Σ_j a_j k_j` in one pass over the components.
#[inline]
fn combine(out: &mut State, y: &State, h: f64, terms: &[(f64, &State)]) {
    let (out, y) = (out.as_mut_slice(), y.as_slice());
    match terms {
        [(a, k)] => {
            let a = h * a;
            for ((o, y), k) in out.iter_mut().zip(y).zip(k.as_slice()) {
                *o = y + a * k;
            }
        }
        [(a1, k1), (a2, k2)] => {
            let (a1, a2) = (h * a1, h * a2);
            let n = out.len();
            let (y, k1, k2) = (&y[..n], &k1.as_slice()[..n], &k2.as_slice()[..n]);
            for (i, o) in out.iter_mut().enumerate() {
                *o = y[i] + a1 * k1[i] + a2 * k2[i];
            }
        }
        [(a1, k1), (a2, k2), (a3, k3)] => {
            let (a1, a2, a3) = (h * a1, h * a2, h * a3);
            let n = out.len();
            let (y, k1, k2, k3) = (
                &y[..n],
                &k1.as_slice()[..n],
                &k2.as_slice()[..n],
                &k3.as_slice()[..n],
            );
            for (i, o) in out.iter_mut().enumerate() {
                *o = y[i] + a1 * k1[i] + a2 * k2[i] + a3 * k3[i];
            }
        }
        [(a1, k1), (a2, k2), (a3, k3), (a4, k4)] => {
            let (a1, a2, a3, a4) = (h * a1, h * a2, h * a3, h * a4);
            let n = out.len();
            let (y, k1, k2, k3, k4) = (
                &y[..n],
                &k1.as_slice()[..n],
                &k2.as_slice()[..n],
                &k3.as_slice()[..n],
                &k4.as_slice()[..n],
            );
            for (i, o) in out.iter_mut().enumerate() {
                *o = y[i] + a1 * k1[i] + a2 * k2[i] + a3 * k3[i] + a4 * k4[i];
            }
        }
        [(a1, k1), (a2, k2), (a3, k3), (a4, k4), (a5, k5)] => {
            let (a1, a2, a3, a4, a5) = (h * a1, h * a2, h * a3, h * a4, h * a5);
            let n = out.len();
            let (y, k1, k2, k3, k4, k5) = (
                &y[..n],
                &k1.as_slice()[..n],
                &k2.as_slice()[..n],
                &k3.as_slice()[..n],
                &k4.as_slice()[..n],
                &k5.as_slice()[..n],
            );
            for (i, o) in out.iter_mut().enumerate() {
                *o = y[i] + a1 * k1[i] + a2 * k2[i] + a3 * k3[i] + a4 * k4[i] + a5 * k5[i];
            }
        }
        _ => {
            out.copy_from_slice(y);
            for (a, k) in terms {
                for (o, k) in out.iter_mut().zip(k.as_slice()) {
                    *o += h * a * k;
                }
            }
        }
    }
}

/// The sum of squares of the scaled error estimate h Σ_j e_j k_j (k = k₁, k₃ … k₇), in one
/// pass (its RMS over the whole state is the error norm).
fn error_sum(y: &State, y_new: &State, h: f64, k: [&State; 6], opts: &Dopri5Options) -> f64 {
    let [k1, k3, k4, k5, k6, k7] = k.map(|v| v.as_slice());
    let (y, y_new) = (y.as_slice(), y_new.as_slice());
    let n = y.len();
    let (y, y_new, k1, k3, k4, k5, k6, k7) = (
        &y[..n],
        &y_new[..n],
        &k1[..n],
        &k3[..n],
        &k4[..n],
        &k5[..n],
        &k6[..n],
        &k7[..n],
    );
    let scaled = |i: usize| {
        let e = h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i]);
        e / (opts.atol + opts.rtol * y[i].abs().max(y_new[i].abs()))
    };
    // one pass in 4-lane vectors
    use crate::simd::load4;
    use wide::f64x4;
    let splat = f64x4::splat;
    let (atol, rtol, hv) = (splat(opts.atol), splat(opts.rtol), splat(h));
    let mut acc = f64x4::ZERO;
    let whole = n - n % 4;
    for i in (0..whole).step_by(4) {
        let e = load4(k1, i) * splat(E1)
            + load4(k3, i) * splat(E3)
            + load4(k4, i) * splat(E4)
            + load4(k5, i) * splat(E5)
            + load4(k6, i) * splat(E6)
            + load4(k7, i) * splat(E7);
        let sc = rtol.mul_add(load4(y, i).abs().max(load4(y_new, i).abs()), atol);
        let v = hv * e / sc;
        acc = v.mul_add(v, acc);
    }
    let tail: f64 = (whole..n).map(|i| scaled(i) * scaled(i)).sum();
    acc.reduce_add() + tail
}

/// The continuous extension at t + θh (see the module docs).
fn dense(out: &mut State, y: &State, y_new: &State, h: f64, theta: f64, k: [&State; 6]) {
    let [k1, k3, k4, k5, k6, k7] = k.map(|v| v.as_slice());
    let (out, y, y_new) = (out.as_mut_slice(), y.as_slice(), y_new.as_slice());
    let th1 = 1.0 - theta;
    for i in 0..y.len() {
        let r1 = y_new[i] - y[i];
        let r2 = h * k1[i] - r1;
        let r3 = r1 - h * k7[i] - r2;
        let r4 = h * (D1 * k1[i] + D3 * k3[i] + D4 * k4[i] + D5 * k5[i] + D6 * k6[i] + D7 * k7[i]);
        out[i] = y[i] + theta * (r1 + th1 * (r2 + theta * (r3 + th1 * r4)));
    }
}

fn dist2(a: &State, b: &State) -> f64 {
    a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// Hairer's starting step: h₀ = 0.01 ‖y‖/‖f‖, then h = (0.01 / max(‖f‖, ‖f(y + h₀f) − f‖/h₀))^(1/5),
/// at most 100 h₀ and `h_max` (the norms' sums over the whole state by `total`). `None` when the
/// right-hand side failed.
#[allow(clippy::too_many_arguments)]
fn initial_step(
    y: &State,
    f0: &State,
    y1: &mut State,
    f1: &mut State,
    opts: &Dopri5Options,
    h_max: f64,
    rhs: &mut impl FnMut(&State, &mut State) -> Control,
    total: &mut dyn FnMut(&mut [f64]),
) -> Option<f64> {
    let scale = |yi: f64| opts.atol + yi.abs() * opts.rtol;
    let (mut d0, mut d1) = (0.0, 0.0);
    for (yi, fi) in y.iter().zip(f0) {
        let s = scale(*yi);
        d0 += (yi / s) * (yi / s);
        d1 += (fi / s) * (fi / s);
    }
    let mut sums = [d0, d1];
    total(&mut sums);
    let [d0, d1] = sums;
    let h0 = if d0 < 1e-10 || d1 < 1e-10 {
        1e-6
    } else {
        0.01 * (d0 / d1).sqrt()
    }
    .min(h_max);
    combine(y1, y, h0, &[(1.0, f0)]);
    if rhs(y1, f1) == Control::Stop {
        return None;
    }
    let mut d2 = 0.0;
    for ((yi, a), b) in y.iter().zip(f0).zip(f1.iter()) {
        let r = (b - a) / scale(*yi);
        d2 += r * r;
    }
    let mut sum = [d2];
    total(&mut sum);
    let d2 = sum[0].sqrt() / h0;
    let d1 = d1.sqrt();
    let h1 = if d1.max(d2) <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(0.2)
    };
    Some((100.0 * h0).min(h1).min(h_max))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: Dopri5Options = Dopri5Options {
        rtol: 1e-10,
        atol: 1e-12,
        max_steps: 100_000,
        n_stiff: Some(1000),
    };

    /// A rotation plus decay, y = e^{-t/10} (cos t, sin t): endpoint and dense outputs within
    /// the tolerance.
    #[test]
    fn damped_rotation_at_all_output_times() {
        let times: Vec<f64> = (0..=40).map(|i| 0.37 * i as f64).collect();
        let mut got = vec![];
        let mut st = Dopri5::new(2);
        st.integrate(
            &[1.0, 0.0],
            &times,
            0.0,
            OPTS,
            |y, dy| {
                dy[0] = -0.1 * y[0] - y[1];
                dy[1] = y[0] - 0.1 * y[1];
                Control::Continue
            },
            |_, t, y, _| {
                got.push((t, y[0], y[1]));
                Control::Continue
            },
        )
        .expect("integrates");
        assert_eq!(got.len(), times.len());
        for (t, a, b) in got {
            let r = (-0.1 * t).exp();
            assert!((a - r * t.cos()).abs() < 1e-8, "t = {t}: {a}");
            assert!((b - r * t.sin()).abs() < 1e-8, "t = {t}: {b}");
        }
    }

    /// Stiff decay y' = −10⁴ (y − cos t): the stiffness test fires.
    #[test]
    fn stiffness_is_detected() {
        let mut st = Dopri5::new(2);
        let r = st.integrate(
            &[0.0, 0.0],
            &[0.0, 100.0],
            0.0,
            Dopri5Options {
                rtol: 1e-6,
                atol: 1e-8,
                max_steps: 100_000,
                n_stiff: Some(10),
            },
            |y, dy| {
                dy[0] = -1e4 * (y[0] - y[1].cos());
                dy[1] = 1.0;
                Control::Continue
            },
            |_, _, _, _| Control::Continue,
        );
        assert!(matches!(r, Err(Dopri5Failure::Stiff { .. })), "{r:?}");
    }
}
