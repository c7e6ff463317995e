//! Truncated SGD vs vanilla SGD vs Sanger's rule: which principal component each unit ends on.

use aedyn::model::{Algorithm, Training, Weights};
use aedyn::sim::{EigenbasisGaussian, Sgd};
use aedyn_examples::*;

fn main() -> std::process::ExitCode {
    finish(body())
}

fn overlaps(v: &[f64], d: usize, k: usize) -> Vec<[f64; 2]> {
    (0..k)
        .map(|u| {
            let row = &v[u * d..(u + 1) * d];
            let n = row.iter().map(|a| a * a).sum::<f64>().sqrt();
            [row[0] / n, row[1] / n]
        })
        .collect()
}

fn body() -> Result<(), aedyn::Error> {
    let d = 1000;
    println!(
        "Decoder overlaps v^k·e_τ/|v^k| with PC1, PC2 after SGD to t = 100 (erf, K = 2; Sanger: linear, η = 0.5), D = {d}"
    );
    let mut rho = vec![1.0 / 35.0; d];
    rho[0] = 25.0 / 35.0 * d as f64;
    rho[1] = 9.0 / 35.0 * d as f64;
    let sampler = EigenbasisGaussian::new(&rho);
    let mut ok = true;
    for (name, algorithm, act, lr) in [
        (
            "vanilla",
            Algorithm::Vanilla,
            &aedyn::builtins::ScaledErf as &dyn aedyn::Activation,
            1.0,
        ),
        (
            "truncated",
            Algorithm::Truncated,
            &aedyn::builtins::ScaledErf,
            1.0,
        ),
        ("sanger", Algorithm::Sanger, &aedyn::builtins::Linear, 0.5),
    ] {
        let tr = Training::new(2, lr, false, false, algorithm);
        let mut s = Sgd::new(Weights::init(2, d, 0.1, tr.tied, 3), tr, act, 5);
        s.run(&sampler, 100 * d as u64);
        let dec = if tr.tied { &s.weights.w } else { &s.weights.v };
        let o = overlaps(dec, d, 2);
        println!(
            "{name:>10}: unit 1 → ({:+.3}, {:+.3}), unit 2 → ({:+.3}, {:+.3})",
            o[0][0], o[0][1], o[1][0], o[1][1]
        );
        if algorithm != Algorithm::Vanilla {
            ok &= o[0][0].abs() > 0.95 && o[1][1].abs() > 0.95;
        }
    }
    verdict(
        "truncated SGD and Sanger's rule put unit k on PC k; vanilla SGD learns a rotation of the subspace",
        ok,
    );
    let (_, tr) = run_toml("seed = 3\nalgorithm = \"truncated\"\nt_max = 100.0", None)?;
    save(
        "truncated",
        "truncated_erf",
        &tr,
        "truncated SGD, erf, K = 2",
    )?;
    println!(
        "truncated ODE vs SGD: max gap {:.2}% of ε(0)",
        100.0 * tr.max_relative_gap()
    );
    Ok(())
}
