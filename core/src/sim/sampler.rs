//! Input samplers. For Gaussian data the SGD runs in the eigenbasis of Ω: `x = √ρ ⊙ z`,
//! `z ~ N(0, I_D)`, O(D) per sample and exactly the same law as sampling `N(0, Ω)` in any basis
//! (the whole process is equivariant under rotations of x, W and V).

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Two independent generator streams: alternating between them lets the CPU overlap the two
/// serial dependency chains of the generators (the samples stay i.i.d.).
pub type Streams = [Xoshiro256PlusPlus; 2];

/// Two independent streams from one seed (the second one jumped 2¹²⁸ steps ahead).
pub fn streams(seed: u64) -> Streams {
    use rand::SeedableRng;
    let a = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut b = a.clone();
    b.jump();
    [a, b]
}

/// Fills a buffer with one fresh input.
pub trait Sampler: Send + Sync {
    fn d(&self) -> usize;
    fn sample(&self, rng: &mut Streams, x: &mut [f64]);
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
    fn sample(&self, rng: &mut Streams, x: &mut [f64]) {
        let [ra, rb] = rng;
        let mut xs = x.chunks_exact_mut(2);
        let mut ss = self.sqrt_rho.chunks_exact(2);
        for (xc, sc) in (&mut xs).zip(&mut ss) {
            let za: f64 = StandardNormal.sample(ra);
            let zb: f64 = StandardNormal.sample(rb);
            xc[0] = sc[0] * za;
            xc[1] = sc[1] * zb;
        }
        for (xi, s) in xs.into_remainder().iter_mut().zip(ss.remainder()) {
            let z: f64 = StandardNormal.sample(ra);
            *xi = s * z;
        }
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
    fn sample(&self, rng: &mut Streams, x: &mut [f64]) {
        let p = self.rows.len() / self.d;
        let i = rng[0].random_range(0..p);
        x.copy_from_slice(&self.rows[i * self.d..(i + 1) * self.d]);
    }
}
