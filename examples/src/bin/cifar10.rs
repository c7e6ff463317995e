//! Gaussian universality on grayscale CIFAR-10: the ODE over all 1024 modes with the empirical Ω
//! against SGD on the real images. Usage: `cifar10 [PATH]` (default: the vendored 1000 test images).

use aedyn_examples::*;

fn main() -> std::process::ExitCode {
    finish(body())
}

fn body() -> Result<(), aedyn::Error> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        format!(
            "{}/../data/cifar10/test_subset.bin",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    println!(
        "grayscale CIFAR-10 from {path}: erf, K = 4, η = 1, t ≤ 100, 8 SGD seeds on the images"
    );
    let toml =
        format!("k = 4\nt_max = 100.0\nseed = 1\n[data]\nkind = \"cifar10\"\npath = {path:?}");
    let (_, tr) = run_toml(&toml, None)?;
    save("cifar10", "erf_K4", &tr, "grayscale CIFAR-10, erf, K = 4")?;
    print!("{}", tr.summary());
    let gap = tr.max_relative_gap();
    verdict(
        "the ODE with the empirical Ω predicts ε(t) of SGD on real images (max gap ≤ 5% of ε(0))",
        gap <= 0.05,
    );
    Ok(())
}
