//! Order parameters (docs/theory.md §3) and the population error as a function of them.

use crate::activation::{Activation, Gauss3, Integral};

/// K×K order parameters, row-major: `Q = WΩWᵀ/D`, `R = VΩWᵀ/D^{3/2}`, `T0 = VVᵀ/D`, `T = VΩVᵀ/D²`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderParams {
    pub k: usize,
    pub q: Vec<f64>,
    pub r: Vec<f64>,
    pub t0: Vec<f64>,
    pub t: Vec<f64>,
    pub beta: Vec<f64>,
    /// The inputs' share of the fields' means (zero for zero-mean inputs; docs/theory.md §5.10):
    /// `m^k = w^k·μ/√D`, so `E[λ^k] = β^k + m^k`
    pub m: Vec<f64>,
    /// `n^k = E[ν^k] = v^k·μ/D`
    pub n: Vec<f64>,
}

/// The densities of one eigenmode τ of Ω (docs/theory.md §3), K×K row-major:
/// `q^{kl}_τ = w^k_τ w^l_τ`, `r^{kl}_τ = v̂^k_τ w^l_τ`, `t^{kl}_τ = v̂^k_τ v̂^l_τ`, with
/// `w^k_τ = w^k·e_τ` and `v̂^k_τ = v^k·e_τ/√D`; `Q = (1/D) Σ_τ ρ_τ q_τ`, `R`, `T` likewise, `T0 = Σ_τ t_τ`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModeDensity {
    pub k: usize,
    pub q: Vec<f64>,
    pub r: Vec<f64>,
    pub t: Vec<f64>,
}

impl ModeDensity {
    pub fn zeros(k: usize) -> Self {
        ModeDensity {
            k,
            q: vec![0.0; k * k],
            r: vec![0.0; k * k],
            t: vec![0.0; k * k],
        }
    }

    /// The rank-one densities of one mode from its components `w_τ` and `v̂_τ` (K each).
    pub fn from_components(w: &[f64], vhat: &[f64]) -> Self {
        let k = w.len();
        let mut m = ModeDensity::zeros(k);
        for a in 0..k {
            for b in 0..k {
                m.q[a * k + b] = w[a] * w[b];
                m.r[a * k + b] = vhat[a] * w[b];
                m.t[a * k + b] = vhat[a] * vhat[b];
            }
        }
        m
    }

    /// Mode τ of weights in the eigenbasis of the input covariance (Ω, or C with an input mean;
    /// `we`, `ve`: K×D row-major).
    pub fn from_eigenbasis(we: &[f64], ve: &[f64], d: usize, tau: usize) -> Self {
        let k = we.len() / d;
        let sqrt_d = (d as f64).sqrt();
        let w: Vec<f64> = (0..k).map(|a| we[a * d + tau]).collect();
        let vhat: Vec<f64> = (0..k).map(|a| ve[a * d + tau] / sqrt_d).collect();
        ModeDensity::from_components(&w, &vhat)
    }

    /// `self += c · other` (averages over seeds).
    pub fn add_scaled(&mut self, c: f64, other: &ModeDensity) {
        for (dst, src) in [
            (&mut self.q, &other.q),
            (&mut self.r, &other.r),
            (&mut self.t, &other.t),
        ] {
            for (a, b) in dst.iter_mut().zip(src) {
                *a += c * b;
            }
        }
    }
}

/// Adds `Σ_τ w(k, τ) μ_τ` to `m_sum[k]` and `Σ_τ v̂(k, τ) μ_τ` to `n_sum[k]` over the modes
/// `τ = 0 … mean.len() − 1` (`mean[τ] = μ_τ`; one part of the modes or all of them).
pub fn add_field_mean_sums(
    mean: &[f64],
    w: impl Fn(usize, usize) -> f64,
    vhat: impl Fn(usize, usize) -> f64,
    m_sum: &mut [f64],
    n_sum: &mut [f64],
) {
    for (u, (m, n)) in m_sum.iter_mut().zip(n_sum.iter_mut()).enumerate() {
        for (tau, &mu) in mean.iter().enumerate() {
            *m += w(u, tau) * mu;
            *n += vhat(u, tau) * mu;
        }
    }
}

