//! # aedyn
//!
//! Exact ODEs of online SGD in shallow non-linear autoencoders (Refinetti & Goldt, ICML 2022),
//! integrated side by side with a matching SGD simulation. Activations are declared with the
//! `#[activation]` attribute, which derives their Gaussian integrals at compile time.
// Numerical kernels index several arrays with one loop variable; iterator chains read worse.
#![allow(clippy::needless_range_loop)]

extern crate self as aedyn;

pub mod activation;
pub mod builtins;
pub mod expression;
pub mod kernels;
pub mod quad;
pub mod registry;
mod simd;

pub use activation::{Activation, Formula, Gauss1, Gauss2, Gauss3, Integral, Method};
pub use aedyn_macros::activation;
/// Re-exported for the registration code `#[activation]` generates.
#[doc(hidden)]
pub use inventory;

/// Everything an activation declaration needs.
pub mod prelude {
    pub use crate::activation::{Activation, Gauss1, Gauss2, Gauss3};
    pub use crate::kernels::{heaviside, sign};
    pub use aedyn_macros::activation;
    pub use std::f64::consts::*;

    /// The error function.
    #[inline]
    pub fn erf(x: f64) -> f64 {
        libm::erf(x)
    }
    /// `exp(x)`
    #[inline]
    pub fn exp(x: f64) -> f64 {
        x.exp()
    }
    /// `max(x, 0)`
    #[inline]
    pub fn relu(x: f64) -> f64 {
        x.max(0.0)
    }
    /// `1/(1 + e^{−x})`
    #[inline]
    pub fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }
    /// `ln(1 + eˣ)`, stable for large |x|.
    #[inline]
    pub fn softplus(x: f64) -> f64 {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }
}
pub mod data;
pub mod error;
pub mod experiment;
pub mod model;
pub mod ode;
pub mod order;
pub mod sim;
pub mod teacher_student;

pub use error::{Error, Result};
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod fixed_points;
pub mod formulas;
pub mod images;
#[cfg(feature = "cli")]
pub mod plot;
pub mod progress;
pub mod run;
