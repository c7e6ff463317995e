//! The paper's regression form of the drift (docs/theory.md §5.6; `ode.form = "paper"`).
//!
//! The x_τ-averages of the SGD updates are written by Gaussian regression onto the local fields
//! instead of Stein's lemma: for jointly Gaussian `(x_τ, y)` with `c = Cov(x_τ, y)`, `C = Cov(y)`,
//! `E[x_τ F(y)] = cᵀ C⁻¹ E[(y − E y) F(y)]`. Untied unit k:
//! ```text
//! ν-term:      y = (λ^k, ν^k), C = [[Q^kk, R^kk], [R^kk, T^kk]]:
//!              (α_w, α_v) = C⁻¹ (E[g'(λ^k)(λ^k − β^k)ν^k], E[g'(λ^k)(ν^k)²])      (I21, I22)
//! cross-term:  y = (λ^k, λ^m), C = [[Q^kk, Q^km], [Q^km, Q^mm]]:
//!              (b_k, b_m) = C⁻¹ (E[g'(λ^k)(λ^k − β^k)g(λ^m)], E[g'(λ^k)(λ^m − β^m)g(λ^m)]) (I3)
//! same unit:   b = E[g'(λ^k)(λ^k − β^k)g(λ^k)] / Q^kk                                  (I3)
//! decoder:     a = E[(λ^k − β^k) g(λ^k)] / Q^kk                                         (J2)
//! ```
//! and `M1[w^k, w^k] = η(α_w − Σ_{m∈S_k, m≠k} T0^km b_k − T0^kk b)`, `M1[w^k, v̂^k] = η α_v`,
//! `M1[w^k, w^m] = −η T0^km b_m`, `M1[v̂^k, w^k] = η a`. By Stein's lemma these equal the vector
//! form's coefficients (`α_w = R^kk E[g''']`, `α_v = E[g']`, `b_k = E[g''(λ^k)g(λ^m)]`,
//! `b_m = E[g'g']`, `b = E[g''g] + E[g'²]`, `a = E[g']`), so both forms agree to integrator
//! tolerance — as long as the determinants `Q^kk T^kk − (R^kk)²` and `Q^kk Q^mm − (Q^km)²` do not
//! vanish; when they do (decoder parallel to encoder, aligned units) this form is undefined and
//! the integration stops with that message.

use super::drift::Drift;
use crate::activation::{Activation, Gauss3, Integral};
use crate::model::Training;
use crate::order::OrderParams;

/// Relative size below which a 2×2 determinant counts as vanishing.
const SINGULAR: f64 = 1e-12;

/// Overwrites the x_τ-average entries of `dr.m1` (untied) with their regression forms.
pub fn encoder_decoder(
    act: &dyn Activation,
    tr: &Training,
    o: &OrderParams,
    dr: &mut Drift,
) -> Result<(), String> {
    let (k, n, eta) = (tr.k, dr.n, tr.lr);
    let m1 = &mut dr.m1;
    for u in 0..k {
        let (q, r, t, beta) = (o.q(u, u), o.r(u, u), o.t[u * k + u], o.beta[u]);
        // ν-term: regression onto (λ^k, ν^k)
        let det1 = q * t - r * r;
        if det1.is_nan() || det1 <= SINGULAR * q * t {
            for v in m1.iter_mut() {
                *v = f64::NAN;
            }
            return Err(format!(
                "the paper's regression form divides by Q^kk T^kk − (R^kk)² = {det1:.3e} for unit {}, \
                 which is not positive here (decoder parallel to the encoder); use `ode.form = \"vector\"` or \"density\"",
                u + 1
            ));
        }
        let mut g = Gauss3::zero();
        g.mean = [beta, 0.0, 0.0];
        g.cov = [[q, r, 0.0], [r, t, 0.0], [0.0; 3]];
        // E[g'(λ)(λ − β)ν] = I21 − β E[g'(λ)ν], E[g'(λ)ν] = R E[g''(λ)] (ν centred)
        let mut single = Gauss3::zero();
        single.mean[0] = beta;
        single.cov[0][0] = q;
        let e_d2g = act.integral(Integral::D2g, &single);
        let e1 = act.integral(Integral::I21, &g) - beta * r * e_d2g;
        let e2 = act.integral(Integral::I22, &g);
        let alpha_w = (t * e1 - r * e2) / det1;
        let alpha_v = (-r * e1 + q * e2) / det1;
        // same unit: y = λ^k alone, x2 the centred λ^k
        let mut same = Gauss3::zero();
        same.mean = [beta, 0.0, beta];
        same.cov = [[q; 3]; 3];
        let b_same = act.integral(Integral::I3, &same) / q;
        let mut w_diag = alpha_w - o.t0(u, u) * b_same;
        for m in 0..k {
            if m == u || !tr.sees(u, m) {
                continue;
            }
            let (qkm, qmm, bm) = (o.q(u, m), o.q(m, m), o.beta[m]);
            let det2 = q * qmm - qkm * qkm;
            if det2.is_nan() || det2 <= SINGULAR * q * qmm {
                for v in m1.iter_mut() {
                    *v = f64::NAN;
                }
                return Err(format!(
                    "the paper's regression form divides by Q^kk Q^mm − (Q^km)² = {det2:.3e} for units \
                     ({}, {}), which is not positive here (aligned units); use `ode.form = \"vector\"` or \"density\"",
                    u + 1,
                    m + 1
                ));
            }
            // x1 = λ^k, x3 = λ^m, x2 = centred λ^k or centred λ^m
            let mut gk = Gauss3::zero();
            gk.mean = [beta, 0.0, bm];
            gk.cov = [[q, q, qkm], [q, q, qkm], [qkm, qkm, qmm]];
            let mut gm = gk;
            gm.cov = [[q, qkm, qkm], [qkm, qmm, qmm], [qkm, qmm, qmm]];
            let (ek, em) = (
                act.integral(Integral::I3, &gk),
                act.integral(Integral::I3, &gm),
            );
            let b_k = (qmm * ek - qkm * em) / det2;
            let b_m = (-qkm * ek + q * em) / det2;
            w_diag -= o.t0(u, m) * b_k;
            m1[u * n + m] = -eta * o.t0(u, m) * b_m;
        }
        m1[u * n + u] = eta * w_diag;
        m1[u * n + (k + u)] = eta * alpha_v;
        // decoder: E[x_τ g(λ^k)] = Cov(x_τ, λ^k) E[(λ^k − β^k) g(λ^k)] / Q^kk
        let mut j = Gauss3::zero();
        j.mean = [0.0, beta, 0.0];
        j.cov = [[q, q, 0.0], [q, q, 0.0], [0.0; 3]];
        m1[(k + u) * n + u] = eta * act.integral(Integral::J2, &j) / q;
    }
    Ok(())
}
