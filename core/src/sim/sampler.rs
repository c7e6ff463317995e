//! Input samplers. For Gaussian data the SGD runs in the eigenbasis of Ω: `x = √ρ ⊙ z`,
//! `z ~ N(0, I_D)`, O(D) per sample and exactly the same law as sampling `N(0, Ω)` in any basis
//! (the whole process is equivariant under rotations of x, W and V).

use super::normal::SampleRng;

/// Fills a buffer with one fresh input.
pub trait Sampler: Send + Sync {
    fn d(&self) -> usize;
    fn sample(&self, rng: &mut SampleRng, x: &mut [f64]);
}

/// `x = √ρ ⊙ z` in the eigenbasis of Ω.
pub struct EigenbasisGaussian {
    pub sqrt_rho: Vec<f64>,
}

impl EigenbasisGaussian {
    pub fn new(rho: &[f64]) -> Self {
        EigenbasisGaussian {
            sqrt_rho: rho.iter().map(|r| r.sqrt()).collect(),
        }
    }
}

impl Sampler for EigenbasisGaussian {
    fn d(&self) -> usize {
        self.sqrt_rho.len()
    }
    #[inline]
    fn sample(&self, rng: &mut SampleRng, x: &mut [f64]) {
        rng.fill_scaled_normal(x, &self.sqrt_rho);
    }
}

/// Rows of a data matrix (P×D, row-major), drawn uniformly with replacement (borrowed, not copied).
pub struct ImageRows<'a> {
    pub d: usize,
    pub rows: &'a [f64],
}

impl Sampler for ImageRows<'_> {
    fn d(&self) -> usize {
        self.d
    }
    #[inline]
    fn sample(&self, rng: &mut SampleRng, x: &mut [f64]) {
        let p = self.rows.len() / self.d;
        let i = rng.index(p);
        x.copy_from_slice(&self.rows[i * self.d..(i + 1) * self.d]);
    }
}
