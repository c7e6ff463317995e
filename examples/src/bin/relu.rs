//! ReLU autoencoders without and with a trained bias, K = 2 and K = 4: what the equations show.

use aedyn_examples::*;

fn main() -> std::process::ExitCode {
    finish(body())
}

fn body() -> Result<(), aedyn::Error> {
    println!("ReLU AE, D = 1000, spikes (25/35, 9/35), bulk 1/35, η = 1, t ≤ 300");
    println!(
        "{:>3} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "K", "bias", "ε_ode", "ε_sgd", "ε_PCA(1)", "ε_PCA(2)", "t(ε<ε_PCA(1)+δ)", "gap"
    );
    let mut rows = Vec::new();
    for k in [2, 4] {
        for bias in [false, true] {
            let toml = format!(
                "seed = 1\nactivation = \"relu\"\nk = {k}\nbias = {bias}\nt_max = 300.0\n[output]\npoints = 160"
            );
            let (_, tr) = run_toml(&toml, None)?;
            save(
                "relu",
                &format!("K{k}_bias_{bias}"),
                &tr,
                &format!("ReLU AE, K = {k}, bias = {bias}"),
            )?;
            let fin = *tr.eps_ode.last().unwrap_or(&f64::NAN);
            let t1 = crossing(&tr.times, &tr.eps_ode, tr.pca[1] + 0.01).unwrap_or(f64::NAN);
            println!(
                "{:>3} {:>6} {:>10.5} {:>10.5} {:>10.5} {:>10.5} {:>15.2} {:>7.2}%",
                k,
                bias,
                fin,
                tr.eps_sgd.last().unwrap_or(&f64::NAN),
                tr.pca[1],
                tr.pca[2],
                t1,
                100.0 * tr.max_relative_gap()
            );
            rows.push((k, bias, fin, tr.pca[1], tr.pca[2], t1));
        }
    }
    let k2 = rows[0];
    verdict(
        "K = 2 without bias: the pair sits on PC1 (ε ≈ ε_PCA(1))",
        (k2.2 - k2.3).abs() < 0.1 * k2.3,
    );
    let k4 = rows[2];
    verdict(
        "K = 4 without bias reaches ε_PCA(2)",
        (k4.2 - k4.4).abs() < 0.2 * k4.4,
    );
    let faster = rows[1].5 < rows[0].5 || rows[3].5 < rows[2].5;
    verdict(
        "a trained bias speeds learning (earlier drop to ε_PCA(1))",
        faster,
    );
    Ok(())
}
