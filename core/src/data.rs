//! Data models (docs/theory.md §2): Gaussian inputs `x ~ N(0, Ω)` given by the eigenvalues of Ω (the SGD runs
//! in the eigenbasis, so the eigenvectors are never needed), and real data given by a matrix of
//! samples together with the eigen-decomposition of its uncentred second moment `Ω = XᵀX/P`.

use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Eigenvalues of Ω, sorted in decreasing order, `d` of them.
#[derive(Clone, Debug)]
pub struct Spectrum {
    pub rho: Vec<f64>,
}

impl Spectrum {
    /// Checks finiteness and non-negativity (PSD) and sorts in decreasing order.
    pub fn new(mut rho: Vec<f64>) -> Result<Self> {
        if rho.is_empty() {
            return Err(Error::Spectrum("no eigenvalues".into()));
        }
        if let Some((i, r)) = rho.iter().enumerate().find(|(_, r)| !r.is_finite()) {
            return Err(Error::Spectrum(format!(
                "eigenvalue {i} is {r} (not finite)"
            )));
        }
        if let Some((i, r)) = rho.iter().enumerate().find(|(_, r)| **r < 0.0) {
            return Err(Error::Spectrum(format!(
                "eigenvalue {i} is {r} < 0: Ω must be positive semidefinite"
            )));
        }
        rho.sort_by(|a, b| b.total_cmp(a));
        Ok(Spectrum { rho })
    }
    pub fn d(&self) -> usize {
        self.rho.len()
    }
    /// `Tr Ω / D`
    pub fn mean_eigenvalue(&self) -> f64 {
        self.rho.iter().sum::<f64>() / self.d() as f64
    }
    /// `ε_PCA(m) = (1/2D) Σ_{τ>m} ρ_τ`, the best rank-m linear reconstruction error (docs/theory.md §3).
    pub fn pca_error(&self, m: usize) -> f64 {
        self.rho.iter().skip(m).sum::<f64>() / (2.0 * self.d() as f64)
    }
    /// Divides by the global scalar variance `TrΩ/D` (the reference code's standardisation).
    pub fn standardised(&self) -> Spectrum {
        let s2 = self.mean_eigenvalue();
        Spectrum {
            rho: self.rho.iter().map(|r| r / s2).collect(),
        }
    }
}

/// Spike directions of the spiked model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpikeShape {
    /// `a_r` with i.i.d. standard Gaussian entries (seeded), rescaled to norm √D.
    Random,
    /// `a_r(i) ∝ sin((r+1) i / 100)`, rescaled to norm √D.
    Sinusoidal,
}

/// The spiked model `x = Σ_r c_r a_r + σ ξ`, `c_r ~ N(0, Λ_r²)`, `‖a_r‖² = D`.
#[derive(Clone, Debug)]
pub struct SpikedModel {
    pub d: usize,
    pub lambdas: Vec<f64>,
    pub sigma: f64,
    pub shape: SpikeShape,
    pub seed: u64,
}

impl SpikedModel {
    /// The reference defaults `Λ_r = 2^r + 1` (3, 5, 9, ...) for `m` spikes, σ = 1.
    pub fn reference(d: usize, m: usize, shape: SpikeShape, seed: u64) -> Self {
        SpikedModel {
            d,
            lambdas: (1..=m).map(|r| 2f64.powi(r as i32) + 1.0).collect(),
            sigma: 1.0,
            shape,
            seed,
        }
    }

    /// Spike directions as rows of an M×D matrix.
    pub fn directions(&self) -> DMatrix<f64> {
        let (m, d) = (self.lambdas.len(), self.d);
        let mut a = DMatrix::zeros(m, d);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        for r in 0..m {
            for i in 0..d {
                a[(r, i)] = match self.shape {
                    SpikeShape::Random => StandardNormal.sample(&mut rng),
                    SpikeShape::Sinusoidal => ((r + 1) as f64 * i as f64 / 100.0).sin(),
                };
            }
            let norm = a.row(r).norm();
            let scale = if norm > 0.0 {
                (d as f64).sqrt() / norm
            } else {
                0.0
            };
            a.row_mut(r).scale_mut(scale);
        }
        a
    }

    /// The exact population spectrum of `Ω = AᵀΛ²A + σ²I`: the non-zero eigenvalues of `AᵀΛ²A`
    /// are those of the M×M matrix `Λ A Aᵀ Λ`; the rest is the bulk σ².
    pub fn population_spectrum(&self) -> Result<Spectrum> {
        let a = self.directions();
        let lam = DMatrix::from_diagonal(&DVector::from_vec(self.lambdas.clone()));
        let small = &lam * (&a * a.transpose()) * &lam;
        let eig = SymmetricEigen::new(small).eigenvalues;
        let s2 = self.sigma * self.sigma;
        let mut rho = vec![s2; self.d];
        for (i, e) in eig.iter().enumerate() {
            rho[i] = e.max(0.0) + s2;
        }
        Spectrum::new(rho)
    }

