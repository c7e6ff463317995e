//! The ODE problem: state layout, order parameters from the state, and the right-hand side.

use super::drift::{Drift, KernelValues};
use crate::activation::{Activation, Integral};
use crate::error::{Error, Result};
use crate::model::{Algorithm, Training};
use crate::order::{ModeDensity, OrderParams, add_field_mean_sums};
use nalgebra::DVector;
use std::ops::Range;

/// The smallest state (components) that [`super::halves`] integrates in two parts on two
/// threads: below it the exchanges between the threads (about 0.4 µs each, one per
/// right-hand side) cost more than half a right-hand side saves.
pub const HALVES_MIN_LEN: usize = 2048;

/// How each mode is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Vector form (a): `y_τ = (w_τ, v̂_τ)` per mode (exactly rank one; the default).
    Vector,
    /// Density form (b): `P_τ = y_τ y_τᵀ` per mode (the paper's q, r, t).
    Density,
    /// The paper's regression form: the density state of [`Form::Density`], with the x_τ-averages
    /// of the encoder and decoder drifts written by Gaussian regression onto the local fields
    /// (integrals I21, I22, I3, J2), dividing by `Q^kk T^kk − (R^kk)²` and
    /// `Q^kk Q^mm − (Q^km)²` (docs/theory.md §5.6). Untied autoencoders only.
    Paper,
}

/// Which modes are tracked one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Every eigenmode of Ω.
    Full,
    /// The leading `spikes` modes one by one; all other modes aggregated into one density block
    /// evolving with their mean eigenvalue (exact when the bulk eigenvalue is shared).
    SpikeBulk { spikes: usize },
}

impl Reduction {
    /// How many of the `d` modes are tracked one by one (the rest form the bulk block).
    pub fn single_modes(self, d: usize) -> usize {
        match self {
            Reduction::Full => d,
            Reduction::SpikeBulk { spikes } => spikes.min(d),
        }
    }
}

/// An ODE state with the time it belongs to.
#[derive(Clone, Debug)]
pub struct OdeState {
    pub t: f64,
    pub y: DVector<f64>,
}

/// Buffers for the order parameters of a state.
struct OrderScratch {
    o: OrderParams,
    /// `S_ρ` of the order parameters; in the RHS reused as the product `MP` of a density block
    s_rho: Vec<f64>,
    s_one: Vec<f64>,
    /// n×n scratch (scaled block; in the RHS the drift matrix of a block)
    m: Vec<f64>,
}

/// Buffers of one right-hand-side evaluation, reused across calls.
pub struct RhsWorkspace {
    order: OrderScratch,
    kv: KernelValues,
    dr: Drift,
    /// Why the last right-hand side could not be evaluated (the regression form's vanishing
    /// determinants), if so.
    pub failure: Option<String>,
}

/// The ODE system of one activation, training set-up and spectrum.
pub struct OdeSystem<'a> {
    pub act: &'a dyn Activation,
    pub tr: Training,
    /// input dimension D (enters the scalings ρ/D, ρ/√D)
    pub d: usize,
    /// per-mode dimension: 2K untied, K tied
    pub n: usize,
    /// eigenvalues of the modes kept as vectors
    pub vec_rho: Vec<f64>,
    /// `ρ_τ/D` of the modes kept as vectors
    vec_c: Vec<f64>,
    /// eigenvalue of each density block
    pub block_rho: Vec<f64>,
    /// `TrΩ/(2D)`
    pub half_trace: f64,
    /// Number of leading density blocks that hold a single mode (`P_τ = y_τ y_τᵀ`).
    single_blocks: usize,
    /// Keep single-mode density blocks on the rank-one manifold (see [`OdeSystem::rhs_with`]).
    /// True by default, for states from concrete weights; [`OdeSystem::typical_state`] describes
    /// an ensemble average (full rank) and needs it off.
    pub rank_one_modes: bool,
    /// The drift of the x_τ-averages by Gaussian regression ([`Form::Paper`]).
    regression: bool,
    /// The inputs' mean `μ_τ` along each vector mode (empty for zero-mean inputs;
    /// [`OdeSystem::with_input_mean`])
    mean: Vec<f64>,
}

/// Adds `Σ (ρ/D) y yᵀ` and `Σ y yᵀ` of vector modes to the order parameters.
fn add_sums(o: &mut OrderParams, s_rho: &[f64], s_one: &[f64], k: usize, tied: bool, df: f64) {
    let n = if tied { k } else { 2 * k };
    for a in 0..k {
        for b in 0..k {
            if tied {
                o.q[a * k + b] += s_rho[a * n + b];
                o.t0[a * k + b] += s_one[a * n + b] / df;
                o.t[a * k + b] += s_rho[a * n + b] / df;
            } else {
                o.q[a * k + b] += s_rho[a * n + b];
                o.r[a * k + b] += s_rho[(k + a) * n + b];
                o.t0[a * k + b] += s_one[(k + a) * n + (k + b)];
                o.t[a * k + b] += s_rho[(k + a) * n + (k + b)];
            }
        }
    }
}

