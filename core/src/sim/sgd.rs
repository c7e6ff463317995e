//! One online-SGD step without allocation (docs/theory.md §1, with the reference code's scalings):
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

pub use crate::simd::dot;

/// SGD state with preallocated buffers.
pub struct Sgd<'a> {
    pub weights: Weights,
    pub training: Training,
    pub act: &'a dyn Activation,
    pub steps: u64,
    rng: super::normal::SampleRng,
    x: Vec<f64>,
    x_next: Vec<f64>,
    r: Vec<f64>,
    gl: Vec<f64>,
    dgl: Vec<f64>,
    /// `w^k·x` and `v^k·x` of the current input (vanilla untied step).
    wx: Vec<f64>,
    vx: Vec<f64>,
    /// `G = V Vᵀ` (K×K), updated in closed form each step and recomputed every
    /// [`GRAM_REFRESH`] steps so round-off cannot accumulate.
    gram: Vec<f64>,
    gram_age: u32,
    /// `c_k = v^k·Δ` and the per-unit step sizes of the current step.
    c: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
}

/// Mixed into the seed of the input stream (keeps it apart from the weight initialisation).
const STREAM_SALT: u64 = 0x5eed_5eed_5eed_5eed;

/// Steps between exact recomputations of the decoder Gram matrix.
const GRAM_REFRESH: u32 = 1000;

impl<'a> Sgd<'a> {
    pub fn new(weights: Weights, training: Training, act: &'a dyn Activation, seed: u64) -> Self {
        let (k, d) = (weights.k, weights.d);
        Sgd {
            weights,
            training,
            act,
            steps: 0,
            rng: super::normal::SampleRng::seed_from_u64(seed ^ STREAM_SALT),
            x: vec![0.0; d],
            x_next: vec![0.0; d],
            r: vec![0.0; d],
            gl: vec![0.0; k],
            dgl: vec![0.0; k],
            wx: vec![0.0; k],
            vx: vec![0.0; k],
            gram: vec![0.0; k * k],
            gram_age: 0,
            c: vec![0.0; k],
            a: vec![0.0; k],
            b: vec![0.0; k],
        }
    }

    /// Runs `n` steps on fresh samples. (`weights` may have been changed since the last call:
    /// cached functions of them are recomputed first.)
    pub fn run(&mut self, sampler: &dyn Sampler, n: u64) {
        self.gram_age = 0;
        if self.is_vanilla_untied() {
            self.run_vanilla_untied(sampler, n);
            return;
        }
        for _ in 0..n {
            let mut x = std::mem::take(&mut self.x);
            sampler.sample(&mut self.rng, &mut x);
            self.step_general(&x);
            self.x = x;
        }
    }

    /// One step on the input `x`.
    pub fn step(&mut self, x: &[f64]) {
        if self.is_vanilla_untied() {
            self.gram_age = 0;
            let Weights { w, v, .. } = &self.weights;
            let xx = super::fused::projections(w, v, x, &mut self.wx, &mut self.vx);
            self.vanilla_untied_step(x, xx, None);
        } else {
            self.step_general(x);
        }
    }

    fn is_vanilla_untied(&self) -> bool {
        self.training.algorithm == Algorithm::Vanilla && !self.training.tied
    }

    /// `n` vanilla untied steps, software-pipelined: the next input is drawn before the current
    /// update, and the update pass computes its projections on the new weights while they are in
    /// registers, so each step reads and writes `W`, `V` once.
    fn run_vanilla_untied(&mut self, sampler: &dyn Sampler, n: u64) {
        if n == 0 {
            return;
        }
        let mut x = std::mem::take(&mut self.x);
        let mut next = std::mem::take(&mut self.x_next);
        sampler.sample(&mut self.rng, &mut x);
        let Weights { w, v, .. } = &self.weights;
        let mut xx = super::fused::projections(w, v, &x, &mut self.wx, &mut self.vx);
        for t in 0..n {
            if t + 1 < n {
                sampler.sample(&mut self.rng, &mut next);
                xx = self.vanilla_untied_step(&x, xx, Some(&next));
                std::mem::swap(&mut x, &mut next);
            } else {
                self.vanilla_untied_step(&x, xx, None);
            }
        }
        self.x = x;
        self.x_next = next;
    }