impl OrderParams {
    pub fn zeros(k: usize) -> Self {
        OrderParams {
            k,
            q: vec![0.0; k * k],
            r: vec![0.0; k * k],
            t0: vec![0.0; k * k],
            t: vec![0.0; k * k],
            beta: vec![0.0; k],
            m: vec![0.0; k],
            n: vec![0.0; k],
        }
    }

    /// From weights in the eigenbasis of the input covariance (`we`, `ve`: K×D row-major; `ve` =
    /// `we` when tied); `m`, `n` stay zero (an input mean's share: [`OrderParams::set_field_means`]).
    pub fn from_eigenbasis(we: &[f64], ve: &[f64], beta: &[f64], rho: &[f64]) -> Self {
        let d = rho.len();
        let k = we.len() / d;
        let df = d as f64;
        let mut o = OrderParams::zeros(k);
        o.beta.copy_from_slice(beta);
        for a in 0..k {
            let (wa, va) = (&we[a * d..(a + 1) * d], &ve[a * d..(a + 1) * d]);
            for b in 0..k {
                let (wb, vb) = (&we[b * d..(b + 1) * d], &ve[b * d..(b + 1) * d]);
                let (mut q, mut r, mut t0, mut t) = (0.0, 0.0, 0.0, 0.0);
                for i in 0..d {
                    q += rho[i] * wa[i] * wb[i];
                    r += rho[i] * va[i] * wb[i];
                    t0 += va[i] * vb[i];
                    t += rho[i] * va[i] * vb[i];
                }
                o.q[a * k + b] = q / df;
                o.r[a * k + b] = r / df.powf(1.5);
                o.t0[a * k + b] = t0 / df;
                o.t[a * k + b] = t / (df * df);
            }
        }
        o
    }

    #[inline]
    pub fn q(&self, a: usize, b: usize) -> f64 {
        self.q[a * self.k + b]
    }
    #[inline]
    pub fn r(&self, a: usize, b: usize) -> f64 {
        self.r[a * self.k + b]
    }
    #[inline]
    pub fn t0(&self, a: usize, b: usize) -> f64 {
        self.t0[a * self.k + b]
    }

    /// The fields' means from an input mean (docs/theory.md §5.10): `m^k = Σ_τ w^k_τ μ_τ/√D` and
    /// `n^k = Σ_τ v̂^k_τ μ_τ/√D`, with `w(k, τ)`, `v̂(k, τ)` the components along mode τ and
    /// `mean[τ] = μ_τ` (tied: `v̂ = w/√D`).
    pub fn set_field_means(
        &mut self,
        mean: &[f64],
        w: impl Fn(usize, usize) -> f64,
        vhat: impl Fn(usize, usize) -> f64,
    ) {
        // the sums in place (no allocation: this runs in every right-hand side)
        self.m.fill(0.0);
        self.n.fill(0.0);
        add_field_mean_sums(mean, w, vhat, &mut self.m, &mut self.n);
        self.scale_field_mean_sums(mean.len());
    }

    /// `m^k = m_sum[k]/√D`, `n^k = n_sum[k]/√D` from the sums of [`add_field_mean_sums`] over
    /// all `d` modes (added over parts of them, as the two-thread integration does).
    pub fn set_field_means_from_sums(&mut self, m_sum: &[f64], n_sum: &[f64], d: usize) {
        self.m.copy_from_slice(m_sum);
        self.n.copy_from_slice(n_sum);
        self.scale_field_mean_sums(d);
    }

    /// Divides the sums held in `m`, `n` by √d.
    fn scale_field_mean_sums(&mut self, d: usize) {
        let sqrt_d = (d as f64).sqrt();
        for v in self.m.iter_mut().chain(self.n.iter_mut()) {
            *v /= sqrt_d;
        }
    }

