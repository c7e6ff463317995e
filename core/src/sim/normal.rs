//! Batched exact standard-normal generator for the SGD inner loop.
//!
//! Online SGD at D = 1000 draws 1000 normals per step, so drawing them one at a time (one serial
//! generator, one branchy ziggurat call per number) costs more than the step's arithmetic. Here
//! the bits come from eight interleaved xoshiro256++ lanes (the lanes are independent, so their
//! update vectorises), and each word goes through one branch-free try of the Marsaglia–Tsang
//! ziggurat with 256 layers:
//!
//! ```text
//! i = bits & 0xff,  u = uniform(−1, 1) from the top 52 bits,  x = u·X[i],  accept if |x| < X[i+1]
//! ```
//!
//! which is accepted for ≈ 98.8 % of the words. For the others the same try goes on as in the
//! sequential algorithm, with numbers from a separate scalar stream: the wedge test of layer i or,
//! for the base layer, the exact tail of Marsaglia (1964); a try that fails there restarts the whole
//! algorithm on the scalar stream. Every output is therefore one complete ziggurat draw, whose
//! law is exactly N(0, 1) (up to the tables, whose layer areas agree with V to 1e-9, tested); only
//! the source of the first word differs.
//!
//! The general-purpose `rand_distr::StandardNormal` draws one number per call and its tables are
//! private, which is why this module carries its own (computed once from R and V below).

use crate::simd::load4;
use bytemuck::cast;
use rand::{Rng, RngExt, SeedableRng};
use rand_xoshiro::{SplitMix64, Xoshiro256PlusPlus};
use std::sync::LazyLock;
use wide::{f64x4, u64x4};

/// Number of independent xoshiro256++ lanes stepped together.
const LANES: usize = 8;
/// Right edge of the base layer (Marsaglia & Tsang 2000, 256 layers).
const ZIG_R: f64 = 3.654_152_885_361_009;
/// Area of every layer (the base layer includes the tail beyond `ZIG_R`).
const ZIG_V: f64 = 4.928_673_233_974_655e-3;

/// Layer edges `X[0..=256]` (decreasing; `X[0] = V/f(R)`, `X[1] = R`, `X[256] = 0`) and heights
/// `F[i] = f(X[i])`, `f(x) = exp(−x²/2)`; layer `i` is `[0, X[i]] × [F[i], F[i+1]]`, area V.
struct Tables {
    x: [f64; 257],
    f: [f64; 257],
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let pdf = |x: f64| (-0.5 * x * x).exp();
    let mut x = [0.0; 257];
    x[0] = ZIG_V / pdf(ZIG_R);
    x[1] = ZIG_R;
    for i in 1..255 {
        // equal areas: X[i]·(f(X[i+1]) − f(X[i])) = V
        x[i + 1] = (-2.0 * (ZIG_V / x[i] + pdf(x[i])).ln()).sqrt();
    }
    x[256] = 0.0;
    let mut f = [0.0; 257];
    for i in 0..257 {
        f[i] = pdf(x[i]);
    }
    Tables { x, f }
});

/// Eight xoshiro256++ generators, each state word held as two 4-lane SIMD vectors, so one call
/// steps all of them together (`wide` maps the vectors onto AVX2 where the CPU has it).
#[derive(Clone)]
struct Lanes {
    s: [[u64x4; 2]; 4],
}

impl Lanes {
    /// Independent lanes seeded from a SplitMix64 stream (the seeding Vigna recommends).
    fn seed(seed: u64) -> Self {
        let mut sm = SplitMix64::seed_from_u64(seed);
        let mut s = [[0u64; LANES]; 4];
        for l in 0..LANES {
            // an all-zero state is the generator's one fixed point
            while (0..4).all(|r| s[r][l] == 0) {
                for row in s.iter_mut() {
                    row[l] = sm.next_u64();
                }
            }
        }
        let halves = |r: &[u64; LANES]| {
            [
                u64x4::new([r[0], r[1], r[2], r[3]]),
                u64x4::new([r[4], r[5], r[6], r[7]]),
            ]
        };
        Lanes {
            s: [halves(&s[0]), halves(&s[1]), halves(&s[2]), halves(&s[3])],
        }
    }

