//! `aedyn fixed-points` (docs/theory.md §9): integrate the ODE of a config (either model), find
//! the slow points its trajectory visits (local minima of |dy/dt| far below its maximum) and its
//! end state, refine each by Newton to |F|∞ < 1e-12, and report ε, the Jacobian's unstable
//! directions, zero modes, λ_max, and for saddles the predicted escape time `ln(r/δ)/λ_max` next to
//! the time the trajectory actually spent within the radius r. For the autoencoder it also
//! predicts the escape of every principal component from the plateau before it
//! ([`crate::ode::escape`]), where the plateaus are no finite fixed points; for the
//! teacher–student model with exchangeable students, their departure from the
//! permutation-symmetric trajectory ([`crate::ode::departure`]).

use crate::config::{Config, FormName, ModelKind};
use crate::error::{Error, Result};
use crate::ode::fixed_points::{
    Stability, jacobian, jacobian_with_steps, newton, newton_holding, stability_with_floor,
};
use crate::ode::integrate::integrate_with_progress;
use crate::ode::integrate::reached;
use crate::ode::restricted::{Coordinates, Restricted};
use crate::ode::{Flow, IntegratorOptions, OdeState, OdeSystem};
use crate::run::Problem;
use crate::teacher_student::TsSystem;
use crate::teacher_student::run::TsProblem;
use nalgebra::{Complex, DMatrix, DVector};
use std::ops::Range;

/// Residual to which fixed points are refined (`|F|∞`).
pub const NEWTON_TOL: f64 = 1e-12;

/// Wall-clock budget of Newton's method per candidate (systems whose right-hand side needs many
/// four-orthant probabilities cost milliseconds per evaluation).
pub const NEWTON_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Wall-clock budget of Newton's method over all candidates of one analysis (at most nine:
/// without it, slow right-hand sides could take minutes); candidates left when it is spent are
/// named in a note.
pub const NEWTON_TOTAL_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// Radius of the neighbourhood of a fixed point, relative to `max(|y*|₂, 0.01)`, in which the
/// trajectory counts as "near" it (time spent, escape-time prediction).
pub const NEAR: f64 = 0.1;

/// ε as printed: that of an exact zero-error state comes out as rounding of either sign, and a
/// negative one within the tolerance the analysis accepts (−1e-10) is shown as 0, not
/// "-0.0000000" (in the summary and in fixed_points.csv).
fn shown_eps(eps: f64) -> f64 {
    if (-1e-10..0.0).contains(&eps) {
        0.0
    } else {
        eps
    }
}

/// A system whose states can be reported: error and named order parameters.
pub trait Analysed: Flow {
    fn eps(&self, y: &DVector<f64>) -> f64;
    /// names of the reported order parameters
    fn columns(&self) -> Vec<String>;
    fn values(&self, y: &DVector<f64>) -> Vec<f64>;
    /// Why `y` describes no network by the model's own structure (e.g. an asymmetric Q), if it
    /// does not (ε < 0 is checked for every model by the analysis).
    fn unphysical(&self, y: &DVector<f64>) -> Option<String>;
    /// Maps a state onto the set the dynamics can reach (default: nothing to do).
    fn project(&self, _y: &mut DVector<f64>) {}
    /// Components that move at relative rate O(1/D) and are constant in the limit D → ∞ (the
    /// bulk's encoder block): the analysis sets them to zero and holds them, and Newton drives
    /// the rest of the bulk block to zero, which makes the whole block (an invariant set: its
    /// flow is linear) vanish; the fixed points found are those without bulk component, which
    /// the trajectory approaches as its signal outgrows the frozen bulk (default: none).
    fn slow_components(&self) -> Vec<usize> {
        Vec::new()
    }
    /// A fixed point known exactly near `near`, for where Newton cannot converge because F is
    /// not differentiable there (the perfectly learned state of a student with kinks, whose
    /// kernels have square-root singularities in the overlaps); checked by the analysis to
    /// |F|∞ < [`NEWTON_TOL`] (default: none).
    fn exact_state(&self, _near: &DVector<f64>) -> Option<DVector<f64>> {
        None
    }
    /// A linear invariant subspace near `y` within which F is smooth though it is not across it
    /// (coinciding students of an activation with kinks: their kernels have square-root
    /// singularities in the students' separation), as an orthonormal basis (columns) and what
    /// defines it; Newton refines there where it fails in the whole space (default: none).
    fn smooth_subspace(&self, _y: &DVector<f64>) -> Option<(DMatrix<f64>, String)> {
        None
    }
    /// The modes that lead the state when they evolve as `dy_τ/dt = M(ρ_τ) y_τ`, coupled only
    /// through order parameters quadratic in them (the autoencoder's vector form without input
    /// mean): the subspace where the modes from some τ on vanish is then invariant, and at a
    /// fixed point in it the Jacobian is block diagonal, the vanishing modes' blocks being their
    /// drift matrices ([`Analysed::mode_spectrum`]). Default: none.
    fn vector_modes(&self) -> Option<VectorModes> {
        None
    }
    /// The eigenvalues of the drift matrices of the vector modes `modes` at `y` (see
    /// [`Analysed::vector_modes`]; default: none).
    fn mode_spectrum(&self, _y: &DVector<f64>, _modes: Range<usize>) -> Vec<Complex<f64>> {
        Vec::new()
    }
    /// Newton and the spectrum by the system's own structure, where it has one the generic
    /// dense analysis cannot afford (the vector form driven by an input mean over thousands of
    /// components, [`crate::ode::driven`]); a point within `1e-6` (relative) of one of `known`
    /// comes back without its spectrum. Default: none (the generic analysis).
    /// Whether modes relax at rates so slow that a trajectory can end far from the fixed point
    /// it heads to (the tail of a spectrum driven by an input mean); default: no.
    fn slow_tail(&self) -> bool {
        false
    }
    fn structured_refine(
        &self,
        _start: &DVector<f64>,
        _deadline: std::time::Instant,
        _known: &[&DVector<f64>],
    ) -> Option<std::result::Result<Refined, Refused>> {
        None
    }
}

/// The vector modes that lead a state ([`Analysed::vector_modes`]), by decreasing eigenvalue.
#[derive(Clone, Copy, Debug)]
pub struct VectorModes {
    /// how many modes
    pub count: usize,
    /// components of each mode (2K untied, K tied)
    pub len: usize,
    /// modes a fixed point may need (the hidden units K: each learns at most one direction)
    pub needed: usize,
}

/// The most components whose dense Jacobian (SVD Newton steps, real Schur form) the analysis
/// works with; a larger vector form is analysed in the invariant subspace of its leading modes
/// ([`Leading`]).
pub const DENSE_MAX: usize = 600;

/// The largest state of a vector form driven by an input mean that the analysis takes on
/// ([`crate::ode::driven`]): its spectrum is that of the whole dense Jacobian (faer, O(N³) time
/// and O(N²) memory; on two cores about 25 s at 4 098 components — grayscale CIFAR-10, untied,
/// K = 2 — and the whole analysis of the linear autoencoder at 6 147 (K = 3) 84 s in 1.1 GB).
pub const DRIVEN_MAX: usize = 6200;

/// The most sums `r = 2n² + 3K` the structured analysis of a driven vector form takes (its
/// reduced systems and the N × r matrices grow with them: untied K ≤ 10, tied K ≤ 21).
pub const DRIVEN_MAX_SUMS: usize = 1000;

/// Components over which a large vector form's fixed points are sought: its leading
/// `LEADING_COMPONENTS / (2K or K)` modes (at least K), with the rest of the state (biases).
pub const LEADING_COMPONENTS: usize = 256;

/// A large vector form analysed in the invariant subspace where the modes from `modes` on
/// vanish (docs/theory.md §9): Newton and the dense Jacobian over the leading modes and the rest
/// of the state; the vanishing modes' spectrum from their drift matrices.
#[derive(Clone, Copy, Debug)]
pub struct Leading {
    /// the modes kept free: `0..modes`
    pub modes: usize,
    pub vector: VectorModes,
    /// the state's length
    pub len: usize,
}

impl Leading {
    /// The leading-mode analysis of a state of `len` components, when it exceeds [`DENSE_MAX`]
    /// and is a vector form (`None` otherwise, or when even the K leading modes exceed it).
    pub fn of<S: Analysed>(sys: &S, len: usize) -> Option<Leading> {
        // (a state with slow components holds those instead: a reduced bulk, small anyway)
        let vector = sys
            .vector_modes()
            .filter(|_| len > DENSE_MAX && sys.slow_components().is_empty())?;
        let modes = (LEADING_COMPONENTS / vector.len.max(1))
            .max(vector.needed)
            .min(vector.count);
        let l = Leading { modes, vector, len };
        (l.free().len() <= DENSE_MAX).then_some(l)
    }

    /// The components of the vanishing modes.
    pub fn held(&self) -> Range<usize> {
        self.modes * self.vector.len..self.vector.count * self.vector.len
    }

    /// The other components, increasing.
    pub fn free(&self) -> Vec<usize> {
        let held = self.held();
        (0..held.start).chain(held.end..self.len).collect()
    }
}

