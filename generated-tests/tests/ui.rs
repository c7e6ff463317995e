//! Compile-fail tests: unsupported syntax points at the sub-expression; missing closed forms name
//! the integral and suggest `quadrature`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