    /// Pre-activations `λ = Wx/√D + β`, `g(λ)`, `g'(λ)`, and the full residual
    /// `Δ = x − Σ_k v^k g(λ^k)` (decoder = encoder when tied) into the buffers.
    fn forward(&mut self, x: &[f64]) {
        let tied = self.training.tied;
        let Weights { k, d, w, v, beta } = &self.weights;
        let (k, d) = (*k, *d);
        let sqrt_d = (d as f64).sqrt();
        for u in 0..k {
            let l = dot(&w[u * d..(u + 1) * d], x) / sqrt_d + beta[u];
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

    /// Vanilla untied step on `x`, given `wx = Wx`, `vx = Vx` (in the buffers) and `xx = |x|²`.
    /// With the Gram matrix `G = V Vᵀ` the residual's projections follow without forming
    /// `Δ = x − Σ_m g(λ^m) v^m`:
    ///
    /// ```text
    /// c_k = v^k·Δ = v^k·x − Σ_m g_m G_km,   |Δ|² = |x|² − 2 Σ_m g_m v^m·x + Σ_mn g_m g_n G_mn.
    /// ```
    ///
    /// Then one pass over `V`, `W` (`Δ` never stored for K ≤ 8): `v^k += a_k Δ` with
    /// `a_k = (η/D) g_k` and `w^k += b_k x` with `b_k = (η/D²) g'_k c_k/√D`, which also projects
    /// `next` (if given) on the new weights and returns its `|next|²`. The new Gram matrix is
    /// exact algebra, `G_kl += a_k c_l + a_l c_k + a_k a_l |Δ|²`, recomputed from scratch every
    /// [`GRAM_REFRESH`] steps.
    fn vanilla_untied_step(&mut self, x: &[f64], xx: f64, next: Option<&[f64]>) -> f64 {
        let Weights { k, d, w, v, beta } = &mut self.weights;
        let (k, d) = (*k, *d);
        let df = d as f64;
        let sqrt_d = df.sqrt();
        let eta = self.training.lr;
        if self.gram_age == 0 {
            for m in 0..k {
                for n in 0..=m {
                    let g = dot(&v[m * d..(m + 1) * d], &v[n * d..(n + 1) * d]);
                    self.gram[m * k + n] = g;
                    self.gram[n * k + m] = g;
                }
            }
        }
        self.gram_age = (self.gram_age + 1) % GRAM_REFRESH;
        for u in 0..k {
            let l = self.wx[u] / sqrt_d + beta[u];
            self.gl[u] = self.act.g(l);
            self.dgl[u] = self.act.dg(l);
        }
        let g = &self.gl;
        let mut rr = xx;
        for m in 0..k {
            let mut gm = 0.0;
            for n in 0..k {
                gm += g[n] * self.gram[m * k + n];
            }
            self.c[m] = self.vx[m] - gm;
            rr += g[m] * (gm - 2.0 * self.vx[m]);
        }
        for u in 0..k {
            self.a[u] = eta / df * g[u];
            self.b[u] = eta / (df * df) * self.dgl[u] * self.c[u] / sqrt_d;
            if self.training.bias {
                beta[u] += eta / df * self.dgl[u] * self.c[u] / df;
            }
        }
        let (a, b) = (&self.a, &self.b);
        let xx_next = super::fused::update(
            w,
            v,
            x,
            g,
            a,
            b,
            &mut self.r,
            next.map(|y| (y, &mut self.wx[..], &mut self.vx[..])),
        );
        for m in 0..k {
            for n in 0..k {
                self.gram[m * k + n] += a[m] * self.c[n] + a[n] * self.c[m] + a[m] * a[n] * rr;
            }
        }
        self.steps += 1;
        xx_next
    }

    fn step_general(&mut self, x: &[f64]) {
        self.forward(x);
        let Weights { k, d, w, v, beta } = &mut self.weights;
        let (k, d) = (*k, *d);
        let tr = self.training;
        let tied = tr.tied;
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

    /// True when every weight is finite and at most [`crate::sim::WEIGHT_OVERFLOW`] in size (the
    /// overlaps, its squares, then stay below the ODE's overflow bound 1e150).
    pub fn is_finite(&self) -> bool {
        self.weights
            .w
            .iter()
            .chain(&self.weights.v)
            .chain(&self.weights.beta)
            .all(|v| v.abs() <= crate::sim::WEIGHT_OVERFLOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::ScaledErf;
    use crate::sim::{EigenbasisGaussian, SampleRng};

    /// The fused, pipelined vanilla step (Gram matrix in closed form, refreshed every 1000 steps)
    /// against the update rule written out plainly, on the same inputs, over 2500 steps.
    #[test]
    fn fused_vanilla_step_follows_the_plain_update_rule() {
        let (k, d) = (3, 203);
        let rho: Vec<f64> = (0..d).map(|i| if i < 2 { 40.0 } else { 0.5 }).collect();
        let sampler = EigenbasisGaussian::new(&rho);
        let tr = Training {
            k,
            lr: 0.8,
            tied: false,
            bias: true,
            algorithm: Algorithm::Vanilla,
        };
        let w0 = Weights::init(k, d, 0.3, false, 4);
        let mut sgd = Sgd::new(w0.clone(), tr, &ScaledErf, 9);
        let n = 2500;
        sgd.run(&sampler, 1200);
        sgd.run(&sampler, n - 1200);

        let mut rng = SampleRng::seed_from_u64(9 ^ STREAM_SALT);
        let Weights {
            mut w,
            mut v,
            mut beta,
            ..
        } = w0;
        let (df, act) = (d as f64, ScaledErf);
        let mut x = vec![0.0; d];
        for _ in 0..n {
            sampler.sample(&mut rng, &mut x);
            let lam: Vec<f64> = (0..k)
                .map(|u| (0..d).map(|i| w[u * d + i] * x[i]).sum::<f64>() / df.sqrt() + beta[u])
                .collect();
            let g: Vec<f64> = lam.iter().map(|&l| act.g(l)).collect();
            let dg: Vec<f64> = lam.iter().map(|&l| act.dg(l)).collect();
            let delta: Vec<f64> = (0..d)
                .map(|i| x[i] - (0..k).map(|u| v[u * d + i] * g[u]).sum::<f64>())
                .collect();
            let c: Vec<f64> = (0..k)
                .map(|u| (0..d).map(|i| v[u * d + i] * delta[i]).sum::<f64>())
                .collect();
            for u in 0..k {
                for i in 0..d {
                    w[u * d + i] += 0.8 / (df * df) * dg[u] * c[u] / df.sqrt() * x[i];
                    v[u * d + i] += 0.8 / df * g[u] * delta[i];
                }
                beta[u] += 0.8 / df * dg[u] * c[u] / df;
            }
        }
        let rel = |a: &[f64], b: &[f64]| {
            let num: f64 = a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum();
            (num / b.iter().map(|q| q * q).sum::<f64>()).sqrt()
        };
        assert!(
            rel(&sgd.weights.w, &w) < 1e-11,
            "W: {}",
            rel(&sgd.weights.w, &w)
        );
        assert!(
            rel(&sgd.weights.v, &v) < 1e-11,
            "V: {}",
            rel(&sgd.weights.v, &v)
        );
        assert!(rel(&sgd.weights.beta, &beta) < 1e-11, "β");
        // the weights moved: the comparison is not between two copies of the start
        assert!(rel(&w, &Weights::init(k, d, 0.3, false, 4).w) > 1e-3);
    }
}
