//! Online SGD of a two-layer student on a two-layer teacher (docs/theory.md §8): a fresh input
//! `x ~ N(0, I_N)` every step, `Δ = Σ_k v_k g(λ_k) − Σ_m v*_m g*(ν_m) − σζ`,
//! `w_k ← w_k − (η/√N) v_k g'(λ_k) Δ x`, `v_k ← v_k − (η_v/N) g(λ_k) Δ`; time `t = steps/N`.
//! O((K + M)·N) per step, no allocation.

use crate::activation::Activation;
use crate::sim::SampleRng;
use crate::simd::dot;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// How the teacher's first-layer weights are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeacherInit {
    /// orthonormal rows scaled by √N: `T = I` exactly
    Orthonormal,
    /// i.i.d. `N(0, 1)` entries: `T = I + O(1/√N)`
    Gaussian,
}

/// Student and teacher weights.
#[derive(Clone, Debug)]
pub struct TsWeights {
    pub k: usize,
    pub m: usize,
    /// input dimension N
    pub n: usize,
    /// student first layer, K×N row-major
    pub w: Vec<f64>,
    /// teacher first layer, M×N row-major
    pub w_star: Vec<f64>,
    pub v: Vec<f64>,
    pub v_star: Vec<f64>,
}

/// Seed salt of the teacher's weights (apart from the student's, which use the seed itself).
const TEACHER_SALT: u64 = 0x7eac_4e75;

impl TsWeights {
    /// Student entries i.i.d. `N(0, σ0²)`, student second layer all ones; the teacher's first
    /// layer from `teacher` (seeded apart from the student's), second layer `v_star`.
    pub fn init(
        k: usize,
        n: usize,
        init_std: f64,
        teacher: TeacherInit,
        v_star: &[f64],
        seed: u64,
    ) -> Self {
        let m = v_star.len();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let normal = Normal::new(0.0, init_std.max(0.0))
            .unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("σ = 0 is valid"));
        let w: Vec<f64> = (0..k * n).map(|_| normal.sample(&mut rng)).collect();
        let mut trng = Xoshiro256PlusPlus::seed_from_u64(seed ^ TEACHER_SALT);
        let unit = Normal::new(0.0, 1.0).expect("valid");
        let mut w_star: Vec<f64> = (0..m * n).map(|_| unit.sample(&mut trng)).collect();
        if teacher == TeacherInit::Orthonormal {
            // Gram–Schmidt (twice, for orthogonality to rounding), rows scaled to norm √N
            for a in 0..m {
                for _ in 0..2 {
                    for b in 0..a {
                        let (lo, hi) = w_star.split_at_mut(a * n);
                        let (rb, ra) = (&lo[b * n..(b + 1) * n], &mut hi[..n]);
                        let c = dot(ra, rb) / n as f64;
                        ra.iter_mut().zip(rb).for_each(|(x, y)| *x -= c * y);
                    }
                }
                let row = &mut w_star[a * n..(a + 1) * n];
                let s = (n as f64 / dot(row, row)).sqrt();
                row.iter_mut().for_each(|x| *x *= s);
            }
        }
        TsWeights {
            k,
            m,
            n,
            w,
            w_star,
            v: vec![1.0; k],
            v_star: v_star.to_vec(),
        }
    }

    /// `Q = W Wᵀ/N` (K×K), `R = W W*ᵀ/N` (K×M), `T = W* W*ᵀ/N` (M×M).
    pub fn overlaps(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (k, m, n) = (self.k, self.m, self.n);
        fn row(a: &[f64], i: usize, n: usize) -> &[f64] {
            &a[i * n..(i + 1) * n]
        }
        let nn = n as f64;
        let mut q = vec![0.0; k * k];
        let mut r = vec![0.0; k * m];
        let mut t = vec![0.0; m * m];
        for a in 0..k {
            for b in 0..k {
                q[a * k + b] = dot(row(&self.w, a, n), row(&self.w, b, n)) / nn;
            }
            for b in 0..m {
                r[a * m + b] = dot(row(&self.w, a, n), row(&self.w_star, b, n)) / nn;
            }
        }
        for a in 0..m {
            for b in 0..m {
                t[a * m + b] = dot(row(&self.w_star, a, n), row(&self.w_star, b, n)) / nn;
            }
        }
        (q, r, t)
    }
}

/// The SGD of one seed.
pub struct TsSgd<'a> {
    pub weights: TsWeights,
    student: &'a dyn Activation,
    teacher: &'a dyn Activation,
    lr: f64,
    lr_v: f64,
    noise: f64,
    train_v: bool,
    rng: SampleRng,
    x: Vec<f64>,
    lam: Vec<f64>,
    zeta: [f64; 1],
}

/// Mixed into the seed of the input stream (apart from the weight initialisation).
const STREAM_SALT: u64 = 0x5eed_7ea0;

impl<'a> TsSgd<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        weights: TsWeights,
        student: &'a dyn Activation,
        teacher: &'a dyn Activation,
        lr: f64,
        lr_v: f64,
        noise: f64,
        train_v: bool,
        seed: u64,
    ) -> Self {
        let (k, n) = (weights.k, weights.n);
        TsSgd {
            weights,
            student,
            teacher,
            lr,
            lr_v,
            noise,
            train_v,
            rng: SampleRng::seed_from_u64(seed ^ STREAM_SALT),
            x: vec![0.0; n],
            lam: vec![0.0; k],
            zeta: [0.0],
        }
    }

    /// Runs `steps` SGD steps on fresh inputs.
    pub fn run(&mut self, steps: u64) {
        let TsWeights {
            k,
            m,
            n,
            w,
            w_star,
            v,
            v_star,
        } = &mut self.weights;
        let (k, m, n) = (*k, *m, *n);
        let sqrt_n = (n as f64).sqrt();
        for _ in 0..steps {
            self.rng.fill_standard_normal(&mut self.x);
            let x = &self.x;
            let mut y = 0.0;
            for b in 0..m {
                let nu = dot(&w_star[b * n..(b + 1) * n], x) / sqrt_n;
                y += v_star[b] * self.teacher.g(nu);
            }
            if self.noise > 0.0 {
                self.rng.fill_standard_normal(&mut self.zeta);
                y += self.noise * self.zeta[0];
            }
            let mut yhat = 0.0;
            for a in 0..k {
                let l = dot(&w[a * n..(a + 1) * n], x) / sqrt_n;
                self.lam[a] = l;
                yhat += v[a] * self.student.g(l);
            }
            let delta = yhat - y;
            for a in 0..k {
                let l = self.lam[a];
                let c = self.lr / sqrt_n * v[a] * self.student.dg(l) * delta;
                if self.train_v {
                    v[a] -= self.lr_v / n as f64 * self.student.g(l) * delta;
                }
                if c != 0.0 {
                    w[a * n..(a + 1) * n]
                        .iter_mut()
                        .zip(x)
                        .for_each(|(wi, xi)| *wi -= c * xi);
                }
            }
        }
    }

    /// True when every weight is finite and at most [`crate::sim::WEIGHT_OVERFLOW`] in size (the
    /// overlaps, its squares, then stay below the ODE's overflow bound 1e150).
    pub fn is_finite(&self) -> bool {
        self.weights
            .w
            .iter()
            .chain(&self.weights.v)
            .all(|v| v.abs() <= crate::sim::WEIGHT_OVERFLOW)
    }
}
