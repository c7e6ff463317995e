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
