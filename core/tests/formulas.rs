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
