//! The two O(D) loops of the vector-form right-hand side, over the modes `y_τ ∈ ℝⁿ` stored one
//! after the other:
//!
//! ```text
//! sums:   S_ρ = Σ_τ (ρ_τ/D) y_τ y_τᵀ,   S_1 = Σ_τ y_τ y_τᵀ                  (order parameters)
//! drift:  dy_τ/dt = (M0 + c1(ρ_τ) M1 + c2(ρ_τ) M2) y_τ                      (docs/theory.md §5, form (a))
//! ```
//!
//! With n a compile-time constant (n = 2K untied or K tied, up to 16) the per-mode n-vectors and
//! n×n products unroll into SIMD registers (explicit 4-lane vectors and FMAs when 4 divides n);
//! other n use the same code with runtime bounds.

use crate::simd::const_dispatch;
use wide::f64x4;

/// `S_ρ += Σ_τ c_τ y_τ y_τᵀ` with `c_τ = ρ_τ/D`, and `S_1 += Σ_τ y_τ y_τᵀ` on the rows
/// `one_from..n` only (the untied order parameters need only the decoder block of `S_1`; the other
/// rows are left untouched). Both n×n row-major.
pub fn accumulate_sums(
    ys: &[f64],
    c: &[f64],
    n: usize,
    one_from: usize,
    s_rho: &mut [f64],
    s_one: &mut [f64],
) {
    match n {
        4 => sums_simd::<4, 1>(ys, c, one_from, s_rho, s_one),
        8 => sums_simd::<8, 2>(ys, c, one_from, s_rho, s_one),
        12 => sums_simd::<12, 3>(ys, c, one_from, s_rho, s_one),
        16 => sums_simd::<16, 4>(ys, c, one_from, s_rho, s_one),
        _ => const_dispatch!(
            n,
            [1, 2, 3, 5, 6, 7, 10, 14],
            sums_n(ys, c, n, one_from, s_rho, s_one),
            sums_any(ys, c, n, one_from, s_rho, s_one)
        ),
    }
}

/// [`sums_n`] for n a multiple of four, written with explicit 4-lane vectors and FMAs
/// (`V = n/4` vectors per row).
fn sums_simd<const N: usize, const V: usize>(
    ys: &[f64],
    c: &[f64],
    one_from: usize,
    s_rho: &mut [f64],
    s_one: &mut [f64],
) {
    for (from, weights, out) in [(0, Some(c), s_rho), (one_from, None, s_one)] {
        let mut i0 = from;
        while i0 < N {
            let rows = TILE_ROWS.min(N - i0);
            match rows {
                1 => tile_simd::<N, V, 1>(ys, weights, i0, out),
                2 => tile_simd::<N, V, 2>(ys, weights, i0, out),
                3 => tile_simd::<N, V, 3>(ys, weights, i0, out),
                _ => tile_simd::<N, V, TILE_ROWS>(ys, weights, i0, out),
            }
            i0 += rows;
        }
    }
}

/// Rows `i0..i0+R` of `Σ_τ c_τ y_τ y_τᵀ` added to `out`, accumulators in SIMD registers.
fn tile_simd<const N: usize, const V: usize, const R: usize>(
    ys: &[f64],
    c: Option<&[f64]>,
    i0: usize,
    out: &mut [f64],
) {
    assert!(i0 + R <= N && 4 * V == N, "tile inside the matrix");
    let mut acc = [[f64x4::ZERO; V]; R];
    let mut add = |y: &[f64; N], ct: f64| {
        let yv: [f64x4; V] = std::array::from_fn(|v| {
            f64x4::from([y[4 * v], y[4 * v + 1], y[4 * v + 2], y[4 * v + 3]])
        });
        for r in 0..R {
            let a = f64x4::splat(ct * y[i0 + r]);
            for v in 0..V {
                acc[r][v] = a.mul_add(yv[v], acc[r][v]);
            }
        }
    };
    let modes = ys
        .chunks_exact(N)
        .map(|y| -> &[f64; N] { y.try_into().expect("chunks of N") });
    match c {
        Some(c) => modes.zip(c).for_each(|(y, &ct)| add(y, ct)),
        None => modes.for_each(|y| add(y, 1.0)),
    }
    for r in 0..R {
        for v in 0..V {
            let sums = acc[r][v].to_array();
            for l in 0..4 {
                out[(i0 + r) * N + 4 * v + l] += sums[l];
            }
        }
    }
}

/// Rows per register tile: a tile of `R×N` accumulators stays in SIMD registers while all modes
/// stream past.
const TILE_ROWS: usize = 4;

fn sums_n<const N: usize>(
    ys: &[f64],
    c: &[f64],
    _n: usize,
    one_from: usize,
    s_rho: &mut [f64],
    s_one: &mut [f64],
) {
    let mut i0 = 0;
    while i0 < N {
        let rows = TILE_ROWS.min(N - i0);
        add_tile::<N>(ys, Some(c), i0, rows, s_rho);
        i0 += rows;
    }
    let mut i0 = one_from;
    while i0 < N {
        let rows = TILE_ROWS.min(N - i0);
        add_tile::<N>(ys, None, i0, rows, s_one);
        i0 += rows;
    }
}

