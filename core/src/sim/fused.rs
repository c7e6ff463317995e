//! The two memory passes of the vanilla untied SGD step (see `Sgd::vanilla_untied_step`).
//!
//! Both are bound by loads and stores of the K×D weight matrices, so each is written to touch
//! every weight once: for K ≤ 8 all K rows are walked together, four columns at a
//! time in SIMD registers (K a compile-time constant, so the unit loops unroll); larger K falls back
//! to row-by-row loops over L1-sized column blocks.

use crate::simd::{const_dispatch, dot, load4, store4};
use wide::f64x4;

/// Columns per block of the fallback update pass (a block of K rows stays in L1).
const BLOCK: usize = 256;

/// Pass 1: `wx_k = w^k·x`, `vx_k = v^k·x` for every unit and returns `|x|²` (W, V: K×D row-major).
pub fn projections(w: &[f64], v: &[f64], x: &[f64], wx: &mut [f64], vx: &mut [f64]) -> f64 {
    const_dispatch!(
        wx.len(),
        [1, 2, 3, 4, 5, 6, 7, 8],
        projections_k(w, v, x, wx, vx),
        {
            let d = x.len();
            for u in 0..wx.len() {
                wx[u] = dot(&w[u * d..(u + 1) * d], x);
                vx[u] = dot(&v[u * d..(u + 1) * d], x);
            }
            dot(x, x)
        }
    )
}

fn projections_k<const K: usize>(
    w: &[f64],
    v: &[f64],
    x: &[f64],
    wx: &mut [f64],
    vx: &mut [f64],
) -> f64 {
    let d = x.len();
    let wr: [&[f64]; K] = std::array::from_fn(|u| &w[u * d..(u + 1) * d]);
    let vr: [&[f64]; K] = std::array::from_fn(|u| &v[u * d..(u + 1) * d]);
    let mut aw = [f64x4::ZERO; K];
    let mut av = [f64x4::ZERO; K];
    let mut ax = f64x4::ZERO;
    let body = d - d % 4;
    for i in (0..body).step_by(4) {
        let xi = load4(x, i);
        ax = xi.mul_add(xi, ax);
        for u in 0..K {
            aw[u] = load4(wr[u], i).mul_add(xi, aw[u]);
            av[u] = load4(vr[u], i).mul_add(xi, av[u]);
        }
    }
    let mut xx = ax.reduce_add();
    for u in 0..K {
        wx[u] = aw[u].reduce_add();
        vx[u] = av[u].reduce_add();
    }
    for i in body..d {
        xx += x[i] * x[i];
        for u in 0..K {
            wx[u] += wr[u][i] * x[i];
            vx[u] += vr[u][i] * x[i];
        }
    }
    xx
}

/// Projections of the next input requested from [`update`]: `(y, W'y, V'y)` buffers.
pub type NextProjection<'a> = (&'a [f64], &'a mut [f64], &'a mut [f64]);

/// Pass 2: with `Δ = x − Σ_m g_m v^m` (old V), `v^k += a_k Δ` and `w^k += b_k x` for every unit.
/// With `next = Some((y, wy, vy))` it also computes `wy_k = w'^k·y`, `vy_k = v'^k·y` on the
/// updated weights and returns `|y|²` (0 without `next`). `scratch` needs at least
/// `min(D, 256)` entries (used only for K > 8).
#[allow(clippy::too_many_arguments)]
pub fn update(
    w: &mut [f64],
    v: &mut [f64],
    x: &[f64],
    g: &[f64],
    a: &[f64],
    b: &[f64],
    scratch: &mut [f64],
    next: Option<NextProjection<'_>>,
) -> f64 {
    const_dispatch!(
        g.len(),
        [1, 2, 3, 4, 5, 6, 7, 8],
        update_k(w, v, x, g, a, b, next),
        {
            update_blocked(w, v, x, g, a, b, scratch);
            next.map_or(0.0, |(y, wy, vy)| projections(w, v, y, wy, vy))
        }
    )
}