    /// Draws `p` samples as rows of a P×D matrix.
    pub fn sample(&self, p: usize, seed: u64) -> DMatrix<f64> {
        let a = self.directions();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut x = DMatrix::zeros(p, self.d);
        for s in 0..p {
            for i in 0..self.d {
                let xi: f64 = StandardNormal.sample(&mut rng);
                x[(s, i)] = self.sigma * xi;
            }
            for (r, l) in self.lambdas.iter().enumerate() {
                let z: f64 = StandardNormal.sample(&mut rng);
                let c = l * z;
                for i in 0..self.d {
                    x[(s, i)] += c * a[(r, i)];
                }
            }
        }
        x
    }

    /// The empirical ("spiked Wishart") spectrum of `XᵀX/P` from `p` samples.
    pub fn empirical_spectrum(&self, p: usize, seed: u64) -> Result<Spectrum> {
        let x = self.sample(p, seed);
        Ok(Dataset::new(x)?.spectrum)
    }
}

/// Real data: samples (rows) with the eigen-decomposition of `Ω = XᵀX/P` (uncentred;
/// [`Dataset::new`]) or of their covariance `C` ([`Dataset::with_mean`]).
#[derive(Clone, Debug)]
pub struct Dataset {
    /// P×D samples
    pub x: DMatrix<f64>,
    pub spectrum: Spectrum,
    /// D×D, column τ the unit eigenvector of eigenvalue `spectrum.rho[τ]`
    pub eigenvectors: DMatrix<f64>,
}

impl Dataset {
    pub fn new(x: DMatrix<f64>) -> Result<Self> {
        Self::check(&x)?;
        let omega = (x.transpose() * &x) / x.nrows() as f64;
        Self::decomposed(x, omega)
    }

    fn check(x: &DMatrix<f64>) -> Result<()> {
        let (p, d) = x.shape();
        if p == 0 || d == 0 {
            return Err(Error::Spectrum("empty data matrix".into()));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::Spectrum("data matrix has non-finite entries".into()));
        }
        Ok(())
    }

    /// The samples `x` with the eigenpairs of `moment` (Ω, or the covariance C), sorted by
    /// decreasing eigenvalue.
    fn decomposed(x: DMatrix<f64>, moment: DMatrix<f64>) -> Result<Self> {
        let d = x.ncols();
        let (values, vectors) = symmetric_eigen(moment)?;
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let rho: Vec<f64> = order.iter().map(|&i| values[i].max(0.0)).collect();
        let mut vecs = DMatrix::zeros(d, d);
        for (j, &i) in order.iter().enumerate() {
            vecs.set_column(j, &vectors.column(i));
        }
        Ok(Dataset {
            x,
            spectrum: Spectrum::new(rho)?,
            eigenvectors: vecs,
        })
    }
    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    /// The samples as Gaussian inputs with their own mean (docs/theory.md §2.3):
    /// `x ~ N(μ, C)` with `μ` the column mean and `C = Ω − μμᵀ` the covariance. The returned
    /// dataset holds the eigen-decomposition of `C`; the [`InputMean`] holds `μ` in that
    /// eigenbasis and the eigenvalues of `Ω` (whose tail sums are the PCA levels of a
    /// reconstruction without an output bias).
    pub fn with_mean(x: DMatrix<f64>) -> Result<(Self, InputMean)> {
        Self::check(&x)?;
        let p = x.nrows() as f64;
        let mu: DVector<f64> = x.row_mean().transpose();
        let centred = DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - mu[j]);
        let cov = (centred.transpose() * &centred) / p;
        // Ω = C + μμᵀ, eigenvalues only (the PCA levels need no eigenvectors)
        let omega = &cov + &mu * mu.transpose();
        let second = symmetric_eigen(omega)?
            .0
            .iter()
            .map(|r| r.max(0.0))
            .collect();
        let ds = Self::decomposed(x, cov)?;
        let components = ds.eigenvectors.tr_mul(&mu).iter().copied().collect();
        Ok((
            ds,
            InputMean {
                components,
                second_moment: Spectrum::new(second)?,
            },
        ))
    }
}