/// Rows `i0..i0+rows` of `Σ_τ c_τ y_τ y_τᵀ` (`c_τ = 1` without weights) added to `out`.
fn add_tile<const N: usize>(
    ys: &[f64],
    c: Option<&[f64]>,
    i0: usize,
    rows: usize,
    out: &mut [f64],
) {
    match rows {
        1 => add_tile_r::<N, 1>(ys, c, i0, out),
        2 => add_tile_r::<N, 2>(ys, c, i0, out),
        3 => add_tile_r::<N, 3>(ys, c, i0, out),
        _ => add_tile_r::<N, TILE_ROWS>(ys, c, i0, out),
    }
}

fn add_tile_r<const N: usize, const R: usize>(
    ys: &[f64],
    c: Option<&[f64]>,
    i0: usize,
    out: &mut [f64],
) {
    assert!(i0 + R <= N, "tile inside the matrix");
    let mut acc = [[0.0; N]; R];
    let modes = ys
        .chunks_exact(N)
        .map(|y| -> &[f64; N] { y.try_into().expect("chunks of N") });
    match c {
        Some(c) => {
            for (y, &ct) in modes.zip(c) {
                for r in 0..R {
                    let a = ct * y[i0 + r];
                    for j in 0..N {
                        acc[r][j] += a * y[j];
                    }
                }
            }
        }
        None => {
            for y in modes {
                for r in 0..R {
                    let a = y[i0 + r];
                    for j in 0..N {
                        acc[r][j] += a * y[j];
                    }
                }
            }
        }
    }
    for r in 0..R {
        for j in 0..N {
            out[(i0 + r) * N + j] += acc[r][j];
        }
    }
}

fn sums_any(
    ys: &[f64],
    c: &[f64],
    n: usize,
    one_from: usize,
    s_rho: &mut [f64],
    s_one: &mut [f64],
) {
    for (m, &ct) in ys.chunks_exact(n).zip(c) {
        for i in 0..n {
            let (mi, cmi) = (m[i], ct * m[i]);
            for j in 0..n {
                s_rho[i * n + j] += cmi * m[j];
                if i >= one_from {
                    s_one[i * n + j] += mi * m[j];
                }
            }
        }
    }
}

/// The drift matrices of one state and how the modes' eigenvalues enter:
/// `M(ρ) = M0 + c1 M1 + c2 M2` with `c1 = ρ·scale1`, `c2 = ρ·scale2`.
pub struct DriftMatrices<'a> {
    pub m0: &'a [f64],
    pub m1: &'a [f64],
    pub m2: &'a [f64],
    pub scale1: f64,
    pub scale2: f64,
}

/// `dy_τ = M(ρ_τ) y_τ` for every mode.
pub fn apply_drift(ys: &[f64], dys: &mut [f64], rho: &[f64], n: usize, m: &DriftMatrices) {
    match n {
        4 => drift_simd::<4, 1>(ys, dys, rho, m),
        8 => drift_simd::<8, 2>(ys, dys, rho, m),
        12 => drift_simd::<12, 3>(ys, dys, rho, m),
        16 => drift_simd::<16, 4>(ys, dys, rho, m),
        _ => const_dispatch!(
            n,
            [1, 2, 3, 5, 6, 7, 10, 14],
            drift_n(ys, dys, rho, n, m),
            drift_any(ys, dys, rho, n, m)
        ),
    }
}

/// [`drift_n`] for n a multiple of four with explicit 4-lane vectors and FMAs (`V = n/4`).
fn drift_simd<const N: usize, const V: usize>(
    ys: &[f64],
    dys: &mut [f64],
    rho: &[f64],
    m: &DriftMatrices,
) {
    assert_eq!(4 * V, N);
    // column j of a matrix as V vectors of four rows
    let col = |a: &[f64]| -> [[f64x4; V]; N] {
        std::array::from_fn(|j| {
            std::array::from_fn(|v| {
                f64x4::from([
                    a[4 * v * N + j],
                    a[(4 * v + 1) * N + j],
                    a[(4 * v + 2) * N + j],
                    a[(4 * v + 3) * N + j],
                ])
            })
        })
    };
    let (c0, c1, c2) = (col(m.m0), col(m.m1), col(m.m2));
    let with_m2 = m.scale2 != 0.0 && m.m2.iter().any(|&v| v != 0.0);
    for ((y, out), &r) in ys.chunks_exact(N).zip(dys.chunks_exact_mut(N)).zip(rho) {
        let mut a0 = [f64x4::ZERO; V];
        let mut a1 = [f64x4::ZERO; V];
        let mut a2 = [f64x4::ZERO; V];
        for j in 0..N {
            let yj = f64x4::splat(y[j]);
            for v in 0..V {
                a0[v] = c0[j][v].mul_add(yj, a0[v]);
                a1[v] = c1[j][v].mul_add(yj, a1[v]);
            }
            if with_m2 {
                for v in 0..V {
                    a2[v] = c2[j][v].mul_add(yj, a2[v]);
                }
            }
        }
        let s1 = f64x4::splat(r * m.scale1);
        let s2 = f64x4::splat(r * m.scale2);
        for v in 0..V {
            let mut res = s1.mul_add(a1[v], a0[v]);
            if with_m2 {
                res = s2.mul_add(a2[v], res);
            }
            out[4 * v..4 * v + 4].copy_from_slice(&res.to_array());
        }
    }
}

