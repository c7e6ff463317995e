//! Departure from an invariant subspace, linearised along the trajectory inside it
//! (docs/theory.md §9).
//!
//! Where the flow is equivariant under a group of symmetries (the permutations of hidden units
//! that are exchangeable), the states the group fixes form an invariant subspace, and the
//! projection P onto it (the group average) maps the initial state onto the *symmetric
//! trajectory* `y_s(t)`, which never leaves the subspace: for the teacher–student model it is
//! the trajectory whose students stay alike and settles on the Saad–Solla plateau. The deviation
//! `z = y − y_s` grows, to first order, by the tangent equation along it,
//!
//! ```text
//! dz/dt = J(y_s(t)) z,      z(0) = y(0) − P y(0),
//! ```
//!
//! from the start through the approach and the plateau, where its growth rate tends to the
//! plateau's unstable eigenvalue. The predicted departure is when `|z|` reaches a fraction of
//! `|y_s|`, next to when the trajectory's own deviation `|y − Py|` reaches it: unlike
//! `ln(r/δ)/λ_max` at the plateau's fixed point, this needs no assumption that the trajectory
//! came close to the fixed point and stayed in its linear neighbourhood (short plateaus).

use super::integrate::{Flow, IntegratorOptions, integrate};
use crate::error::Result;
use nalgebra::DVector;

/// A system with its tangent along the trajectory, the tangent kept as a direction and a
/// log-amplitude (`z = e^s ẑ`) so that exponential growth cannot overflow: the state is
/// `[y (n); ẑ (n); s]` with
///
/// ```text
/// dy/dt = F(y),   dẑ/dt = Jẑ − σẑ,   ds/dt = σ,   σ = ẑᵀJẑ / ẑᵀẑ,
/// ```
///
/// `Jẑ` by central differences along ẑ (step `ε^{1/3} · max(|y|, 10⁻³)`, relative error ~1e-11:
/// a forward difference's rounding noise, ~1e-8, made the step control crawl).
pub struct Tangent<'a, F: Flow> {
    sys: &'a F,
    /// the system's state length
    n: usize,
}

/// Buffers of one evaluation of [`Tangent`].
pub struct TangentWorkspace<W> {
    inner: W,
    y: DVector<f64>,
    f: DVector<f64>,
    shifted: DVector<f64>,
    f_shifted: DVector<f64>,
    f_back: DVector<f64>,
}

impl<F: Flow> Flow for Tangent<'_, F> {
    type Workspace = TangentWorkspace<F::Workspace>;
    fn workspace(&self) -> Self::Workspace {
        let n = self.n;
        TangentWorkspace {
            inner: self.sys.workspace(),
            y: DVector::zeros(n),
            f: DVector::zeros(n),
            shifted: DVector::zeros(n),
            f_shifted: DVector::zeros(n),
            f_back: DVector::zeros(n),
        }
    }
    fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, ws: &mut Self::Workspace) {
        let n = ws.y.len();
        ws.y.copy_from(&y.rows(0, n));
        self.sys.rhs(&ws.y, &mut ws.f, &mut ws.inner);
        let dir = y.rows(n, n);
        let h = f64::EPSILON.cbrt() * ws.y.norm().max(1e-3);
        ws.shifted.copy_from(&ws.y);
        ws.shifted.axpy(h, &dir, 1.0);
        self.sys.rhs(&ws.shifted, &mut ws.f_shifted, &mut ws.inner);
        ws.shifted.axpy(-2.0 * h, &dir, 1.0);
        self.sys.rhs(&ws.shifted, &mut ws.f_back, &mut ws.inner);
        // Jẑ into f_shifted
        ws.f_shifted -= &ws.f_back;
        ws.f_shifted /= 2.0 * h;
        let (head, tail) = dy.as_mut_slice().split_at_mut(n);
        head.copy_from_slice(ws.f.as_slice());
        let (dz, ds) = tail.split_at_mut(n);
        dz.copy_from_slice(ws.f_shifted.as_slice());
        ds[0] = split_growth(&y.as_slice()[n..2 * n], dz);
    }
    fn failure(ws: &Self::Workspace) -> Option<String> {
        F::failure(&ws.inner)
    }
}