/// Eigenvalues and unit eigenvectors (columns) of the symmetric matrix `m`. Rows that are zero
/// (pixels constant over a few images: their covariance row vanishes) are split off first, each an
/// eigenvector `e_j` of eigenvalue 0: nalgebra's QR iteration returned infinite eigenvalues for a
/// 784 × 784 covariance of six MNIST images with 452 such rows. An error if the decomposition of
/// the rest is not finite either.
fn symmetric_eigen(m: DMatrix<f64>) -> Result<(DVector<f64>, DMatrix<f64>)> {
    let d = m.nrows();
    let keep: Vec<usize> = (0..d)
        .filter(|&j| m.column(j).iter().any(|v| *v != 0.0))
        .collect();
    let (values, vectors) = if keep.is_empty() {
        // (nalgebra's decomposition panics on an empty matrix)
        (DVector::zeros(d), DMatrix::identity(d, d))
    } else if keep.len() == d {
        let e = SymmetricEigen::new(m);
        (e.eigenvalues, e.eigenvectors)
    } else {
        let e = SymmetricEigen::new(m.select_rows(&keep).select_columns(&keep));
        let mut values = DVector::zeros(d);
        let mut vectors = DMatrix::zeros(d, d);
        for (c, &j) in keep.iter().enumerate() {
            values[j] = e.eigenvalues[c];
            for (r, &i) in keep.iter().enumerate() {
                vectors[(i, j)] = e.eigenvectors[(r, c)];
            }
        }
        // the zero rows' unit vectors, at the columns the kept ones left free
        for j in (0..d).filter(|j| keep.binary_search(j).is_err()) {
            vectors[(j, j)] = 1.0;
        }
        (values, vectors)
    };
    if values.iter().chain(vectors.iter()).any(|v| !v.is_finite()) {
        return Err(Error::Spectrum(format!(
            "the eigen-decomposition of the data's {d}×{d} second moment (or covariance) did not \
             converge (non-finite eigenvalues); with few images (`data.max_images`) try more"
        )));
    }
    Ok((values, vectors))
}

/// The mean of real inputs, for the ODE of `x ~ N(μ, C)` (docs/theory.md §2.3, §5.10).
#[derive(Clone, Debug)]
pub struct InputMean {
    /// `μ_τ = μ·e_τ` over the eigenvectors `e_τ` of the covariance `C` (decreasing eigenvalues)
    pub components: Vec<f64>,
    /// eigenvalues of the second moment `Ω = C + μμᵀ`
    pub second_moment: Spectrum,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rows_are_split_off_the_eigen_decomposition() {
        // a rank-two 40×40 matrix whose rows 3, 7, 20..40 vanish: V diag(λ) Vᵀ = m, VᵀV = I
        let d = 40;
        let zero = |i: usize| i == 3 || i == 7 || i >= 20;
        let u = DVector::from_fn(d, |i, _| if zero(i) { 0.0 } else { (i as f64 * 0.7).sin() });
        let v = DVector::from_fn(d, |i, _| if zero(i) { 0.0 } else { (i as f64 * 1.3).cos() });
        let m = &u * u.transpose() * 2.0 + &v * v.transpose();
        let (values, vectors) = symmetric_eigen(m.clone()).expect("finite");
        let rebuilt = &vectors * DMatrix::from_diagonal(&values) * vectors.transpose();
        assert!((rebuilt - &m).amax() < 1e-12);
        assert!((vectors.transpose() * &vectors - DMatrix::identity(d, d)).amax() < 1e-12);
        assert_eq!(values.iter().filter(|v| v.abs() > 1e-12).count(), 2);
        // all rows zero (identical images, centred)
        let (values, vectors) = symmetric_eigen(DMatrix::zeros(5, 5)).expect("finite");
        assert_eq!(
            (values, vectors),
            (DVector::zeros(5), DMatrix::identity(5, 5))
        );
    }

    #[test]
    fn reference_spiked_spectrum_after_standardisation() {
        // M = 2: ρ ≈ D (25, 9)/35 and bulk 1/35 (docs/theory.md §2), up to the overlap of random directions
        let model = SpikedModel::reference(2000, 2, SpikeShape::Random, 1);
        let s = model.population_spectrum().expect("valid").standardised();
        let d = 2000.0;
        assert!(
            (s.rho[0] / d - 25.0 / 35.0).abs() < 0.02,
            "{}",
            s.rho[0] / d
        );
        assert!((s.rho[1] / d - 9.0 / 35.0).abs() < 0.02, "{}", s.rho[1] / d);
        assert!((s.rho[5] - 1.0 / 35.0).abs() < 1e-3);
    }

    #[test]
    fn empirical_spectrum_approaches_population() {
        let model = SpikedModel {
            d: 50,
            lambdas: vec![3.0],
            sigma: 1.0,
            shape: SpikeShape::Sinusoidal,
            seed: 0,
        };
        let pop = model.population_spectrum().expect("valid");
        let emp = model.empirical_spectrum(20_000, 3).expect("valid");
        assert!((emp.rho[0] / pop.rho[0] - 1.0).abs() < 0.05);
        assert!((emp.mean_eigenvalue() / pop.mean_eigenvalue() - 1.0).abs() < 0.05);
    }

    #[test]
    fn invalid_spectra_are_rejected() {
        assert!(Spectrum::new(vec![1.0, -0.1]).is_err());
        assert!(Spectrum::new(vec![1.0, f64::NAN]).is_err());
        assert!(Spectrum::new(vec![]).is_err());
    }
}
