//! Independent reference values of Gaussian expectations by nested adaptive Gauss–Kronrod (7/15)
//! quadrature, with breakpoints at the kinks of the integrand. Accuracy target 1e-12 absolute.

/// Kronrod 15-point nodes (non-negative half) and weights, with the embedded Gauss 7-point weights.
const XK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
const WK: [f64; 8] = [
    0.022_935_322_010_529_22,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_2,
    0.140_653_259_715_525_9,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_8,
];
const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

fn gk15(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64) {
    let c = 0.5 * (a + b);
    let h = 0.5 * (b - a);
    let fc = f(c);
    let mut k = WK[7] * fc;
    let mut g = WG[3] * fc;
    for i in 0..7 {
        let (f1, f2) = (f(c - h * XK[i]), f(c + h * XK[i]));
        k += WK[i] * (f1 + f2);
        if i % 2 == 1 {
            g += WG[i / 2] * (f1 + f2);
        }
    }
    (k * h, ((k - g) * h).abs())
}

/// Bisects until the Kronrod–Gauss difference is below `density · (b − a)` (or round-off level).
fn adapt(f: &dyn Fn(f64) -> f64, a: f64, b: f64, density: f64, depth: u32) -> f64 {
    let (v, err) = gk15(f, a, b);
    if err <= density * (b - a) || err <= 1e-15 * v.abs() || depth == 0 {
        return v;
    }
    let m = 0.5 * (a + b);
    adapt(f, a, m, density, depth - 1) + adapt(f, m, b, density, depth - 1)
}

/// `∫_a^b f` with the interval split at `breaks` inside it; `tol` is the absolute error target.
pub fn integrate(f: &dyn Fn(f64) -> f64, a: f64, b: f64, breaks: &[f64], tol: f64) -> f64 {
    let mut pts: Vec<f64> = std::iter::once(a)
        .chain(breaks.iter().copied().filter(|&x| x > a && x < b))
        .chain(std::iter::once(b))
        .collect();
    pts.sort_by(f64::total_cmp);
    let density = tol / (b - a);
    pts.windows(2)
        .map(|w| adapt(f, w[0], w[1], density, 30))
        .sum()
}

fn normal_pdf(x: f64, m: f64, v: f64) -> f64 {
    (-(x - m) * (x - m) / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v).sqrt()
}

/// Number of standard deviations covered on each side.
const WIDTH: f64 = 12.0;

/// `E[f(x)]`, `x ~ N(m, v)`, `v > 0`.
pub fn expect1(f: &dyn Fn(f64) -> f64, m: f64, v: f64, kinks: &[f64]) -> f64 {
    let s = v.sqrt();
    integrate(
        &|x| f(x) * normal_pdf(x, m, v),
        m - WIDTH * s,
        m + WIDTH * s,
        kinks,
        1e-14,
    )
}

/// `E[f(x1, x2)]` for `x ~ N(mean, cov)`, nested: x1 outside, x2 | x1 inside.
pub fn expect2(
    f: &dyn Fn(f64, f64) -> f64,
    mean: [f64; 2],
    cov: [[f64; 2]; 2],
    kinks: &[f64],
) -> f64 {
    let (m1, v1) = (mean[0], cov[0][0]);
    let slope = cov[0][1] / v1;
    let vc = (cov[1][1] - cov[0][1] * slope).max(0.0);
    expect1(
        &|x1| {
            let mc = mean[1] + slope * (x1 - m1);
            if vc < 1e-300 {
                f(x1, mc)
            } else {
                expect1(&|x2| f(x1, x2), mc, vc, kinks)
            }
        },
        m1,
        v1,
        kinks,
    )
}

/// `E[h(x1, x3) · x2]` for a trivariate Gaussian, with `E[x2 | x1, x3]` taken exactly (linear
/// regression), leaving a 2-d nested integral over (x1, x3).
pub fn expect3_linear_middle(
    h: &dyn Fn(f64, f64) -> f64,
    mean: [f64; 3],
    cov: [[f64; 3]; 3],
    kinks: &[f64],
) -> f64 {
    // regression coefficients of x2 on (x1, x3)
    let (a, b, d) = (cov[0][0], cov[0][2], cov[2][2]);
    let det = a * d - b * b;
    let (c21, c23) = (cov[1][0], cov[1][2]);
    let beta1 = (d * c21 - b * c23) / det;
    let beta3 = (a * c23 - b * c21) / det;
    let outer = [[a, b], [b, d]];
    expect2(
        &|x1, x3| h(x1, x3) * (mean[1] + beta1 * (x1 - mean[0]) + beta3 * (x3 - mean[2])),
        [mean[0], mean[2]],
        outer,
        kinks,
    )
}