/// Rank-one constraint stabilisation of a single-mode density block. `P = y yᵀ` is exactly
/// preserved by `dP/dt = MP + PMᵀ`, but the flow is unstable off that manifold: at the learned
/// fixed point a direction `u` with `Mu = σu`, `σ > 0`, lets a round-off component `u uᵀ` grow
/// like `e^{2σt}` (with the wrong sign it drives ε negative), a component no single mode can have.
/// With `j = argmax_i P_ii`, the Schur complement `S(P) = P − P_{:j} P_{j:} / P_jj` is zero exactly
/// when P has rank one, and `dS/dt ∋ −γS` for the added term `dP/dt −= γ S(P)` (since `S e_j = 0`
/// and `S_jj = 0`). With `γ = 4‖M‖_∞ ≥ 2·(growth rate of u uᵀ)` deviations decay; on the manifold
/// the term is zero, so rank-one solutions are those of the paper's equations.
fn stabilise_rank_one(p: &[f64], m: &[f64], dp: &mut [f64], n: usize) {
    let Some(j) = (0..n).max_by(|&a, &b| p[a * n + a].total_cmp(&p[b * n + b])) else {
        return;
    };
    let pjj = p[j * n + j];
    if pjj.is_nan() || pjj <= 0.0 {
        return;
    }
    let norm = (0..n)
        .map(|i| m[i * n..(i + 1) * n].iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let gamma = 4.0 * norm;
    for i in 0..n {
        for l in 0..n {
            let schur = p[i * n + l] - p[i * n + j] * p[j * n + l] / pjj;
            dp[i * n + l] -= gamma * schur;
        }
    }
}

/// The integrals the ODE needs for a training set-up.
pub fn needed_integrals(tr: &Training) -> Vec<Integral> {
    let mut v = vec![Integral::Dg, Integral::GG1, Integral::I2];
    if tr.algorithm != Algorithm::Sanger {
        v.extend([
            Integral::D3g,
            Integral::DgDg1,
            Integral::D2gG1,
            Integral::DgDg,
            Integral::D2gG,
        ]);
    }
    if tr.bias {
        v.extend([Integral::D2g, Integral::DgG1, Integral::DgG]);
    }
    v
}

impl<'a> OdeSystem<'a> {
    /// Builds the layout for a spectrum (sorted decreasing). Fails when the activation leaves an
    /// ODE kernel undefined (e.g. sign: `E[g'(λ)²] = E[4δ(λ)²]`).
    pub fn new(
        act: &'a dyn Activation,
        tr: Training,
        rho: &[f64],
        form: Form,
        reduction: Reduction,
    ) -> Result<Self> {
        for need in needed_integrals(&tr) {
            if let Some(why) = act.undefined_reason(need) {
                return Err(Error::NoOde {
                    activation: act.name().to_string(),
                    message: format!(
                        "{} = {} is {why}",
                        need.name(),
                        act.formulas()[need.index()].definition
                    ),
                });
            }
        }
        if let Some(why) = act.quadrature_rule().and_then(|r| r.refusal.as_deref()) {
            return Err(Error::NoOde {
                activation: act.name().to_string(),
                message: why.to_string(),
            });
        }
        if form == Form::Paper && tr.tied {
            return Err(crate::error::config_err(
                "ode.form",
                "\"paper\"",
                "the paper's regression form is written for untied autoencoders: use `vector` or `density`",
            ));
        }
        let d = rho.len();
        let n = if tr.tied { tr.k } else { 2 * tr.k };
        let split = reduction.single_modes(d);
        let (head, bulk) = rho.split_at(split);
        let mut vec_rho = Vec::new();
        let mut block_rho = Vec::new();
        match form {
            Form::Vector => vec_rho.extend_from_slice(head),
            Form::Density | Form::Paper => block_rho.extend_from_slice(head),
        }
        if !bulk.is_empty() {
            block_rho.push(bulk.iter().sum::<f64>() / bulk.len() as f64);
        }
        let half_trace = rho.iter().sum::<f64>() / (2.0 * d as f64);
        let vec_c = vec_rho.iter().map(|r| r / d as f64).collect();
        Ok(OdeSystem {
            act,
            tr,
            d,
            n,
            vec_rho,
            vec_c,
            block_rho,
            half_trace,
            single_blocks: if form == Form::Vector { 0 } else { head.len() },
            rank_one_modes: true,
            regression: form == Form::Paper,
            mean: Vec::new(),
        })
    }

    /// The system for inputs `x ~ N(μ, C)` with a mean: `rho` given to [`OdeSystem::new`] are the
    /// eigenvalues of the covariance C and `mean[τ] = μ·e_τ` the mean's components along its
    /// eigenvectors (docs/theory.md §5.10). Every mode must be tracked as a vector (the default
    /// vector form with `Reduction::Full`): the mean drives each mode in proportion to `μ_τ`,
    /// which a density block (and a bulk aggregate) cannot carry.
    pub fn with_input_mean(mut self, mean: &[f64]) -> Result<Self> {
        if !self.block_rho.is_empty() || mean.len() != self.vec_rho.len() {
            let why = "for images that keep a mean (the mean drives every mode in proportion to \
                       its component μ_τ, which a density block cannot carry); or \
                       data.center = true, or ode.input_mean = \"ignored\"";
            let (key, value, allowed) = if self.single_blocks > 0 || self.vec_rho.is_empty() {
                let form = if self.regression { "paper" } else { "density" };
                ("ode.form", format!("\"{form}\""), "\"vector\"")
            } else {
                ("ode.reduction", "\"spike_bulk\"".into(), "\"full\"")
            };
            return Err(crate::error::config_err(
                key,
                value,
                &format!("{allowed} {why}"),
            ));
        }
        // the kernels the mean adds (its drive, the bias-type drift terms)
        for need in [Integral::G, Integral::D2g, Integral::DgG1, Integral::DgG] {
            if let Some(why) = self.act.undefined_reason(need) {
                return Err(Error::NoOde {
                    activation: self.act.name().to_string(),
                    message: format!(
                        "{} = {} is {why} (needed for the images' mean: ode.input_mean = \
                         \"ignored\" or data.center = true avoid it)",
                        need.name(),
                        self.act.formulas()[need.index()].definition
                    ),
                });
            }
        }
        let sq: f64 = mean.iter().map(|m| m * m).sum();
        self.half_trace += sq / (2.0 * self.d as f64);
        self.mean = mean.to_vec();
        Ok(self)
    }

    /// Whether the inputs have a mean the ODE tracks ([`OdeSystem::with_input_mean`]).
    pub fn has_input_mean(&self) -> bool {
        !self.mean.is_empty()
    }

    pub fn len(&self) -> usize {
        self.vec_rho.len() * self.n + self.block_rho.len() * self.n * self.n + self.tr.k
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn beta_offset(&self) -> usize {
        self.len() - self.tr.k
    }

    /// Initial state from weights in the eigenbasis (`we`, `ve`: K×D row-major; bulk modes
    /// beyond the split are summed into the block). Shares the finite-D initial overlaps with SGD.
    pub fn state_from_weights(&self, we: &[f64], ve: &[f64], beta: &[f64]) -> DVector<f64> {
        let (k, n, d) = (self.tr.k, self.n, self.d);
        let tied = self.tr.tied;
        let sqrt_d = (d as f64).sqrt();
        let mode = |tau: usize| -> Vec<f64> {
            let mut y = vec![0.0; n];
            for u in 0..k {
                y[u] = we[u * d + tau];
                if !tied {
                    y[k + u] = ve[u * d + tau] / sqrt_d;
                }
            }
            y
        };
        let mut y = DVector::zeros(self.len());
        let nv = self.vec_rho.len();
        for tau in 0..nv {
            y.rows_mut(tau * n, n).copy_from_slice(&mode(tau));
        }
        // per-mode blocks, then an aggregated bulk block if present
        let base = nv * n;
        let n_blocks = self.block_rho.len();
        let per_mode_blocks = if nv + n_blocks > d { d - nv } else { n_blocks };
        let aggregated = nv + per_mode_blocks < d;
        let singles = if aggregated { n_blocks - 1 } else { n_blocks };
        for b in 0..singles {
            let m = mode(nv + b);
            for i in 0..n {
                for j in 0..n {
                    y[base + b * n * n + i * n + j] = m[i] * m[j];
                }
            }
        }
        if aggregated {
            let off = base + singles * n * n;
            for tau in nv + singles..d {
                let m = mode(tau);
                for i in 0..n {
                    for j in 0..n {
                        y[off + i * n + j] += m[i] * m[j];
                    }
                }
            }
        }
        let bo = self.beta_offset();
        for u in 0..k {
            y[bo + u] = beta[u];
        }
        y
    }

    /// Typical initial conditions (density form only): `q_τ = σ0² I`, `v̂` block `σ0²/D · I`
    /// (so `T0 = σ0² I`), `r_τ = 0`, β = 0. Blocks that aggregate several modes get their count.
    /// These blocks are ensemble averages, not rank one: integrate them with
    /// `rank_one_modes = false`.
    pub fn typical_state(&self, init_std: f64) -> Result<DVector<f64>> {
        if !self.vec_rho.is_empty() {
            return Err(crate::error::config_err(
                "ode.initial",
                "\"typical\"",
                "typical initial conditions need the density form (`ode.form = \"density\"`)",
            ));
        }
        let (k, n) = (self.tr.k, self.n);
        let tied = self.tr.tied;
        let s2 = init_std * init_std;
        let d = self.d;
        let mut y = DVector::zeros(self.len());
        let nb = self.block_rho.len();
        for b in 0..nb {
            let count = if b == nb - 1 && nb < d {
                (d - (nb - 1)) as f64
            } else {
                1.0
            };
            for u in 0..k {
                y[b * n * n + u * n + u] = count * s2;
                if !tied {
                    y[b * n * n + (k + u) * n + (k + u)] = count * s2 / d as f64;
                }
            }
        }
        Ok(y)
    }

    /// The order parameters of a state (docs/theory.md §3).
    pub fn order_params(&self, y: &DVector<f64>) -> OrderParams {
        let mut scratch = self.order_scratch();
        self.order_params_into(y, &mut scratch, true);
        scratch.o
    }

    fn order_scratch(&self) -> OrderScratch {
        let n = self.n;
        OrderScratch {
            o: OrderParams::zeros(self.tr.k),
            s_rho: vec![0.0; n * n],
            s_one: vec![0.0; n * n],
            m: vec![0.0; n * n],
        }
    }

    /// Buffers for [`OdeSystem::rhs_with`].
    pub fn workspace(&self) -> RhsWorkspace {
        RhsWorkspace {
            order: self.order_scratch(),
            kv: KernelValues::zeros(self.tr.k),
            dr: Drift::zeros(&self.tr),
            failure: None,
        }
    }

    /// The order parameters of `y` into `scratch.o`.
    /// Without `with_t`, T may miss the vector modes' share (the right-hand side of the vector
    /// form does not use it).
    fn order_params_into(&self, y: &DVector<f64>, scratch: &mut OrderScratch, with_t: bool) {
        let (k, n) = (self.tr.k, self.n);
        let tied = self.tr.tied;
        let df = self.d as f64;
        let OrderScratch {
            o, s_rho, s_one, m, ..
        } = scratch;
        for v in [&mut o.q, &mut o.r, &mut o.t0, &mut o.t] {
            v.fill(0.0);
        }
        // vector modes: accumulate Σ_τ c_τ y_τ y_τᵀ for the two weights c = ρ/D and 1 (hot path)
        let nv = self.vec_rho.len();
        if nv > 0 {
            s_rho.fill(0.0);
            s_one.fill(0.0);
            let ys = &y.as_slice()[..nv * n];
            if tied {
                super::modes::accumulate_sums(ys, &self.vec_c, n, 0, s_rho, s_one);
            } else {
                // only the blocks of Q, R, T and T0 (S_1's decoder block)
                super::modes::accumulate_untied_sums(ys, &self.vec_c, k, with_t, s_rho, s_one);
            }
            add_sums(o, s_rho, s_one, k, tied, df);
        }
        let base = self.vec_rho.len() * n;
        for (b, &rho) in self.block_rho.iter().enumerate() {
            let block = &y.as_slice()[base + b * n * n..base + (b + 1) * n * n];
            for (scaled, p) in m.iter_mut().zip(block) {
                *scaled = rho / df * p;
            }
            add_sums(o, m, block, k, tied, df);
        }
        if tied {
            o.set_tied_r(self.d);
        }
        let bo = self.beta_offset();
        for u in 0..k {
            o.beta[u] = y[bo + u];
        }
        if !self.mean.is_empty() {
            let (ys, sqrt_d) = (y.as_slice(), df.sqrt());
            let w = |u: usize, tau: usize| ys[tau * n + u];
            if tied {
                o.set_field_means(&self.mean, w, |u, tau| w(u, tau) / sqrt_d);
            } else {
                o.set_field_means(&self.mean, w, |u, tau| ys[tau * n + k + u]);
            }
        }
    }

    /// The state in which hidden unit u's encoder (and decoder, if untied) lie along spike
    /// `place[u].0` (a mode tracked as a vector, 0 = the largest) with sign `place[u].1`:
    /// `w_u = s·w·e_τ`, `v̂_u = s·v·e_τ`; everything else zero (no bulk component, β = 0). A start
    /// for Newton's method towards the fixed points where each unit sits on one principal
    /// component (pairs, half-variance solutions). `None` if a spike is not tracked as a vector.
    pub fn aligned_state(&self, place: &[(usize, f64)], w: f64, v: f64) -> Option<DVector<f64>> {
        let (k, n) = (self.tr.k, self.n);
        if place.len() != k || place.iter().any(|&(tau, _)| tau >= self.vec_rho.len()) {
            return None;
        }
        let mut y = DVector::zeros(self.len());
        for (u, &(tau, sign)) in place.iter().enumerate() {
            y[tau * n + u] = sign * w;
            if !self.tr.tied {
                y[tau * n + k + u] = sign * v;
            }
        }
        Some(y)
    }

    /// The state components that move at relative rate O(1/D), constant in the limit D → ∞: for
    /// untied weights the encoder block `P_ww` of each aggregated bulk block (its drift is
    /// `(ρ/D)(M1 P + P M1ᵀ)_ww`, since M0 acts on the decoder rows only), which carries the bulk's
    /// share `(ρ/D) P_ww` of Q. Empty for tied weights (there `M(ρ)` has a term ∝ ρ).
    pub fn slow_components(&self) -> Vec<usize> {
        if self.tr.tied {
            return Vec::new();
        }
        let (k, n) = (self.tr.k, self.n);
        let base = self.vec_rho.len() * n;
        (self.single_blocks..self.block_rho.len())
            .flat_map(|b| {
                let off = base + b * n * n;
                (0..k).flat_map(move |i| (0..k).map(move |j| off + i * n + j))
            })
            .collect()
    }

    /// Number of leading modes (by decreasing eigenvalue) tracked one by one, whose densities
    /// [`OdeSystem::mode_densities`] can report.
    pub fn single_modes(&self) -> usize {
        self.vec_rho.len() + self.single_blocks
    }

    /// The densities `q_τ, r_τ, t_τ` (docs/theory.md §3) of the first `modes` individually tracked modes
    /// (at most [`OdeSystem::single_modes`]).
    pub fn mode_densities(&self, y: &DVector<f64>, modes: usize) -> Vec<ModeDensity> {
        let (k, n) = (self.tr.k, self.n);
        let tied = self.tr.tied;
        let sqrt_d = (self.d as f64).sqrt();
        let ys = y.as_slice();
        let nv = self.vec_rho.len();
        (0..modes.min(self.single_modes()))
            .map(|tau| {
                if tau < nv {
                    let m = &ys[tau * n..(tau + 1) * n];
                    let vhat: Vec<f64> = if tied {
                        m.iter().map(|w| w / sqrt_d).collect()
                    } else {
                        m[k..].to_vec()
                    };
                    ModeDensity::from_components(&m[..k], &vhat)
                } else {
                    let off = nv * n + (tau - nv) * n * n;
                    let p = |i: usize, j: usize| ys[off + i * n + j];
                    let mut md = ModeDensity::zeros(k);
                    for a in 0..k {
                        for b in 0..k {
                            let q = p(a, b);
                            md.q[a * k + b] = q;
                            (md.r[a * k + b], md.t[a * k + b]) = if tied {
                                (q / sqrt_d, q / (sqrt_d * sqrt_d))
                            } else {
                                (p(k + a, b), p(k + a, k + b))
                            };
                        }
                    }
                    md
                }
            })
            .collect()
    }

    /// Replaces every density block `P` of `y` by `(P + Pᵀ)/2`: the projection onto the states the
    /// dynamics can reach (densities are symmetric), used by Newton's method, whose steps are
    /// otherwise free to leave it.
    pub fn symmetrise(&self, y: &mut DVector<f64>) {
        let n = self.n;
        let base = self.vec_rho.len() * n;
        for b in 0..self.block_rho.len() {
            let block = &mut y.as_mut_slice()[base + b * n * n..base + (b + 1) * n * n];
            for i in 0..n {
                for j in i + 1..n {
                    let m = 0.5 * (block[i * n + j] + block[j * n + i]);
                    block[i * n + j] = m;
                    block[j * n + i] = m;
                }
            }
        }
    }

    /// The generalisation error of a state.
    pub fn error(&self, y: &DVector<f64>) -> f64 {
        self.order_params(y).error(self.act, self.half_trace)
    }

    /// The weights of `M1` and `M2` in `M(ρ) = M0 + c1·M1 + c2·M2` per unit of ρ:
    /// `(1/D, 0)` untied, `(1/√D, 1)` tied (docs/theory.md §5.2, §5.4).
    fn drift_scales(&self) -> (f64, f64) {
        let df = self.d as f64;
        if self.tr.tied {
            (1.0 / df.sqrt(), 1.0)
        } else {
            (1.0 / df, 0.0)
        }
    }

    /// The drift coefficients `M0, M1, M2` (and dβ/dt) at `y` into `ws` (T in the order
    /// parameters only if `with_t`: the one drift that reads it is the regression form's).
    fn fill_drift(&self, y: &DVector<f64>, ws: &mut RhsWorkspace, with_t: bool) {
        self.order_params_into(y, &mut ws.order, with_t);
        self.drift_from_order_params(ws);
    }

    /// The kernels and drift coefficients of the order parameters in `ws.order.o`.
    fn drift_from_order_params(&self, ws: &mut RhsWorkspace) {
        let has_mean = self.has_input_mean();
        ws.kv.fill(self.act, &ws.order.o, self.tr.bias || has_mean);
        if has_mean {
            ws.kv.fill_g(self.act, &ws.order.o);
        }
        ws.dr.fill(
            &self.tr,
            &ws.order.o,
            &ws.kv,
            has_mean.then_some(self.d as f64),
        );
    }

    /// The drift coefficients `dr` with the weights by which ρ enters `M(ρ)`.
    fn drift_matrices<'w>(&self, dr: &'w Drift) -> super::modes::DriftMatrices<'w> {
        let (scale1, scale2) = self.drift_scales();
        super::modes::DriftMatrices {
            m0: &dr.m0,
            m1: &dr.m1,
            m2: &dr.m2,
            scale1,
            scale2,
        }
    }

    /// The drift matrix `M(ρ)` of a mode with eigenvalue `rho` at the state `y` (docs/theory.md
    /// §5.2): `dy_τ/dt = M(ρ_τ) y_τ` for every mode kept as a vector, with
    /// `M(ρ) = M0 + (ρ/D)·M1` untied and `M0 + (ρ/√D)·M1 + ρ·M2` tied. Exact and linear in `y_τ`
    /// given the global order parameters, so a mode whose own share of them is negligible grows
    /// or decays with the eigenvalues of this matrix (the escape from a plateau, §6.2).
    pub fn mode_drift(&self, y: &DVector<f64>, rho: f64) -> nalgebra::DMatrix<f64> {
        let mut ws = self.workspace();
        self.fill_drift(y, &mut ws, false);
        let mut m = vec![0.0; self.n * self.n];
        self.drift_matrices(&ws.dr).at(rho, &mut m);
        nalgebra::DMatrix::from_row_slice(self.n, self.n, &m)
    }

    /// The eigenvalues of the drift matrices `M(ρ_τ)` ([`OdeSystem::mode_drift`]) of the vector
    /// modes `modes` at the state `y`, all together (NaN for a matrix whose real Schur form does
    /// not converge). Where those modes vanish and no input mean drives them, they are the
    /// Jacobian's eigenvalues along them: `dy_τ/dt = M(ρ_τ) y_τ` and the order parameters are
    /// quadratic in `y_τ` (docs/theory.md §9).
    pub fn mode_spectra(
        &self,
        y: &DVector<f64>,
        modes: Range<usize>,
    ) -> Vec<nalgebra::Complex<f64>> {
        let mut ws = self.workspace();
        self.fill_drift(y, &mut ws, false);
        let matrices = self.drift_matrices(&ws.dr);
        let n = self.n;
        let mut m = vec![0.0; n * n];
        let mut out = Vec::with_capacity(modes.len() * n);
        for &rho in &self.vec_rho[modes] {
            matrices.at(rho, &mut m);
            let block = nalgebra::DMatrix::from_row_slice(n, n, &m);
            match nalgebra::linalg::Schur::try_new(block, f64::EPSILON, 10_000) {
                Some(schur) => out.extend(schur.complex_eigenvalues().iter().copied()),
                None => out.extend(std::iter::repeat_n(
                    nalgebra::Complex::new(f64::NAN, 0.0),
                    n,
                )),
            }
        }
        out
    }

    /// `dz = M(ρ) z` (one mode's drift, [`OdeSystem::mode_drift`]) at the state last passed to
    /// [`OdeSystem::rhs_with`] with the same workspace; no allocation.
    pub fn apply_mode_drift(&self, ws: &RhsWorkspace, rho: f64, z: &[f64], dz: &mut [f64]) {
        super::modes::apply_drift(z, dz, &[rho], self.n, &self.drift_matrices(&ws.dr));
    }

    /// `dy_τ = M(ρ_τ) y_τ + μ_τ c` for the vector modes `modes` (`ys`, `dys`: their components).
    fn drift_modes(&self, modes: Range<usize>, ys: &[f64], dys: &mut [f64], dr: &Drift) {
        let n = self.n;
        let matrices = self.drift_matrices(dr);
        let rho = &self.vec_rho[modes.clone()];
        if self.tr.tied {
            super::modes::apply_drift(ys, dys, rho, n, &matrices);
        } else {
            super::modes::apply_untied_drift(ys, dys, rho, self.tr.k, &matrices);
        }
        // an input mean drives each mode in proportion to its component: + μ_τ c
        if !self.mean.is_empty() {
            for (dy, &mu) in dys.chunks_exact_mut(n).zip(&self.mean[modes]) {
                for (dv, c) in dy.iter_mut().zip(&dr.c) {
                    *dv += mu * c;
                }
            }
        }
    }

    /// Where the state splits into the two parts that [`super::halves`] integrates on two
    /// threads: the first component of part 1, when the system is the vector form over every
    /// mode (no density block, not the regression form) with at least [`HALVES_MIN_LEN`]
    /// components. Part 0 holds the modes `0..nv/2`, part 1 the modes `nv/2..nv` and the biases.
    pub(crate) fn halves_split(&self) -> Option<usize> {
        let nv = self.vec_rho.len();
        let eligible = self.block_rho.is_empty() && !self.regression && nv >= 2;
        (eligible && self.len() >= HALVES_MIN_LEN).then_some((nv / 2) * self.n)
    }

    /// The vector modes of part `part` ([`OdeSystem::halves_split`]).
    fn part_modes(&self, part: usize) -> Range<usize> {
        let (nv, mid) = (self.vec_rho.len(), self.vec_rho.len() / 2);
        if part == 0 { 0..mid } else { mid..nv }
    }

    /// Length of a part's sums ([`OdeSystem::part_sums`]): `S_ρ`, `S_1` (n×n each), the fields'
    /// mean sums `Σ_τ w^k_τ μ_τ`, `Σ_τ v̂^k_τ μ_τ` and the biases β (K each).
    pub(crate) fn part_sums_len(&self) -> usize {
        2 * self.n * self.n + 3 * self.tr.k
    }

    /// Part `part`'s share of the sums the order parameters are made of (`y`: the part's
    /// components): `S_ρ = Σ_τ (ρ_τ/D) y_τ y_τᵀ`, `S_1 = Σ_τ y_τ y_τᵀ` over its modes (the blocks
    /// the right-hand side uses), the fields' mean sums, and β in the part that holds it; added
    /// over the parts they are what [`OdeSystem::drift_from_sums`] takes.
    pub(crate) fn part_sums(&self, part: usize, y: &[f64], out: &mut [f64]) {
        let modes = self.part_modes(part);
        let len = modes.len() * self.n;
        self.modes_sums(modes, &y[..len], out);
        if part == 1 {
            let k = self.tr.k;
            let at = out.len() - k;
            out[at..].copy_from_slice(&y[len..]);
        }
    }

    /// The share of the vector modes `modes` (`ys`: their components) in the sums of
    /// [`OdeSystem::part_sums`] (β left at zero), overwriting `out`.
    pub(crate) fn modes_sums(&self, modes: Range<usize>, ys: &[f64], out: &mut [f64]) {
        let (n, k) = (self.n, self.tr.k);
        out.fill(0.0);
        let (s_rho, rest) = out.split_at_mut(n * n);
        let (s_one, rest) = rest.split_at_mut(n * n);
        let (m_sum, rest) = rest.split_at_mut(k);
        let (n_sum, _beta) = rest.split_at_mut(k);
        let c = &self.vec_c[modes.clone()];
        if self.tr.tied {
            super::modes::accumulate_sums(ys, c, n, 0, s_rho, s_one);
        } else {
            super::modes::accumulate_untied_sums(ys, c, k, false, s_rho, s_one);
        }
        if !self.mean.is_empty() {
            let sqrt_d = (self.d as f64).sqrt();
            let w = |u: usize, tau: usize| ys[tau * n + u];
            let mean = &self.mean[modes];
            if self.tr.tied {
                add_field_mean_sums(mean, w, |u, tau| w(u, tau) / sqrt_d, m_sum, n_sum);
            } else {
                add_field_mean_sums(mean, w, |u, tau| ys[tau * n + k + u], m_sum, n_sum);
            }
        }
    }

    /// The sums of the whole state of a vector form over every mode (no density block, not the
    /// regression form): [`OdeSystem::part_sums`] of both parts added — what
    /// [`OdeSystem::drift_from_sums`] takes.
    pub(crate) fn state_sums(&self, y: &[f64]) -> Vec<f64> {
        let len = self.part_sums_len();
        let (mut all, mut part) = (vec![0.0; len], vec![0.0; len]);
        let split = (self.vec_rho.len() / 2) * self.n;
        for (p, ys) in [(0, &y[..split]), (1, &y[split..])] {
            self.part_sums(p, ys, &mut part);
            for (a, b) in all.iter_mut().zip(&part) {
                *a += b;
            }
        }
        all
    }

    /// `dy` of the whole state (a vector form over every mode) at the drift that `sums` give:
    /// `dy_τ = M(ρ_τ; sums) y_τ + μ_τ c(sums)`, `dβ = f(sums)`. At `sums` =
    /// [`OdeSystem::state_sums`] of `y` it is the right-hand side; `sums` moved alone, it is
    /// the right-hand side's dependence on the global order parameters.
    pub(crate) fn rhs_at_sums(
        &self,
        y: &[f64],
        sums: &[f64],
        dy: &mut [f64],
        ws: &mut RhsWorkspace,
    ) {
        self.drift_from_sums(sums, ws);
        let split = (self.vec_rho.len() / 2) * self.n;
        let (y0, y1) = y.split_at(split);
        let (d0, d1) = dy.split_at_mut(split);
        self.part_rhs(0, y0, d0, ws);
        self.part_rhs(1, y1, d1, ws);
    }

    /// The drift matrix `M(ρ)` (n×n, row-major, into `out`) at the drift last computed in `ws`.
    pub(crate) fn drift_at(&self, ws: &RhsWorkspace, rho: f64, out: &mut [f64]) {
        self.drift_matrices(&ws.dr).at(rho, out);
    }

    /// The kernels and drift coefficients from the sums over the whole state (the parts'
    /// [`OdeSystem::part_sums`] added).
    pub(crate) fn drift_from_sums(&self, sums: &[f64], ws: &mut RhsWorkspace) {
        let (n, k, df) = (self.n, self.tr.k, self.d as f64);
        let o = &mut ws.order.o;
        for v in [&mut o.q, &mut o.r, &mut o.t0, &mut o.t] {
            v.fill(0.0);
        }
        let (s_rho, rest) = sums.split_at(n * n);
        let (s_one, rest) = rest.split_at(n * n);
        let (m_sum, rest) = rest.split_at(k);
        let (n_sum, beta) = rest.split_at(k);
        add_sums(o, s_rho, s_one, k, self.tr.tied, df);
        if self.tr.tied {
            o.set_tied_r(self.d);
        }
        o.beta.copy_from_slice(beta);
        if !self.mean.is_empty() {
            o.set_field_means_from_sums(m_sum, n_sum, self.mean.len());
        }
        self.drift_from_order_params(ws);
    }

    /// `dy` of part `part` (`y`, `dy`: its components) at the drift last computed in `ws` by
    /// [`OdeSystem::drift_from_sums`].
    pub(crate) fn part_rhs(&self, part: usize, y: &[f64], dy: &mut [f64], ws: &RhsWorkspace) {
        let modes = self.part_modes(part);
        let len = modes.len() * self.n;
        let (dys, tail) = dy.split_at_mut(len);
        self.drift_modes(modes, &y[..len], dys, &ws.dr);
        if part == 1 {
            tail.copy_from_slice(&ws.dr.dbeta[..self.tr.k]);
        }
    }

    /// The right-hand side `dy/dt`, with buffers from [`OdeSystem::workspace`] (no allocation).
    pub fn rhs_with(&self, y: &DVector<f64>, dy: &mut DVector<f64>, ws: &mut RhsWorkspace) {
        self.fill_drift(y, ws, self.regression);
        if self.regression
            && let Err(why) =
                super::regression::encoder_decoder(self.act, &self.tr, &ws.order.o, &mut ws.dr)
        {
            // keep the first failure: later evaluations only see its NaN consequences
            ws.failure.get_or_insert(why);
        }
        let (n, nv) = (self.n, self.vec_rho.len());
        let (ys, dys) = (&y.as_slice()[..nv * n], &mut dy.as_mut_slice()[..nv * n]);
        self.drift_modes(0..nv, ys, dys, &ws.dr);
        let matrices = self.drift_matrices(&ws.dr);
        // the density blocks: M(ρ) of each into the order scratch (m; s_rho holds MP)
        let (m, mp) = (&mut ws.order.m, &mut ws.order.s_rho);
        let base = nv * n;
        for (b, &rho) in self.block_rho.iter().enumerate() {
            matrices.at(rho, m);
            let off = base + b * n * n;
            // dP = MP + PMᵀ = X + Xᵀ with X = MP (P is symmetric)
            let p = &y.as_slice()[off..off + n * n];
            mp.fill(0.0);
            for i in 0..n {
                for l in 0..n {
                    let mil = m[i * n + l];
                    for (x, pl) in mp[i * n..(i + 1) * n]
                        .iter_mut()
                        .zip(&p[l * n..(l + 1) * n])
                    {
                        *x += mil * pl;
                    }
                }
            }
            let dp = &mut dy.as_mut_slice()[off..off + n * n];
            for i in 0..n {
                for j in 0..n {
                    dp[i * n + j] = mp[i * n + j] + mp[j * n + i];
                }
            }
            if self.rank_one_modes && b < self.single_blocks {
                stabilise_rank_one(p, m, dp, n);
            }
        }
        let bo = self.beta_offset();
        for u in 0..self.tr.k {
            dy[bo + u] = ws.dr.dbeta[u];
        }
    }
}