/// Squared separation of two students, relative to `Q_aa + Q_bb`, below which a start counts as
/// near the subspace where they coincide ([`Analysed::smooth_subspace`]). Generous: a fixed point
/// found in that invariant subspace is a fixed point of the whole system whichever start led
/// there, and the trajectory can pass a plateau of coinciding students with its slowest point
/// already apart (hard tanh, K = M = 2, η = 0.5: 10.7 % at the slow point, where 10 % once
/// left the plateau unreported).
pub const COINCIDING: f64 = 0.25;

/// The radius within which a state is near the fixed point `y` ([`NEAR`] of its size, at
/// least of 0.01).
fn near_radius(y: &DVector<f64>) -> f64 {
    NEAR * y.norm().max(0.01)
}

/// `v` restricted to the components `free`.
fn restrict(v: &DVector<f64>, free: &[usize]) -> DVector<f64> {
    DVector::from_iterator(free.len(), free.iter().map(|&i| v[i]))
}

/// `Some(why)` when the k×k matrix `m` is not symmetric to 1e-8 of its scale.
fn asymmetric(name: &str, m: &[f64], k: usize) -> Option<String> {
    let scale = m.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    let worst = (0..k)
        .flat_map(|a| (0..k).map(move |b| (a, b)))
        .map(|(a, b)| (m[a * k + b] - m[b * k + a]).abs())
        .fold(0.0, f64::max);
    (worst > 1e-8 * scale).then(|| format!("{name} is not symmetric (by {worst:.1e})"))
}

impl Analysed for TsSystem {
    fn eps(&self, y: &DVector<f64>) -> f64 {
        self.error(y)
    }
    fn columns(&self) -> Vec<String> {
        let (k, m) = (self.p.k, self.p.m);
        let mut c = Vec::new();
        for a in 0..k {
            for b in a..k {
                c.push(format!("Q_{}{}", a + 1, b + 1));
            }
        }
        for a in 0..k {
            for b in 0..m {
                c.push(format!("R_{}{}", a + 1, b + 1));
            }
        }
        for a in 0..k {
            c.push(format!("v_{}", a + 1));
        }
        c
    }
    fn values(&self, y: &DVector<f64>) -> Vec<f64> {
        let o = self.order(y);
        let k = self.p.k;
        let mut v = Vec::new();
        for a in 0..k {
            for b in a..k {
                v.push(o.q[a * k + b]);
            }
        }
        v.extend(o.r);
        v.extend(o.v);
        v
    }
    fn exact_state(&self, near: &DVector<f64>) -> Option<DVector<f64>> {
        self.perfect_state(near)
    }
    fn smooth_subspace(&self, y: &DVector<f64>) -> Option<(DMatrix<f64>, String)> {
        let (groups, basis) = self.coinciding_groups(y, COINCIDING)?;
        let named: Vec<String> = groups
            .iter()
            .filter(|g| g.len() > 1)
            .map(|g| {
                let ids: Vec<String> = g.iter().map(|a| (a + 1).to_string()).collect();
                ids.join(" = ")
            })
            .collect();
        Some((basis, format!("students {}", named.join(", "))))
    }
    fn unphysical(&self, y: &DVector<f64>) -> Option<String> {
        // plateaus lie on the boundary of the cone (aligned units), and the closed forms continue
        // the ODE analytically across it (the quadrature linearly, docs/theory.md §8.3): the
        // saddle that governs a visited plateau can sit a little outside (erf, K = M = 2,
        // η = 0.02: λ_min = −1.7e-4). Only clear violations are refused.
        let margin = self.cone_margin(y);
        (margin < -1e-2).then(|| {
            format!(
                "the overlaps [[Q, R], [Rᵀ, T]] are not positive semidefinite (λ_min = \
                 {margin:.2e} of their scale)"
            )
        })
    }
}

impl Analysed for OdeSystem<'_> {
    fn eps(&self, y: &DVector<f64>) -> f64 {
        self.error(y)
    }
    fn columns(&self) -> Vec<String> {
        let k = self.tr.k;
        let mut c = Vec::new();
        for name in ["Q", "R", "T0"] {
            for a in 0..k {
                for b in 0..k {
                    c.push(format!("{name}_{}{}", a + 1, b + 1));
                }
            }
        }
        for a in 0..k {
            c.push(format!("beta_{}", a + 1));
        }
        c
    }
    fn values(&self, y: &DVector<f64>) -> Vec<f64> {
        let o = self.order_params(y);
        o.q.iter()
            .chain(&o.r)
            .chain(&o.t0)
            .chain(&o.beta)
            .copied()
            .collect()
    }
    fn project(&self, y: &mut DVector<f64>) {
        self.symmetrise(y);
    }
    fn slow_components(&self) -> Vec<usize> {
        OdeSystem::slow_components(self)
    }
    fn unphysical(&self, y: &DVector<f64>) -> Option<String> {
        let o = self.order_params(y);
        let k = self.tr.k;
        asymmetric("Q", &o.q, k).or_else(|| asymmetric("T0", &o.t0, k))
    }
    fn vector_modes(&self) -> Option<VectorModes> {
        // an input mean drives every mode (+ μ_τ c): no mode vanishes at a fixed point
        (!self.has_input_mean()).then_some(VectorModes {
            count: self.vec_rho.len(),
            len: self.n,
            needed: self.tr.k,
        })
    }
    fn mode_spectrum(&self, y: &DVector<f64>, modes: Range<usize>) -> Vec<Complex<f64>> {
        self.mode_spectra(y, modes)
    }
    fn slow_tail(&self) -> bool {
        self.has_input_mean()
    }
    fn structured_refine(
        &self,
        start: &DVector<f64>,
        deadline: std::time::Instant,
        known: &[&DVector<f64>],
    ) -> Option<std::result::Result<Refined, Refused>> {
        self.has_input_mean()
            .then(|| refine_driven(self, start, deadline, known))
    }
}

/// A system on the coordinate subspace where its other components vanish (the leading modes of a
/// large vector form, [`Leading`]).
impl<S: Analysed> Analysed for Coordinates<'_, S> {
    fn eps(&self, z: &DVector<f64>) -> f64 {
        self.sys.eps(&self.state(z))
    }
    fn columns(&self) -> Vec<String> {
        self.sys.columns()
    }
    fn values(&self, z: &DVector<f64>) -> Vec<f64> {
        self.sys.values(&self.state(z))
    }
    fn unphysical(&self, z: &DVector<f64>) -> Option<String> {
        self.sys.unphysical(&self.state(z))
    }
    fn project(&self, z: &mut DVector<f64>) {
        let mut y = self.state(z);
        self.sys.project(&mut y);
        *z = self.coordinates(&y);
    }
}

/// One fixed point found from the trajectory (a slow point's or the end state's Newton limit).
#[derive(Clone, Debug)]
pub struct FixedPoint {
    /// the time the trajectory is closest to it
    pub t: f64,
    /// `|y(t) − y*|₂` at that time, over the components not held
    /// ([`Analysed::slow_components`])
    pub distance: f64,
    /// whether the Jacobian is known well enough for the counts of unstable and zero
    /// directions ([`Stability::resolved`]; false where F is not smooth)
    pub resolved: bool,
    pub eps: f64,
    pub n_unstable: usize,
    pub n_zero: usize,
    /// largest real part of the Jacobian's eigenvalues (1/t)
    pub lambda_max: f64,
    /// predicted time near a saddle, `ln(r/δ)/λ_max` with δ the unstable component on entering
    /// the radius r (NaN when not a saddle or never entered)
    pub escape_time: f64,
    /// time the trajectory spent within r (to t_max if it never left)
    pub time_spent: f64,
    pub residual: f64,
    pub y: DVector<f64>,
    pub values: Vec<f64>,
    /// the whole Jacobian's spectrum (n_unstable, n_zero, lambda_max above are its summary)
    pub stability: Stability,
    /// the spectrum over the components not held ([`Analysed::slow_components`]); `None` when
    /// nothing is held
    pub stability_free: Option<Stability>,
}

/// The analysis of one config.
pub struct Report {
    pub model: String,
    pub lr: f64,
    pub columns: Vec<String>,
    pub points: Vec<FixedPoint>,
    /// slow points where Newton did not converge, and why
    pub notes: Vec<String>,
    /// the escapes of sequential learning, one per principal component the autoencoder can
    /// learn (modes tracked as vectors, at most K); empty for the teacher–student model
    pub plateaus: Vec<PlateauEscape>,
    /// the students' departure from their permutation-symmetric trajectory (teacher–student
    /// model with exchangeable students), one row per [`DEPARTURE_LEVELS`]; empty otherwise
    pub specialisation: Vec<Specialisation>,
    /// the analysed trajectory (400 log-spaced and 1600 evenly spaced times)
    pub trajectory: Vec<OdeState>,
}

/// Relative deviations `|y − Py| / |Py|` from the permutation-symmetric trajectory at which the
/// departure is timed ([`Specialisation`]).
pub const DEPARTURE_LEVELS: [f64; 2] = [0.01, 0.1];

