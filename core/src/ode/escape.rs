//! Escape from the plateaus of sequential learning (docs/theory.md §6.2).
//!
//! Per mode the dynamics is linear, `dy_τ/dt = M(ρ_τ) y_τ`, with a matrix that depends on the
//! global order parameters only, so `y_τ = 0` is invariant: the states in which the principal
//! components `τ, τ+1, …` are not learnt form an invariant subspace, and the trajectory started
//! in it (the initial state with those modes set to zero) is the *saddle trajectory* of PC τ: it
//! learns PCs `1 … τ−1` and stays on their plateau. To first order in `y_τ` (whose share
//! `(ρ_τ/D) y_τ y_τᵀ` of the order parameters is second order), PC τ grows along it by the
//! tangent equation
//!
//! ```text
//! dz/dt = M(ρ_τ; y_saddle(t)) z,      z(0) = y_τ(0)
//! ```
//!
//! whose growth rate on the plateau is the saddle's unstable eigenvalue `λ_max(M(ρ_τ))`. The
//! predicted escape is the time at which the error of the saddle state with `y_τ = z(t)` crosses
//! a level below the plateau ([`escape_level`]). The linearisation ignores the escaping unit's own
//! saturation, which slows the last part of the transit: it predicts the departure from the
//! plateau ([`ESCAPE_FRACTION`] of the component's share of the error removed) better than the
//! arrival on the next one.

use super::fixed_points::stability;
use super::integrate::{Flow, IntegratorOptions, integrate};
use super::system::{OdeState, OdeSystem, RhsWorkspace};
use crate::error::{Error, Result};
use nalgebra::DVector;

/// The escape from a plateau is the time at which this fraction of the escaping component's
/// share `ρ_τ/(2D)` of the error has been removed (the error crosses
/// `ε_PCA(τ−1) − ESCAPE_FRACTION·ρ_τ/(2D)`, [`escape_level`]).
pub const ESCAPE_FRACTION: f64 = 0.25;

/// `ε_PCA(τ) − fraction·ρ_{τ+1}/(2D)` for the 0-based vector mode `mode` (= τ): the error of the
/// best rank-τ reconstruction less `fraction` of the next component's share (docs/theory.md
/// §3.4). `fraction = 1/2` is the midpoint between the plateaus `ε_PCA(τ)` and `ε_PCA(τ+1)`.
pub fn escape_level(sys: &OdeSystem, mode: usize, fraction: f64) -> f64 {
    let learnt: f64 = sys.vec_rho[..mode].iter().sum();
    sys.half_trace - (learnt + fraction * sys.vec_rho[mode]) / (2.0 * sys.d as f64)
}

/// `y` with the vector modes `from, from+1, …` set to zero: the projection onto the invariant
/// subspace in which those principal components are not learnt.
pub fn without_modes(sys: &OdeSystem, y: &DVector<f64>, from: usize) -> DVector<f64> {
    let mut y = y.clone();
    let n = sys.n;
    for v in y
        .rows_mut(from * n, (sys.vec_rho.len() - from) * n)
        .iter_mut()
    {
        *v = 0.0;
    }
    y
}

/// The saddle trajectory of one vector mode with that mode's tangent, the tangent kept as a
/// direction and a log-amplitude (`z = e^s ẑ`, `|ẑ| = 1`) so that exponential growth cannot
/// overflow: the state is `[y (OdeSystem::len() components, mode `mode` and later zero);
/// ẑ (n); s]` with
///
/// ```text
/// dẑ/dt = Mẑ − σ ẑ,   ds/dt = σ,   σ = ẑᵀMẑ / ẑᵀẑ
/// ```
pub struct Tangent<'s, 'a> {
    sys: &'s OdeSystem<'a>,
    rho: f64,
}

/// Buffers of one evaluation of [`Tangent`].
pub struct TangentWorkspace {
    rhs: RhsWorkspace,
    y: DVector<f64>,
    dy: DVector<f64>,
}

impl<'s, 'a> Tangent<'s, 'a> {
    /// The tangent system of vector mode `mode` (0 = the largest eigenvalue).
    pub fn new(sys: &'s OdeSystem<'a>, mode: usize) -> Self {
        Tangent {
            sys,
            rho: sys.vec_rho[mode],
        }
    }
}

impl Flow for Tangent<'_, '_> {
    type Workspace = TangentWorkspace;
    fn workspace(&self) -> TangentWorkspace {
        let len = self.sys.len();
        TangentWorkspace {
            rhs: self.sys.workspace(),
            y: DVector::zeros(len),
            dy: DVector::zeros(len),
        }
    }
    fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, ws: &mut TangentWorkspace) {
        let len = self.sys.len();
        ws.y.copy_from(&y.rows(0, len));
        self.sys.rhs_with(&ws.y, &mut ws.dy, &mut ws.rhs);
        let n = self.sys.n;
        let (head, tail) = dy.as_mut_slice().split_at_mut(len);
        head.copy_from_slice(ws.dy.as_slice());
        let dir = &y.as_slice()[len..len + n];
        let (dz, ds) = tail.split_at_mut(n);
        self.sys.apply_mode_drift(&ws.rhs, self.rho, dir, dz);
        ds[0] = super::departure::split_growth(dir, dz);
    }
    fn failure(ws: &TangentWorkspace) -> Option<String> {
        ws.rhs.failure.clone()
    }
}

