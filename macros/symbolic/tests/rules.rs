//! One test per derivation rule and per normal-form rule, on the whole pipeline
//! (`derive_activation`) and against independent numbers: finite differences, jump sizes at
//! kinks, Isserlis' theorem, the published zero-mean closed forms.

use aedyn_symbolic::activation::{Outcome, derive_activation, parse_expression};
use aedyn_symbolic::catalogue::CATALOGUE;
use aedyn_symbolic::expr;
use aedyn_symbolic::series::{Base, Series, eval_series};

fn derive(src: &str) -> aedyn_symbolic::activation::ActivationDerivation {
    derive_activation(parse_expression(src).expect("parses"), false).expect("derives")
}

/// g, g', g'', g''' in the normal form.
fn series_of(src: &str) -> (expr::Expr, [Series; 4]) {
    let g = parse_expression(src).expect("parses");
    let s0 = aedyn_symbolic::series::to_series(&g).expect("in the algebra");
    let s1 = aedyn_symbolic::series::derivative(&s0);
    let s2 = aedyn_symbolic::series::derivative(&s1);
    let s3 = aedyn_symbolic::series::derivative(&s2);
    (g, [s0, s1, s2, s3])
}

fn index(variant: &str) -> usize {
    CATALOGUE
        .iter()
        .position(|s| s.variant == variant)
        .expect("in catalogue")
}

/// The Dirac terms of a series: (point, order, coefficient).
fn deltas(s: &Series) -> Vec<(f64, u32, f64)> {
    s.iter()
        .filter_map(|t| {
            let f = t
                .factors
                .iter()
                .find(|f| matches!(f.base, Base::Delta(_)))?;
            let Base::Delta(n) = f.base else { return None };
            Some((-f.b / f.a, n, t.c))
        })
        .collect()
}

const NONSMOOTH: [(&str, &[f64]); 9] = [
    ("heaviside(x).powi(3)", &[0.0]),
    ("x.signum().powi(3)", &[0.0]),
    ("relu(x).powi(2)", &[0.0]),
    ("(x + 0.3).max(0.0).min(1.2)", &[-0.3, 0.9]),
    ("x.abs().min(1.0)", &[-1.0, 0.0, 1.0]),
    ("x.max(-1.0).min(1.0)", &[-1.0, 1.0]),
    ("x.clamp(-1.0, 1.0)", &[-1.0, 1.0]),
    ("relu(x).min(6.0)", &[0.0, 6.0]),
    ("relu(x) * erf(x)", &[0.0]),
];