/// Wall-clock budget of the linearised departure ([`Specialisation`]): it stops once every
/// level is crossed, but where that takes long (the symmetric trajectory of an activation with
/// kinks nearing coinciding students, where F is not differentiable) it stops here.
pub const DEPARTURE_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// When the students break their permutation symmetry (specialise, leaving the Saad–Solla
/// plateau): the time at which the deviation from the symmetric trajectory reaches `level` of
/// its size, linearised along the symmetric trajectory
/// ([`crate::ode::departure::linearised_departure`]) and measured on the trajectory
/// (`|y − Py| / |Py|`, P the average over permutations of the students); NaN where not
/// reached by `t_max` (docs/theory.md §9).
#[derive(Clone, Debug)]
pub struct Specialisation {
    pub level: f64,
    pub predicted: f64,
    pub ode: f64,
    /// ε of the symmetric trajectory at the predicted time (the plateau it leaves)
    pub eps_symmetric: f64,
    /// the linearised deviation's growth rate `d ln|z|/dt` there
    pub rate: f64,
}

/// The escape of one principal component from the plateau before it (docs/theory.md §6.2),
/// predicted by linearising its growth along its saddle trajectory
/// ([`crate::ode::escape::linearised_escape`]) and measured on the trajectory.
#[derive(Clone, Debug)]
pub struct PlateauEscape {
    /// principal component (1 = the largest eigenvalue)
    pub pc: usize,
    /// `λ_max(M(ρ_τ))` at the start (the early-time growth rate)
    pub rate_start: f64,
    /// `λ_max(M(ρ_τ))` on the saddle trajectory at the predicted escape
    pub rate_saddle: f64,
    /// ε of the saddle trajectory at the predicted escape (the plateau it leaves)
    pub eps_saddle: f64,
    /// predicted and measured times at which the error falls
    /// [`ESCAPE_FRACTION`](crate::ode::escape::ESCAPE_FRACTION) of the component's share
    /// `ρ_τ/2D` below `ε_PCA(τ−1)` (NaN: not reached by t_max)
    pub escape_pred: f64,
    pub escape_ode: f64,
    /// the same at half the share (the midpoint between the plateaus)
    pub mid_pred: f64,
    pub mid_ode: f64,
}

/// The time grid of the analysis: 400 log-spaced and 1600 evenly spaced times up to `t_max`.
fn grid(t_max: f64) -> Vec<f64> {
    let mut t: Vec<f64> = crate::run::time_grid(t_max, 400, 1_000_000);
    t.extend((1..=1600).map(|i| t_max * i as f64 / 1600.0));
    t.sort_by(f64::total_cmp);
    t.dedup_by(|a, b| (*a - *b).abs() <= 1e-12 * t_max);
    t
}

/// A zero of F refined by Newton, with its stability.
pub struct Refined {
    pub y: DVector<f64>,
    pub eps: f64,
    /// `|F|∞` over the components not held
    pub residual: f64,
    /// of the whole Jacobian (the held bulk directions included: at the fixed point the bulk
    /// block is zero and its flow linear, so the point is an exact fixed point), zero modes up
    /// to `jacobian_error`
    pub stability: Stability,
    /// the same over the components not held (their unstable projector measures the deviation
    /// of trajectory states, whose bulk is not zero); `None` when nothing is held
    pub stability_free: Option<Stability>,
    /// estimated error of the finite-difference Jacobian (Frobenius norm of the change when the
    /// steps are doubled)
    pub jacobian_error: f64,
    /// `|F|∞` of the held (slow) components: 0 at an exact fixed point
    pub held_drift: f64,
    /// the rounding noise of F at `y` when Newton stopped at it above its tolerance
    /// ([`crate::ode::fixed_points::Converged::noise_floor`]); 0 otherwise
    pub noise_floor: f64,
}

/// Why a start did not give a fixed point.
pub enum Refused {
    Newton(String),
    /// a zero of F that describes no network (ε < 0, asymmetric overlaps, …)
    Unphysical(String),
}

/// Newton from `start` (slow components set to zero and held, see
/// [`Analysed::slow_components`]) to `|F|∞ <` [`NEWTON_TOL`], then the Jacobian's
/// spectrum over the other components, real parts below the Jacobian's own error counted as
/// zero modes.
pub fn refine<S: Analysed>(sys: &S, start: &DVector<f64>) -> std::result::Result<Refined, Refused> {
    refine_until(sys, start, std::time::Instant::now() + NEWTON_BUDGET)
}

/// [`refine`] with Newton stopped at the wall-clock `deadline`.
pub fn refine_until<S: Analysed>(
    sys: &S,
    start: &DVector<f64>,
    deadline: std::time::Instant,
) -> std::result::Result<Refined, Refused> {
    let hold = sys.slow_components();
    let free: Vec<usize> = (0..start.len()).filter(|i| !hold.contains(i)).collect();
    // with slow components: Newton in the invariant subspace where they vanish (the bulk's
    // encoder block zero makes the whole bulk block a fixed point of its own, linear flow)
    let mut y0 = start.clone();
    for &h in &hold {
        y0[h] = 0.0;
    }
    let c = newton_holding(
        sys,
        &y0,
        NEWTON_TOL,
        500,
        Some(deadline),
        Some(&|y: &mut DVector<f64>| sys.project(y)),
        &hold,
    )
    .map_err(Refused::Newton)?;
    let eps = physical_eps(sys, &c.y)?;
    let (jac, coarse) = jacobians(sys, &c.y);
    let jacobian_error = (&jac - &coarse).norm();
    let stability = stability_with_floor(&jac, jacobian_error);
    let stability_free = (!hold.is_empty()).then(|| {
        let restricted = |m: &nalgebra::DMatrix<f64>| m.select_rows(&free).select_columns(&free);
        let (j, e) = (restricted(&jac), restricted(&coarse));
        let err = (&j - e).norm();
        stability_with_floor(&j, err)
    });
    let mut f = DVector::zeros(c.y.len());
    sys.rhs(&c.y, &mut f, &mut sys.workspace());
    let held_drift = hold.iter().map(|&h| f[h].abs()).fold(0.0, f64::max);
    Ok(Refined {
        eps,
        noise_floor: c.noise_floor,
        residual: c.residual,
        stability,
        stability_free,
        jacobian_error,
        held_drift,
        y: c.y,
    })
}

/// [`refine_until`] in the invariant subspace where the modes beyond the leading ones vanish
/// ([`Leading`]): Newton and the finite-difference Jacobian over the free components; the
/// whole spectrum (`stability`, no projector) adds the vanishing modes' drift-matrix eigenvalues
/// to the free block's (`stability_free`), the Jacobian being block diagonal there.
fn refine_leading<S: Analysed>(
    sys: &S,
    leading: &Leading,
    start: &DVector<f64>,
    deadline: std::time::Instant,
) -> std::result::Result<Refined, Refused> {
    let flow = Coordinates {
        sys,
        free: leading.free(),
        len: leading.len,
    };
    let r = refine_until(&flow, &flow.coordinates(start), deadline)?;
    let y = flow.state(&r.y);
    let exact = sys.mode_spectrum(&y, leading.modes..leading.vector.count);
    let stability = r.stability.with_exact_block(exact);
    Ok(Refined {
        y,
        eps: r.eps,
        residual: r.residual,
        stability,
        stability_free: Some(r.stability),
        jacobian_error: r.jacobian_error,
        // the held modes' drift M(ρ_τ)·0 vanishes identically (docs/theory.md §9)
        held_drift: 0.0,
        noise_floor: r.noise_floor,
    })
}

/// Newton with the structured steps of [`crate::ode::driven`] (the vector form driven by an
/// input mean), then the spectrum of the assembled Jacobian `blockdiag(M(ρ_τ)) + U Vᵀ` by faer,
/// real parts within its error (doubled steps in the sums) counted as zero modes, and the
/// projector onto a simple real unstable leading eigenvalue (inverse iteration).
fn refine_driven(
    sys: &OdeSystem,
    start: &DVector<f64>,
    deadline: std::time::Instant,
    known: &[&DVector<f64>],
) -> std::result::Result<Refined, Refused> {
    if sys.len() > DRIVEN_MAX || crate::ode::driven::reduced_len(sys) > DRIVEN_MAX_SUMS {
        return Err(Refused::Newton(format!(
            "the state ({} components, {} sums) exceeds the structured analysis's limits \
             ({DRIVEN_MAX}, {DRIVEN_MAX_SUMS})",
            sys.len(),
            crate::ode::driven::reduced_len(sys)
        )));
    }
    let c = newton_driven(sys, start, deadline).map_err(Refused::Newton)?;
    let eps = physical_eps(sys, &c.y)?;
    let scale = 1.0 + c.y.amax();
    let seen = known.iter().any(|k| (*k - &c.y).amax() < 1e-6 * scale);
    let structure = (!seen).then(|| crate::ode::driven::Structure::with_error(sys, &c.y, true));
    let jacobian_error = structure.as_ref().map_or(0.0, |s| s.error());
    let stability = if let Some(structure) = &structure {
        let jac = structure.dense();
        match crate::ode::driven::eigenvalues(&jac) {
            Some(ev) => {
                let mut st = Stability::from_eigenvalues(ev, jacobian_error);
                let largest = st.eigenvalues.iter().map(|z| z.norm()).fold(0.0, f64::max);
                if let Some(z) = st.eigenvalues.first().copied()
                    && z.re > st.zero_threshold
                    && z.im.abs() <= 1e-6 * largest
                    && st.leading_multiplicity == 1
                {
                    st.unstable_projector = crate::ode::driven::simple_projector(&jac, z.re);
                }
                st
            }
            None => Stability::not_converged(jacobian_error),
        }
    } else {
        // a point already listed or rejected: `analyse` skips it before reading its spectrum
        Stability::not_converged(0.0)
    };
    Ok(Refined {
        eps,
        noise_floor: c.noise_floor,
        residual: c.residual,
        stability,
        stability_free: None,
        jacobian_error,
        held_drift: 0.0,
        y: c.y,
    })
}

