//! How wide a field the teacher–student Gauss–Hermite fallback is trusted at, per pair of
//! activations: the rule's accuracy depends on the Gaussian's width relative to the width of
//! g's features (for an analytic g, the distance of its singularities from the real axis, in
//! standard deviations), so the variance at which tanh was measured to be trusted
//! ([`super::QUADRATURE_MAX_VARIANCE`]) scales with the square of the activation's feature width
//! relative to tanh's: `tanh(3x)` is trusted to variance 0.39 (4/9 up to the grid of steps
//! `2·0.9^i`, which places a ratio within a factor 0.81–1.23), not 4.
//!
//! The feature width is measured as the largest step `h` of a trapezoidal rule in x that
//! integrates the products of g, g', g* against Gaussians of standard deviation 3 and 10 to
//! 1e-10 of `E|f|` (compared with a rule three times finer): for f analytic in a strip of
//! half-width a the rule's error is `~ e^{−2πa/h}`, so h is proportional to a.

use crate::kernels::phi;
use std::sync::OnceLock;

/// The accuracy the step must reach, relative to `E|f|`.
const TOLERANCE: f64 = 1e-10;
/// Standard deviations and means of the Gaussians of the check (wide enough that g's features,
/// not the Gaussian, set the step).
const CHECK_STD: [f64; 2] = [3.0, 10.0];
const CHECK_MEAN: [f64; 3] = [0.0, 0.7, 2.3];
/// Half-width of the range in standard deviations.
const RANGE: f64 = 8.5;
/// The trusted variance of a smoother activation grows at most to this multiple of tanh's.
const MAX_GAIN: f64 = 4.0;

/// The largest step `2·0.9^i ≥ 1e-3` at which the trapezoidal rule resolves every `f` of `fs`
/// ([`TOLERANCE`]), or `None` if none does (or a product is not finite over the range).
pub fn feature_step(fs: &[Product<'_>]) -> Option<f64> {
    let mut h = 2.0;
    while h >= 1e-3 {
        let resolved = fs.iter().all(|f| {
            CHECK_STD.iter().all(|&s| {
                CHECK_MEAN.iter().all(|&m| {
                    let (coarse, _) = trapezoid(f, m, s, h / s);
                    let (fine, size) = trapezoid(f, m, s, h / (3.0 * s));
                    size.is_finite() && (coarse - fine).abs() <= TOLERANCE * size
                })
            })
        });
        if resolved {
            return Some(h);
        }
        h *= 0.9;
    }
    None
}

/// The largest field variance at which the Gauss–Hermite fallback is trusted for a pair of
/// activations whose products at one field are `fs`: tanh's
/// ([`super::QUADRATURE_MAX_VARIANCE`]) times `(h/h_tanh)²` ([`feature_step`]), at most
/// [`MAX_GAIN`] times tanh's; `None` when the features cannot be resolved at all.
pub fn trusted_variance(fs: &[Product<'_>]) -> Option<f64> {
    static TANH: OnceLock<f64> = OnceLock::new();
    let tanh = *TANH.get_or_init(|| {
        let (g, dg) = (|x: f64| x.tanh(), |x: f64| 1.0 - x.tanh().powi(2));
        feature_step(&products(&g, &dg, &g)).expect("tanh's features are resolved")
    });
    let h = feature_step(fs)?;
    Some(super::QUADRATURE_MAX_VARIANCE * ((h / tanh).powi(2)).min(MAX_GAIN))
}

/// One product of factors at a field, as a function of the field.
pub type Product<'a> = Box<dyn Fn(f64) -> f64 + 'a>;

/// The functions whose strips of analyticity set the step: a student's g, g' and a teacher's g*,
/// and the products of two of them that meet at one field of I2, J2 and I3 (I4's products of
/// four, where fields coincide, are analytic in the same strip).
pub fn products<'a>(
    g: &'a dyn Fn(f64) -> f64,
    dg: &'a dyn Fn(f64) -> f64,
    gt: &'a dyn Fn(f64) -> f64,
) -> [Product<'a>; 9] {
    [
        Box::new(g),
        Box::new(dg),
        Box::new(gt),
        Box::new(move |x| g(x) * dg(x)),
        Box::new(move |x| dg(x) * gt(x)),
        Box::new(move |x| dg(x) * dg(x)),
        Box::new(move |x| g(x) * gt(x)),
        Box::new(move |x| g(x) * g(x)),
        Box::new(move |x| gt(x) * gt(x)),
    ]
}

/// `E[f]` and `E|f|` by `Σ_k h φ(kh) f(m + s kh)` over `|kh| ≤ RANGE`, normalised by
/// `Σ_k h φ(kh)` (one evaluation of f per node for both).
fn trapezoid(f: &dyn Fn(f64) -> f64, m: f64, s: f64, h: f64) -> (f64, f64) {
    let half = (RANGE / h).floor() as i64;
    let (mut acc, mut size, mut total) = (0.0, 0.0, 0.0);
    for k in -half..=half {
        let z = k as f64 * h;
        let (w, fx) = (phi(z), f(m + s * z));
        acc += w * fx;
        size += w * fx.abs();
        total += w;
    }
    (acc / total, size / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(a: f64) -> f64 {
        let g = move |x: f64| (a * x).tanh();
        let dg = move |x: f64| a * (1.0 - (a * x).tanh().powi(2));
        trusted_variance(&products(&g, &dg, &g)).unwrap()
    }

    /// tanh is trusted to variance 4, tanh(3x) to 4/9 within the grid's factor (its features are three times
    /// narrower), tanh(x/2) to about (and at most) 4 × 4; a step function's jump is never resolved.
    #[test]
    fn the_trusted_variance_scales_with_the_features_width() {
        assert!((trusted(1.0) - 4.0).abs() < 1e-12);
        let narrow = trusted(3.0);
        assert!((narrow / (4.0 / 9.0) - 1.0).abs() < 0.25, "{narrow}");
        let wide = trusted(0.5);
        assert!((12.0..=16.0).contains(&wide), "{wide}");
        let step = |x: f64| if x > 0.0 { 1.0 } else { 0.0 };
        assert!(feature_step(&[Box::new(step)]).is_none());
    }
}
