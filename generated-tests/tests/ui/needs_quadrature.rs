use aedyn::prelude::*;

#[activation]
fn smooth(x: f64) -> f64 {
    x.tanh() + 0.1 * x
}

fn main() {}