/// The linearised escape of one principal component: its saddle trajectory and the error with
/// the component grown by the tangent equation.
pub struct Escape {
    /// 0-based vector mode (PC `mode + 1`)
    pub mode: usize,
    pub times: Vec<f64>,
    /// ε of the saddle state with the mode's components replaced by the tangent `z(t)`
    pub eps_linear: Vec<f64>,
    /// `λ_max(M(ρ_τ))` at the initial state (the early-time rate, docs/theory.md §6.2)
    pub rate_start: f64,
    /// saddle states at `times` (mode `mode` and later zero)
    saddle: Vec<DVector<f64>>,
    /// the tangent at `times`
    tangent: Vec<DVector<f64>>,
    rho: f64,
}

impl Escape {
    /// First time `eps_linear` falls below `level` (linear interpolation), if it does.
    pub fn predicted(&self, level: f64) -> Option<f64> {
        crossing(&self.times, &self.eps_linear, level)
    }

    /// Index of the grid time nearest `t` (the grid is never empty: it holds the start).
    fn index(&self, t: f64) -> usize {
        super::departure::nearest_index(&self.times, t).unwrap_or(0)
    }

    /// The saddle state at (the grid time nearest) `t`.
    pub fn saddle_at(&self, t: f64) -> &DVector<f64> {
        &self.saddle[self.index(t)]
    }

    /// The tangent `z` at grid time `i`.
    pub fn tangent_at(&self, i: usize) -> &DVector<f64> {
        &self.tangent[i]
    }

    /// `λ_max(M(ρ_τ))` at the saddle state nearest `t`: the growth rate of the component there.
    pub fn rate_at(&self, sys: &OdeSystem, t: f64) -> f64 {
        stability(&sys.mode_drift(self.saddle_at(t), self.rho)).lambda_max
    }

    /// The tangent's component in the growing eigenspace of `M(ρ_τ)` at the saddle state nearest
    /// `t` (`|P z|` with P the spectral projector, [`super::fixed_points::Stability`]), at time
    /// `t`: the amplitude that grows like `e^{λ t}` on the plateau (NaN where nothing grows).
    pub fn amplitude_at(&self, sys: &OdeSystem, t: f64) -> f64 {
        let i = self.index(t);
        stability(&sys.mode_drift(&self.saddle[i], self.rho))
            .unstable_projector
            .map_or(f64::NAN, |p| (p * &self.tangent[i]).norm())
    }
}

/// First time `values` falls below `level` between grid points (linear interpolation).
pub fn crossing(times: &[f64], values: &[f64], level: f64) -> Option<f64> {
    (1..values.len()).find_map(|j| {
        (values[j - 1] >= level && values[j] < level).then(|| {
            let f = (values[j - 1] - level) / (values[j - 1] - values[j]);
            times[j - 1] + f * (times[j] - times[j - 1])
        })
    })
}

/// The saddle trajectory of vector mode `mode` from `y0` (that mode and later ones set to
/// zero) with the mode's tangent started at its components in `y0`, on `times`.
pub fn linearised_escape(
    sys: &OdeSystem,
    y0: &DVector<f64>,
    mode: usize,
    times: &[f64],
    opts: IntegratorOptions,
) -> Result<Escape> {
    let nv = sys.vec_rho.len();
    if mode >= nv {
        return Err(Error::Integration {
            t: times.first().copied().unwrap_or(0.0),
            message: format!(
                "mode {mode} is not tracked as a vector (the state keeps {nv} modes one by one)"
            ),
        });
    }
    let (len, n) = (sys.len(), sys.n);
    let mut start = DVector::zeros(len + n + 1);
    start
        .rows_mut(0, len)
        .copy_from(&without_modes(sys, y0, mode));
    let z0 = y0.rows(mode * n, n);
    let size = z0.norm();
    if size > 0.0 {
        start.rows_mut(len, n).copy_from(&(z0 / size));
        start[len + n] = size.ln();
    }
    let tangent = Tangent::new(sys, mode);
    let states: Vec<OdeState> = integrate(&tangent, start, times, opts, |_| {})?;
    let mut eps_linear = Vec::with_capacity(states.len());
    let mut saddle = Vec::with_capacity(states.len());
    let mut tang = Vec::with_capacity(states.len());
    for s in &states {
        // a tangent 10⁴ times the size of the saddle state is far outside the linear regime (and
        // would overflow the order parameters): no linearised error there
        let log_size = s.y[len + n];
        let y = s.y.rows(0, len).into_owned();
        let meaningful = log_size < (1e4 * y.amax().max(1.0)).ln();
        let z = s.y.rows(len, n) * log_size.min(700.0).exp();
        let mut with = y.clone();
        with.rows_mut(mode * n, n).copy_from(&z);
        eps_linear.push(if meaningful {
            sys.error(&with)
        } else {
            f64::NAN
        });
        saddle.push(y);
        tang.push(z);
    }
    let rho = sys.vec_rho[mode];
    Ok(Escape {
        mode,
        times: states.iter().map(|s| s.t).collect(),
        eps_linear,
        rate_start: stability(&sys.mode_drift(y0, rho)).lambda_max,
        saddle,
        tangent: tang,
        rho,
    })
}
