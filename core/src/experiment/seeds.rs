//! The seeds of one experiment, derived from the config's `seed` by named salts, so that each
//! random stream is reproducible on its own and independent of the others:
//!
//! - the initial weights of run `i`: `seed + 1000 i` ([`initial_weights_seed`]; every SGD run and
//!   the ODE start from run 0's weights);
//! - the input stream of SGD run `i`: `seed + 7919 i + 1` ([`sgd_stream_seed`]), then mixed with
//!   the simulator's own stream salt;
//! - the random spike directions of spiked data: `seed ^` [`SPIKE_DIRECTIONS`];
//! - the samples of an empirical spectrum: `seed ^` [`EMPIRICAL_SAMPLES`].

/// Salt of the random spike directions (`data.directions = "random"`, sinusoidal phases).
pub const SPIKE_DIRECTIONS: u64 = 0xda7a;

/// Salt of the samples drawn for an empirical spectrum (`data.spectrum = "empirical"`).
pub const EMPIRICAL_SAMPLES: u64 = 0x5a3b;

/// The seed of run `i`'s initial weights (the experiment uses run 0's for the ODE and every
/// SGD run; the stride keeps other runs' weights apart).
pub fn initial_weights_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_add(1000 * i as u64)
}

/// The seed of SGD run `i`'s input stream: every run starts from the same initial weights (seed
/// `seed`) and differs in its samples only; the odd multiplier keeps the streams of consecutive
/// runs apart.
pub fn sgd_stream_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_add(7919 * i as u64 + 1)
}
