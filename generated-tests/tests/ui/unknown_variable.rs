use aedyn::prelude::*;

#[activation]
fn shifted(x: f64) -> f64 {
    relu(x - offset)
}

fn main() {}
