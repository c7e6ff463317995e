//! The per-mode drift matrix `M(ρ) = M0 + (ρ/D)·M1` (untied) or `M0 + (ρ/√D)·M1 + ρ·M2` (tied),
//! and the bias drift, from the global order parameters (docs/theory.md §5, vector form (a)).
//!
//! Untied, unit k, `S_k` its reconstruction set (all units, or m ≤ k when truncated):
//! ```text
//! dw^k_τ/dt = η(ρ_τ/D)[A^k v̂^k_τ + B^k w^k_τ − Σ_{m∈S_k, m≠k} T0^{km} E[g'(λ^k)g'(λ^m)] w^m_τ]
//! dv̂^k_τ/dt = η[(ρ_τ/D) A^k w^k_τ − Σ_{m∈S_k} E[g(λ^k)g(λ^m)] v̂^m_τ]
//! dβ^k/dt   = η[R^{kk} E[g''(λ^k)] − Σ_{m∈S_k} T0^{km} E[g'(λ^k)g(λ^m)]]
//! A^k = E[g'(λ^k)],  B^k = R^{kk}E[g'''(λ^k)] − Σ_{m∈S_k} T0^{km}E[g''(λ^k)g(λ^m)] − T0^{kk}E[g'(λ^k)²]
//! ```
//! Tied (`v ≡ w`, `R = Q/√D`, `T0 = WWᵀ/D`), from `E[x_τ F(λ)] = Σ_l Cov(x_τ,λ^l) E[∂_l F]`:
//! ```text
//! dw^k_τ/dt = η[−Σ_{m∈S_k} E[g(λ^k)g(λ^m)] w^m_τ + (ρ_τ/√D)(2A^k + Q^{kk}E[g'''(λ^k)]) w^k_τ
//!              − ρ_τ(Σ_{m∈S_k} T0^{km}E[g''(λ^k)g(λ^m)] + T0^{kk}E[g'(λ^k)²]) w^k_τ
//!              − ρ_τ Σ_{m∈S_k, m≠k} T0^{km}E[g'(λ^k)g'(λ^m)] w^m_τ]
//! ```
//! Sanger's rule keeps only `−Σ E[gg] w + (ρ_τ/√D) A^k w^k` (the decoder-gradient term).
//! Expectations over `λ ~ N(β, Q)`; same-unit terms use the one-point integrals, so aligned units
//! never divide by a vanishing determinant.
//!
//! Inputs with a mean, `x ~ N(μ, C)` in the eigenbasis of C (docs/theory.md §5.10): the fields have
//! means `E[λ^k] = β^k + m^k`, `E[ν^k] = n^k`, every expectation is taken there, and with
//! `F^k = n^k A^k + R^{kk}E[g''(λ^k)] − Σ_{m∈S_k} T0^{km}E[g'(λ^k)g(λ^m)]` (`dβ^k/dt = ηF^k`):
//! ```text
//! B^k += n^k E[g''(λ^k)]                       (untied; tied: (ρ_τ/√D)-coefficient += m^k E[g''])
//! dy_τ/dt = M(ρ_τ) y_τ + μ_τ c,   untied: c = (η/√D)(F^k; E[g(λ^k)]),   tied: c^k = η(E[g(λ^k)] + √D F^k)
//! ```
//! (Sanger: `c^k = η E[g(λ^k)]`), `μ_τ` the mean's component along mode τ.

use crate::activation::{Activation, Integral};
use crate::model::{Algorithm, Training};
use crate::order::OrderParams;

/// Drift coefficients at one state. Matrices are n×n row-major, `n = 2K` (untied) or `K` (tied).
pub struct Drift {
    pub n: usize,
    pub m0: Vec<f64>,
    pub m1: Vec<f64>,
    pub m2: Vec<f64>,
    /// dβ/dt (zero when the bias is not trained)
    pub dbeta: Vec<f64>,
    /// The drive of an input mean per unit of `μ_τ`: `dy_τ/dt = M(ρ_τ) y_τ + μ_τ c` (zero for
    /// zero-mean inputs)
    pub c: Vec<f64>,
}