/// A zero of F for [`refine_driven`]: Newton's method (the steps of
/// [`crate::ode::driven::Structure::newton_step`], backtracking on `|F|₂`) in the first half of
/// the time to `deadline`, and where it stops short, pseudo-transient continuation from the same
/// start ([`continuation_driven`]).
fn newton_driven(
    sys: &OdeSystem,
    y0: &DVector<f64>,
    deadline: std::time::Instant,
) -> std::result::Result<crate::ode::fixed_points::Converged, String> {
    // Newton gets half of the time left, the continuation the rest
    let now = std::time::Instant::now();
    let half = now + deadline.saturating_duration_since(now) / 2;
    newton_steps_driven(sys, y0, half).or_else(|newton| {
        continuation_driven(sys, y0, deadline)
            .map_err(|ptc| format!("{newton}; continued in pseudo-time from the start: {ptc}"))
    })
}

/// Newton's method of [`crate::ode::fixed_points::newton`] with the steps of
/// [`crate::ode::driven::Structure::newton_step`] (biases held unless trained): backtracking on
/// `|F|₂`, to `|F|∞ <` [`NEWTON_TOL`] or the rounding noise of F, at most 200 steps and until
/// `deadline`.
fn newton_steps_driven(
    sys: &OdeSystem,
    y0: &DVector<f64>,
    deadline: std::time::Instant,
) -> std::result::Result<crate::ode::fixed_points::Converged, String> {
    use crate::ode::fixed_points::{
        at_noise_floor, creeping_at_noise_floor, evaluation_noise, iteration_start, line_search,
        stagnated,
    };
    let mut ws = sys.workspace();
    let n = y0.len();
    let mut y = y0.clone();
    let (mut f, mut trial) = (DVector::zeros(n), DVector::zeros(n));
    sys.rhs_with(&y, &mut f, &mut ws);
    let mut norms: Vec<f64> = Vec::new();
    for it in 0..200 {
        let res = f.amax();
        if let Some(done) = iteration_start(&y, res, NEWTON_TOL, it, Some(deadline), "iterations") {
            return done;
        }
        let norm = f.norm();
        if let Some(before) = stagnated(&norms, norm, res, NEWTON_TOL) {
            return Err(format!(
                "stagnated: |F|₂ fell by only {:.1} % in the last iterations of {it} (|F|∞ = \
                 {res:.2e})",
                100.0 * (1.0 - norm / before)
            ));
        }
        if let Some(c) = creeping_at_noise_floor(&norms, norm, &y, res, it, || {
            evaluation_noise(sys, &y, &[], &mut ws)
        }) {
            return Ok(c);
        }
        norms.push(norm);
        let steps = crate::ode::driven::Structure::at(sys, &y)
            .steps(&f, sys.tr.bias, 0.0, &crate::ode::driven::SVD_CUTOFFS)
            .ok_or_else(|| {
                format!("the SVD of the reduced Newton system did not converge (|F|∞ = {res:.2e})")
            })?;
        // the step (of those with the smallest singular values dropped or not) that descends
        // furthest
        let mut found: Option<(DVector<f64>, DVector<f64>)> = None;
        for step in &steps {
            // along a family of fixed points (zero-variance pixels with a mean trade with the
            // biases; continuous symmetries) the step stays as near the start as it can
            let step = step.towards(&y, y0);
            if let Some(yt) = line_search(&y, &step, &f, &mut trial, |y, f| {
                sys.rhs_with(y, f, &mut ws)
            }) && found
                .as_ref()
                .is_none_or(|(_, best)| trial.norm() < best.norm())
            {
                found = Some((yt, trial.clone()));
            }
        }
        match found {
            Some((yt, ft)) => {
                y = yt;
                f = ft;
            }
            None => {
                let noise = evaluation_noise(sys, &y, &[], &mut ws);
                if let Some(c) = at_noise_floor(&y, res, it, noise) {
                    return Ok(c);
                }
                return Err(format!(
                    "no descent step after {it} iterations (|F|∞ = {res:.2e}; rounding noise of \
                     F there {noise:.1e})"
                ));
            }
        }
    }
    Err(format!(
        "not converged in 200 iterations (|F|∞ = {:.2e})",
        f.amax()
    ))
}

/// The first pseudo-time step of [`continuation_driven`], in units of the ODE's time.
const CONTINUATION_FIRST_STEP: f64 = 10.0;

/// Pseudo-transient continuation: implicit Euler steps `(I/Δt − J) δ = F` whose length grows
/// as `|F|` falls (`Δt ← Δt·max(2, |F|_old/|F|_new)`; where `|F|₂` rose, by at most half, the
/// step is kept and Δt shrinks by the ratio, at most halved; a step raising it more is retried
/// with Δt halved), until Δt exceeds `1e14` and the steps are Newton's. It
/// follows the flow where the flow is slow — the tail modes of a driven spectrum relax at rates
/// `∝ ρ_τ/D`, a direction along which a Newton step from a trajectory's end overshoots — and
/// converges quadratically at a stable fixed point (where a saddle's escape is slow, it may
/// settle on the saddle as well). At most 400 steps and until `deadline`.
fn continuation_driven(
    sys: &OdeSystem,
    y0: &DVector<f64>,
    deadline: std::time::Instant,
) -> std::result::Result<crate::ode::fixed_points::Converged, String> {
    use crate::ode::fixed_points::{at_noise_floor, evaluation_noise, iteration_start};
    let mut ws = sys.workspace();
    let n = y0.len();
    let mut y = y0.clone();
    let (mut f, mut trial) = (DVector::zeros(n), DVector::zeros(n));
    sys.rhs_with(&y, &mut f, &mut ws);
    let mut dt = CONTINUATION_FIRST_STEP;
    let mut best = f.amax();
    let mut since_best = 0;
    for it in 0..400 {
        let res = f.amax();
        if let Some(done) = iteration_start(&y, res, NEWTON_TOL, it, Some(deadline), "steps") {
            return done;
        }
        let structure = crate::ode::driven::Structure::at(sys, &y);
        let sigma = if dt.is_finite() { 1.0 / dt } else { 0.0 };
        let step = structure
            .newton_step(&f, sys.tr.bias, sigma)
            .ok_or_else(|| {
                format!("the SVD of the reduced system did not converge (|F|∞ = {res:.2e})")
            })?;
        let yt = &y + &step;
        sys.rhs_with(&yt, &mut trial, &mut ws);
        let finite = trial.iter().all(|v| v.is_finite());
        if finite && trial.norm() < 1.5 * f.norm() {
            // longer steps as |F| falls (at least doubled), shorter where it rose
            let ratio = f.norm() / trial.norm().max(1e-300);
            dt *= if ratio >= 1.0 {
                ratio.max(2.0)
            } else {
                ratio.max(0.5)
            };
            y = yt;
            std::mem::swap(&mut f, &mut trial);
            if f.amax() < 0.5 * best {
                best = f.amax();
                since_best = 0;
            } else {
                since_best += 1;
            }
        } else {
            dt = if dt.is_finite() { dt / 2.0 } else { 1e12 };
            since_best += 1;
        }
        if dt > 1e14 {
            dt = f64::INFINITY;
        }
        if since_best > 40 {
            let noise = evaluation_noise(sys, &y, &[], &mut ws);
            if let Some(c) = at_noise_floor(&y, f.amax(), it, noise) {
                return Ok(c);
            }
            return Err(format!(
                "no progress in 40 steps (|F|∞ = {:.2e}, pseudo-time step {dt:.1e})",
                f.amax()
            ));
        }
    }
    Err(format!(
        "not converged in 400 steps (|F|∞ = {:.2e})",
        f.amax()
    ))
}

/// ε at a zero `y` of F, or why it describes no network (ε < 0 beyond rounding, overlaps that
/// are no Gram matrix, …).
fn physical_eps<S: Analysed>(sys: &S, y: &DVector<f64>) -> std::result::Result<f64, Refused> {
    let eps = sys.eps(y);
    let negative = (eps < -1e-10).then(|| format!("ε = {eps:.3e} < 0"));
    match negative.or_else(|| sys.unphysical(y)) {
        Some(why) => Err(Refused::Unphysical(why)),
        None => Ok(eps),
    }
}