    /// One output word from every lane: `rotl(s0 + s3, 23) + s0`, then the xoshiro256 update.
    #[inline(always)]
    fn next(&mut self) -> [u64x4; 2] {
        let rotl = |v: u64x4, k: u32| (v << k) | (v >> (64 - k));
        let mut out = [u64x4::ZERO; 2];
        for h in 0..2 {
            let [s0, s1, s2, s3] = [self.s[0][h], self.s[1][h], self.s[2][h], self.s[3][h]];
            out[h] = rotl(s0 + s3, 23) + s0;
            let t = s1 << 17;
            let s2 = s2 ^ s0;
            let s3 = s3 ^ s1;
            let s1 = s1 ^ s2;
            let s0 = s0 ^ s3;
            self.s[0][h] = s0;
            self.s[1][h] = s1;
            self.s[2][h] = s2 ^ t;
            self.s[3][h] = rotl(s3, 45);
        }
        out
    }
}

/// The random source of one SGD run: the vector lanes for bulk normals and a scalar stream for
/// everything else (rejected ziggurat tries, data-row indices).
#[derive(Clone)]
pub struct SampleRng {
    lanes: Lanes,
    scalar: Xoshiro256PlusPlus,
}

impl SampleRng {
    /// A reproducible source from one seed.
    pub fn seed_from_u64(seed: u64) -> Self {
        SampleRng {
            lanes: Lanes::seed(seed),
            scalar: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15),
        }
    }

    /// A uniform index in `0..n` (n ≥ 1).
    pub fn index(&mut self, n: usize) -> usize {
        self.scalar.random_range(0..n)
    }

    /// Fills `z` with i.i.d. standard normals (exact law; see the module doc).
    pub fn fill_standard_normal(&mut self, z: &mut [f64]) {
        self.fill::<false>(z, &[]);
    }

    /// `z_i = s_i·ξ_i` with i.i.d. standard normals `ξ_i` (`scale.len() == z.len()`), in one pass.
    pub fn fill_scaled_normal(&mut self, z: &mut [f64], scale: &[f64]) {
        assert_eq!(z.len(), scale.len(), "one scale per output");
        self.fill::<true>(z, scale);
    }

    fn fill<const SCALED: bool>(&mut self, z: &mut [f64], scale: &[f64]) {
        let tab = &*TABLES;
        let n = z.len();
        let body = n - n % LANES;
        for start in (0..body).step_by(LANES) {
            for (h, bits) in self.lanes.next().into_iter().enumerate() {
                let at = start + 4 * h;
                let words = bits.to_array();
                let (x, rejected) = fast_try4(tab, bits, &words);
                let x = if SCALED { x * load4(scale, at) } else { x };
                z[at..at + 4].copy_from_slice(&x.to_array());
                if rejected != 0 {
                    for (l, &word) in words.iter().enumerate() {
                        if rejected & (1 << l) != 0 {
                            let s = if SCALED { scale[at + l] } else { 1.0 };
                            z[at + l] = s * self.finish_try(tab, word);
                        }
                    }
                }
            }
        }
        if body < n {
            let words = self.lanes.next();
            let words = [words[0].to_array(), words[1].to_array()];
            for (l, i) in (body..n).enumerate() {
                let word = words[l / 4][l % 4];
                let (x, ok) = fast_try(tab, word);
                let x = if ok { x } else { self.finish_try(tab, word) };
                z[i] = if SCALED { scale[i] * x } else { x };
            }
        }
    }

    /// One complete ziggurat draw from the scalar stream.
    #[cold]
    fn scalar_normal(&mut self, tab: &Tables) -> f64 {
        loop {
            let bits = self.scalar.next_u64();
            if let Some(x) = self.slow_try(tab, bits) {
                return x;
            }
        }
    }

    /// The rest of a try whose fast test failed on `bits`, then fresh draws until one is accepted.
    #[cold]
    fn finish_try(&mut self, tab: &Tables, bits: u64) -> f64 {
        match self.slow_try(tab, bits) {
            Some(x) => x,
            None => self.scalar_normal(tab),
        }
    }

    /// One whole ziggurat try on the word `bits`: fast test, then the tail (base layer) or the
    /// wedge test (uniform height in `[F[i], F[i+1]]` below the curve). `None` means rejected.
    fn slow_try(&mut self, tab: &Tables, bits: u64) -> Option<f64> {
        let (x, ok) = fast_try(tab, bits);
        if ok {
            return Some(x);
        }
        let i = (bits & 0xff) as usize;
        if i == 0 {
            return Some(self.tail(x < 0.0));
        }
        let y = tab.f[i] + (tab.f[i + 1] - tab.f[i]) * self.open01();
        (y < (-0.5 * x * x).exp()).then_some(x)
    }

    /// Exact tail beyond R (Marsaglia 1964): x = −ln(U₁)/R, y = −ln(U₂), accept if 2y > x².
    fn tail(&mut self, negative: bool) -> f64 {
        loop {
            let x = -self.open01().ln() / ZIG_R;
            let y = -self.open01().ln();
            if 2.0 * y > x * x {
                return if negative { -(ZIG_R + x) } else { ZIG_R + x };
            }
        }
    }

    /// Uniform in (0, 1).
    fn open01(&mut self) -> f64 {
        let bits = self.scalar.next_u64() >> 12;
        (bits as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
    }
}

