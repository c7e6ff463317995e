//! Small SIMD helpers shared by the SGD step, the sampler and the ODE kernels.

use wide::f64x4;

/// The four values `s[i..i + 4]` as one vector.
#[inline(always)]
pub(crate) fn load4(s: &[f64], i: usize) -> f64x4 {
    let four: [f64; 4] = s[i..i + 4].try_into().expect("a slice of four");
    f64x4::from(four)
}

/// `a·b` with two 4-lane SIMD accumulators (the plain fold is latency-bound).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [f64x4::ZERO; 2];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        acc[0] = load4(x, 0).mul_add(load4(y, 0), acc[0]);
        acc[1] = load4(x, 4).mul_add(load4(y, 4), acc[1]);
    }
    (acc[0] + acc[1]).reduce_add() + tail
}

/// Writes `v` to `s[i..i + 4]`.
#[inline(always)]
pub(crate) fn store4(s: &mut [f64], i: usize, v: f64x4) {
    s[i..i + 4].copy_from_slice(&v.to_array());
}

/// `match n { L => f::<L>(args), …, _ => fallback }` over the listed literals: picks the
/// monomorphised kernel whose size (K or n) is a compile-time constant, so its loops unroll.
macro_rules! const_dispatch {
    ($n:expr, [$($lit:literal),*], $f:ident $args:tt, $fallback:expr) => {
        match $n {
            $($lit => $f::<$lit> $args,)*
            _ => $fallback,
        }
    };
}
pub(crate) use const_dispatch;
