//! At least ten activations beyond the built-ins, covering every family of the algebra
//! (polynomials, erf of affine forms, Gaussian factors, steps, sign, ReLU variants, GELU) and mixtures.

use aedyn::prelude::*;

#[activation]
pub fn leaky_relu(x: f64) -> f64 {
    x.max(0.0) + 0.1 * x.min(0.0)
}

#[activation]
pub fn abs_act(x: f64) -> f64 {
    x.abs()
}

#[activation]
pub fn shifted_relu(x: f64) -> f64 {
    relu(x - 0.5)
}

#[activation]
pub fn bump(x: f64) -> f64 {
    (-(x * x) / 2.0).exp()
}

#[activation]
pub fn cubic(x: f64) -> f64 {
    x.powi(3) - 0.5 * x
}

#[activation]
pub fn square(x: f64) -> f64 {
    x * x
}

#[activation]
pub fn affine_erf(x: f64) -> f64 {
    erf(2.0 * x + 0.3)
}

#[activation]
pub fn step(x: f64) -> f64 {
    heaviside(x - 0.2)
}

#[activation]
pub fn relu_plus_erf(x: f64) -> f64 {
    relu(x) + 0.5 * erf(x)
}

#[activation]
pub fn x_erf(x: f64) -> f64 {
    x * erf(x / SQRT_2)
}

#[activation]
pub fn gauss_erf(x: f64) -> f64 {
    exp(-0.3 * x * x) * erf(x)
}

#[activation]
pub fn poly_relu(x: f64) -> f64 {
    x.powi(2) * heaviside(x) - 0.25 * x
}

#[activation]
pub fn shifted_sign(x: f64) -> f64 {
    (x + 0.25).signum()
}

#[activation(quadrature)]
pub fn soft(x: f64) -> f64 {
    softplus(x)
}

#[activation(quadrature)]
pub fn silu(x: f64) -> f64 {
    x * sigmoid(x)
}

// Non-smooth activations without closed forms: quadrature piecewise between their breaks, the
// Dirac terms of their derivatives added exactly (once refused).

/// A rectified tanh: a kink at 0 (g' jumps by 1).
#[activation(quadrature)]
pub fn tanh_relu(x: f64) -> f64 {
    x.tanh().max(0.0)
}

/// Softsign: g'' jumps at 0 (a Dirac term in g''').
#[activation(quadrature)]
pub fn softsign(x: f64) -> f64 {
    x / (1.0 + x.abs())
}

/// exp capped at 2: a kink at ln 2, where the argument of min is not affine.
#[activation(quadrature)]
pub fn capped_exp(x: f64) -> f64 {
    x.exp().min(2.0)
}

/// sigmoid with a jump at 0.3: E[g'²] is δ² (undefined), the others are defined.
#[activation(quadrature)]
pub fn sigmoid_step(x: f64) -> f64 {
    sigmoid(x) + 0.5 * heaviside(x - 0.3)
}

// The cases of "never silently wrong": each was once derived wrongly or refused.

/// A clamp written with max/min of a non-affine argument (once routed to a quadrature that
/// dropped its Dirac terms).
#[activation]
#[allow(clippy::manual_clamp)] // written exactly as the user wrote it
pub fn clamp_shift(x: f64) -> f64 {
    (x + 0.3).max(0.0).min(1.2)
}

/// Θ³ = Θ (once differentiated by the chain rule to 3Θ²δ = 1.5δ).
#[activation]
pub fn step_cubed(x: f64) -> f64 {
    heaviside(x).powi(3)
}

/// sign³ = sign (once 6δ).
#[activation]
pub fn sign_cubed(x: f64) -> f64 {
    x.signum().powi(3)
}

/// relu² = x²Θ: g''' = 2δ (E[g'''] was once marked undefined).
#[activation]
pub fn relu_squared(x: f64) -> f64 {
    relu(x).powi(2)
}

#[activation]
pub fn abs_min(x: f64) -> f64 {
    x.abs().min(1.0)
}

#[activation]
pub fn hard_tanh(x: f64) -> f64 {
    x.clamp(-1.0, 1.0)
}

#[activation]
pub fn relu6(x: f64) -> f64 {
    relu(x).min(6.0)
}

/// A polynomial of degree 12 (once over the derivation's size cap).
#[activation]
pub fn poly12(x: f64) -> f64 {
    x.powi(12) - 0.5 * x.powi(7) + x
}
