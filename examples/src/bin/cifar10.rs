//! Gaussian universality on grayscale CIFAR-10: the ODE over all 1024 modes of the images'
//! covariance, with their mean (docs/theory.md §2.3, §5.10), against SGD on the real images; and,
//! for a ReLU autoencoder, what leaving the mean out of the ODE costs (the paper's zero-mean model
//! with the same second moment). Usage: `cifar10 [PATH]` (default: the vendored 1000 test images).

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
    let data = format!("[data]\nkind = \"cifar10\"\npath = {path:?}");
    let toml = format!("k = 4\nt_max = 100.0\nseed = 1\n{data}");
    let (_, tr) = run_toml(&toml, None)?;
    save("cifar10", "erf_K4", &tr, "grayscale CIFAR-10, erf, K = 4")?;
    print!("{}", tr.summary());
    let gap = tr.max_relative_gap();
    verdict(
        "the ODE with the images' mean and covariance predicts ε(t) of SGD on real images \
         (max gap ≤ 5% of ε(0))",
        gap <= 0.05,
    );
    println!("\nrelu, K = 4, η = 1, t ≤ 60, 4 SGD seeds: the images' mean in the ODE, or ignored");
    let mut gaps = Vec::new();
    for mean in ["exact", "ignored"] {
        let toml = format!(
            "activation = \"relu\"\nk = 4\nt_max = 60.0\nseed = 1\n[sgd]\nseeds = 4\n{data}\n\
             [ode]\ninput_mean = \"{mean}\""
        );
        let (_, tr) = run_toml(&toml, None)?;
        save(
            "cifar10",
            &format!("relu_K4_mean_{mean}"),
            &tr,
            &format!("grayscale CIFAR-10, relu, K = 4, input mean {mean}"),
        )?;
        let gap = tr.max_relative_gap();
        println!(
            "  input_mean = {mean:>7}: max gap {:.2} % of ε(0); ε(60) ODE {:.5}, SGD {:.5}",
            100.0 * gap,
            tr.eps_ode.last().unwrap_or(&f64::NAN),
            tr.eps_sgd.last().unwrap_or(&f64::NAN)
        );
        gaps.push(gap);
    }
    verdict(
        "with the images' mean the ODE follows SGD for a ReLU autoencoder (gap ≤ 2 % of ε(0)) \
         at least twice as closely as the zero-mean model of the same second moment",
        gaps[0] <= 0.02 && 2.0 * gaps[0] <= gaps[1],
    );
    Ok(())
}