/// The finite-difference Jacobian of `flow` at `y` and the same with doubled steps: their
/// difference (Frobenius norm) is the Jacobian's error, a rough upper bound on how far rounding
/// and truncation move the eigenvalues of a well-conditioned eigenbasis.
fn jacobians<F: Flow>(flow: &F, y: &DVector<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
    let mut ws = flow.workspace();
    let jac = jacobian(flow, y, &mut ws);
    let coarse = jacobian_with_steps(flow, y, &mut ws, 2.0);
    (jac, coarse)
}

/// Newton within the invariant subspace spanned by `basis` ([`Analysed::smooth_subspace`]) from
/// the projection of `start`, with the Jacobian's spectrum within the subspace (its unstable
/// projector dropped: it acts on subspace coordinates); the residual is `|F|∞` of the whole
/// system there.
fn refine_in_subspace<S: Analysed>(
    sys: &S,
    basis: DMatrix<f64>,
    start: &DVector<f64>,
    deadline: std::time::Instant,
) -> std::result::Result<Refined, Refused> {
    let flow = Restricted { sys, basis };
    let z0 = flow.coordinates(start);
    let c = newton(&flow, &z0, NEWTON_TOL, 500, Some(deadline), None).map_err(Refused::Newton)?;
    let y = flow.state(&c.y);
    let eps = physical_eps(sys, &y)?;
    let (jac, coarse) = jacobians(&flow, &c.y);
    let jacobian_error = (&jac - &coarse).norm();
    let mut stability = stability_with_floor(&jac, jacobian_error);
    stability.unstable_projector = None;
    let mut f = DVector::zeros(y.len());
    sys.rhs(&y, &mut f, &mut sys.workspace());
    Ok(Refined {
        eps,
        noise_floor: c.noise_floor,
        residual: f.amax(),
        stability,
        stability_free: None,
        jacobian_error,
        held_drift: 0.0,
        y,
    })
}

/// The exactly known fixed point `y` ([`Analysed::exact_state`]) near the trajectory `states`,
/// if F vanishes there to [`NEWTON_TOL`] and the trajectory came near it. F has no Jacobian
/// there, so its stability is read from the trajectory: `λ_max` is the rate at which
/// `|y(t) − y*|` decays over the last decade of its approach (negative: attracting), and the
/// unstable count is 0 when it does decay; a note says so.
fn exact_fixed_point<S: Analysed>(
    sys: &S,
    states: &[OdeState],
    y: DVector<f64>,
) -> Option<(FixedPoint, String)> {
    let mut ws = sys.workspace();
    let mut f = DVector::zeros(y.len());
    sys.rhs(&y, &mut f, &mut ws);
    let residual = f.amax();
    // ε ≥ 0; at an exact state it comes out within rounding of 0 of either sign
    let eps = match sys.eps(&y) {
        e if e < 0.0 && e > -1e-14 => 0.0,
        e => e,
    };
    if residual.is_nan() || residual >= NEWTON_TOL || eps < -1e-10 || sys.unphysical(&y).is_some() {
        return None;
    }
    let dist: Vec<f64> = states.iter().map(|s| (&s.y - &y).norm()).collect();
    let (close, distance) = closest(&dist);
    let r = near_radius(&y);
    if distance > r {
        return None; // the trajectory never came near it
    }
    // the last decade of the approach: from where |y − y*| was ten times its last value before
    // the integration held y* (held states are at distance 0)
    let end = (0..dist.len()).rev().find(|&j| dist[j] > 0.0)?;
    let start = (0..end).rev().find(|&j| dist[j] >= 10.0 * dist[end])?;
    let rate = (dist[end] / dist[start]).ln() / (states[end].t - states[start].t);
    if !(rate.is_finite() && rate < 0.0) {
        return None;
    }
    let last = states.len() - 1;
    let entered = dist.iter().position(|&d| d < r);
    let note = format!(
        "the perfectly learned state (ε = {eps:.1e}, |F|∞ = {residual:.1e} exactly there) lies \
         on the boundary of the cone of overlaps, which Newton's finite-difference steps leave, \
         and they did not converge to it (where the student has kinks, F is not even \
         differentiable there: its kernels have square-root singularities in the overlaps); \
         its stability is read from the \
         trajectory, whose distance to it fell by a factor 10 at the average rate {rate:.4e} over \
         its last decade (attracting: 0 unstable directions reported, λ_max = that rate; \
         docs/theory.md §9)"
    );
    let point = FixedPoint {
        t: states[close].t,
        distance,
        // (read from the trajectory's approach, which the note explains)
        resolved: true,
        eps,
        n_unstable: 0,
        n_zero: 0,
        lambda_max: rate,
        escape_time: f64::NAN,
        time_spent: entered.map_or(f64::NAN, |j| states[last].t - states[j].t),
        residual,
        values: sys.values(&y),
        stability: Stability {
            eigenvalues: Vec::new(),
            n_unstable: 0,
            n_zero: 0,
            lambda_max: rate,
            zero_threshold: 0.0,
            leading_multiplicity: 0,
            unstable_projector: None,
        },
        stability_free: None,
        y,
    };
    Some((point, note))
}

/// The index and value of the smallest of the trajectory's distances to a point (non-empty).
fn closest(dist: &[f64]) -> (usize, f64) {
    dist.iter()
        .copied()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a trajectory has at least its initial state")
}

