//! Online SGD simulation (SPEC §1) and its measurements.

pub mod sampler;
pub mod sgd;

pub use sampler::{EigenbasisGaussian, ImageRows, Sampler};
pub use sgd::Sgd;