/// Relative tolerance of the integration of the symmetric trajectory and its tangent (or the
/// config's own where that is looser; absolute tolerance a thousandth of it): the departure is timed to
/// 1e-3 and better with it (relu, erf, tanh soft committee machines: the same times to 4 digits
/// as at 1e-9), and the tangent costs three evaluations of F per stage.
pub const DEPARTURE_RTOL: f64 = 1e-7;

/// The symmetric trajectory and the linearised deviation from it, on a grid of times (a prefix
/// of the grid asked for when the integration stopped early, see [`linearised_departure`]).
pub struct Departure {
    pub times: Vec<f64>,
    /// `y_s(t)`
    pub symmetric: Vec<DVector<f64>>,
    /// `ln |z(t)|`
    pub log_size: Vec<f64>,
    /// the integration stopped at the wall-clock budget before the last time asked for
    pub out_of_time: bool,
}

impl Departure {
    /// `|z| / |y_s|` on the grid.
    pub fn relative(&self) -> Vec<f64> {
        self.symmetric
            .iter()
            .zip(&self.log_size)
            .map(|(y, s)| (s - y.norm().max(1e-300).ln()).exp())
            .collect()
    }

    /// The growth rate `d ln|z| / dt` over the grid interval that ends at or after `t` (NaN on
    /// a grid of fewer than two times, or without deviation).
    pub fn rate_at(&self, t: f64) -> f64 {
        if self.times.len() < 2 {
            return f64::NAN;
        }
        let j = self
            .times
            .partition_point(|&s| s < t)
            .clamp(1, self.times.len() - 1);
        let rate = (self.log_size[j] - self.log_size[j - 1]) / (self.times[j] - self.times[j - 1]);
        if rate.is_finite() { rate } else { f64::NAN }
    }

    /// The symmetric state at the grid time nearest `t` (`None` on an empty grid).
    pub fn symmetric_at(&self, t: f64) -> Option<&DVector<f64>> {
        nearest_index(&self.times, t).map(|j| &self.symmetric[j])
    }
}

/// Index of the time in the sorted `times` nearest `t` (`None` when empty).
pub fn nearest_index(times: &[f64], t: f64) -> Option<usize> {
    if times.is_empty() {
        return None;
    }
    let i = times.partition_point(|&s| s < t);
    Some(if i == 0 {
        0
    } else if i == times.len() || t - times[i - 1] < times[i] - t {
        i - 1
    } else {
        i
    })
}

/// First upward crossing of `level` (> 0) by `values` on `times` — from below it to at or
/// above it, so a deviation that starts above the level and first shrinks is counted when it
/// comes back — interpolated linearly in `ln values` (linearly in the values from 0).
pub fn upward_crossing(times: &[f64], values: &[f64], level: f64) -> Option<f64> {
    (1..values.len()).find_map(|j| {
        let (a, b) = (values[j - 1], values[j]);
        (a < level && b >= level).then(|| {
            let f = if a > 0.0 {
                (level / a).ln() / (b / a).ln()
            } else {
                level / b
            };
            times[j - 1] + f * (times[j] - times[j - 1])
        })
    })
}

/// The tangent's direction and log-amplitude in one: with `jz = Jẑ` on entry, leaves
/// `dẑ/dt = Jẑ − σẑ` in `jz` and returns `ds/dt = σ = ẑᵀJẑ / ẑᵀẑ` (0 for ẑ = 0), so that
/// `z = e^s ẑ` solves `dz/dt = Jz` without overflowing.
pub fn split_growth(dir: &[f64], jz: &mut [f64]) -> f64 {
    let norm2: f64 = dir.iter().map(|v| v * v).sum();
    let sigma = if norm2 > 0.0 {
        dir.iter().zip(jz.iter()).map(|(a, b)| a * b).sum::<f64>() / norm2
    } else {
        0.0
    };
    for (d, v) in jz.iter_mut().zip(dir) {
        *d -= sigma * v;
    }
    sigma
}

