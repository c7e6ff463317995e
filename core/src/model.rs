//! The shallow autoencoder of docs/theory.md §1 and its training variants.

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Which reconstruction each unit's update sees (docs/theory.md §1). Config: `algorithm =
/// "vanilla" | "truncated" | "sanger"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    #[default]
    /// Every unit sees the full residual `Δ = x − x̂`.
    Vanilla,
    /// Unit k sees `Δ_k = x − Σ_{m≤k} v^m g(λ^m)` (learns the principal components in order).
    Truncated,
    /// Sanger's rule (GHA): tied weights, truncated residual, only the decoder-gradient term
    /// `w^k ← w^k + (η/D) g(λ^k) Δ_k`.
    Sanger,
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::Vanilla => "vanilla",
            Algorithm::Truncated => "truncated",
            Algorithm::Sanger => "sanger",
        })
    }
}

/// Training set-up shared by SGD and ODE.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Training {
    pub k: usize,
    pub lr: f64,
    /// Decoder ≡ encoder (always so for Sanger's rule; [`Training::new`] enforces it).
    pub tied: bool,
    pub bias: bool,
    pub algorithm: Algorithm,
}

impl Training {
    /// A training set-up; Sanger's rule is tied whatever `tied` says.
    pub fn new(k: usize, lr: f64, tied: bool, bias: bool, algorithm: Algorithm) -> Self {
        Training {
            k,
            lr,
            tied: tied || algorithm == Algorithm::Sanger,
            bias,
            algorithm,
        }
    }

    /// True when unit `k` reconstructs with unit `m` (`m ∈ S_k`).
    #[inline]
    pub fn sees(&self, k: usize, m: usize) -> bool {
        match self.algorithm {
            Algorithm::Vanilla => true,
            Algorithm::Truncated | Algorithm::Sanger => m <= k,
        }
    }
}

/// Weights: encoder `W` (K×D, row-major), decoder `V` (K×D; unused when tied), biases β.
#[derive(Clone, Debug)]
pub struct Weights {
    pub k: usize,
    pub d: usize,
    pub w: Vec<f64>,
    pub v: Vec<f64>,
    pub beta: Vec<f64>,
}

impl Weights {
    /// All entries i.i.d. `N(0, σ0²)`, β = 0 (docs/theory.md §1). When tied, `V = W`.
    pub fn init(k: usize, d: usize, init_std: f64, tied: bool, seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let normal = Normal::new(0.0, init_std.max(0.0))
            .unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("σ = 0 is valid"));
        let w: Vec<f64> = (0..k * d).map(|_| normal.sample(&mut rng)).collect();
        let v: Vec<f64> = if tied {
            w.clone()
        } else {
            (0..k * d).map(|_| normal.sample(&mut rng)).collect()
        };
        Weights {
            k,
            d,
            w,
            v,
            beta: vec![0.0; k],
        }
    }
    pub fn w_row(&self, k: usize) -> &[f64] {
        &self.w[k * self.d..(k + 1) * self.d]
    }
    /// The decoder row (the encoder row when tied).
    pub fn v_row(&self, k: usize, tied: bool) -> &[f64] {
        if tied {
            self.w_row(k)
        } else {
            &self.v[k * self.d..(k + 1) * self.d]
        }
    }
}
