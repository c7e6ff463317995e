//! Snapshots of the formula text of every built-in activation (what `aedyn integrals NAME` prints):
//! a change of the derivation shows up as a reviewable diff.

use aedyn::builtins::{BUILTIN_NAMES, builtin};

#[test]
fn formula_text_of_builtins() {
    for name in BUILTIN_NAMES {
        let act = builtin(name).expect("built-in");
        insta::assert_snapshot!(
            format!("integrals_{name}"),
            aedyn::formulas::render(act, Default::default())
        );
    }
}

/// A non-smooth activation without closed forms: the printed quadrature rule names its break,
/// the jumps there, and the integral that is undefined (δ·δ).
#[test]
fn formula_text_of_a_jumping_quadrature_activation() {
    let act = aedyn::registry::resolve("sigmoid(x) + 0.5 * heaviside(x - 0.3)", true)
        .expect("derives under quadrature");
    insta::assert_snapshot!(
        "integrals_sigmoid_step",
        aedyn::formulas::render(act, Default::default())
    );
}

/// The LaTeX is well formed wherever an integral has no closed form, and stays within what
/// renderers accept: balanced braces and `\left`/`\right`, no kernel names such as
/// `E_g_g(quadrature)` in math mode (a double subscript), no unescaped `_` in `\text{..}`, and no
/// spacing macros per product (`\,`, `\;`: KaTeX counts each against 1000 expansions per formula;
/// `relu(x) * erf(x)` had 370 `\;` and failed), and ASCII only, comments included (pdfLaTeX
/// rejects `μ`, `∂`, `Σ`, `δ⁽ⁿ⁾` in the traces' rules, KaTeX's strict mode warned about each: 157
/// of 236 blocks of these activations' output; none since). Checked for closed-form, quadrature
/// and jumping activations, with the derivation traces (Stein, tilt, conditioning, orthants, by
/// parts).
#[test]
fn latex_is_well_formed() {
    let opts = aedyn::formulas::RenderOptions {
        latex: true,
        trace: true,
    };
    for (expr, quadrature) in [
        ("relu", false),
        ("sign", false),
        ("erf", false),
        ("gelu", false),
        ("linear", false),
        ("tanh", true),
        ("relu(x) * erf(x)", false),
        ("x.powi(5) - x", false),
        ("x.tanh()", true),
        ("sigmoid(x) + 0.5 * heaviside(x - 0.3)", true),
        ("(-x * x).exp()", false),
        ("relu(x).powi(2)", false),
        ("(x + 0.3).max(0.0).min(1.2)", false),
        ("x / (1.0 + x.abs())", true),
    ] {
        let act = aedyn::registry::resolve(expr, quadrature).expect("derives");
        let whole = aedyn::formulas::render(act, opts);
        let foreign: String = whole.chars().filter(|c| !c.is_ascii()).collect();
        assert!(foreign.is_empty(), "{expr}: non-ASCII {foreign:?}");
        assert!(
            !whole.contains("\\textbf{?}"),
            "{expr}: a symbol without LaTeX"
        );
        // TeX comments (`% derivation of E_g_g`) may name the kernels
        let tex: String = aedyn::formulas::render(act, opts)
            .lines()
            .filter(|l| !l.starts_with('%'))
            .collect::<Vec<_>>()
            .join("\n");
        let count = |s: &str| tex.matches(s).count();
        assert_eq!(count("{"), count("}"), "{expr}: braces");
        assert_eq!(count("\\left"), count("\\right"), "{expr}: \\left/\\right");
        assert_eq!(count("\\begin{"), count("\\end{"), "{expr}: environments");
        assert!(!tex.contains("(quadrature)") || tex.contains("\\ (\\text{quadrature})"));
        for kernel in ["E_g_g", "E_dg", "E_d2g", "E_d3g", "(UNDEFINED)"] {
            assert!(!tex.contains(kernel), "{expr}: raw kernel name {kernel}");
        }
        for text in tex.split("\\text{").skip(1) {
            let body = text.split('}').next().unwrap_or("");
            assert!(
                !body.replace("\\_", "").contains('_'),
                "{expr}: unescaped _ in \\text{{{body}}}"
            );
        }
        assert!(
            count("\\,") <= 40 && count("\\;") == 0,
            "{expr}: spacing macros"
        );
    }
}

