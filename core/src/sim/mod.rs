//! Online SGD simulation (docs/theory.md §1) and its measurements.

mod fused;
pub mod normal;
pub mod sampler;
pub mod sgd;

pub use normal::SampleRng;
pub use sampler::{EigenbasisGaussian, ImageRows, Sampler};
pub use sgd::Sgd;
