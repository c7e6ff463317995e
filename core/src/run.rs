//! The autoencoder experiment's public paths, kept stable: `aedyn::run::{Problem, run,
//! Trajectory, …}` are re-exports of [`crate::experiment`], where problem building, running,
//! reporting and seeds live in one module each.

pub use crate::experiment::{
    EVAL_IMAGES, Problem, RealData, Trajectory, image_loss, run, run_partial, sgd_stream_seed,
    time_grid,
};