#[test]
fn derivatives_of_the_normal_form_match_finite_differences_away_from_kinks() {
    for (src, kinks) in NONSMOOTH {
        let (g, series) = series_of(src);
        for k in 0..3 {
            let (s, ds) = (&series[k], &series[k + 1]);
            for x in [-1.7, -0.61, -0.13, 0.37, 0.77, 1.45, 2.2] {
                if kinks.iter().any(|c| (c - x).abs() < 1e-3) {
                    continue;
                }
                let h = 1e-6;
                let fd = (eval_series(s, x + h) - eval_series(s, x - h)) / (2.0 * h);
                let got = eval_series(ds, x);
                assert!(
                    (got - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                    "{src}: order {} at {x}: {got} vs {fd}",
                    k + 1
                );
            }
        }
        // g in the normal form equals g pointwise
        for x in [-1.7, -0.61, 0.37, 1.45] {
            let (a, b) = (eval_series(&series[0], x), expr::eval(&g, x));
            assert!((a - b).abs() < 1e-14, "{src} at {x}: {a} vs {b}");
        }
    }
}

#[test]
fn dirac_terms_of_g_prime_are_the_jumps_of_g_and_of_g_prime_at_kinks() {
    for (src, kinks) in NONSMOOTH {
        let (_, series) = series_of(src);
        for k in 0..2 {
            let (s, ds) = (&series[k], &series[k + 1]);
            let found = deltas(ds);
            for &c in kinks {
                let h = 1e-9;
                let jump = eval_series(s, c + h) - eval_series(s, c - h);
                let coef: f64 = found
                    .iter()
                    .filter(|(p, n, _)| (p - c).abs() < 1e-12 && *n == 0)
                    .map(|(_, _, v)| v)
                    .sum();
                assert!(
                    (coef - jump).abs() < 1e-6,
                    "{src}: δ({c}) in g^({}) has weight {coef}, the jump of g^({k}) is {jump}",
                    k + 1
                );
            }
        }
    }
}

#[test]
fn powers_of_steps_and_signs_are_reduced_before_differentiating() {
    let d = derive("heaviside(x).powi(3)");
    assert_eq!(
        d.derivatives_text()[1],
        "δ(x)",
        "Θ³ = Θ, so g' = δ (not 3Θ²δ = 1.5δ)"
    );
    let d = derive("x.signum().powi(3)");
    assert_eq!(
        d.derivatives_text()[1],
        "2·δ(x)",
        "sign³ = sign, g' = 2δ (not 6δ)"
    );
    let d = derive("relu(x).powi(2)");
    assert_eq!(d.derivatives_text()[3], "2·δ(x)", "relu² = x²Θ: g''' = 2δ");
    // so E[g'''] is defined: 2 p(0) = 2/√(2π C11) at zero mean
    let i = index("D3g");
    let v = d.eval(i, &[0.0], &[vec![1.7]]).expect("closed form");
    let want = 2.0 / (2.0 * std::f64::consts::PI * 1.7).sqrt();
    assert!((v - want).abs() < 1e-15, "{v} vs {want}");
}

#[test]
fn clamp_kernels_have_the_dirac_terms_quadrature_used_to_drop() {
    // (x + 0.3).max(0).min(1.2) at λ ~ N(0, 1): E[g''] = φ(0.3) − φ(0.9), E[g'''] = φ'(−0.3)... (by parts)
    let d = derive("(x + 0.3).max(0.0).min(1.2)");
    let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let e2 = d.eval(index("D2g"), &[0.0], &[vec![1.0]]).expect("closed");
    assert!((e2 - (phi(-0.3) - phi(0.9))).abs() < 1e-15);
    assert!((e2 - 0.115).abs() < 1e-3, "{e2}");
    // E[δ'(x − c)] = −p'(c) = c φ(c) for N(0, 1)
    let e3 = d.eval(index("D3g"), &[0.0], &[vec![1.0]]).expect("closed");
    let want = -0.3 * phi(-0.3) - 0.9 * phi(0.9);
    assert!((e3 - want).abs() < 1e-15, "{e3} vs {want}");
    assert!((e3 + 0.354).abs() < 1e-3, "{e3}");
}

#[test]
fn piecewise_affine_compositions_are_closed_form() {
    for (src, _) in NONSMOOTH.iter().take(8) {
        let d = derive(src);
        for i in &d.integrals {
            assert!(
                matches!(i.outcome, Outcome::Closed(_) | Outcome::Undefined(_)),
                "{src}: {} is {:?}",
                i.spec.variant,
                i.outcome
            );
        }
    }
    // hard tanh written three ways is one function
    let a = derive("x.max(-1.0).min(1.0)");
    let b = derive("x.clamp(-1.0, 1.0)");
    let c = derive("relu(x + 1.0) - relu(x - 1.0) - 1.0");
    let cov = vec![vec![0.9, 0.3], vec![0.3, 1.4]];
    for (i, spec) in CATALOGUE.iter().enumerate() {
        if spec.arity > 2 {
            continue;
        }
        let m = [0.2, -0.4];
        let (x, y, z) = (
            a.eval(i, &m, &cov),
            b.eval(i, &m, &cov),
            c.eval(i, &m, &cov),
        );
        let (x, y, z) = (x.unwrap(), y.unwrap(), z.unwrap());
        assert!(
            (x - y).abs() < 1e-14 && (x - z).abs() < 1e-12,
            "{i}: {x} {y} {z}"
        );
    }
}

#[test]
fn delta_prime_against_a_factor_in_another_variable() {
    // sign: E[g''(x1) g(x2)] = E[2δ'(x1)(2Θ(x2) − 1)], zero means:
    // by parts = −2·2·(C12/C11) p1(0) E[δ(x2) | x1 = 0] = −(2/π) C12/(C11 √(C11 C22 − C12²))
    let d = derive("x.signum()");
    let (c11, c12, c22): (f64, f64, f64) = (1.1, 0.3, 0.8);
    let v = d
        .eval(
            index("D2gG"),
            &[0.0, 0.0],
            &[vec![c11, c12], vec![c12, c22]],
        )
        .expect("closed");
    let want = -2.0 / std::f64::consts::PI * c12 / (c11 * (c11 * c22 - c12 * c12).sqrt());
    assert!((v - want).abs() < 1e-14, "{v} vs {want}");
}

#[test]
fn a_delta_meeting_a_delta_at_the_same_point_is_undefined() {
    let d = derive("x.signum()");
    assert!(matches!(
        d.integrals[index("DgDg1")].outcome,
        Outcome::Undefined(_)
    ));
}

#[test]
fn polynomials_of_high_degree_derive_exactly() {
    // E[x1^12 x2^12] by Isserlis at zero mean: Σ over pairings; check one integral numerically
    // against the moment formula E[x^n y^n] for unit variances and correlation r:
    // Σ_k C(n, 2k)... use the recursion of the bivariate normal moments instead.
    let start = std::time::Instant::now();
    let d = derive("x.powi(12) - 0.5 * x.powi(7) + x");
    let secs = start.elapsed().as_secs_f64();
    println!("degree-12 polynomial: all 16 integrals in {secs:.3} s");
    // guard against exponential blow-up (which takes minutes); the timing claim is in the notes
    assert!(secs < 30.0);
    let i = index("GG1");
    // E[g(x)²] for x ~ N(0, s): E[x^24] − E[x^19] + 2E[x^13] + 0.25E[x^14] − E[x^8] + E[x^2]
    let s: f64 = 0.7;
    let m = |n: i32| -> f64 {
        if n % 2 == 1 {
            0.0
        } else {
            (1..=n / 2).map(|k| (2 * k - 1) as f64).product::<f64>() * s.powi(n / 2)
        }
    };
    let want = m(24) - m(19) + 2.0 * m(13) + 0.25 * m(14) - m(8) + m(2);
    let got = d.eval(i, &[0.0], &[vec![s]]).expect("closed");
    assert!((got - want).abs() < 1e-12 * want.abs(), "{got} vs {want}");
}

#[test]
fn erf_relu_linear_print_the_textbook_zero_mean_forms() {
    let z = |src: &str, v: &str| {
        let d = derive(src);
        d.integrals[index(v)]
            .printed
            .clone()
            .expect("closed")
            .zero_mean
    };
    assert_eq!(
        z("erf(x / SQRT_2)", "I2"),
        "(2/π)·asin(C12/√((1 + C11)·(1 + C22)))"
    );
    assert_eq!(z("erf(x / SQRT_2)", "I21"), "√(2/π)·C12/(1 + C11)^(3/2)");
    assert_eq!(z("erf(x / SQRT_2)", "Dg"), "√(2/π)/√(1 + C11)");
    assert_eq!(z("x", "I2"), "C12");
    assert_eq!(z("x", "I22"), "C22");
    assert_eq!(z("relu(x)", "J2"), "(1/2)·C12");
    assert_eq!(
        z("relu(x)", "I2"),
        "(1/(2π))·√(C22 - C12^2/C11)·√C11 + C12·(1/4 + (1/(2π))·asin(C12/√(C11·C22)))"
    );
}

#[test]
fn conditional_variances_that_round_negative_are_clamped() {
    // aligned units: C22 − C12²/C11 = −5.6e-17 by rounding; before the clamp, C̃22·p(0) with the
    // variance floor gave ~1e132 (it blew up the regression-form ODE of ReLU). A step at the
    // conditioned point then sees the conditional mean μ2 − μ1·C12/C11, exactly 0 but ±1e-17 by
    // rounding: it once took Θ(±1e-17) ∈ {0, 1} instead of Θ(0) = ½ (e.g. DgG 0.165 vs 0.272).
    // Conditional variances, covariances and means within rounding of 0 are 0, so the rounded
    // aligned covariance gives the exactly aligned values.
    let d = derive("relu(x)");
    let (c11, c12, c22) = (0.30000000000000004, 0.30000000000000004, 0.3);
    assert!(c22 - c12 * c12 / c11 < 0.0);
    for v in ["I2", "DgG", "D2gG", "I21", "I22"] {
        let got = d
            .eval(index(v), &[0.1, 0.1], &[vec![c11, c12], vec![c12, c22]])
            .expect("closed");
        let want = d
            .eval(index(v), &[0.1, 0.1], &[vec![0.3, 0.3], vec![0.3, 0.3]])
            .expect("closed");
        assert!(
            (got - want).abs() <= 1e-14 * want.abs().max(1e-300),
            "{v}: {got} vs {want}"
        );
    }
}

#[test]
fn rescaled_units_give_the_values_of_positive_homogeneity() {
    // x1 = c·x3 exactly, with unequal variances (a ReLU student rescaled along its teacher,
    // w = c w*): ρ13 = 1 and the conditional variances are exactly 0, but both are computed from
    // rounded entries (C33 = 0.7315: ρ = 1, C33 − C13²/C11 = 1.1e-16; C33 = 0.9: ρ = 1 − 1.1e-16,
    // 1.1e-16), where √ and asin have infinite slope, and with means the conditional mean of x3
    // given x1 is ±6e-17 instead of 0. ReLU's homogeneity gives the exact values:
    // E[relu(x1) relu(x3)] = c E[relu(x3)²], E[Θ(x1) relu(x3)] = E[relu(x3)],
    // E[Θ(x1) Θ(x3)] = E[Θ(x3)], E[Θ(x1) x2 relu(x3)] = E[x2 relu(x3)] = C23 Φ(μ3/√C33) + μ2 E[relu(x3)].
    use aedyn_symbolic::kernels::{big_phi, phi};
    let d = derive("relu(x)");
    let (c, c2, v2) = (0.8234777450561523_f64, 0.4, 1.3);
    for (t, m3) in [(0.7315_f64, 0.0), (0.7315, 0.3), (0.9, 0.0), (0.9, 0.3)] {
        let (m1, m2) = (c * m3, -0.2);
        let s = t.sqrt();
        let relu1 = m3 * big_phi(m3 / s) + s * phi(m3 / s);
        let relu2 = (m3 * m3 + t) * big_phi(m3 / s) + m3 * s * phi(m3 / s);
        let pair = |cab: f64, va: f64, vb: f64| vec![vec![va, cab], vec![cab, vb]];
        let (c11, c13) = (c * c * t, c * t);
        for (v, want) in [("I2", c * relu2), ("DgG", relu1), ("DgDg", big_phi(m3 / s))] {
            let got = d
                .eval(index(v), &[m1, m3], &pair(c13, c11, t))
                .expect("closed");
            assert!(
                (got - want).abs() < 1e-14 * want.abs(),
                "{v}, μ3 = {m3}: {got} vs {want} ({:.1e})",
                got / want - 1.0
            );
        }
        let cov = vec![
            vec![c11, c * c2, c13],
            vec![c * c2, v2, c2],
            vec![c13, c2, t],
        ];
        let want = c2 * big_phi(m3 / s) + m2 * relu1;
        let got = d.eval(index("I3"), &[m1, m2, m3], &cov).expect("closed");
        assert!(
            (got - want).abs() < 1e-14 * want.abs(),
            "I3, μ3 = {m3}: {got} vs {want} ({:.1e})",
            got / want - 1.0
        );
    }
}

/// Exactly proportional fields `x_i = a_i z`, `z ~ N(μ, σ²)` (students sharing a teacher): the
/// expectations are one-dimensional, e.g. `E[Θ(a1 z) Θ(a2 z) relu(a3 z) relu(a4 z)] = a3 a4 E[z² Θ(z)]`
/// when all a are positive, and 0 when two steps face opposite ways. Stein's rule moves the
/// powers onto Dirac terms, each of which conditions on one field and leaves the other steps
/// determined at their threshold; two or three of those must take the joint value of steps on
/// one variable, `E[δ(z) Θ(z)^p Θ(−z)^q] = φ(0) p!q!/(p+q+1)!` (kernels::threshold_var), not ½
/// each (which gave 1/4 for 1/3), and the four-orthant probability of the aligned fields must
/// not lose digits to Plackett's integrand (0.499994 for ½ before `aligned4`).
#[test]
fn steps_determined_by_one_condition_take_their_joint_value() {
    use aedyn_symbolic::closed::Graph;
    use aedyn_symbolic::kernels::{big_phi, phi};
    use aedyn_symbolic::product::{Factor, expect_product};
    let (_, [g, dg, _, _]) = series_of("relu(x)");
    let var: f64 = 0.7;
    let sd = var.sqrt();
    for mu in [0.0, 0.3] {
        // E[z Θ(z)], E[z² Θ(z)] and the same over Θ(−z)
        let (h, d) = (mu / sd, phi(mu / sd));
        let m1 = [mu * big_phi(h) + sd * d, -(mu * big_phi(-h) - sd * d)];
        let m2 = [
            (mu * mu + var) * big_phi(h) + mu * sd * d,
            (mu * mu + var) * big_phi(-h) - mu * sd * d,
        ];
        for a in [
            [1.0, 1.3, 0.8, 1.1],
            [0.6, 2.0, 1.0, 0.9],
            [1.0, -1.3, 0.8, 1.1],
            [1.0, 1.3, -0.8, 1.1],
            [-1.0, -1.3, -0.8, -1.1],
        ] {
            let same =
                |n: usize| a[..n].iter().all(|&x| x > 0.0) || a[..n].iter().all(|&x| x < 0.0);
            let side = usize::from(a[0] < 0.0);
            let cov = |n: usize| -> Vec<Vec<f64>> {
                (0..n)
                    .map(|i| (0..n).map(|j| a[i] * a[j] * var).collect())
                    .collect()
            };
            let mean: Vec<f64> = a.iter().map(|x| x * mu).collect();
            // Θ Θ relu relu and Θ Θ relu
            for (n, want) in [
                (4, if same(4) { a[2] * a[3] * m2[side] } else { 0.0 }),
                (3, if same(3) { a[2].abs() * m1[side] } else { 0.0 }),
            ] {
                let mut graph = Graph::new();
                let mut factors = vec![(0, Factor::Series(&dg)), (1, Factor::Series(&dg))];
                factors.extend((2..n).map(|v| (v, Factor::Series(&g))));
                let (id, _) = expect_product(&mut graph, n, &factors);
                let id = id.expect("closed form");
                let got = aedyn_symbolic::render::eval(&graph, id, &mean[..n], &cov(n));
                assert!(
                    (got - want).abs() < 1e-14,
                    "μ = {mu}, a = {a:?}, {n} fields: {got} vs {want}"
                );
            }
        }
    }
}

/// Every product the teacher–student ODE needs (`E[g'(x_a) g'(x_b) g(x_c) g(x_d)]`,
/// `E[g'(x_a) x_b g(x_c)]`) for ReLU at an over-realisable perfect state, K = 3, M = 2: students
/// 0 and 1 at lengths 1/3 and 2/3 along teacher 0, student 2 equal to teacher 1 — two groups of
/// exactly proportional fields, so the Dirac conditions of Stein's rule determine steps at their
/// thresholds in both, one condition after the other. Against an independent integral: all
/// fields are linear in two standard normals (z, w), so each expectation is `E[r^d]` times an
/// angular integral of a piecewise-trigonometric function, taken with 20-point Gauss–Legendre
/// between its break points. (Before the orientation of nested conditions, E[Θ Θ relu relu] of
/// two fields of one group, the teacher and the other group's teacher came out 0.1194 for 0.1592.)
#[test]
fn products_at_an_over_realisable_perfect_state_are_exact() {
    use aedyn_symbolic::closed::Graph;
    use aedyn_symbolic::product::{Factor, expect_product};
    use std::f64::consts::PI;
    let (_, [g, dg, _, _]) = series_of("relu(x)");
    // fields λ0 = z/3, λ1 = 2z/3, λ2 = w, ν0 = z, ν1 = w as directions in (z, w)
    let dirs: [[f64; 2]; 5] = [
        [1.0 / 3.0, 0.0],
        [2.0 / 3.0, 0.0],
        [0.0, 1.0],
        [1.0, 0.0],
        [0.0, 1.0],
    ];
    #[derive(Clone, Copy)]
    enum Slot {
        Dg,
        G,
        X,
    }
    let pointwise = |slot: Slot, x: f64| match slot {
        Slot::Dg => f64::from(x > 0.0),
        Slot::G => x.max(0.0),
        Slot::X => x,
    };
    let (nodes, weights) = aedyn_symbolic::kernels::gauss_legendre::<20>();
    let reference = |fields: &[(usize, Slot)]| -> f64 {
        // degree of homogeneity d, E[r^d] = 2^(d/2) Γ(1 + d/2) for r² ~ χ²₂
        let d = fields
            .iter()
            .filter(|(_, s)| !matches!(s, Slot::Dg))
            .count() as f64;
        let radial = 2f64.powf(d / 2.0) * libm::tgamma(1.0 + d / 2.0);
        let mut breaks = vec![0.0, 2.0 * PI];
        for &(f, _) in fields {
            let t0 = (-dirs[f][0]).atan2(dirs[f][1]);
            breaks.extend(
                (-2..=2)
                    .map(|k| t0 + f64::from(k) * PI)
                    .filter(|t| *t > 0.0 && *t < 2.0 * PI),
            );
        }
        breaks.sort_by(f64::total_cmp);
        let mut angular = 0.0;
        for w in breaks.windows(2) {
            let (a, b) = (w[0], w[1]);
            for (x, wt) in nodes.iter().zip(&weights) {
                let th = 0.5 * (a + b) + 0.5 * (b - a) * x;
                let value: f64 = fields
                    .iter()
                    .map(|&(f, s)| pointwise(s, dirs[f][0] * th.cos() + dirs[f][1] * th.sin()))
                    .product();
                angular += 0.5 * (b - a) * wt * value;
            }
        }
        radial * angular / (2.0 * PI)
    };
    let mut checked = 0;
    for a in 0..3 {
        for b in 0..3 {
            for c in 0..5 {
                for d in 0..5 {
                    let i4 = vec![(a, Slot::Dg), (b, Slot::Dg), (c, Slot::G), (d, Slot::G)];
                    let i3 = vec![(a, Slot::Dg), (b, Slot::X), (c, Slot::G)];
                    for pattern in [i4, i3] {
                        // one variable per distinct field, as the teacher–student integrals bind
                        let mut fields: Vec<usize> = pattern.iter().map(|p| p.0).collect();
                        fields.sort_unstable();
                        fields.dedup();
                        let var = |f: usize| fields.iter().position(|&x| x == f).unwrap();
                        let factors: Vec<(usize, Factor)> = pattern
                            .iter()
                            .map(|&(f, s)| {
                                let factor = match s {
                                    Slot::Dg => Factor::Series(&dg),
                                    Slot::G => Factor::Series(&g),
                                    Slot::X => Factor::Power(1),
                                };
                                (var(f), factor)
                            })
                            .collect();
                        let mut graph = Graph::new();
                        let (id, _) = expect_product(&mut graph, fields.len(), &factors);
                        let cov: Vec<Vec<f64>> = fields
                            .iter()
                            .map(|&i| {
                                fields
                                    .iter()
                                    .map(|&j| dirs[i][0] * dirs[j][0] + dirs[i][1] * dirs[j][1])
                                    .collect()
                            })
                            .collect();
                        let mean = vec![0.0; fields.len()];
                        let got = aedyn_symbolic::render::eval(&graph, id.unwrap(), &mean, &cov);
                        let want = reference(&pattern);
                        let fields_of: Vec<usize> = pattern.iter().map(|p| p.0).collect();
                        assert!(
                            (got - want).abs() < 1e-13,
                            "fields {fields_of:?}: {got} vs {want}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 450);
}