/// Four fast tries at once: the signed uniforms and the acceptance test in SIMD, the table
/// entries loaded per lane. Returns the candidates and a bit mask of the rejected lanes.
#[inline(always)]
fn fast_try4(tab: &Tables, bits: u64x4, words: &[u64; 4]) -> (f64x4, u32) {
    let mantissa: f64x4 = cast((bits >> 12) | u64x4::splat(0x3ff0_0000_0000_0000));
    let u = mantissa.mul_add(f64x4::splat(2.0), f64x4::splat(-3.0));
    let layer = words.map(|w| (w & 0xff) as usize);
    let edge = f64x4::new(layer.map(|i| tab.x[i]));
    let inner = f64x4::new(layer.map(|i| tab.x[i + 1]));
    let x = u * edge;
    (x, x.abs().simd_ge(inner).to_bitmask())
}

/// One branch-free ziggurat try: layer from the low 8 bits, signed uniform from the top 52.
#[inline(always)]
fn fast_try(tab: &Tables, bits: u64) -> (f64, bool) {
    let i = (bits & 0xff) as usize;
    let u = 2.0 * f64::from_bits((bits >> 12) | 0x3ff0_0000_0000_0000) - 3.0;
    let x = u * tab.x[i];
    (x, x.abs() < tab.x[i + 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_equal_layer_areas_and_close_at_zero() {
        let t = &*TABLES;
        for i in 1..256 {
            let area = t.x[i] * (t.f[i + 1] - t.f[i]);
            assert!((area / ZIG_V - 1.0).abs() < 1e-9, "layer {i}: {area}");
        }
        // the base layer: rectangle [0, R]×[0, f(R)] plus the tail ∫_R^∞ f = V
        let tail = (std::f64::consts::PI / 2.0).sqrt() * libm::erfc(ZIG_R / 2f64.sqrt());
        let base = ZIG_R * t.f[1] + tail;
        assert!((base / ZIG_V - 1.0).abs() < 1e-9, "base {base}");
        assert!(t.x[255] > 0.0 && t.x[255] < 0.3, "top edge {}", t.x[255]);
    }

    /// Φ(x) of the standard normal.
    fn cdf(x: f64) -> f64 {
        0.5 * libm::erfc(-x / 2f64.sqrt())
    }

    fn draw(seed: u64, n: usize, chunk: usize) -> Vec<f64> {
        let mut rng = SampleRng::seed_from_u64(seed);
        let mut z = vec![0.0; n];
        for c in z.chunks_mut(chunk) {
            rng.fill_standard_normal(c);
        }
        z
    }

    #[test]
    fn moments_match_the_standard_normal() {
        let n = 4_000_000;
        let z = draw(1, n, 1000);
        let nf = n as f64;
        let m1 = z.iter().sum::<f64>() / nf;
        let m2 = z.iter().map(|x| x * x).sum::<f64>() / nf;
        let m3 = z.iter().map(|x| x.powi(3)).sum::<f64>() / nf;
        let m4 = z.iter().map(|x| x.powi(4)).sum::<f64>() / nf;
        // five standard errors: sd of the sample moments are 1, √2, √15, √96 over √n
        let se = |v: f64| 5.0 * v.sqrt() / nf.sqrt();
        assert!(m1.abs() < se(1.0), "mean {m1}");
        assert!((m2 - 1.0).abs() < se(2.0), "variance {m2}");
        assert!(m3.abs() < se(15.0), "third moment {m3}");
        assert!((m4 - 3.0).abs() < se(96.0), "fourth moment {m4}");
    }

    #[test]
    fn distribution_passes_ks_and_fine_binned_chi_square() {
        let n = 2_000_000;
        // odd chunk lengths exercise the remainder path as well
        let mut z = draw(7, n, 997);
        z.sort_by(f64::total_cmp);
        let nf = n as f64;
        let ks = z
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = cdf(x);
                (c - i as f64 / nf)
                    .abs()
                    .max(((i + 1) as f64 / nf - c).abs())
            })
            .fold(0.0, f64::max);
        // P(√n·D > 1.95) ≈ 0.001
        assert!(ks * nf.sqrt() < 1.95, "KS √n·D = {}", ks * nf.sqrt());
        // 400 bins on [−5, 5] (they resolve the ziggurat's layers and wedges) plus two tails
        let edges: Vec<f64> = (0..=400).map(|i| -5.0 + 10.0 * i as f64 / 400.0).collect();
        let mut counts = vec![0usize; 402];
        for &x in &z {
            let b = edges.partition_point(|&e| e <= x);
            counts[b] += 1;
        }
        let mut chi2 = 0.0;
        for (b, &c) in counts.iter().enumerate() {
            let lo = if b == 0 {
                f64::NEG_INFINITY
            } else {
                edges[b - 1]
            };
            let hi = if b == 401 { f64::INFINITY } else { edges[b] };
            let p = if hi.is_infinite() {
                0.5 * libm::erfc(lo / 2f64.sqrt())
            } else {
                cdf(hi) - cdf(lo)
            };
            let e = p * nf;
            if e > 5.0 {
                chi2 += (c as f64 - e).powi(2) / e;
            }
        }
        // dof ≲ 401: mean 401, sd ≈ 28; allow 5 sd
        assert!(chi2 < 401.0 + 5.0 * 28.3, "chi² = {chi2}");
    }

    #[test]
    fn tail_beyond_the_base_layer_has_the_right_mass() {
        let n = 8_000_000;
        let z = draw(3, n, 1000);
        for t in [ZIG_R, 4.0, 4.5] {
            let p = libm::erfc(t / 2f64.sqrt());
            let expected = p * n as f64;
            let got = z.iter().filter(|x| x.abs() > t).count() as f64;
            assert!(
                (got - expected).abs() < 5.0 * expected.sqrt() + 1.0,
                "|z| > {t}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn reproducible_per_seed_and_independent_across_seeds() {
        assert_eq!(draw(11, 1003, 1003), draw(11, 1003, 1003));
        let (a, b) = (draw(11, 100_000, 1000), draw(12, 100_000, 1000));
        let r = a.iter().zip(&b).map(|(x, y)| x * y).sum::<f64>() / 100_000.0;
        assert!(r.abs() < 5.0 / 100_000f64.sqrt(), "cross-correlation {r}");
        // neighbouring outputs (different lanes, consecutive words of one lane) are uncorrelated
        for lag in [1, 8, 9] {
            let r = a.iter().zip(&a[lag..]).map(|(x, y)| x * y).sum::<f64>() / 100_000.0;
            assert!(r.abs() < 5.0 / 100_000f64.sqrt(), "lag {lag}: {r}");
        }
    }

    #[test]
    fn simd_lanes_are_the_reference_xoshiro256plusplus() {
        let mut lanes = Lanes::seed(42);
        let mut reference: Vec<Xoshiro256PlusPlus> = (0..LANES)
            .map(|l| {
                let mut seed = [0u8; 32];
                for r in 0..4 {
                    let word = lanes.s[r][l / 4].to_array()[l % 4];
                    seed[8 * r..8 * r + 8].copy_from_slice(&word.to_le_bytes());
                }
                Xoshiro256PlusPlus::from_seed(seed)
            })
            .collect();
        for _ in 0..1000 {
            let words = lanes.next().map(|h| h.to_array()).concat();
            for (l, r) in reference.iter_mut().enumerate() {
                assert_eq!(words[l], r.next_u64());
            }
        }
    }

    #[test]
    fn scaled_fill_is_the_scaled_standard_fill() {
        let n = 1237;
        let scale: Vec<f64> = (0..n).map(|i| 0.1 + i as f64 / 100.0).collect();
        let (mut a, mut b) = (SampleRng::seed_from_u64(5), SampleRng::seed_from_u64(5));
        let (mut z, mut y) = (vec![0.0; n], vec![0.0; n]);
        for _ in 0..20 {
            a.fill_standard_normal(&mut z);
            b.fill_scaled_normal(&mut y, &scale);
            for i in 0..n {
                assert_eq!(y[i], scale[i] * z[i]);
            }
        }
    }
}