/// Kernel values at one state: per unit (one-point) and per ordered pair (two-point).
pub struct KernelValues {
    pub k: usize,
    /// `A^k = E[g'(λ^k)]`
    pub a: Vec<f64>,
    /// `E[g''(λ^k)]` (only with a trained bias)
    pub d2g: Vec<f64>,
    /// `E[g'''(λ^k)]`
    pub d3g: Vec<f64>,
    /// `E[g'(λ^k)²]`
    pub dgdg1: Vec<f64>,
    /// `E[g(λ^k)g(λ^m)]` (diagonal: one-point)
    pub i2: Vec<f64>,
    /// `E[g'(λ^k)g'(λ^m)]`, k ≠ m
    pub dgdg: Vec<f64>,
    /// `E[g'(λ^k)g(λ^m)]` (diagonal: one-point)
    pub dgg: Vec<f64>,
    /// `E[g''(λ^k)g(λ^m)]` (diagonal: one-point)
    pub d2gg: Vec<f64>,
    /// `E[g(λ^k)]` (only for inputs with a mean, [`KernelValues::fill_g`])
    pub g: Vec<f64>,
}

impl KernelValues {
    /// Zeroed buffers for K units.
    pub fn zeros(k: usize) -> Self {
        KernelValues {
            k,
            a: vec![0.0; k],
            d2g: vec![0.0; k],
            d3g: vec![0.0; k],
            dgdg1: vec![0.0; k],
            i2: vec![0.0; k * k],
            dgdg: vec![0.0; k * k],
            dgg: vec![0.0; k * k],
            d2gg: vec![0.0; k * k],
            g: vec![0.0; k],
        }
    }

    /// `E[g(λ^k)]` for every unit (the drive of an input mean).
    pub fn fill_g(&mut self, act: &dyn Activation, o: &OrderParams) {
        for u in 0..o.k {
            self.g[u] = act.integral(Integral::G, &o.single(u));
        }
    }

    /// Evaluates every kernel at the order parameters `o` into the buffers: one fused
    /// [`Activation::unit_kernels`] call per unit and one [`Activation::pair_kernels`] call per
    /// unordered pair (both orders of the asymmetric kernels at once). Same-unit entries are
    /// one-point integrals (no 2×2 determinant that vanishes when units align).
    pub fn fill(&mut self, act: &dyn Activation, o: &OrderParams, bias: bool) {
        let k = o.k;
        let kv = self;
        for u in 0..k {
            let [a, d2g, d3g, dgdg1, gg, dgg1, d2gg1] =
                act.unit_kernels(o.field_mean(u), o.q(u, u), bias);
            kv.a[u] = a;
            kv.d2g[u] = d2g;
            kv.d3g[u] = d3g;
            kv.dgdg1[u] = dgdg1;
            kv.i2[u * k + u] = gg;
            kv.dgg[u * k + u] = dgg1;
            kv.d2gg[u * k + u] = d2gg1;
            for m in u + 1..k {
                let [i2, dgdg, dgg_um, dgg_mu, d2gg_um, d2gg_mu] =
                    act.pair_kernels(&o.pair(u, m), bias);
                kv.i2[u * k + m] = i2;
                kv.i2[m * k + u] = i2;
                kv.dgdg[u * k + m] = dgdg;
                kv.dgdg[m * k + u] = dgdg;
                kv.dgg[u * k + m] = dgg_um;
                kv.dgg[m * k + u] = dgg_mu;
                kv.d2gg[u * k + m] = d2gg_um;
                kv.d2gg[m * k + u] = d2gg_mu;
            }
        }
    }
}

