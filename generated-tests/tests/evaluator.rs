//! The run-time evaluator of the derivation library and the code `#[activation]` emitted give the
//! same numbers (to 1e-14) for every activation the project declares: the activation's own
//! expression is derived again at run time and both are evaluated at several Gaussians.

use aedyn::builtins::*;
use aedyn::{Activation, Gauss3, Integral};
use aedyn_generated_tests::activations::*;
use aedyn_symbolic::activation::{derive_activation, parse_expression};

fn all() -> Vec<&'static dyn Activation> {
    vec![
        &Linear,
        &ScaledErf,
        &ReluAct,
        &SignAct,
        &Gelu,
        &TanhAct,
        &LeakyRelu,
        &AbsAct,
        &ShiftedRelu,
        &Bump,
        &Cubic,
        &Square,
        &AffineErf,
        &Step,
        &ReluPlusErf,
        &XErf,
        &GaussErf,
        &PolyRelu,
        &ShiftedSign,
        &Soft,
        &Silu,
        &ClampShift,
        &StepCubed,
        &SignCubed,
        &ReluSquared,
        &AbsMin,
        &HardTanh,
        &Relu6,
        &Poly12,
    ]
}

fn gaussians() -> Vec<Gauss3> {
    let mut out = Vec::new();
    for (m, c) in [
        (
            [0.0; 3],
            [[1.0, 0.3, 0.2], [0.3, 0.8, 0.4], [0.2, 0.4, 0.9]],
        ),
        (
            [0.4, -0.7, 0.25],
            [[1.2, -0.5, 0.3], [-0.5, 0.9, 0.1], [0.3, 0.1, 0.6]],
        ),
        (
            [0.1, 0.1, 0.0],
            [[1.0, 0.9995, 0.3], [0.9995, 1.0, 0.3], [0.3, 0.3, 1.0]],
        ),
    ] {
        out.push(Gauss3 { mean: m, cov: c });
    }
    out
}

#[test]
fn evaluator_equals_emitted_code_on_every_declared_activation() {
    let mut compared = 0;
    for act in all() {
        let g =
            parse_expression(act.expression()).unwrap_or_else(|e| panic!("{}: {e}", act.name()));
        let d = derive_activation(g.clone(), false)
            .or_else(|_| derive_activation(g, true))
            .unwrap_or_else(|e| panic!("{}: {}", act.name(), e.message));
        for (i, which) in Integral::ALL.iter().enumerate() {
            for n in gaussians() {
                let a = which.arity();
                let mean: Vec<f64> = n.mean[..a].to_vec();
                let cov: Vec<Vec<f64>> = (0..a).map(|r| n.cov[r][..a].to_vec()).collect();
                let Some(want) = d.eval(i, &mean, &cov) else {
                    continue; // quadrature: no closed form to evaluate
                };
                let mut embedded = Gauss3::zero();
                for r in 0..a {
                    embedded.mean[r] = n.mean[r];
                    for c in 0..a {
                        embedded.cov[r][c] = n.cov[r][c];
                    }
                }
                let got = act.integral(*which, &embedded);
                if want.is_nan() {
                    assert!(
                        got.is_nan(),
                        "{} {}: {got} vs undefined",
                        act.name(),
                        which.name()
                    );
                    continue;
                }
                assert!(
                    (got - want).abs() <= 1e-14 * (1.0 + want.abs()),
                    "{} {}: emitted {got:e}, evaluator {want:e}",
                    act.name(),
                    which.name()
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 1000, "{compared}");
}

/// The printed forms (general means, and zero means) are the derived integrals rewritten — over
/// common denominators, variance floors dropped — and evaluate to the same numbers (to 1e-10).
#[test]
fn printed_forms_equal_the_derived_integrals() {
    use aedyn_symbolic::activation::Outcome;
    use aedyn_symbolic::render;
    let mut compared = 0;
    for act in all() {
        let g =
            parse_expression(act.expression()).unwrap_or_else(|e| panic!("{}: {e}", act.name()));
        let mut d = derive_activation(g.clone(), false)
            .or_else(|_| derive_activation(g, true))
            .unwrap_or_else(|e| panic!("{}: {}", act.name(), e.message));
        let roots: Vec<(usize, usize)> = d
            .integrals
            .iter()
            .map(|i| match i.outcome {
                Outcome::Closed(root) => Some(root),
                _ => None,
            })
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (i, r)))
            .collect();
        for (i, root) in roots {
            let general = d.graph.display_form(root);
            let zero = d.graph.zero_mean_form(root);
            let a = Integral::ALL[i].arity();
            for n in gaussians() {
                let cov: Vec<Vec<f64>> = (0..a).map(|r| n.cov[r][..a].to_vec()).collect();
                for (shown, mean) in [(general, n.mean[..a].to_vec()), (zero, vec![0.0; a])] {
                    let want = render::eval(&d.graph, root, &mean, &cov);
                    let got = render::eval(&d.graph, shown, &mean, &cov);
                    if want.is_nan() {
                        continue;
                    }
                    assert!(
                        (got - want).abs() <= 1e-10 * (1.0 + want.abs()),
                        "{} {}: printed form {got:e}, derived {want:e}",
                        act.name(),
                        Integral::ALL[i].name()
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 1000, "{compared}");
}
