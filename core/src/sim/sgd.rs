//! One online-SGD step without allocation (SPEC §1, with the reference code's scalings):
//!
//! ```text
//! w^k ← w^k + (η/D²) g'(λ^k) (v^k·Δ_k/√D) x
//! v^k ← v^k + (η/D)  g(λ^k) Δ_k
//! β^k ← β^k + (η/D)  g'(λ^k) (v^k·Δ_k/D)
//! tied: w^k ← w^k + (η/D)[g(λ^k)Δ_k + g'(λ^k)(w^k·Δ_k/√D) x]
//! ```
//! with `Δ_k = Δ` (vanilla) or `x − Σ_{m≤k} v^m g(λ^m)` (truncated, Sanger). Units are updated in
//! reverse order while a running residual adds back each unit's old contribution, so every update
//! sees the old weights and no temporary vectors are needed.

use super::sampler::Sampler;
use crate::activation::Activation;
use crate::model::{Algorithm, Training, Weights};

/// `a·b` with eight independent accumulators (vectorises; the plain fold is latency-bound).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// SGD state with preallocated buffers.
pub struct Sgd<'a> {
    pub weights: Weights,
    pub training: Training,
    pub act: &'a dyn Activation,
    pub steps: u64,
    rng: super::sampler::Streams,
    x: Vec<f64>,
    r: Vec<f64>,
    lam: Vec<f64>,
    gl: Vec<f64>,
    dgl: Vec<f64>,
}

impl<'a> Sgd<'a> {
    pub fn new(weights: Weights, training: Training, act: &'a dyn Activation, seed: u64) -> Self {
        let (k, d) = (weights.k, weights.d);
        Sgd {
            weights,
            training,
            act,
            steps: 0,
            rng: super::sampler::streams(seed ^ 0x5eed_5eed_5eed_5eed),
            x: vec![0.0; d],
            r: vec![0.0; d],
            lam: vec![0.0; k],
            gl: vec![0.0; k],
            dgl: vec![0.0; k],
        }
    }

    /// Runs `n` steps on fresh samples.
    pub fn run(&mut self, sampler: &dyn Sampler, n: u64) {
        for _ in 0..n {
            let mut x = std::mem::take(&mut self.x);
            sampler.sample(&mut self.rng, &mut x);
            self.step(&x);
            self.x = x;
        }
    }

    /// One step on the input `x`.
    pub fn step(&mut self, x: &[f64]) {
        if self.training.algorithm == Algorithm::Vanilla && !self.training.is_tied() {
            self.step_vanilla_untied(x);
        } else {
            self.step_general(x);
        }
    }

    /// Pre-activations `λ = Wx/√D + β`, `g(λ)`, `g'(λ)`, and the full residual
    /// `Δ = x − Σ_k v^k g(λ^k)` (decoder = encoder when tied) into the buffers.
    fn forward(&mut self, x: &[f64]) {
        let tied = self.training.is_tied();
        let Weights { k, d, w, v, beta } = &self.weights;
        let (k, d) = (*k, *d);
        let sqrt_d = (d as f64).sqrt();
        for u in 0..k {
            let l = dot(&w[u * d..(u + 1) * d], x) / sqrt_d + beta[u];
            self.lam[u] = l;
            self.gl[u] = self.act.g(l);
            self.dgl[u] = self.act.dg(l);
        }
        let dec = if tied { w } else { v };
        self.r.copy_from_slice(x);
        for u in 0..k {
            let gu = self.gl[u];
            for (ri, vi) in self.r.iter_mut().zip(&dec[u * d..(u + 1) * d]) {
                *ri -= gu * vi;
            }
        }
    }

    /// Vanilla untied step: after the forward pass, per unit `c_k = v^k·Δ` (old weights), then
    /// one fused pass `v^k += (η/D) g(λ^k) Δ`, `w^k += (η/D²) g'(λ^k) (c_k/√D) x`.
    fn step_vanilla_untied(&mut self, x: &[f64]) {
        self.forward(x);
        let Weights { k, d, w, v, beta } = &mut self.weights;
        let (k, d) = (*k, *d);
        let df = d as f64;
        let sqrt_d = df.sqrt();
        let eta = self.training.lr;
        let r = &mut self.r;
        for u in 0..k {
            let vrow = &mut v[u * d..(u + 1) * d];
            let c = dot(vrow, r);
            let a = eta / df * self.gl[u];
            let b = eta / (df * df) * self.dgl[u] * c / sqrt_d;
            let wrow = &mut w[u * d..(u + 1) * d];
            for i in 0..d {
                vrow[i] += a * r[i];
                wrow[i] += b * x[i];
            }
            if self.training.bias {
                beta[u] += eta / df * self.dgl[u] * c / df;
            }
        }
        self.steps += 1;
    }

    fn step_general(&mut self, x: &[f64]) {
        self.forward(x);
        let Weights { k, d, w, v, beta } = &mut self.weights;
        let (k, d) = (*k, *d);
        let tr = self.training;
        let tied = tr.is_tied();
        let df = d as f64;
        let sqrt_d = df.sqrt();
        let eta = tr.lr;
        let r = &mut self.r;
        let truncated = tr.algorithm != Algorithm::Vanilla;
        let sanger = tr.algorithm == Algorithm::Sanger;
        for u in (0..k).rev() {
            let (gu, dgu) = (self.gl[u], self.dgl[u]);
            let a = eta / df * gu;
            if tied {
                let row = &mut w[u * d..(u + 1) * d];
                let c = dot(row, r);
                let b = if sanger {
                    0.0
                } else {
                    eta / df * dgu * c / sqrt_d
                };
                for i in 0..d {
                    let old = row[i];
                    row[i] = old + a * r[i] + b * x[i];
                    if truncated {
                        r[i] += gu * old;
                    }
                }
                if tr.bias {
                    beta[u] += eta / df * dgu * c / df;
                }
            } else {
                let vrow = &mut v[u * d..(u + 1) * d];
                let c = dot(vrow, r);
                if truncated {
                    for (vi, ri) in vrow.iter_mut().zip(r.iter_mut()) {
                        let old = *vi;
                        *vi = old + a * *ri;
                        *ri += gu * old;
                    }
                } else {
                    for (vi, ri) in vrow.iter_mut().zip(r.iter()) {
                        *vi += a * ri;
                    }
                }
                let b = eta / (df * df) * dgu * c / sqrt_d;
                let wrow = &mut w[u * d..(u + 1) * d];
                for (wi, xi) in wrow.iter_mut().zip(x) {
                    *wi += b * xi;
                }
                if tr.bias {
                    beta[u] += eta / df * dgu * c / df;
                }
            }
        }
        self.steps += 1;
    }

    /// True when every weight is finite.
    pub fn is_finite(&self) -> bool {
        self.weights
            .w
            .iter()
            .chain(&self.weights.v)
            .chain(&self.weights.beta)
            .all(|v| v.is_finite())
    }
}
