//! ODE against SGD (mean of 4 seeds, shared initial weights), D = 1000, spikes ρ/D = (25/35, 9/35),
//! bulk 1/35, t ∈ [0, 60]: max_t |ε_ode − ε_sgd| ≤ 3 % of ε(0) for every activation and variant;
//! tied autoencoders at D = 4000 (8 seeds) with the bounds stated at `tied_check`.

use aedyn::config::Config;
use aedyn::run::{Problem, Trajectory, run};

/// Runs a configuration with base seed 1 and prints its gap and final errors.
fn trajectory(toml: &str) -> Trajectory {
    let cfg = Config::from_toml(&format!("seed = 1\n{toml}"), "test").expect("valid config");
    let pb = Problem::from_config(&cfg).expect("problem");
    let tr = run(&pb, false).expect("runs");
    println!(
        "{toml:?}: gap {:.3}%, final ε_ode {:.5} ε_sgd {:.5}",
        100.0 * tr.max_relative_gap(),
        tr.eps_ode.last().unwrap_or(&0.0),
        tr.eps_sgd.last().unwrap_or(&0.0)
    );
    tr
}

/// `max_t |ε_ode − ε_sgd| / ε(0)` with the mean of 4 SGD seeds (top-level keys only in `toml`).
fn gap(toml: &str) -> f64 {
    trajectory(&format!("{toml}\n[sgd]\nseeds = 4")).max_relative_gap()
}

#[test]
fn erf() {
    assert!(gap("") <= 0.03);
}

/// The per-mode densities (docs/theory.md §3) of the two spikes, ODE vs the SGD mean, at t = 60: each of
/// q_τ, r_τ, t_τ within 5 % in max norm (max_ij |ode − sgd| ≤ 0.05 max_ij |ode|).
#[test]
fn erf_mode_densities() {
    let tr = trajectory("[sgd]\nseeds = 4");
    assert_eq!(
        tr.mode_rho.len(),
        2,
        "the spike+bulk ODE tracks the two spikes"
    );
    let (ode, sgd) = (
        tr.ode_modes.last().expect("t"),
        tr.sgd_modes.last().expect("t"),
    );
    let max_abs = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for tau in 0..2 {
        for (name, o, s) in [
            ("q", &ode[tau].q, &sgd[tau].q),
            ("r", &ode[tau].r, &sgd[tau].r),
            ("t", &ode[tau].t, &sgd[tau].t),
        ] {
            let diff: Vec<f64> = o.iter().zip(s.iter()).map(|(a, b)| a - b).collect();
            let rel = max_abs(&diff) / max_abs(o);
            println!(
                "τ = {} {name}: max-norm relative difference {:.2}%",
                tau + 1,
                100.0 * rel
            );
            assert!(rel <= 0.05, "τ = {} {name}: {o:?} vs {s:?}", tau + 1);
        }
    }
}

#[test]
fn erf_with_trained_bias() {
    assert!(gap("bias = true") <= 0.03);
}

#[test]
fn linear() {
    assert!(gap("activation = \"linear\"\nlr = 0.5") <= 0.03);
}

#[test]
fn relu() {
    assert!(gap("activation = \"relu\"") <= 0.03);
}

#[test]
fn relu_with_trained_bias() {
    assert!(gap("activation = \"relu\"\nbias = true") <= 0.03);
}

#[test]
fn truncated_erf() {
    assert!(gap("algorithm = \"truncated\"") <= 0.03);
}

#[test]
fn gelu() {
    assert!(gap("activation = \"gelu\"") <= 0.03);
}