/// Written-out formulas whose derivatives overflow far out (`1/(1 + exp(−x))`: g' =
/// e^{−x}/(1 + e^{−x})² is ∞/∞ beyond x ≈ −709, the quotient rule's higher powers earlier) are
/// resolved by quadrature where they are finite: all 16 integrals equal those of the prelude's
/// `sigmoid(x)` and of `x.tanh()` (stable forms) to 1e-10 at Gaussians with means and variances up
/// to 20; a Gaussian whose quadrature nodes reach the overflow gives NaN, never a number.
#[test]
fn overflowing_written_forms_are_resolved_where_finite() {
    use aedyn::expression::ExprActivation;
    use aedyn::{Activation, Gauss3, Integral};
    let pairs = [
        ("1.0 / (1.0 + (-x).exp())", "sigmoid(x)"),
        (
            "(x.exp() - (-x).exp()) / (x.exp() + (-x).exp())",
            "x.tanh()",
        ),
    ];
    let gaussians = [
        (
            [0.0, 0.0, 0.0],
            [[1.0, 0.3, 0.2], [0.3, 0.8, 0.1], [0.2, 0.1, 0.9]],
        ),
        (
            [0.7, -1.2, 0.4],
            [[4.0, -1.1, 0.5], [-1.1, 2.5, 0.3], [0.5, 0.3, 1.5]],
        ),
        (
            [-2.0, 1.5, 3.0],
            [[20.0, 5.0, -3.0], [5.0, 12.0, 2.0], [-3.0, 2.0, 9.0]],
        ),
    ];
    for (written, stable) in pairs {
        let a = ExprActivation::derive(written, true).expect("derives");
        let b = ExprActivation::derive(stable, true).expect("derives");
        for (mean, cov) in gaussians {
            let n = Gauss3 { mean, cov };
            for which in Integral::ALL {
                let (x, y) = (a.integral(which, &n), b.integral(which, &n));
                assert!(
                    (x - y).abs() <= 1e-10 * (1.0 + y.abs()),
                    "{written} vs {stable}, {which:?} at {mean:?}: {x:e} vs {y:e}"
                );
            }
        }
        // a standard deviation of 100 reaches past the overflow (the stable form stays finite)
        let mut wide = Gauss3::zero();
        wide.cov[0][0] = 1e4;
        assert!(
            a.integral(Integral::Dg, &wide).is_nan(),
            "{written}: NaN, not a number"
        );
        assert!(b.integral(Integral::Dg, &wide).is_finite());
    }
    let written = ExprActivation::derive(pairs[0].0, true).expect("derives");
    let text = aedyn::formulas::render(written, Default::default());
    assert!(text.contains("evaluate finitely for |x| ≤"), "{text}");
}

/// Methods of constants are folded (`(2.0 * PI).sqrt()`, `2.0_f64.ln()`), their values exact;
/// a constant that is not finite, and the same methods of x, are errors naming the method.
#[test]
fn methods_of_constants_are_folded() {
    use aedyn::Activation;
    use aedyn::expression::ExprActivation;
    let centred =
        ExprActivation::derive("relu(x) - 1.0 / (2.0 * PI).sqrt()", false).expect("derives");
    let scaled =
        ExprActivation::derive("x * 2.0_f64.ln() + 3.0_f64.powf(0.5)", false).expect("derives");
    for x in [-1.3f64, 0.2, 2.5] {
        let want = x.max(0.0) - 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        assert!((centred.g(x) - want).abs() < 1e-15);
        assert!((scaled.g(x) - (x * 2f64.ln() + 3f64.sqrt())).abs() < 1e-15);
    }
    // E[relu(x)] = 1/√(2π) at N(0, 1): the centred ReLU has mean zero
    let mut n = aedyn::Gauss3::zero();
    n.cov[0][0] = 1.0;
    assert!(centred.integral(aedyn::Integral::G, &n).abs() < 1e-15);
    for (bad, names) in [("(-1.0_f64).sqrt() * x", ".sqrt()"), ("x.sqrt()", ".sqrt")] {
        let e = ExprActivation::derive(bad, false)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains(names), "{bad}: {e}");
    }
}

/// A feature beyond the probed |x| ≤ 100 is refused, not missed: `tanh(10(x − 150))` gave
/// E[g] = −0.845 at variance 1e4 (exact −0.866385) before the far scan; the same step at 50,
/// inside the probe, is integrated to 1e-10 (mpmath, 30 digits: −0.3829247777670784); smooth
/// tails far out (sigmoid's e^x at −170, x⁵ sigmoid, softsign), features just inside the probe
/// (at 95, 99: a Simpson reference refused them) and breaks beyond it are no far features.
#[test]
fn a_feature_beyond_the_probe_is_refused_not_missed() {
    use aedyn::{Gauss3, Integral};
    let n = Gauss3 {
        mean: [0.0; 3],
        cov: [[1e4, 0.0, 0.0], [0.0, 1e4, 0.0], [0.0, 0.0, 1e4]],
    };
    let refusal = |src: &str| {
        let act = aedyn::registry::resolve(src, true).expect("derives");
        let rule = act.quadrature_rule().expect("quadrature");
        (act, rule.refusal.clone())
    };
    // (the second also fails the self-check, whose widest Gaussians reach x = −300)
    for (far, by_scan) in [
        ("(10.0 * (x - 150.0)).tanh()", true),
        ("x.tanh() + (10.0 * (x + 300.0)).tanh()", false),
        ("x + (10.0 * (x + 500.0)).tanh()", true),
    ] {
        let (act, why) = refusal(far);
        let why = why.unwrap_or_default();
        assert!(
            !why.is_empty() && (!by_scan || why.contains("beyond the probed")),
            "{far}: {why}"
        );
        assert!(act.integral(Integral::G, &n).is_nan(), "{far}: no number");
    }
    let (act, why) = refusal("(10.0 * (x - 50.0)).tanh()");
    assert!(why.is_none(), "{why:?}");
    let g = act.integral(Integral::G, &n);
    assert!((g - -0.382_924_777_767_078_4).abs() < 1e-10, "{g}");
    // features inside the probe up to its edge, breaks beyond it, smooth tails: no refusal
    for smooth in [
        "sigmoid(x)",
        "x.powi(5) * sigmoid(x)",
        "x / (1.0 + x.abs())",
        "(x - 95.0).tanh()",
        "(10.0 * (x + 99.0)).tanh()",
        "x.tanh() + relu(-x - 200.0)",
    ] {
        assert!(refusal(smooth).1.is_none(), "{smooth}");
    }
}