impl Drift {
    /// Zeroed coefficients for a training set-up.
    pub fn zeros(tr: &Training) -> Self {
        let k = tr.k;
        let n = if tr.tied { k } else { 2 * k };
        Drift {
            n,
            m0: vec![0.0; n * n],
            m1: vec![0.0; n * n],
            m2: vec![0.0; n * n],
            dbeta: vec![0.0; k],
            c: vec![0.0; n],
        }
    }

    /// The drift coefficients at the order parameters `o` with kernels `kv`, into the buffers.
    /// `mean_of_d`: `Some(D)` for inputs with a mean (then `kv` holds the bias kernels and
    /// [`KernelValues::g`]), `None` for zero-mean inputs.
    pub fn fill(
        &mut self,
        tr: &Training,
        o: &OrderParams,
        kv: &KernelValues,
        mean_of_d: Option<f64>,
    ) {
        let k = tr.k;
        let eta = tr.lr;
        let tied = tr.tied;
        let n = self.n;
        let Drift {
            m0,
            m1,
            m2,
            dbeta,
            c,
            ..
        } = self;
        for v in [&mut *m0, &mut *m1, &mut *m2, &mut *c] {
            v.fill(0.0);
        }
        dbeta.fill(0.0);
        for u in 0..k {
            // B^k's sum over the reconstruction set and the bias drift
            let mut sum_d2gg = 0.0;
            let mut sum_dgg = 0.0;
            for m in 0..k {
                if tr.sees(u, m) {
                    sum_d2gg += o.t0(u, m) * kv.d2gg[u * k + m];
                    sum_dgg += o.t0(u, m) * kv.dgg[u * k + m];
                }
            }
            // F^k = E[g'(λ^k)(ν^k − Σ_{m∈S_k} T0^{km} g(λ^m))], by Stein's lemma in ν^k
            let f = o.n[u] * kv.a[u] + o.r(u, u) * kv.d2g[u] - sum_dgg;
            if tr.bias {
                dbeta[u] = eta * f;
            }
            if let Some(d) = mean_of_d {
                let sqrt_d = d.sqrt();
                if !tied {
                    c[u] = eta * f / sqrt_d;
                    c[k + u] = eta * kv.g[u] / sqrt_d;
                } else if tr.algorithm == Algorithm::Sanger {
                    c[u] = eta * kv.g[u];
                } else {
                    c[u] = eta * (kv.g[u] + sqrt_d * f);
                }
            }
            if tied {
                for m in 0..k {
                    if tr.sees(u, m) {
                        m0[u * n + m] = -eta * kv.i2[u * k + m];
                    }
                }
                if tr.algorithm == Algorithm::Sanger {
                    m1[u * n + u] = eta * kv.a[u];
                    continue;
                }
                m1[u * n + u] = eta * (2.0 * kv.a[u] + o.q(u, u) * kv.d3g[u] + o.m[u] * kv.d2g[u]);
                m2[u * n + u] = -eta * (sum_d2gg + o.t0(u, u) * kv.dgdg1[u]);
                for m in 0..k {
                    if m != u && tr.sees(u, m) {
                        m2[u * n + m] = -eta * o.t0(u, m) * kv.dgdg[u * k + m];
                    }
                }
            } else {
                let b = o.r(u, u) * kv.d3g[u] + o.n[u] * kv.d2g[u]
                    - sum_d2gg
                    - o.t0(u, u) * kv.dgdg1[u];
                // rows 0..k: w, rows k..2k: v̂
                m1[u * n + u] = eta * b;
                m1[u * n + (k + u)] = eta * kv.a[u];
                m1[(k + u) * n + u] = eta * kv.a[u];
                for m in 0..k {
                    if !tr.sees(u, m) {
                        continue;
                    }
                    if m != u {
                        m1[u * n + m] = -eta * o.t0(u, m) * kv.dgdg[u * k + m];
                    }
                    m0[(k + u) * n + (k + m)] = -eta * kv.i2[u * k + m];
                }
            }
        }
    }
}
