//! Activations declared with `#[activation]` for verification, and an independent reference:
//! nested adaptive Gauss–Kronrod quadrature with breakpoints at the kinks (not Monte Carlo).

pub mod activations;
pub mod reference;
