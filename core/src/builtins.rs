//! The built-in activations, declared with the same `#[activation]` attribute users use.

use crate::prelude::*;

/// `g(x) = x`
#[activation]
pub fn linear(x: f64) -> f64 {
    x
}

/// `g(x) = erf(x/√2)`, the paper's sigmoidal activation.
#[activation(name = "erf")]
pub fn scaled_erf(x: f64) -> f64 {
    erf(x / SQRT_2)
}

/// `g(x) = max(x, 0)`
#[activation(name = "relu")]
pub fn relu_act(x: f64) -> f64 {
    relu(x)
}

/// `g(x) = sign(x)`
#[activation(name = "sign")]
pub fn sign_act(x: f64) -> f64 {
    sign(x)
}

/// `g(x) = x Φ(x) = x (1 + erf(x/√2)) / 2`
#[activation]
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / SQRT_2))
}

/// `g(x) = tanh(x)` (no closed forms: quadrature).
#[activation(name = "tanh", quadrature)]
pub fn tanh_act(x: f64) -> f64 {
    x.tanh()
}

/// All built-in activations, by run-time name.
pub fn builtin(name: &str) -> Option<&'static dyn Activation> {
    let all: [&'static dyn Activation; 6] =
        [&Linear, &ScaledErf, &ReluAct, &SignAct, &Gelu, &TanhAct];
    all.into_iter().find(|a| a.name() == name)
}

/// The run-time names of the built-in activations.
pub const BUILTIN_NAMES: [&str; 6] = ["linear", "erf", "relu", "sign", "gelu", "tanh"];