    /// With tied weights `R = Q/√D` (the decoder is the encoder).
    pub fn set_tied_r(&mut self, d: usize) {
        let s = (d as f64).sqrt();
        for (r, q) in self.r.iter_mut().zip(&self.q) {
            *r = q / s;
        }
    }

    /// `E[λ^a] = β^a + m^a`
    #[inline]
    pub fn field_mean(&self, a: usize) -> f64 {
        self.beta[a] + self.m[a]
    }

    /// The Gaussian of `(λ^a, λ^b)`: means `(β^a + m^a, β^b + m^b)`, covariance from Q.
    pub fn pair(&self, a: usize, b: usize) -> Gauss3 {
        let mut g = Gauss3::zero();
        g.mean[0] = self.field_mean(a);
        g.mean[1] = self.field_mean(b);
        g.cov = [
            [self.q(a, a), self.q(a, b), 0.0],
            [self.q(b, a), self.q(b, b), 0.0],
            [0.0; 3],
        ];
        g
    }

    /// The Gaussian of `λ^a` alone.
    pub fn single(&self, a: usize) -> Gauss3 {
        let mut g = Gauss3::zero();
        g.mean[0] = self.field_mean(a);
        g.cov[0][0] = self.q(a, a);
        g
    }

    /// `ε = TrΩ/(2D) − Σ_k (R^{kk} E[g'(λ^k)] + n^k E[g(λ^k)]) + ½ Σ_{k,l} T0^{kl} E[g(λ^k) g(λ^l)]`
    /// (docs/theory.md §3.3; the `n^k` term only for inputs with a mean, §5.10), with
    /// `half_trace = TrΩ/(2D) = E‖x‖²/(2D)`.
    pub fn error(&self, act: &dyn Activation, half_trace: f64) -> f64 {
        let k = self.k;
        let mut eps = half_trace;
        for a in 0..k {
            eps -= self.r(a, a) * act.integral(Integral::Dg, &self.single(a));
            if self.n[a] != 0.0 {
                eps -= self.n[a] * act.integral(Integral::G, &self.single(a));
            }
            eps += 0.5 * self.t0(a, a) * act.integral(Integral::GG1, &self.single(a));
            for b in 0..k {
                if b != a {
                    eps += 0.5 * self.t0(a, b) * act.integral(Integral::I2, &self.pair(a, b));
                }
            }
        }
        eps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/theory.md §3: the global order parameters are the ρ-weighted sums of the per-mode densities.
    #[test]
    fn order_parameters_are_sums_of_mode_densities() {
        let (k, d) = (3, 17);
        let val = |s: usize| ((s as f64) * 0.618_034).sin();
        let we: Vec<f64> = (0..k * d).map(val).collect();
        let ve: Vec<f64> = (0..k * d).map(|s| 3.0 * val(s + 101)).collect();
        let rho: Vec<f64> = (0..d).map(|t| 1.0 + t as f64).collect();
        let o = OrderParams::from_eigenbasis(&we, &ve, &[0.0; 3], &rho);
        let df = d as f64;
        let mut sum = OrderParams::zeros(k);
        for tau in 0..d {
            let m = ModeDensity::from_eigenbasis(&we, &ve, d, tau);
            for i in 0..k * k {
                sum.q[i] += rho[tau] / df * m.q[i];
                sum.r[i] += rho[tau] / df * m.r[i];
                sum.t[i] += rho[tau] / df * m.t[i];
                sum.t0[i] += m.t[i];
            }
        }
        for i in 0..k * k {
            assert!((sum.q[i] - o.q[i]).abs() < 1e-12);
            assert!((sum.r[i] - o.r[i]).abs() < 1e-12);
            assert!((sum.t[i] - o.t[i]).abs() < 1e-12);
            assert!((sum.t0[i] - o.t0[i]).abs() < 1e-12);
        }
    }
}