/// Integrates from `y0` to `t_max` and analyses the fixed points visited.
pub fn analyse<S: Analysed>(
    sys: &S,
    y0: DVector<f64>,
    t_max: f64,
    opts: IntegratorOptions,
    model: &str,
    lr: f64,
    show_progress: bool,
) -> Result<Report> {
    let times = grid(t_max);
    let integrated = integrate_with_progress(sys, y0, &times, opts, show_progress);
    // a trajectory that stopped early is analysed as far as it went (a note says where)
    let stopped_note = match integrated.stopped {
        Some(e) if integrated.states.len() < 3 => return Err(e),
        Some(e) => Some(format!(
            "the integration stopped before t_max ({e}); the analysis covers the trajectory up \
             to t = {:.4}",
            integrated.states.last().map_or(0.0, |s| s.t)
        )),
        None => None,
    };
    let states = integrated.states;
    let mut ws = sys.workspace();
    let n = states[0].y.len();
    let eps0 = sys.eps(&states[0].y);
    let mut f = DVector::zeros(n);
    let speed: Vec<f64> = states
        .iter()
        .map(|s| {
            sys.rhs(&s.y, &mut f, &mut ws);
            f.norm()
        })
        .collect();
    let top = speed.iter().copied().fold(0.0, f64::max);
    let mut candidates: Vec<usize> = (1..speed.len() - 1)
        .filter(|&i| speed[i] < speed[i - 1] && speed[i] <= speed[i + 1] && speed[i] < 0.05 * top)
        .collect();
    candidates.sort_by(|a, b| speed[*a].total_cmp(&speed[*b]));
    candidates.truncate(8);
    // the end state first: with the total Newton budget spent, slow points go unrefined first
    candidates.insert(0, states.len() - 1);
    let mut points: Vec<FixedPoint> = Vec::new();
    // points Newton reached that the trajectory never came near (not reported; their spectra
    // are not computed again)
    let mut rejected: Vec<DVector<f64>> = Vec::new();
    let mut notes: Vec<String> = stopped_note.into_iter().collect();
    // a large vector form: Newton and the spectrum over its leading modes (the others held at 0)
    let leading = Leading::of(sys, n);
    let hold: Vec<usize> = match &leading {
        Some(l) => l.held().collect(),
        None => sys.slow_components(),
    };
    let free: Vec<usize> = match &leading {
        Some(l) => l.free(),
        None => (0..n).filter(|i| !hold.contains(i)).collect(),
    };
    let mut held_drift = 0.0f64;
    let add_exact =
        |points: &mut Vec<FixedPoint>, notes: &mut Vec<String>, exact: &Option<DVector<f64>>| {
            let Some((p, note)) = exact
                .clone()
                .and_then(|y| exact_fixed_point(sys, &states, y))
            else {
                return false;
            };
            if !points
                .iter()
                .any(|q| (&q.y - &p.y).amax() < 1e-9 * (1.0 + p.y.amax()))
            {
                points.push(p);
                notes.push(note);
            }
            true
        };
    let newton_deadline = std::time::Instant::now() + NEWTON_TOTAL_BUDGET;
    let bar =
        show_progress.then(|| crate::progress::Progress::new(candidates.len() as u64, "Newton"));
    for &i in &candidates {
        if let Some(b) = &bar {
            b.inc(1);
        }
        // an exact fixed point the trajectory reached (or the integration held), where F may not
        // be differentiable: no Newton, no finite-difference Jacobian across its kinks
        let exact = sys.exact_state(&states[i].y);
        let at_exact = exact.as_ref().is_some_and(|x| reached(&states[i].y, x));
        if at_exact && add_exact(&mut points, &mut notes, &exact) {
            continue;
        }
        let now = std::time::Instant::now();
        if now >= newton_deadline {
            notes.push(format!(
                "slow point at t = {:.4} (ε = {:.3e}): not refined, Newton's budget of {} s for \
                 the whole analysis was spent",
                states[i].t,
                sys.eps(&states[i].y),
                NEWTON_TOTAL_BUDGET.as_secs()
            ));
            continue;
        }
        let deadline = newton_deadline.min(now + NEWTON_BUDGET);
        // (the subspace the point was refined in, when Newton failed in the whole space, and why)
        let mut within: Option<(String, String)> = None;
        let known: Vec<&DVector<f64>> =
            points.iter().map(|p| &p.y).chain(rejected.iter()).collect();
        let refined = match (
            &leading,
            sys.structured_refine(&states[i].y, deadline, &known),
        ) {
            (_, Some(r)) => r,
            (Some(l), None) => refine_leading(sys, l, &states[i].y, deadline),
            (None, None) => refine_until(sys, &states[i].y, deadline),
        };
        let c = match refined {
            Ok(c) => c,
            Err(Refused::Newton(why))
                if hold.is_empty()
                    && let Some((basis, what)) = sys.smooth_subspace(&states[i].y)
                    && let Ok(c) = refine_in_subspace(sys, basis, &states[i].y, deadline) =>
            {
                within = Some((what, why));
                c
            }
            Err(Refused::Newton(why)) => {
                // the exact point stands in only for a start near it (a slow point far from it
                // that Newton cannot refine still gets its note)
                let near_exact = exact
                    .as_ref()
                    .is_some_and(|x| (&states[i].y - x).norm() <= near_radius(x));
                if near_exact && add_exact(&mut points, &mut notes, &exact) {
                    continue;
                }
                let eps = sys.eps(&states[i].y);
                let learnt = eps.abs() < 1e-6 * eps0.abs();
                notes.push(format!(
                    "slow point at t = {:.4} (ε = {eps:.3e}, |dy/dt| = {:.2e}): Newton stopped: \
                     {why}{}",
                    states[i].t,
                    speed[i],
                    if learnt {
                        " — ε ≈ 0: the trajectory approaches a perfectly learned state, on the \
                         boundary of the cone of overlaps (where the kernels of a student with \
                         kinks have square-root singularities; docs/theory.md §9)"
                    } else {
                        ""
                    }
                ));
                continue;
            }
            Err(Refused::Unphysical(why)) => {
                notes.push(format!(
                    "Newton from the slow point at t = {:.4} reached a zero of F that describes no \
                     network ({why}); not reported",
                    states[i].t
                ));
                continue;
            }
        };
        // Newton came to rest next to an exact fixed point where F is not differentiable (its
        // finite-difference Jacobian would straddle the kinks): that point, as above
        let next_to = sys.exact_state(&c.y).filter(|x| reached(&c.y, x));
        if next_to.is_some() && add_exact(&mut points, &mut notes, &next_to) {
            continue;
        }
        let scale = 1.0 + c.y.amax();
        if points
            .iter()
            .map(|p| &p.y)
            .chain(rejected.iter())
            .any(|y| (y - &c.y).amax() < 1e-6 * scale)
        {
            continue;
        }
        held_drift = held_drift.max(c.held_drift);
        let (st, eps) = (&c.stability, c.eps);
        let y_free = restrict(&c.y, &free);
        let dist: Vec<f64> = states
            .iter()
            .map(|s| (restrict(&s.y, &free) - &y_free).norm())
            .collect();
        let (close, distance) = closest(&dist);
        let r = near_radius(&y_free);
        // with a slow tail (a spectrum driven by an input mean relaxes at rates ∝ ρ_τ/D, which
        // can keep the trajectory far from its limit at t_max), the point Newton reaches from the
        // end state is the one the trajectory heads to when it ends closest to it, its distance
        // falling over the second half of its time
        let last = dist.len() - 1;
        let half = states
            .iter()
            .position(|s| s.t >= 0.5 * states[last].t)
            .unwrap_or(0);
        let heading = sys.slow_tail() && i == last && close == last && dist[half] > distance;
        if distance > 5.0 * r && !heading {
            rejected.push(c.y.clone());
            notes.push(format!(
                "Newton from the slow point at t = {:.4} converged to a fixed point the trajectory \
                 never came near (closest distance {distance:.3e}, ε = {eps:.6}); not reported",
                states[i].t
            ));
            continue;
        }
        // notes name the time of the fixed point's row: the trajectory's closest approach
        let t_row = states[close].t;
        // over the leading modes: the finite-difference block decides (the held modes' exact
        // spectra are resolved)
        let resolved = match (&leading, &c.stability_free) {
            (Some(_), Some(free)) => free.resolved(),
            _ => c.stability.resolved(),
        } && within.is_none();
        if let Some((what, why)) = &within {
            notes.push(format!(
                "the fixed point at t = {t_row:.4} (ε = {:.6}) has {what} coinciding: Newton in \
                 the whole space stopped there ({why}), as F is not differentiable across \
                 coinciding students of an activation with kinks (square-root singularities of \
                 the kernels in their separation); it is refined in the invariant subspace where \
                 they coincide (|F|∞ = {:.1e} of the whole system). Within that subspace it has \
                 {} unstable and {} zero directions, λ_max = {:.4e}; the students' separation, \
                 along which the trajectory leaves it, has no linearisation, so the table marks \
                 the counts ? (resolved = 0 in fixed_points.csv) and predicts no escape time \
                 (docs/theory.md §9)",
                shown_eps(eps),
                c.residual,
                st.n_unstable,
                st.n_zero,
                st.lambda_max
            ));
        } else if !resolved {
            notes.push(format!(
                "the fixed point at t = {t_row:.4} (ε = {:.6}): its Jacobian is known only to \
                 {:.1e} (F is not smooth there), comparable with its eigenvalues: the counts of \
                 unstable and zero directions and λ_max are not resolved (marked ? in the table, \
                 resolved = 0 in fixed_points.csv)",
                shown_eps(eps),
                c.jacobian_error
            ));
        }
        if c.noise_floor > 0.0 {
            notes.push(format!(
                "the fixed point at t = {t_row:.4} (ε = {:.6}) is refined to |F|∞ = {:.1e}, the \
                 rounding noise of F there ({:.1e}; Newton's steps no longer descend, or only creep, \
                 below it)",
                shown_eps(eps),
                c.residual,
                c.noise_floor
            ));
        }
        if st.eigenvalues.is_empty() {
            notes.push(format!(
                "the fixed point at t = {t_row:.4}: the eigen-solver did not converge"
            ));
        }
        if distance >= r {
            notes.push(format!(
                "the fixed point at t = {t_row:.4} (ε = {:.6}) is not reached: the trajectory \
                 comes no closer than {distance:.3e} to it ({:.0} % of its size; near means \
                 within {:.0} %). Newton from a slow point or the end state \
                 converges to it, so the trajectory is heading there or passes by it, but no time \
                 is spent near it{}",
                shown_eps(eps),
                100.0 * distance / y_free.norm().max(0.01),
                100.0 * NEAR,
                if heading {
                    format!(
                        " (its distance fell from {:.3e} at t = {:.4} to {distance:.3e} at the \
                         end: heading there, slowly)",
                        dist[half], states[half].t
                    )
                } else {
                    String::new()
                }
            ));
        }
        let (mut time_spent, mut escape_time) = (f64::NAN, f64::NAN);
        if distance < r {
            let mut i0 = close;
            while i0 > 0 && dist[i0 - 1] < r {
                i0 -= 1;
            }
            let mut i1 = close;
            while i1 + 1 < dist.len() && dist[i1 + 1] < r {
                i1 += 1;
            }
            time_spent = states[i1].t - states[i0].t;
            let for_escape = c.stability_free.as_ref().unwrap_or(&c.stability);
            if let Some(p) = &for_escape.unstable_projector {
                let delta = (p * (restrict(&states[i0].y, &free) - &y_free)).norm();
                if delta > 0.0 && delta < r {
                    escape_time = (r / delta).ln() / for_escape.lambda_max;
                }
            }
            if st.n_unstable > 0 && i1 + 1 == dist.len() {
                notes.push(format!(
                    "the trajectory is still near the saddle at t = {t_row:.4} (ε = {:.6}) when \
                     it ends (t = {:.4}): its time_spent {time_spent:.3} is a lower bound (escape \
                     predicted after {escape_time:.3}); a larger t_max shows the escape",
                    shown_eps(eps),
                    states[i1].t
                ));
            }
        }
        points.push(FixedPoint {
            t: t_row,
            distance,
            resolved,
            eps,
            n_unstable: st.n_unstable,
            n_zero: st.n_zero,
            lambda_max: st.lambda_max,
            escape_time,
            time_spent,
            residual: c.residual,
            values: sys.values(&c.y),
            y: c.y,
            stability: c.stability,
            stability_free: c.stability_free,
        });
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    points.sort_by(|a, b| a.t.total_cmp(&b.t));
    if let Some(l) = &leading {
        notes.push(format!(
            "the state has {n} components ({} modes of {}): fixed points are sought in the \
             invariant subspace where the modes beyond the leading {} (by eigenvalue) vanish — \
             exact fixed points of the whole system, whose Jacobian there is block diagonal: the \
             leading block by finite differences, and for each vanishing mode its drift matrix \
             M(ρ_τ), whose eigenvalues are in the counts and λ_max (known exactly: zero modes \
             there within 1e-12 of the largest |λ|, as for modes of zero variance); distances \
             and escape times are over the leading modes and the biases (docs/theory.md §9)",
            l.vector.count, l.vector.len, l.modes
        ));
    } else if !hold.is_empty() {
        notes.push(format!(
            "the bulk's encoder block ({} components, moving at relative rate O(1/D)) was set to \
             zero and held: fixed points are sought in the invariant subspace without bulk \
             component, which the trajectory approaches as its signal outgrows the bulk \
             (|F| of the held components at the fixed points ≤ {held_drift:.1e}); distances and \
             stability are over the other components",
            hold.len()
        ));
    }
    Ok(Report {
        model: model.to_string(),
        lr,
        columns: sys.columns(),
        points,
        notes,
        plateaus: Vec::new(),
        specialisation: Vec::new(),
        trajectory: states,
    })
}

/// The analysis of a config's ODE (either model), from its initial state to `t_max`.
pub fn analyse_config(cfg: &Config) -> Result<Report> {
    analyse_config_with(cfg, false)
}

/// [`analyse_config`], with progress bars on stderr for the integration and Newton's
/// candidates when `show_progress` (the CLI, unless `--quiet`).
pub fn analyse_config_with(cfg: &Config, show_progress: bool) -> Result<Report> {
    match cfg.model {
        ModelKind::TeacherStudent => {
            let pb = TsProblem::from_config(cfg)?;
            let (sys, y0) = pb.system()?;
            let mut report = analyse(
                &sys,
                y0.clone(),
                cfg.t_max,
                pb.integrator,
                "teacher_student",
                cfg.lr,
                show_progress,
            )?;
            let mut notes = Vec::new();
            let found = specialisation(&sys, &y0, &report, pb.integrator, &mut notes);
            report.notes.append(&mut notes);
            match found {
                Ok(sp) => report.specialisation = sp,
                Err(e) => report.notes.push(format!(
                    "the students' linearised departure from their symmetric trajectory \
                     (docs/theory.md §9) could not be computed: {e}"
                )),
            }
            Ok(report)
        }
        ModelKind::Autoencoder => {
            let pb = Problem::from_config(cfg)?;
            let (sys, y0) = pb.ode_start()?;
            if sys.has_input_mean()
                && (sys.len() > DRIVEN_MAX
                    || crate::ode::driven::reduced_len(&sys) > DRIVEN_MAX_SUMS)
            {
                // every mode is driven: the spectrum is that of the whole dense Jacobian
                return Err(Error::Config {
                    key: "k".into(),
                    value: cfg.k.to_string(),
                    allowed: format!(
                        "a smaller k (if any) for the fixed-point analysis of images with their \
                         mean (ode.input_mean = \"exact\"): the mean drives every mode, so the \
                         Jacobian's spectrum is taken over the whole state, {} components here, \
                         at most {DRIVEN_MAX} (and {} sums of the order parameters, at most \
                         {DRIVEN_MAX_SUMS}); or data.center = true (analysed over the leading \
                         modes) or ode.input_mean = \"ignored\" (docs/theory.md §9)",
                        sys.len(),
                        crate::ode::driven::reduced_len(&sys)
                    ),
                });
            }
            // a large state is analysed over its leading modes when it is a vector form
            if sys.len() > DENSE_MAX
                && !sys.has_input_mean()
                && Leading::of(&sys, sys.len()).is_none()
            {
                if let Some(vm) = sys
                    .vector_modes()
                    .filter(|_| cfg.ode.form == FormName::Vector)
                {
                    // the K leading modes alone exceed the dense limit
                    return Err(Error::Config {
                        key: "k".into(),
                        value: cfg.k.to_string(),
                        allowed: format!(
                            "a smaller k for the fixed-point analysis: it keeps at least the K \
                             leading modes free, {} × {} components with the rest of the state {} \
                             in all, above its dense limit of {DENSE_MAX} (docs/theory.md §9)",
                            vm.needed.min(vm.count),
                            vm.len,
                            vm.needed.min(vm.count) * vm.len + (sys.len() - vm.count * vm.len)
                        ),
                    });
                }
                return Err(Error::Config {
                    key: "ode.form".into(),
                    value: format!("\"{}\" (a state of {} components)", cfg.ode.form, sys.len()),
                    allowed: format!(
                        "\"vector\" (a state of more than {DENSE_MAX} components is analysed in \
                         the invariant subspace of its leading modes, docs/theory.md §9) or a \
                         reduction (ode.reduction = \"spike_bulk\") for the fixed-point analysis"
                    ),
                });
            }
            let mut report = analyse(
                &sys,
                y0.clone(),
                cfg.t_max,
                pb.integrator,
                "autoencoder",
                cfg.lr,
                show_progress,
            )?;
            if sys.has_input_mean() {
                report.notes.push(
                    "the images keep their mean (ode.input_mean = \"exact\"), which drives every \
                     mode: fixed points and spectra are over the whole state (the Jacobian \
                     blockdiag(M(ρ_τ)) + U Vᵀ, docs/theory.md §9); the escapes of the principal \
                     components from the plateaus before them (saddle trajectories of zero-mean \
                     inputs, §6.2) do not apply and are not predicted"
                        .into(),
                );
                return Ok(report);
            }
            match plateau_escapes(&sys, &y0, &report, pb.integrator) {
                Ok(p) => report.plateaus = p,
                Err(e) => report.notes.push(format!(
                    "the linearised escapes from the plateaus (docs/theory.md §6.2) could not be \
                     computed: {e}"
                )),
            }
            Ok(report)
        }
    }
}

/// The students' departure from their permutation-symmetric trajectory at each of
/// [`DEPARTURE_LEVELS`], on the report's grid, next to the report's trajectory (empty when the
/// students are not exchangeable).
fn specialisation(
    sys: &TsSystem,
    y0: &DVector<f64>,
    report: &Report,
    opts: IntegratorOptions,
    notes: &mut Vec<String>,
) -> Result<Vec<Specialisation>> {
    if !sys.exchangeable() {
        return Ok(Vec::new());
    }
    let project = |y: &DVector<f64>| sys.symmetrised(y);
    let times: Vec<f64> = report.trajectory.iter().map(|s| s.t).collect();
    let deadline = std::time::Instant::now() + DEPARTURE_BUDGET;
    let dep = crate::ode::departure::linearised_departure(
        sys,
        y0,
        project,
        &times,
        opts,
        &DEPARTURE_LEVELS,
        Some(deadline),
    )?;
    if dep.out_of_time {
        notes.push(format!(
            "the linearised departure from the symmetric trajectory was integrated to t = {:.4} \
             within its budget of {} s (each step of the tangent costs several evaluations of F, \
             slow for quadrature activations or many units, and its steps shrink where F is not \
             smooth); levels it had not crossed by then have no predicted time",
            dep.times.last().copied().unwrap_or(f64::NAN),
            DEPARTURE_BUDGET.as_secs()
        ));
    }
    let predicted = dep.relative();
    let actual: Vec<f64> = report
        .trajectory
        .iter()
        .map(|s| {
            let p = project(&s.y);
            (&s.y - &p).norm() / p.norm().max(1e-300)
        })
        .collect();
    use crate::ode::departure::upward_crossing;
    let crossed: Vec<Option<f64>> = DEPARTURE_LEVELS
        .iter()
        .map(|&level| upward_crossing(&times, &actual, level))
        .collect();
    // a level the deviation starts above and never crosses upwards later has no time
    let never: Vec<String> = DEPARTURE_LEVELS
        .iter()
        .zip(&crossed)
        .filter(|&(&level, t)| t.is_none() && actual.first().is_some_and(|&a| a >= level))
        .map(|(level, _)| level.to_string())
        .collect();
    if !never.is_empty() {
        let (lowest, at) = actual
            .iter()
            .zip(&times)
            .min_by(|a, b| a.0.total_cmp(b.0))
            .map_or((f64::NAN, f64::NAN), |(a, t)| (*a, *t));
        let course = if lowest < actual[0] {
            format!("falls to {lowest:.3} (t = {at:.4}) and does not cross them upwards again")
        } else {
            "never falls below its start".to_string()
        };
        notes.push(format!(
            "the students' deviation from their permutation-symmetric trajectory starts at \
             {:.3}, above the level(s) {}, {course} by the end of the run (t = {:.4}): their \
             times are NaN",
            actual[0],
            never.join(", "),
            times.last().copied().unwrap_or(f64::NAN)
        ));
    }
    Ok(DEPARTURE_LEVELS
        .iter()
        .zip(crossed)
        .map(|(&level, ode)| {
            let pred = upward_crossing(&dep.times, &predicted, level);
            let (eps_symmetric, rate) = pred.map_or((f64::NAN, f64::NAN), |t| {
                let eps = dep.symmetric_at(t).map_or(f64::NAN, |y| sys.error(y));
                (eps, dep.rate_at(t))
            });
            Specialisation {
                level,
                predicted: pred.unwrap_or(f64::NAN),
                ode: ode.unwrap_or(f64::NAN),
                eps_symmetric,
                rate,
            }
        })
        .collect())
}

/// The linearised escape of every principal component the autoencoder can learn (vector modes,
/// at most K), on the report's grid, next to the report's trajectory.
fn plateau_escapes(
    sys: &OdeSystem,
    y0: &DVector<f64>,
    report: &Report,
    opts: IntegratorOptions,
) -> Result<Vec<PlateauEscape>> {
    let times: Vec<f64> = report.trajectory.iter().map(|s| s.t).collect();
    let eps: Vec<f64> = report.trajectory.iter().map(|s| sys.error(&s.y)).collect();
    (0..sys.vec_rho.len().min(sys.tr.k))
        .map(|mode| {
            let esc = crate::ode::escape::linearised_escape(sys, y0, mode, &times, opts)?;
            Ok(PlateauEscape::from_escape(sys, &esc, &times, &eps))
        })
        .collect()
}

impl PlateauEscape {
    /// The predictions of a linearised escape next to the crossings of a trajectory's error
    /// `eps` on `times` (the same levels, [`crate::ode::escape::escape_level`]).
    pub fn from_escape(
        sys: &OdeSystem,
        esc: &crate::ode::escape::Escape,
        times: &[f64],
        eps: &[f64],
    ) -> Self {
        use crate::ode::escape::{ESCAPE_FRACTION, crossing, escape_level};
        let at = |fraction: f64| {
            let level = escape_level(sys, esc.mode, fraction);
            let pred = esc.predicted(level).unwrap_or(f64::NAN);
            let actual = crossing(times, eps, level).unwrap_or(f64::NAN);
            (pred, actual)
        };
        let (escape_pred, escape_ode) = at(ESCAPE_FRACTION);
        let (mid_pred, mid_ode) = at(0.5);
        let (rate_saddle, eps_saddle) = if escape_pred.is_finite() {
            (
                esc.rate_at(sys, escape_pred),
                sys.error(esc.saddle_at(escape_pred)),
            )
        } else {
            (f64::NAN, f64::NAN)
        };
        PlateauEscape {
            pc: esc.mode + 1,
            rate_start: esc.rate_start,
            rate_saddle,
            eps_saddle,
            escape_pred,
            escape_ode,
            mid_pred,
            mid_ode,
        }
    }

    /// `rate_start, rate_saddle, eps_saddle, escape_pred, escape_ode, mid_pred, mid_ode`
    pub fn values(&self) -> [f64; 7] {
        [
            self.rate_start,
            self.rate_saddle,
            self.eps_saddle,
            self.escape_pred,
            self.escape_ode,
            self.mid_pred,
            self.mid_ode,
        ]
    }
}

impl Report {
    /// `pc,rate_start,rate_saddle,eps_saddle,escape_pred,escape_ode,mid_pred,mid_ode` per
    /// principal component ([`PlateauEscape`]); `None` when there are none.
    pub fn plateaus_csv(&self) -> Option<String> {
        use std::fmt::Write;
        if self.plateaus.is_empty() {
            return None;
        }
        let mut s = String::from(
            "pc,rate_start,rate_saddle,eps_saddle,escape_pred,escape_ode,mid_pred,mid_ode\n",
        );
        for p in &self.plateaus {
            let _ = write!(s, "{}", p.pc);
            for v in p.values() {
                let _ = write!(s, ",{v:.10e}");
            }
            s.push('\n');
        }
        Some(s)
    }

    /// `level,t_pred,t_ode,eps_symmetric,rate` per departure level ([`Specialisation`]); `None`
    /// when there are none.
    pub fn specialisation_csv(&self) -> Option<String> {
        use std::fmt::Write;
        if self.specialisation.is_empty() {
            return None;
        }
        let mut s = String::from("level,t_pred,t_ode,eps_symmetric,rate\n");
        for p in &self.specialisation {
            let _ = writeln!(
                s,
                "{},{:.10e},{:.10e},{:.10e},{:.10e}",
                p.level, p.predicted, p.ode, p.eps_symmetric, p.rate
            );
        }
        Some(s)
    }

    /// `t,eps,n_unstable,lambda_max,escape_time,time_spent,n_zero,lambda_max_per_lr,residual,distance,resolved`,
    /// then the order parameters of the fixed point (ε and the order parameters to 17 digits).
    pub fn csv(&self) -> String {
        use std::fmt::Write;
        let mut s = String::from(
            "t,eps,n_unstable,lambda_max,escape_time,time_spent,n_zero,lambda_max_per_lr,residual,distance,resolved",
        );
        for c in &self.columns {
            let _ = write!(s, ",{c}");
        }
        s.push('\n');
        for p in &self.points {
            let _ = write!(
                s,
                "{:.6e},{:.16e},{},{:.10e},{:.6e},{:.6e},{},{:.10e},{:.3e},{:.3e},{}",
                p.t,
                shown_eps(p.eps),
                p.n_unstable,
                p.lambda_max,
                p.escape_time,
                p.time_spent,
                p.n_zero,
                p.lambda_max / self.lr,
                p.residual,
                p.distance,
                u8::from(p.resolved)
            );
            // full precision: the point is refined to |F| < 1e-12, and re-evaluating a formula at
            // rounded order parameters can leave its domain (a correlation of −1 − 1e-12)
            for v in &p.values {
                let _ = write!(s, ",{v:.16e}");
            }
            s.push('\n');
        }
        s
    }

    /// Human-readable summary.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "{} fixed point(s) of the {} ODE found from its trajectory's slow points and end state \
             (Newton to |F| < {:e}; t: when the trajectory is closest):\n",
            self.points.len(),
            self.model,
            NEWTON_TOL
        );
        let _ = writeln!(
            s,
            "{:>10} {:>12} {:>6} {:>5} {:>12} {:>12} {:>12} {:>12}",
            "t", "eps", "unst.", "zero", "lambda_max", "λmax/lr", "escape_t", "time_near"
        );
        for p in &self.points {
            let eps = shown_eps(p.eps);
            let mark = if p.resolved { "" } else { "?" };
            let _ = writeln!(
                s,
                "{:>10.3} {:>12.7} {:>6} {:>5} {:>12.4e} {:>12.6} {:>12.3} {:>12.3}",
                p.t,
                eps,
                format!("{}{mark}", p.n_unstable),
                format!("{}{mark}", p.n_zero),
                p.lambda_max,
                p.lambda_max / self.lr,
                p.escape_time,
                p.time_spent
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        if !self.specialisation.is_empty() {
            let _ = writeln!(
                s,
                "\nSpecialisation (docs/theory.md §9): the students' deviation from their \
                 permutation-symmetric trajectory\n(the start averaged over permutations of the \
                 students), linearised along it, against the trajectory's own |y − Py|/|Py|:"
            );
            let _ = writeln!(
                s,
                "{:>8} {:>10} {:>10} {:>11} {:>10}",
                "level", "t_pred", "t_ode", "ε_sym", "rate"
            );
            for p in &self.specialisation {
                let _ = writeln!(
                    s,
                    "{:>8} {:>10.3} {:>10.3} {:>11.7} {:>10.5}",
                    p.level, p.predicted, p.ode, p.eps_symmetric, p.rate
                );
            }
        }
        if !self.plateaus.is_empty() {
            let _ = writeln!(
                s,
                "\nEscapes of sequential learning (docs/theory.md §6.2): PC τ's growth linearised along \
                 its saddle trajectory\n(the start with PCs τ, τ+1, … removed); escape = the error \
                 falls {} of PC τ's share ρ_τ/2D below ε_PCA(τ−1), mid = half of it:",
                crate::ode::escape::ESCAPE_FRACTION
            );
            let _ = writeln!(
                s,
                "{:>4} {:>10} {:>10} {:>11} {:>10} {:>10} {:>10} {:>10}",
                "PC", "λ(0)", "λ_saddle", "ε_saddle", "esc_pred", "esc_ode", "mid_pred", "mid_ode"
            );
            for p in &self.plateaus {
                let [r0, rs, e, ep, eo, mp, mo] = p.values();
                let _ = writeln!(
                    s,
                    "{:>4} {r0:>10.5} {rs:>10.5} {e:>11.6} {ep:>10.3} {eo:>10.3} {mp:>10.3} {mo:>10.3}",
                    p.pc
                );
            }
            // say what a NaN means
            for p in &self.plateaus {
                let mut why = Vec::new();
                if p.escape_pred.is_nan() {
                    why.push(
                        "the linearised growth does not bring ε to the escape level by t_max \
                         (λ_saddle and ε_saddle are taken at the predicted escape)",
                    );
                }
                if p.escape_ode.is_nan() {
                    why.push("the trajectory does not reach the escape level by t_max");
                }
                if !why.is_empty() {
                    let _ = writeln!(s, "note: PC {}: {}", p.pc, why.join("; "));
                }
            }
        }
        s
    }
}