fn drift_n<const N: usize>(ys: &[f64], dys: &mut [f64], rho: &[f64], _n: usize, m: &DriftMatrices) {
    // columns, so that the product is a sum of scaled columns (vectorises over the rows)
    let col = |a: &[f64]| -> [[f64; N]; N] {
        std::array::from_fn(|j| std::array::from_fn(|i| a[i * N + j]))
    };
    let (c0, c1) = (col(m.m0), col(m.m1));
    let with_m2 = m.scale2 != 0.0 && m.m2.iter().any(|&v| v != 0.0);
    let c2 = col(m.m2);
    for ((y, out), &r) in ys.chunks_exact(N).zip(dys.chunks_exact_mut(N)).zip(rho) {
        let mut a0 = [0.0; N];
        let mut a1 = [0.0; N];
        for j in 0..N {
            for i in 0..N {
                a0[i] += c0[j][i] * y[j];
                a1[i] += c1[j][i] * y[j];
            }
        }
        let s1 = r * m.scale1;
        if with_m2 {
            let mut a2 = [0.0; N];
            for j in 0..N {
                for i in 0..N {
                    a2[i] += c2[j][i] * y[j];
                }
            }
            let s2 = r * m.scale2;
            for i in 0..N {
                out[i] = a0[i] + s1 * a1[i] + s2 * a2[i];
            }
        } else {
            for i in 0..N {
                out[i] = a0[i] + s1 * a1[i];
            }
        }
    }
}

fn drift_any(ys: &[f64], dys: &mut [f64], rho: &[f64], n: usize, m: &DriftMatrices) {
    for ((y, out), &r) in ys.chunks_exact(n).zip(dys.chunks_exact_mut(n)).zip(rho) {
        let (s1, s2) = (r * m.scale1, r * m.scale2);
        for i in 0..n {
            let (mut a0, mut a1, mut a2) = (0.0, 0.0, 0.0);
            for j in 0..n {
                a0 += m.m0[i * n + j] * y[j];
                a1 += m.m1[i * n + j] * y[j];
                a2 += m.m2[i * n + j] * y[j];
            }
            out[i] = a0 + s1 * a1 + s2 * a2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unrolled kernels against the runtime-n loops, for dispatched and fallback sizes and an
    /// odd number of modes.
    #[test]
    fn unrolled_kernels_match_the_plain_loops() {
        for n in [1, 2, 3, 4, 8, 9, 12, 16, 18] {
            let modes = 37;
            let val = |s: usize| ((s as f64) * 0.754_877_666).sin();
            let ys: Vec<f64> = (0..modes * n).map(val).collect();
            let rho: Vec<f64> = (0..modes).map(|t| 0.1 + t as f64).collect();
            let c: Vec<f64> = rho.iter().map(|r| r / 37.0).collect();
            for one_from in [0, n / 2] {
                let (mut a_rho, mut a_one) = (vec![0.5; n * n], vec![0.25; n * n]);
                let (mut b_rho, mut b_one) = (a_rho.clone(), a_one.clone());
                accumulate_sums(&ys, &c, n, one_from, &mut a_rho, &mut a_one);
                sums_any(&ys, &c, n, one_from, &mut b_rho, &mut b_one);
                for i in 0..n * n {
                    assert!((a_rho[i] - b_rho[i]).abs() < 1e-12, "n={n} S_ρ");
                    assert!((a_one[i] - b_one[i]).abs() < 1e-12, "n={n} S_1");
                }
                // and against the definition
                for i in 0..n {
                    for j in 0..n {
                        let direct: f64 = (0..modes)
                            .map(|t| c[t] * ys[t * n + i] * ys[t * n + j])
                            .sum();
                        assert!((a_rho[i * n + j] - 0.5 - direct).abs() < 1e-12);
                        let untouched = i < one_from;
                        assert_eq!(untouched, a_one[i * n + j] == 0.25, "n={n} rows of S_1");
                    }
                }
            }
            let mats: Vec<Vec<f64>> = (1..4)
                .map(|s| (0..n * n).map(|i| val(i * 7 + s * 1000)).collect())
                .collect();
            for scale2 in [0.0, 0.3] {
                let m = DriftMatrices {
                    m0: &mats[0],
                    m1: &mats[1],
                    m2: &mats[2],
                    scale1: 0.05,
                    scale2,
                };
                let (mut d1, mut d2) = (vec![0.0; modes * n], vec![0.0; modes * n]);
                apply_drift(&ys, &mut d1, &rho, n, &m);
                drift_any(&ys, &mut d2, &rho, n, &m);
                for i in 0..modes * n {
                    assert!((d1[i] - d2[i]).abs() < 1e-12, "n={n} drift");
                }
            }
        }
    }
}
