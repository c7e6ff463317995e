//! insta snapshots of (a) the pretty-printed code `#[activation]` generated for each declared
//! activation, (b) its formula text (final closed forms and the specialised ODE) and (c) the
//! same in LaTeX. CI runs with INSTA_UPDATE=no: an unreviewed change fails.

use aedyn::builtins::*;
use aedyn_generated_tests::activations::*;

macro_rules! snap {
    ($test:ident, $ty:ident) => {
        #[test]
        fn $test() {
            insta::assert_snapshot!(concat!(stringify!($test), "_expansion"), $ty::EXPANSION);
            insta::assert_snapshot!(
                concat!(stringify!($test), "_formulas"),
                aedyn::formulas::render(&$ty, Default::default())
            );
            insta::assert_snapshot!(
                concat!(stringify!($test), "_latex"),
                aedyn::formulas::render(
                    &$ty,
                    aedyn::formulas::RenderOptions {
                        latex: true,
                        trace: false
                    }
                )
            );
        }
    };
}

snap!(linear, Linear);
snap!(erf, ScaledErf);
snap!(relu, ReluAct);
snap!(sign, SignAct);
snap!(gelu, Gelu);
snap!(tanh, TanhAct);
snap!(leaky_relu, LeakyRelu);
snap!(abs, AbsAct);
snap!(shifted_relu, ShiftedRelu);
snap!(bump, Bump);
snap!(cubic, Cubic);
snap!(square, Square);
snap!(affine_erf, AffineErf);
snap!(step, Step);
snap!(relu_plus_erf, ReluPlusErf);
snap!(x_erf, XErf);
snap!(gauss_erf, GaussErf);
snap!(poly_relu, PolyRelu);
snap!(shifted_sign, ShiftedSign);
snap!(softplus, Soft);
snap!(silu, Silu);
snap!(clamp_shift, ClampShift);
snap!(step_cubed, StepCubed);
snap!(sign_cubed, SignCubed);
snap!(relu_squared, ReluSquared);
snap!(hard_tanh, HardTanh);
