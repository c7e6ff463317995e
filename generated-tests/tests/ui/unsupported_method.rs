use aedyn::prelude::*;

#[activation]
fn wave(x: f64) -> f64 {
    x + x.sin()
}

fn main() {}
