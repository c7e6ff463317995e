//! One autoencoder experiment end to end: config → data model → initial weights → {SGD seeds in
//! parallel; ODE from the same initial weights} → trajectories on a shared log-spaced time grid.
//!
//! - [`problem`]: building a [`Problem`] from a config or with any activation;
//! - [`execute`]: [`run`] (ODE and SGD);
//! - [`report`]: [`Trajectory`] and its CSV, summary and figure;
//! - [`seeds`]: the named seed salts.

pub mod execute;
pub mod problem;
pub mod report;
pub mod seeds;

pub use execute::{run, run_partial};
pub use problem::{EVAL_IMAGES, Problem, RealData, image_loss, time_grid};
pub use report::Trajectory;
pub use seeds::sgd_stream_seed;