/// Output times integrated in one piece by [`linearised_departure`] between its checks of the
/// stopping rule.
const CHUNK: usize = 64;

/// The symmetric trajectory from `project(y0)` and the tangent along it from
/// `y0 − project(y0)`, on `times` — up to the first grid time by which the relative deviation
/// `|z|/|y_s|` has crossed every one of `levels` upwards ([`upward_crossing`]; nothing later is
/// needed to time the departure, and the symmetric trajectory can go on to states where F is
/// not differentiable, e.g. coinciding ReLU students, on which the tangent crawls), or up to the
/// wall-clock `deadline` (then [`Departure::out_of_time`]). The grid is integrated in pieces of
/// [`CHUNK`] times with the rule checked in between.
pub fn linearised_departure<F: Flow>(
    sys: &F,
    y0: &DVector<f64>,
    project: impl Fn(&DVector<f64>) -> DVector<f64>,
    times: &[f64],
    opts: IntegratorOptions,
    levels: &[f64],
    deadline: Option<std::time::Instant>,
) -> Result<Departure> {
    let n = y0.len();
    let ys = project(y0);
    let z0 = y0 - &ys;
    let size = z0.norm();
    // a departure time to a fraction of a percent needs no more than DEPARTURE_RTOL
    let opts = IntegratorOptions {
        rtol: opts.rtol.max(DEPARTURE_RTOL),
        atol: opts.atol.max(DEPARTURE_RTOL * 1e-3),
        ..opts
    };
    let mut dep = Departure {
        times: Vec::new(),
        symmetric: Vec::new(),
        log_size: Vec::new(),
        out_of_time: false,
    };
    if times.is_empty() {
        return Ok(dep);
    }
    let tangent = Tangent { sys, n };
    // without deviation there is nothing to break: the symmetric trajectory alone
    let mut state = if size == 0.0 {
        ys
    } else {
        let mut start = DVector::zeros(2 * n + 1);
        start.rows_mut(0, n).copy_from(&ys);
        start.rows_mut(n, n).copy_from(&(z0 / size));
        start[2 * n] = size.ln();
        start
    };
    let mut from = 0;
    loop {
        let to = (from + CHUNK).min(times.len() - 1);
        let piece = &times[from..=to];
        let states = if size == 0.0 {
            integrate(sys, state.clone(), piece, opts, |_| {})?
        } else {
            integrate(&tangent, state.clone(), piece, opts, |_| {})?
        };
        // the piece's first state is the previous piece's last
        let skip = usize::from(!dep.times.is_empty());
        for s in states.iter().skip(skip) {
            dep.times.push(s.t);
            dep.symmetric.push(s.y.rows(0, n).into_owned());
            dep.log_size.push(if size == 0.0 {
                f64::NEG_INFINITY
            } else {
                s.y[2 * n]
            });
        }
        state = states.last().expect("a piece has its first time").y.clone();
        from = to;
        if from + 1 >= times.len() {
            break;
        }
        let relative = dep.relative();
        if size > 0.0
            && !levels.is_empty()
            && levels
                .iter()
                .all(|&l| upward_crossing(&dep.times, &relative, l).is_some())
        {
            break;
        }
        if deadline.is_some_and(|d| std::time::Instant::now() > d) {
            dep.out_of_time = true;
            break;
        }
    }
    Ok(dep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `du/dt = 1 − u`, `dv/dt = c (u − 1/2) v − v³`: `v = 0` is invariant, the symmetric
    /// trajectory is `u(t) = 1 − (1 − u₀)e^{−t}` and the tangent grows exactly as
    /// `ln z(t) = ln v₀ + c (t/2 − (1 − u₀)(1 − e^{−t}))`.
    struct Toy {
        c: f64,
    }

    impl Flow for Toy {
        type Workspace = ();
        fn workspace(&self) {}
        fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, _: &mut ()) {
            dy[0] = 1.0 - y[0];
            dy[1] = self.c * (y[0] - 0.5) * y[1] - y[1].powi(3);
        }
        fn failure(_: &()) -> Option<String> {
            None
        }
    }

    #[test]
    fn the_tangent_along_the_symmetric_trajectory_is_the_exact_linear_growth() {
        let (c, u0, v0) = (0.8, 0.1, 1e-6);
        let times: Vec<f64> = (0..=400).map(|i| i as f64 * 0.1).collect();
        let y0 = DVector::from_vec(vec![u0, v0]);
        let project = |y: &DVector<f64>| DVector::from_vec(vec![y[0], 0.0]);
        let dep = linearised_departure(
            &Toy { c },
            &y0,
            project,
            &times,
            IntegratorOptions::default(),
            &[],
            None,
        )
        .unwrap();
        for (j, &t) in dep.times.iter().enumerate() {
            let want = v0.ln() + c * (0.5 * t - (1.0 - u0) * (1.0 - (-t).exp()));
            // integrated at DEPARTURE_RTOL
            assert!((dep.log_size[j] - want).abs() < 1e-5, "t = {t}");
            let u = 1.0 - (1.0 - u0) * (-t).exp();
            assert!((dep.symmetric[j][0] - u).abs() < 1e-6, "t = {t}");
        }
        // the relative deviation v/u starts at 1e-5, falls while u grows, then rises through
        // 1e-5 again: the first *upward* crossing is the second passage
        let rel = dep.relative();
        let t = upward_crossing(&dep.times, &rel, 1e-5).unwrap();
        let at = |t: f64| {
            c * (0.5 * t - (1.0 - u0) * (1.0 - (-t).exp())) - (1.0 - (1.0 - u0) * (-t).exp()).ln()
        };
        // z/u = 1e-5 where ln(z/v₀) − ln u = ln(1e-5/v₀)
        let miss = at(t) - 10f64.ln();
        assert!(t > 1.0 && miss.abs() < 1e-3, "t = {t}: {miss}");
        assert!((dep.rate_at(30.0) - 0.5 * c).abs() < 1e-4);
    }

    #[test]
    fn the_departure_stops_once_every_level_is_crossed() {
        let (c, u0, v0) = (0.8, 0.1, 1e-6);
        let times: Vec<f64> = (0..=400).map(|i| i as f64 * 0.1).collect();
        let y0 = DVector::from_vec(vec![u0, v0]);
        let project = |y: &DVector<f64>| DVector::from_vec(vec![y[0], 0.0]);
        let run = |levels: &[f64], deadline: Option<std::time::Instant>| {
            linearised_departure(
                &Toy { c },
                &y0,
                project,
                &times,
                IntegratorOptions::default(),
                levels,
                deadline,
            )
            .unwrap()
        };
        let (full, early) = (run(&[], None), run(&[1e-5, 1e-4], None));
        assert_eq!(full.times.len(), times.len());
        assert!(!early.out_of_time && !full.out_of_time);
        // ln(1e-4/1e-6) = 4.6 needs t ≈ 13.8 at rate c/2 = 0.4, then at most one piece more
        let last = *early.times.last().unwrap();
        assert!(
            last > 13.0 && last < 14.0 + CHUNK as f64 * 0.1,
            "stopped at {last}"
        );
        let cross = |d: &Departure, l| upward_crossing(&d.times, &d.relative(), l).unwrap();
        for level in [1e-5, 1e-4] {
            // the pieces restart the step control: the same time to the integration's accuracy
            assert!((cross(&full, level) - cross(&early, level)).abs() < 1e-4);
        }
        // a deadline already passed stops after the first piece
        let late = run(&[1e-5], Some(std::time::Instant::now()));
        assert!(late.out_of_time && late.times.len() == CHUNK + 1);
    }
}