fn update_k<const K: usize>(
    w: &mut [f64],
    v: &mut [f64],
    x: &[f64],
    g: &[f64],
    a: &[f64],
    b: &[f64],
    next: Option<NextProjection<'_>>,
) -> f64 {
    match next {
        Some((y, wy, vy)) => update_project_k::<K, true>(w, v, x, g, a, b, y, wy, vy),
        None => update_project_k::<K, false>(w, v, x, g, a, b, x, &mut [], &mut []),
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn update_project_k<const K: usize, const PROJECT: bool>(
    w: &mut [f64],
    v: &mut [f64],
    x: &[f64],
    g: &[f64],
    a: &[f64],
    b: &[f64],
    y: &[f64],
    wy: &mut [f64],
    vy: &mut [f64],
) -> f64 {
    let d = x.len();
    let mut wrows = w.chunks_exact_mut(d);
    let mut vrows = v.chunks_exact_mut(d);
    let wr: [&mut [f64]; K] = std::array::from_fn(|_| wrows.next().expect("K rows of W"));
    let vr: [&mut [f64]; K] = std::array::from_fn(|_| vrows.next().expect("K rows of V"));
    let gs: [f64x4; K] = std::array::from_fn(|u| f64x4::splat(g[u]));
    let av: [f64x4; K] = std::array::from_fn(|u| f64x4::splat(a[u]));
    let bv: [f64x4; K] = std::array::from_fn(|u| f64x4::splat(b[u]));
    let mut aw = [f64x4::ZERO; K];
    let mut avy = [f64x4::ZERO; K];
    let mut ay = f64x4::ZERO;
    let body = d - d % 4;
    for i in (0..body).step_by(4) {
        let xi = load4(x, i);
        let old: [f64x4; K] = std::array::from_fn(|u| load4(vr[u], i));
        let mut r = xi;
        for u in 0..K {
            r = (-gs[u]).mul_add(old[u], r);
        }
        let yi = if PROJECT { load4(y, i) } else { xi };
        if PROJECT {
            ay = yi.mul_add(yi, ay);
        }
        for u in 0..K {
            let new_v = av[u].mul_add(r, old[u]);
            let new_w = bv[u].mul_add(xi, load4(wr[u], i));
            store4(vr[u], i, new_v);
            store4(wr[u], i, new_w);
            if PROJECT {
                aw[u] = new_w.mul_add(yi, aw[u]);
                avy[u] = new_v.mul_add(yi, avy[u]);
            }
        }
    }
    let mut yy = ay.reduce_add();
    if PROJECT {
        for u in 0..K {
            wy[u] = aw[u].reduce_add();
            vy[u] = avy[u].reduce_add();
        }
    }
    for i in body..d {
        let mut r = x[i];
        for u in 0..K {
            r -= g[u] * vr[u][i];
        }
        for u in 0..K {
            vr[u][i] += a[u] * r;
            wr[u][i] += b[u] * x[i];
            if PROJECT {
                wy[u] += wr[u][i] * y[i];
                vy[u] += vr[u][i] * y[i];
            }
        }
        if PROJECT {
            yy += y[i] * y[i];
        }
    }
    yy
}

fn update_blocked(
    w: &mut [f64],
    v: &mut [f64],
    x: &[f64],
    g: &[f64],
    a: &[f64],
    b: &[f64],
    scratch: &mut [f64],
) {
    let d = x.len();
    let mut start = 0;
    while start < d {
        let end = (start + BLOCK).min(d);
        let r = &mut scratch[..end - start];
        let xb = &x[start..end];
        r.copy_from_slice(xb);
        for (m, &gm) in g.iter().enumerate() {
            for (ri, vi) in r.iter_mut().zip(&v[m * d + start..m * d + end]) {
                *ri -= gm * vi;
            }
        }
        for (u, (&au, &bu)) in a.iter().zip(b).enumerate() {
            for (vi, ri) in v[u * d + start..u * d + end].iter_mut().zip(r.iter()) {
                *vi += au * ri;
            }
            for (wi, xi) in w[u * d + start..u * d + end].iter_mut().zip(xb) {
                *wi += bu * xi;
            }
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The passes against the textbook loops, for every dispatch branch and a D that is not a
    /// multiple of four or of the block size.
    #[test]
    fn fused_passes_match_the_plain_loops() {
        let d = 263;
        for k in [1, 2, 3, 4, 5, 8, 9, 12] {
            let val = |s: usize| ((s as f64) * 0.618_034).sin();
            let w: Vec<f64> = (0..k * d).map(val).collect();
            let v: Vec<f64> = (0..k * d).map(|s| val(s + 7919)).collect();
            let x: Vec<f64> = (0..d).map(|s| val(s + 104_729)).collect();
            let (mut wx, mut vx) = (vec![0.0; k], vec![0.0; k]);
            let xx = projections(&w, &v, &x, &mut wx, &mut vx);
            let plain = |m: &[f64], u: usize| (0..d).map(|i| m[u * d + i] * x[i]).sum::<f64>();
            assert!((xx - x.iter().map(|t| t * t).sum::<f64>()).abs() < 1e-12);
            for u in 0..k {
                assert!((wx[u] - plain(&w, u)).abs() < 1e-12, "k={k} wx");
                assert!((vx[u] - plain(&v, u)).abs() < 1e-12, "k={k} vx");
            }
            let g: Vec<f64> = (0..k).map(|u| 0.3 + 0.1 * u as f64).collect();
            let a: Vec<f64> = (0..k).map(|u| 0.01 * (u as f64 - 1.0)).collect();
            let b: Vec<f64> = (0..k).map(|u| -0.02 + 0.005 * u as f64).collect();
            let (mut w2, mut v2) = (w.clone(), v.clone());
            let mut scratch = vec![0.0; d];
            let y: Vec<f64> = (0..d).map(|s| val(s + 31)).collect();
            let (mut wy, mut vy) = (vec![0.0; k], vec![0.0; k]);
            let yy = update(
                &mut w2,
                &mut v2,
                &x,
                &g,
                &a,
                &b,
                &mut scratch,
                Some((&y, &mut wy, &mut vy)),
            );
            assert!((yy - y.iter().map(|t| t * t).sum::<f64>()).abs() < 1e-12);
            for u in 0..k {
                let new = |m: &[f64]| (0..d).map(|i| m[u * d + i] * y[i]).sum::<f64>();
                assert!((wy[u] - new(&w2)).abs() < 1e-12, "k={k} w'y");
                assert!((vy[u] - new(&v2)).abs() < 1e-12, "k={k} v'y");
            }
            let (mut w3, mut v3) = (w.clone(), v.clone());
            update(&mut w3, &mut v3, &x, &g, &a, &b, &mut scratch, None);
            assert_eq!((w3, v3), (w2.clone(), v2.clone()));
            for i in 0..d {
                let r = x[i] - (0..k).map(|m| g[m] * v[m * d + i]).sum::<f64>();
                for u in 0..k {
                    assert!((v2[u * d + i] - (v[u * d + i] + a[u] * r)).abs() < 1e-14);
                    assert!((w2[u * d + i] - (w[u * d + i] + b[u] * x[i])).abs() < 1e-14);
                }
            }
        }
    }
}
