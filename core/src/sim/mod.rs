//! Online SGD simulation (docs/theory.md §1) and its measurements.

mod fused;
pub mod normal;
pub mod sampler;
pub mod sgd;

pub use normal::SampleRng;
pub use sampler::{EigenbasisGaussian, ImageRows, Sampler};
pub use sgd::Sgd;

/// Size of a weight above which an SGD run counts as diverged (its squares, the overlaps the ODE
/// tracks, would exceed the ODE's overflow bound 1e150 and ε would overflow to infinity).
pub const WEIGHT_OVERFLOW: f64 = 1e75;