/// Tied weights: the encoder grows to O(√D) along the spikes (docs/theory.md §1), so learning takes
/// O(√D) SGD steps instead of O(D) (t ~ 1/√D) and the SGD mean over seeds fluctuates more during
/// the escape (measured, 4 seeds: erf 1.3–3.4 % at D = 1000, 0.4–0.8 % at D = 4000; linear
/// 2.4–5.5 % at D = 1000, 0.8–4.6 % at D = 8000). The plateau itself must agree tightly.
/// `plateau`: bound on |ε_ode − ε_sgd|/ε_ode at t = 20; `transient`: on the max gap / ε(0).
fn tied_check(toml: &str, plateau: f64, transient: f64) {
    // 8 SGD seeds (the default): the escape fluctuates more than untied
    let tr = trajectory(&format!(
        "tied = true\nt_max = 20.0\n{toml}\n[data]\nd = 4000"
    ));
    let (ode, sgd) = (
        tr.eps_ode[tr.eps_ode.len() - 1],
        tr.eps_sgd[tr.eps_sgd.len() - 1],
    );
    assert!(
        (ode - sgd).abs() < plateau * ode,
        "plateau: ODE {ode} SGD {sgd}"
    );
    assert!(
        tr.max_relative_gap() <= transient,
        "transient gap {}",
        tr.max_relative_gap()
    );
}

#[test]
fn tied_erf_at_d_4000() {
    tied_check("", 0.01, 0.015);
}

#[test]
fn tied_linear_and_sanger_at_d_4000() {
    tied_check("activation = \"linear\"\nlr = 0.5", 0.01, 0.05);
    // Sanger's SGD sits above the ODE's exact PCA plateau by its stationary noise, which falls
    // with D: +5.7 %, +3.1 %, +0.23 % at D = 1000, 4000, 16 000 (t = 5, 2 seeds)
    tied_check(
        "activation = \"linear\"\nalgorithm = \"sanger\"\nlr = 0.5",
        0.05,
        0.05,
    );
}

#[test]
fn the_untied_erf_autoencoder_reaches_the_pca_plateaus() {
    let cfg =
        Config::from_toml("seed = 1\n[data]\nd = 200\n[sgd]\nseeds = 0", "test").expect("valid");
    let pb = Problem::from_config(&cfg).expect("problem");
    let tr = run(&pb, false).expect("runs");
    // docs/theory.md §6, the paper's set-up (D = 200): ε_PCA(0, 1, 2) = 0.4999, 0.1427, 0.0141
    assert!(
        (tr.pca[0] - 0.49986).abs() < 1e-4
            && (tr.pca[1] - 0.14271).abs() < 1e-4
            && (tr.pca[2] - 0.014143).abs() < 1e-5,
        "{:?}",
        tr.pca
    );
    // ε at t = 60 sits above ε_PCA(2) and approaches it slowly: the paper's curve has
    // ε(60) − ε_PCA(2) = 0.0205 − 0.0141 = 0.0064 at D = 200; allow up to 1.5× that excess
    let last = *tr.eps_ode.last().expect("points");
    let excess = last - tr.pca[2];
    assert!(excess > 0.0 && excess < 1.5 * 0.0064, "{last}");
    // a plateau near ε_PCA(1) is visited on the way: a stretch of time (a factor ≥ 1.25 in t)
    // over which ε stays within 2 % of ε(0) of ε_PCA(1) and its slope |dε/d ln t| is at most a
    // quarter of the steepest drop of the run — a slow-down, not a crossing. (At D = 1000 the same
    // curve crosses ε_PCA(1) at ~70 % of the steepest slope: no plateau there.)
    let (t, e) = (&tr.times, &tr.eps_ode);
    let slope = |i: usize| (e[i + 1] - e[i]).abs() / (t[i + 1] / t[i]).ln();
    let first = t.iter().position(|&x| x > 0.0).expect("t > 0");
    let steepest = (first..t.len() - 1).map(slope).fold(0.0, f64::max);
    let calm = |i: usize| {
        (e[i] - tr.pca[1]).abs() < 0.02 * e[0]
            && (e[i + 1] - tr.pca[1]).abs() < 0.02 * e[0]
            && slope(i) <= 0.25 * steepest
    };
    let mut plateau = None;
    for i in first..t.len() - 1 {
        let mut j = i;
        while j + 1 < t.len() - 1 && calm(j) {
            j += 1;
        }
        if j > i && t[j] >= 1.25 * t[i] {
            plateau = Some((t[i], t[j]));
            break;
        }
    }
    let (t1, t2) = plateau.expect("a plateau at ε_PCA(1)");
    println!("plateau at ε_PCA(1) over t ∈ [{t1:.2}, {t2:.2}]");
}
