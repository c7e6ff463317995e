//! A user's crate as docs/architecture.md §4 describes it: two activations of its own and the
//! whole CLI in one line. `tests/user_binary.rs` runs it.

use aedyn::prelude::*;

#[activation]
#[allow(clippy::manual_clamp)] // the contract's example, as written
fn clipped(x: f64) -> f64 {
    x.max(-1.0).min(1.0)
}

#[activation]
fn bumpy(x: f64) -> f64 {
    relu(x) + 0.5 * exp(-(x * x))
}

fn main() -> std::process::ExitCode {
    aedyn::cli::main()
}
