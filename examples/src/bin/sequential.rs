//! Sequential learning of principal components (docs/theory.md §6): an erf AE on spiked data shows plateaus
//! near ε_PCA(m) and picks up PC τ after t_τ ≈ √(π/2)·D/(ηρ_τ)·ln(1/σ0), in order of decreasing ρ.

use aedyn_examples::*;

fn main() -> std::process::ExitCode {
    finish(body())
}

fn body() -> Result<(), aedyn::Error> {
    println!(
        "Sequential learning: erf, K = 3, spikes ρ/D = (0.5, 0.2, 0.08), bulk 0.02, D = 1000, η = 1, σ0 = 0.1"
    );
    let spikes = [0.5, 0.2, 0.08];
    let toml = "k = 3\nt_max = 200.0\nseed = 1\n[data]\nd = 1000\nspikes = [0.5, 0.2, 0.08]\nbulk = 0.02\n[output]\npoints = 300";
    let (_, tr) = run_toml(toml, None)?;
    save(
        "sequential",
        "erf_K3",
        &tr,
        "sequential learning, erf, K = 3",
    )?;
    println!(
        "{:>4} {:>10} {:>12} {:>12} {:>12}",
        "PC", "ε_PCA(τ)", "t_pred", "t_ode", "t_sgd"
    );
    let mut ordered = true;
    let mut prev = 0.0;
    let mut ratio_ok = true;
    for (tau, s) in spikes.iter().enumerate() {
        let pred = (std::f64::consts::PI / 2.0).sqrt() / s * (1.0f64 / 0.1).ln();
        // escape from plateau τ: ε crosses the midpoint between ε_PCA(τ) and ε_PCA(τ+1)
        let level = 0.5 * (tr.pca[tau] + tr.pca[tau + 1]);
        let t_ode = crossing(&tr.times, &tr.eps_ode, level).unwrap_or(f64::NAN);
        let t_sgd = crossing(&tr.times, &tr.eps_sgd, level).unwrap_or(f64::NAN);
        println!(
            "{:>4} {:>10.4} {:>12.2} {:>12.2} {:>12.2}",
            tau + 1,
            tr.pca[tau + 1],
            pred,
            t_ode,
            t_sgd
        );
        ordered &= t_ode > prev;
        prev = t_ode;
        ratio_ok &= t_ode / pred > 0.5 && t_ode / pred < 3.0;
    }
    verdict(
        "PCs are learnt one after another in order of decreasing eigenvalue",
        ordered,
    );
    verdict(
        "escape times agree with √(π/2)·D/(ηρ)·ln(1/σ0) within a factor 3 (it is an early-time linearisation)",
        ratio_ok,
    );
    println!(
        "max_t |ε_ode − ε_sgd| / ε(0) = {:.2}%",
        100.0 * tr.max_relative_gap()
    );
    Ok(())
}
