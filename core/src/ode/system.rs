//! The ODE problem: state layout, order parameters from the state, and the right-hand side.

use super::drift::{Drift, KernelValues};
use crate::activation::{Activation, Integral, Method};
use crate::error::{Error, Result};
use crate::model::{Algorithm, Training};
use crate::order::OrderParams;
use nalgebra::DVector;

/// How each mode is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Vector form (a): `y_τ = (w_τ, v̂_τ)` per mode (exactly rank one; the default).
    Vector,
    /// Density form (b): `P_τ = y_τ y_τᵀ` per mode (the paper's q, r, t).
    Density,
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

/// An ODE state with the time it belongs to.
#[derive(Clone, Debug)]
pub struct OdeState {
    pub t: f64,
    pub y: DVector<f64>,
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
    /// eigenvalue of each density block
    pub block_rho: Vec<f64>,
    /// `TrΩ/(2D)`
    pub half_trace: f64,
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
            if let Some(f) = act
                .formulas()
                .iter()
                .find(|f| f.integral == need && f.method == Method::Undefined)
            {
                return Err(Error::NoOde {
                    activation: act.name().to_string(),
                    message: format!("{} = {} is {}", need.name(), f.definition, f.derivation),
                });
            }
        }
        let d = rho.len();
        let n = if tr.is_tied() { tr.k } else { 2 * tr.k };
        let split = match reduction {
            Reduction::Full => d,
            Reduction::SpikeBulk { spikes } => spikes.min(d),
        };
        let (head, bulk) = rho.split_at(split);
        let mut vec_rho = Vec::new();
        let mut block_rho = Vec::new();
        match form {
            Form::Vector => vec_rho.extend_from_slice(head),
            Form::Density => block_rho.extend_from_slice(head),
        }
        if !bulk.is_empty() {
            block_rho.push(bulk.iter().sum::<f64>() / bulk.len() as f64);
        }
        let half_trace = rho.iter().sum::<f64>() / (2.0 * d as f64);
        Ok(OdeSystem {
            act,
            tr,
            d,
            n,
            vec_rho,
            block_rho,
            half_trace,
        })
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
        let tied = self.tr.is_tied();
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
    pub fn typical_state(&self, init_std: f64) -> Result<DVector<f64>> {
        if !self.vec_rho.is_empty() {
            return Err(crate::error::config_err(
                "ode.initial",
                "\"typical\"",
                "typical initial conditions need the density form (`ode.form = \"density\"`)",
            ));
        }
        let (k, n) = (self.tr.k, self.n);
        let tied = self.tr.is_tied();
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

    /// The order parameters of a state (SPEC §3).
    pub fn order_params(&self, y: &DVector<f64>) -> OrderParams {
        let (k, n) = (self.tr.k, self.n);
        let tied = self.tr.is_tied();
        let df = self.d as f64;
        let mut o = OrderParams::zeros(k);
        // vector modes: accumulate Σ_τ c_τ y_τ y_τᵀ for the two weights c = ρ/D and 1 (hot path)
        let nv = self.vec_rho.len();
        if nv > 0 {
            let mut s_rho = vec![0.0; n * n];
            let mut s_one = vec![0.0; n * n];
            let ys = &y.as_slice()[..nv * n];
            for (m, &rho) in ys.chunks_exact(n).zip(&self.vec_rho) {
                let c = rho / df;
                for i in 0..n {
                    let (mi, cmi) = (m[i], c * m[i]);
                    for j in 0..n {
                        s_rho[i * n + j] += cmi * m[j];
                        s_one[i * n + j] += mi * m[j];
                    }
                }
            }
            add_sums(&mut o, &s_rho, &s_one, k, tied, df);
        }
        let base = self.vec_rho.len() * n;
        for (b, &rho) in self.block_rho.iter().enumerate() {
            let block = &y.as_slice()[base + b * n * n..base + (b + 1) * n * n];
            let scaled: Vec<f64> = block.iter().map(|p| rho / df * p).collect();
            add_sums(&mut o, &scaled, block, k, tied, df);
        }
        if tied {
            let s = df.sqrt();
            for i in 0..k * k {
                o.r[i] = o.q[i] / s;
            }
        }
        let bo = self.beta_offset();
        for u in 0..k {
            o.beta[u] = y[bo + u];
        }
        o
    }

    /// The generalisation error of a state.
    pub fn error(&self, y: &DVector<f64>) -> f64 {
        self.order_params(y).error(self.act, self.half_trace)
    }

    /// The right-hand side `dy/dt`.
    pub fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>) {
        let o = self.order_params(y);
        let kv = KernelValues::compute(self.act, &o, self.tr.bias);
        let dr = Drift::new(&self.tr, &o, &kv);
        let n = self.n;
        let df = self.d as f64;
        let tied = self.tr.is_tied();
        let mut m = vec![0.0; n * n];
        let build = |rho: f64, m: &mut [f64]| {
            let (c1, c2) = if tied {
                (rho / df.sqrt(), rho)
            } else {
                (rho / df, 0.0)
            };
            for i in 0..n * n {
                m[i] = dr.m0[i] + c1 * dr.m1[i] + c2 * dr.m2[i];
            }
        };
        let nv = self.vec_rho.len();
        {
            let (ys, dys) = (&y.as_slice()[..nv * n], &mut dy.as_mut_slice()[..nv * n]);
            for ((m, out), &rho) in ys
                .chunks_exact(n)
                .zip(dys.chunks_exact_mut(n))
                .zip(&self.vec_rho)
            {
                let (c1, c2) = if tied {
                    (rho / df.sqrt(), rho)
                } else {
                    (rho / df, 0.0)
                };
                for i in 0..n {
                    let (mut a0, mut a1, mut a2) = (0.0, 0.0, 0.0);
                    for j in 0..n {
                        a0 += dr.m0[i * n + j] * m[j];
                        a1 += dr.m1[i * n + j] * m[j];
                        a2 += dr.m2[i * n + j] * m[j];
                    }
                    out[i] = a0 + c1 * a1 + c2 * a2;
                }
            }
        }
        let base = self.vec_rho.len() * n;
        for (b, &rho) in self.block_rho.iter().enumerate() {
            build(rho, &mut m);
            let off = base + b * n * n;
            // dP = MP + PMᵀ
            for i in 0..n {
                for j in 0..n {
                    let mut s = 0.0;
                    for l in 0..n {
                        s += m[i * n + l] * y[off + l * n + j] + y[off + i * n + l] * m[j * n + l];
                    }
                    dy[off + i * n + j] = s;
                }
            }
        }
        let bo = self.beta_offset();
        for u in 0..self.tr.k {
            dy[bo + u] = dr.dbeta[u];
        }
    }
}
