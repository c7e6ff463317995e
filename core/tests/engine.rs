//! Engine checks: forms and reductions agree, error estimators agree, truncated SGD finds the PCs
//! in order, bad input and divergence are reported.

use aedyn::builtins::{Linear, ReluAct, ScaledErf, SignAct};
use aedyn::config::Config;
use aedyn::model::{Algorithm, Training, Weights};
use aedyn::ode::system::{Form, Reduction};
use aedyn::ode::{IntegratorOptions, OdeSystem, integrate};
use aedyn::order::OrderParams;
use aedyn::run::{Problem, run};
use aedyn::sim::{EigenbasisGaussian, Sampler, Sgd};
use aedyn::{Activation, Error};

fn spiked(d: usize) -> Vec<f64> {
    let mut rho = vec![1.0 / 35.0; d];
    rho[0] = 25.0 / 35.0 * d as f64;
    rho[1] = 9.0 / 35.0 * d as f64;
    rho
}

fn vanilla(k: usize, bias: bool) -> Training {
    Training {
        k,
        lr: 1.0,
        tied: false,
        bias,
        algorithm: Algorithm::Vanilla,
    }
}

fn errors(
    act: &dyn Activation,
    tr: Training,
    rho: &[f64],
    form: Form,
    red: Reduction,
    times: &[f64],
    opts: IntegratorOptions,
) -> Vec<f64> {
    let w = Weights::init(tr.k, rho.len(), 0.1, tr.tied, 3);
    let sys = OdeSystem::new(act, tr, rho, form, red).expect("system");
    let y0 = sys.state_from_weights(&w.w, if tr.tied { &w.w } else { &w.v }, &w.beta);
    integrate(&sys, y0, times, opts, |_| {})
        .expect("integrates")
        .iter()
        .map(|s| sys.error(&s.y))
        .collect()
}

/// ε of `form` against the vector form on the four set-ups (erf, erf + bias, truncated erf,
/// ReLU + bias; D = 500, two spikes) at `times`, tolerances 1e-11 / 1e-14: the largest difference
/// is below 1e-8 and the run learned something.
fn assert_agrees_with_the_vector_form(form: Form, times: &[f64]) {
    let rho = spiked(500);
    let opts = IntegratorOptions {
        rtol: 1e-11,
        atol: 1e-14,
        ..Default::default()
    };
    let truncated = Training {
        algorithm: Algorithm::Truncated,
        ..vanilla(2, false)
    };
    let cases: [(&dyn Activation, Training); 4] = [
        (&ScaledErf, vanilla(2, false)),
        (&ScaledErf, vanilla(2, true)),
        (&ScaledErf, truncated),
        (&ReluAct, vanilla(2, true)),
    ];
    for (act, tr) in cases {
        let red = Reduction::SpikeBulk { spikes: 2 };
        let a = errors(act, tr, &rho, Form::Vector, red, times, opts);
        let b = errors(act, tr, &rho, form, red, times, opts);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        println!(
            "{} {tr:?}: max |ε_vector − ε_{form:?}| = {worst:e}",
            act.name()
        );
        assert!(worst < 1e-8, "{} {tr:?}: {worst:e}", act.name());
        assert!(a[a.len() - 1] < 0.5 * a[0]);
    }
}

#[test]
fn vector_and_density_forms_agree_to_1e8() {
    // Over the whole run, t ∈ [0, 1000] (log grid): learning, the plateau and the long-time
    // regime where the unstabilised density form leaves the rank-one manifold (it drove ε
    // negative by t ≈ 60 before `stabilise_rank_one`).
    let times: Vec<f64> = std::iter::once(0.0)
        .chain((0..=40).map(|i| 10f64.powf(-1.0 + 4.0 * i as f64 / 40.0)))
        .collect();
    assert_agrees_with_the_vector_form(Form::Density, &times);
}

#[test]
fn spike_bulk_reduction_matches_the_full_spectrum_at_d_2000() {
    let rho = spiked(2000);
    let times = [0.0, 2.0, 5.0, 8.0, 12.0, 20.0, 40.0];
    let opts = IntegratorOptions::default();
    let full = errors(
        &ScaledErf,
        vanilla(2, false),
        &rho,
        Form::Vector,
        Reduction::Full,
        &times,
        opts,
    );
    let red = errors(
        &ScaledErf,
        vanilla(2, false),
        &rho,
        Form::Vector,
        Reduction::SpikeBulk { spikes: 2 },
        &times,
        opts,
    );
    for (a, b) in full.iter().zip(&red) {
        assert!((a - b).abs() / a < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn population_error_from_order_parameters_matches_monte_carlo() {
    let d = 200;
    let rho = spiked(d);
    let tr = Training {
        k: 3,
        lr: 1.0,
        tied: false,
        bias: true,
        algorithm: Algorithm::Vanilla,
    };
    let mut w = Weights::init(3, d, 0.3, false, 5);
    w.beta = vec![0.2, -0.4, 0.1];
    let act = &ScaledErf;
    let mut sgd = Sgd::new(w, tr, act, 1);
    let sampler = EigenbasisGaussian::new(&rho);
    sgd.run(&sampler, 3 * d as u64);
    let w = sgd.weights.clone();
    let o = OrderParams::from_eigenbasis(&w.w, &w.v, &w.beta, &rho);
    let exact = o.error(act, rho.iter().sum::<f64>() / (2.0 * d as f64));
    // Monte Carlo on fresh inputs
    let mut rng = aedyn::sim::SampleRng::seed_from_u64(9);
    let mut x = vec![0.0; d];
    let n = 200_000;
    let (mut s, mut s2) = (0.0, 0.0);
    for _ in 0..n {
        sampler.sample(&mut rng, &mut x);
        let g: Vec<f64> = (0..3)
            .map(|k| {
                act.g(w.w_row(k).iter().zip(&x).map(|(a, b)| a * b).sum::<f64>()
                    / (d as f64).sqrt()
                    + w.beta[k])
            })
            .collect();
        let l: f64 = (0..d)
            .map(|i| {
                let r = x[i] - (0..3).map(|k| w.v[k * d + i] * g[k]).sum::<f64>();
                r * r
            })
            .sum::<f64>()
            / (2.0 * d as f64);
        s += l;
        s2 += l * l;
    }
    let mean = s / n as f64;
    let se = ((s2 / n as f64 - mean * mean) / n as f64).sqrt();
    assert!(
        (mean - exact).abs() < 4.0 * se,
        "MC {mean} ± {se} vs exact {exact}"
    );
}

#[test]
fn truncated_sgd_and_its_ode_put_unit_k_on_pc_k() {
    let d = 1000;
    let rho = spiked(d);
    let tr = Training {
        k: 2,
        lr: 1.0,
        tied: false,
        bias: false,
        algorithm: Algorithm::Truncated,
    };
    let w0 = Weights::init(2, d, 0.1, false, 11);
    let mut sgd = Sgd::new(w0.clone(), tr, &ScaledErf, 4);
    sgd.run(&EigenbasisGaussian::new(&rho), 60 * d as u64);
    let overlap = |v: &[f64], tau: usize| v[tau] / v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let w = &sgd.weights;
    for k in 0..2 {
        let row = w.v_row(k, false);
        assert!(
            overlap(row, k).abs() > 0.95,
            "SGD unit {k}: overlaps {} {}",
            overlap(row, 0),
            overlap(row, 1)
        );
    }
    // ODE: decoder components of the spike modes
    let sys = OdeSystem::new(
        &ScaledErf,
        tr,
        &rho,
        Form::Vector,
        Reduction::SpikeBulk { spikes: 2 },
    )
    .expect("system");
    let y0 = sys.state_from_weights(&w0.w, &w0.v, &w0.beta);
    let out = integrate(&sys, y0, &[0.0, 60.0], IntegratorOptions::default(), |_| {})
        .expect("integrates");
    let y = &out[1].y;
    // per-mode vector (w^1, w^2, v̂^1, v̂^2); v̂^k_τ for τ = 0, 1
    let v = |k: usize, tau: usize| y[tau * 4 + 2 + k];
    for k in 0..2 {
        let other = 1 - k;
        assert!(
            v(k, k).abs() > 10.0 * v(k, other).abs(),
            "ODE unit {k}: {} {}",
            v(k, 0),
            v(k, 1)
        );
    }
}

#[test]
fn sign_has_no_encoder_ode_and_says_why() {
    let e = OdeSystem::new(
        &SignAct,
        vanilla(2, false),
        &spiked(10),
        Form::Vector,
        Reduction::Full,
    )
    .err()
    .expect("refused");
    let msg = e.to_string();
    assert!(msg.contains("sign") && msg.contains("E_dg_dg"), "{msg}");
}

#[test]
fn divergence_stops_with_the_time_and_a_hint() {
    let cfg =
        Config::from_toml("lr = 5000.0\nt_max = 5.0\n[data]\nd = 100", "test").expect("valid");
    let pb = Problem::from_config(&cfg).expect("problem");
    let e = run(&pb, false).err().expect("diverges");
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Diverged { .. } | Error::Integration { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("t = ") && msg.contains("smaller learning rate"),
        "{msg}"
    );
}

/// `run_partial` keeps what `run` refuses: the ODE's rows up to the first state below
/// ε_PCA(K) (typical initial conditions on spikes), NaN after, and the reason.
#[test]
fn an_unphysical_ode_keeps_its_rows_before_the_stop() {
    let cfg = Config::from_toml(
        "t_max = 30.0\n[data]\nd = 500\n[sgd]\nseeds = 1\n[ode]\nform = \"density\"\ninitial = \"typical\"",
        "test",
    )
    .expect("valid");
    let pb = Problem::from_config(&cfg).expect("problem");
    let (tr, stopped) = aedyn::run::run_partial(&pb, false).expect("runs");
    assert!(
        matches!(stopped.as_slice(), [Error::Unphysical { .. }]),
        "{stopped:?}"
    );
    let Error::Unphysical { t, .. } = &stopped[0] else {
        unreachable!()
    };
    let kept = tr.eps_ode.iter().take_while(|e| e.is_finite()).count();
    println!("ODE rows {kept} of {}, stopped at t = {t}", tr.times.len());
    assert!(kept > 1 && kept < tr.times.len());
    assert_eq!(tr.times[kept], *t);
    assert!(tr.eps_ode[kept..].iter().all(|e| e.is_nan()));
    assert!(tr.ode_order[kept..].iter().all(|o| o.q[0].is_nan()));
    // SGD ran to t_max
    assert!(tr.eps_sgd.iter().all(|e| e.is_finite()));
}

#[test]
fn typical_initial_conditions_on_spikes_stop_with_an_explanation() {
    // q_τ = σ0² I averages over initial weights: exact for the bulk, not for a single spike mode
    let cfg = Config::from_toml(
        "t_max = 30.0\n[data]\nd = 500\n[sgd]\nseeds = 0\n[ode]\nform = \"density\"\ninitial = \"typical\"",
        "test",
    )
    .expect("valid");
    let pb = Problem::from_config(&cfg).expect("problem");
    let e = run(&pb, false).err().expect("leaves the physical region");
    let msg = e.to_string();
    assert!(matches!(e, Error::Unphysical { .. }), "{msg}");
    assert!(
        msg.contains("t = ") && msg.contains("ode.initial = \"weights\""),
        "{msg}"
    );
    // an activation whose ε never goes negative there: the state still leaves the physical
    // region, below ε_PCA(K), the least error any K units reach (before that floor, this ran to
    // t = 60 at ε = 0.0123 < ε_PCA(2) = 0.0143)
    let cfg = Config::from_toml(
        "activation = \"erf(2.0 * x - 1.0)\"\nt_max = 60.0\n[data]\nd = 1000\n[sgd]\nseeds = 0\n\
         [ode]\nform = \"density\"\ninitial = \"typical\"",
        "test",
    )
    .expect("valid");
    let e = run(&Problem::from_config(&cfg).expect("problem"), false)
        .err()
        .expect("goes below ε_PCA(2)");
    let msg = e.to_string();
    assert!(matches!(e, Error::Unphysical { k: 2, .. }), "{msg}");
    assert!(msg.contains("< ε_PCA(2) = 1.4257e-2"), "{msg}");
    // without spikes (a flat spectrum: every mode in the bulk) typical initial conditions are fine
    let flat = vec!["1.0"; 100].join(", ");
    let cfg = Config::from_toml(
        &format!(
            "t_max = 30.0\n[data]\nkind = \"custom\"\nd = 100\neigenvalues = [{flat}]\n[sgd]\nseeds = 0\n[ode]\nform = \"density\"\ninitial = \"typical\""
        ),
        "test",
    )
    .expect("valid");
    let pb = Problem::from_config(&cfg).expect("problem");
    let tr = run(&pb, false).expect("bulk-only typical run");
    assert!(tr.eps_ode.iter().all(|e| e.is_finite() && *e >= 0.0));
}

#[test]
fn k_larger_than_d_and_invalid_spectra_are_rejected() {
    let e = Config::from_toml("k = 8\n[data]\nd = 4", "test")
        .expect_err("invalid")
        .to_string();
    assert!(e.contains("`k` = 8"), "{e}");
    let e = Config::from_toml(
        "[data]\nkind = \"custom\"\nd = 3\neigenvalues = [1.0, 2.0, inf]",
        "test",
    )
    .expect_err("invalid")
    .to_string();
    assert!(e.contains("data.eigenvalues"), "{e}");
    let e = Config::from_toml(
        "[data]\nkind = \"mnist\"\npath = \"/nonexistent/file\"",
        "test",
    )
    .expect("valid");
    let msg = Problem::from_config(&e)
        .err()
        .expect("missing file")
        .to_string();
    assert!(msg.contains("/nonexistent/file"), "{msg}");
}

#[test]
fn linear_sgd_step_matches_the_update_rule() {
    // one hand-computed step of the linear tied AE (Oja-like), K = 1, D = 2
    let tr = Training {
        k: 1,
        lr: 0.5,
        tied: true,
        bias: false,
        algorithm: Algorithm::Vanilla,
    };
    let w = Weights {
        k: 1,
        d: 2,
        w: vec![0.3, -0.2],
        v: vec![0.3, -0.2],
        beta: vec![0.0],
    };
    let mut sgd = Sgd::new(w, tr, &Linear, 0);
    let x = [1.0, 2.0];
    sgd.step(&x);
    let d: f64 = 2.0;
    let lam = (0.3 * 1.0 - 0.2 * 2.0) / d.sqrt();
    let delta = [1.0 - 0.3 * lam, 2.0 + 0.2 * lam];
    let c = 0.3 * delta[0] - 0.2 * delta[1];
    let want0 = 0.3 + 0.5 / d * (lam * delta[0] + c / d.sqrt() * x[0]);
    assert!((sgd.weights.w[0] - want0).abs() < 1e-15);
}

/// The paper's regression form (integrals I21, I22, I3, J2, divisions by `QT − R²` and
/// `Q^kk Q^mm − (Q^km)²`) equals the vector form to integrator tolerance while those determinants
/// stay away from zero (erf with and without bias, truncated, ReLU with bias; t ∈ [0, 200]).
#[test]
fn paper_regression_form_agrees_with_the_vector_form() {
    let times: Vec<f64> = std::iter::once(0.0)
        .chain((0..=30).map(|i| 10f64.powf(-1.0 + 3.3 * i as f64 / 30.0)))
        .collect();
    assert_agrees_with_the_vector_form(Form::Paper, &times);
}

/// Where `Q^kk T^kk − (R^kk)²` vanishes (decoder parallel to the encoder in every mode) the
/// regression form is undefined: the integration stops with that determinant named.
#[test]
fn paper_form_names_a_vanishing_determinant() {
    let rho = spiked(300);
    let tr = vanilla(2, false);
    let w = Weights::init(tr.k, rho.len(), 0.1, false, 3);
    let sys = OdeSystem::new(&ScaledErf, tr, &rho, Form::Paper, Reduction::Full).expect("system");
    let v: Vec<f64> =
        w.w.iter()
            .map(|x| 0.5 * x * (rho.len() as f64).sqrt())
            .collect();
    let y0 = sys.state_from_weights(&w.w, &v, &w.beta);
    let err = integrate(&sys, y0, &[0.0, 1.0], IntegratorOptions::default(), |_| {})
        .expect_err("undefined")
        .to_string();
    assert!(
        err.contains("Q^kk T^kk − (R^kk)²") && err.contains("ode.form"),
        "{err}"
    );
}

/// ReLU AE, K = 2, no bias (the default set-up's spikes 25/35, 9/35, D = 1000): Newton from units
/// placed on PC1 with opposite signs finds the pair that reconstructs PC1 linearly
/// (relu(λ) − relu(−λ) = λ), ε = ε_PCA(1), stable; from both units on +PC1 the half-variance
/// saddle, ε = ε_PCA(0) − ρ₁/(4D) (one ReLU unit captures half of its PC's variance); the bulk's
/// encoder block is held at zero (an exact fixed point: its drift vanishes there).
#[test]
fn relu_pair_and_half_variance_fixed_points() {
    let cfg = aedyn::config::Config::from_toml(
        "seed = 1\nactivation = \"relu\"\nk = 2\n[sgd]\nseeds = 0",
        "test",
    )
    .expect("config");
    let pb = aedyn::run::Problem::from_config(&cfg).expect("problem");
    let (sys, _) = pb.ode_start().expect("system");
    assert_eq!(
        sys.slow_components().len(),
        4,
        "the bulk's 2×2 encoder block"
    );
    let refine = |place: &[(usize, f64)]| {
        let start = sys
            .aligned_state(place, 1.0, 0.5)
            .expect("spikes are vectors");
        match aedyn::fixed_points::refine(&sys, &start) {
            Ok(c) => c,
            Err(_) => panic!("no fixed point from {place:?}"),
        }
    };
    let (pca0, pca1) = (pb.spectrum.pca_error(0), pb.spectrum.pca_error(1));
    let pair = refine(&[(0, 1.0), (0, -1.0)]);
    assert!((pair.eps - pca1).abs() < 1e-9, "{} vs {pca1}", pair.eps);
    assert_eq!(pair.stability.n_unstable, 0);
    assert!(pair.residual < 1e-12 && pair.held_drift < 1e-12);
    let half = refine(&[(0, 1.0), (0, 1.0)]);
    let rho1 = pb.spectrum.rho[0] / pb.spectrum.rho.len() as f64;
    assert!(
        (half.eps - (pca0 - rho1 / 4.0)).abs() < 1e-9,
        "{}",
        half.eps
    );
    assert_eq!(half.stability.n_unstable, 1);
}

/// The sequential example's set-up: erf, K = 3, three spikes, no SGD.
const SEQUENTIAL: &str = "k = 3\nt_max = 120.0\nseed = 1\n[data]\nd = 1000\nspikes = [0.5, 0.2, 0.08]\nbulk = 0.02\n[sgd]\nseeds = 0";

#[test]
fn the_tangent_of_a_small_mode_is_its_exact_first_order_growth() {
    // scale PC 3's components of the start by 1e-6: the full ODE's mode 3 and the tangent
    // e^s ẑ along the saddle trajectory then agree to first order (relative 1e-5 at t = 30,
    // after they have changed by a factor of several)
    use aedyn::ode::escape::linearised_escape;
    let cfg = Config::from_toml(SEQUENTIAL, "test").expect("config");
    let pb = Problem::from_config(&cfg).expect("problem");
    let (sys, mut y0) = pb.ode_start().expect("system");
    let n = sys.n;
    for v in y0.rows_mut(2 * n, n).iter_mut() {
        *v *= 1e-6;
    }
    let times = [0.0, 10.0, 30.0];
    let full = integrate(
        &sys,
        y0.clone(),
        &times,
        IntegratorOptions::default(),
        |_| {},
    )
    .expect("full");
    let esc =
        linearised_escape(&sys, &y0, 2, &times, IntegratorOptions::default()).expect("tangent");
    for (i, s) in full.iter().enumerate().skip(1) {
        let exact = s.y.rows(2 * n, n).into_owned();
        let lin = esc.tangent_at(i);
        let rel = (&exact - lin).norm() / exact.norm();
        assert!(rel < 1e-5, "t = {}: relative difference {rel:.2e}", s.t);
        // the saddle trajectory is the full one without mode 3 (and mode 3 is negligible)
        let d = (s.y.rows(0, 2 * n) - esc.saddle_at(s.t).rows(0, 2 * n)).norm();
        assert!(d < 1e-8, "t = {}: saddle differs by {d:.2e}", s.t);
    }
    let grown = full[2].y.rows(2 * n, n).norm() / full[0].y.rows(2 * n, n).norm();
    assert!(!(0.5..2.0).contains(&grown), "mode 3 changed by {grown}");
}

#[test]
fn sequential_escapes_are_predicted_within_ten_percent() {
    let cfg = Config::from_toml(SEQUENTIAL, "test").expect("config");
    let report = aedyn::fixed_points::analyse_config(&cfg).expect("analysis");
    assert_eq!(report.plateaus.len(), 3);
    for p in &report.plateaus {
        let r = p.escape_pred / p.escape_ode;
        assert!(
            (r - 1.0).abs() < 0.1,
            "PC{}: {} vs {}",
            p.pc,
            p.escape_pred,
            p.escape_ode
        );
        // no saturation in the linearisation: it reaches the midpoint early
        assert!(
            p.mid_pred < p.mid_ode && p.mid_pred > 0.85 * p.mid_ode,
            "{p:?}"
        );
    }
    // PC 3 is slowed by the amplitude it has on the plateau, not by its rate: the rate falls by
    // less than 10 %, the escape comes 2.4× later than the early-time formula's 36
    let p3 = &report.plateaus[2];
    assert!(p3.rate_saddle < p3.rate_start && p3.rate_saddle > 0.9 * p3.rate_start);
    assert!(p3.escape_ode > 2.4 * 36.07, "{}", p3.escape_ode);
}

#[test]
fn newton_stops_at_the_rounding_noise_of_antiparallel_relu_pairs() {
    // K = 2 ReLU without bias from t = 3000: Newton drives the pair towards exactly antiparallel
    // units, where F cancels in 1 − ρ² and is evaluated with noise ~1e-10; it stops at that floor
    // (or below 1e-12) instead of failing
    let cfg = Config::from_toml(
        "seed = 1\nactivation = \"relu\"\nk = 2\nt_max = 3000\n[sgd]\nseeds = 0\n[ode]\nstiffness_check = false",
        "test",
    )
    .expect("config");
    let pb = Problem::from_config(&cfg).expect("problem");
    let (sys, y0) = pb.ode_start().expect("system");
    let opts = IntegratorOptions {
        stiffness_check: false,
        ..Default::default()
    };
    let end = integrate(&sys, y0, &[0.0, 3000.0], opts, |_| {}).expect("ode");
    let c = match aedyn::fixed_points::refine(&sys, &end[1].y) {
        Ok(c) => c,
        Err(_) => panic!("Newton did not reach the noise floor"),
    };
    let pca1 = pb.spectrum.pca_error(1);
    assert!((c.eps - pca1).abs() < 1e-9, "{} vs {pca1}", c.eps);
    assert!(c.residual < 1e-8, "{}", c.residual);
    assert!(
        c.residual < 1e-12
            || c.residual <= aedyn::ode::fixed_points::NOISE_FLOOR_FACTOR * c.noise_floor,
        "residual {} above the floor {}",
        c.residual,
        c.noise_floor
    );
    assert_eq!(c.stability.n_unstable, 0);
}

/// A large vector-form system integrated in two halves on two threads (`ode::halves`) follows
/// the one-thread integration: the two differ only by the order in which a few sums are added, so
/// at rtol 1e-10 the states at every output time agree to 1e-8 of their size. D = 1024 modes of a
/// decaying spectrum with an input mean; K = 4 (the SIMD kernels) and K = 3 (the generic loops);
/// untied, with a bias, tied, truncated and Sanger's rule.
#[test]
fn halves_agree_with_one_thread() {
    use aedyn::builtins::Gelu;
    use aedyn::ode::Flow;
    let d = 1024;
    let rho: Vec<f64> = (0..d)
        .map(|i| d as f64 * 0.5 * (-(i as f64) / 2.0).exp() + 0.2)
        .collect();
    let mean: Vec<f64> = (0..d)
        .map(|i| 0.6 * (0.37 * i as f64).sin() / (1.0 + i as f64 / 10.0))
        .collect();
    let times: Vec<f64> = (0..=16)
        .map(|i| 0.01 * 10f64.powf(i as f64 / 4.0))
        .collect();
    let one = IntegratorOptions {
        rtol: 1e-10,
        atol: 1e-13,
        two_threads: false,
        ..Default::default()
    };
    let two = IntegratorOptions {
        two_threads: true,
        ..one
    };
    let with = |algorithm, tied, bias| Training {
        k: 4,
        lr: 0.8,
        tied,
        bias,
        algorithm,
    };
    let cases: [(&dyn Activation, Training, bool); 6] = [
        (&ScaledErf, with(Algorithm::Vanilla, false, false), false),
        (&Gelu, with(Algorithm::Vanilla, false, true), true),
        (
            &ReluAct,
            Training {
                k: 3,
                ..with(Algorithm::Vanilla, false, true)
            },
            true,
        ),
        (&Gelu, with(Algorithm::Vanilla, true, true), true),
        (&ReluAct, with(Algorithm::Truncated, false, false), false),
        (&ScaledErf, with(Algorithm::Sanger, true, false), true),
    ];
    for (act, tr, has_mean) in cases {
        let w = Weights::init(tr.k, d, 0.3, tr.tied, 5);
        let mut sys = OdeSystem::new(act, tr, &rho, Form::Vector, Reduction::Full).expect("system");
        if has_mean {
            sys = sys.with_input_mean(&mean).expect("vector form");
        }
        assert!(sys.halves().is_some(), "{tr:?}: splits in halves");
        let beta = vec![0.1; tr.k];
        let y0 = sys.state_from_weights(&w.w, if tr.tied { &w.w } else { &w.v }, &beta);
        let a = integrate(&sys, y0.clone(), &times, one, |_| {}).expect("one thread");
        let b = integrate(&sys, y0, &times, two, |_| {}).expect("two threads");
        assert_eq!(a.len(), times.len());
        assert_eq!(b.len(), times.len());
        let mut worst: f64 = 0.0;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.t, y.t);
            worst = worst.max((&x.y - &y.y).amax() / x.y.amax());
        }
        let (e0, e1) = (sys.error(&a[0].y), sys.error(&a[times.len() - 1].y));
        println!(
            "{} {tr:?} mean {has_mean}: ε {e0:.4} → {e1:.4}, max |y₂ − y₁|∞/|y₁|∞ = {worst:.1e}",
            act.name()
        );
        assert!(worst < 1e-8, "{tr:?}: halves differ by {worst:e}");
        assert!(e1 < 0.9 * e0, "{tr:?}: the run learned something");
    }
}

/// A two-thread integration that diverges stops with the time, as one thread does.
#[test]
fn halves_stop_at_a_divergence() {
    let cfg = Config::from_toml(
        "lr = 5000.0\nt_max = 5.0\n[data]\nd = 1024\n[ode]\nreduction = \"full\"",
        "test",
    )
    .expect("valid");
    let pb = Problem::from_config(&cfg).expect("problem");
    let e = run(&pb, false).err().expect("diverges");
    let msg = e.to_string();
    assert!(
        msg.contains("t = ") && msg.contains("smaller learning rate"),
        "{msg}"
    );
}

#[test]
fn a_large_vector_form_is_analysed_over_its_leading_modes() {
    // tied erf, K = 2, D = 310 over all modes: 622 components, above the dense limit, so the
    // fixed points are refined over the leading 128 modes with the others held at zero, and the
    // spectrum completed by the held modes' drift matrices (docs/theory.md §9)
    let toml = "activation = \"erf\"\ntied = true\nk = 2\nt_max = 1000\n[data]\nd = 310\n\
                [sgd]\nseeds = 0\n[ode]\nreduction = \"full\"";
    let cfg = Config::from_toml(toml, "test").expect("config");
    let report = aedyn::fixed_points::analyse_config(&cfg).expect("analysis");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("modes beyond the leading 128")),
        "{:?}",
        report.notes
    );
    let p = report.points.last().expect("the stable end point");
    assert_eq!(p.n_unstable, 0);
    // the same point refined densely over all 622 components: the same zero of F, and the same
    // whole spectrum
    let pb = Problem::from_config(&cfg).expect("problem");
    let (sys, _) = pb.ode_start().expect("system");
    assert_eq!(sys.len(), 622);
    let dense = match aedyn::fixed_points::refine(&sys, &p.y) {
        Ok(c) => c,
        Err(_) => panic!("dense Newton from the leading-mode fixed point failed"),
    };
    assert!(
        (&dense.y - &p.y).amax() < 1e-10,
        "{}",
        (&dense.y - &p.y).amax()
    );
    assert!((dense.eps - p.eps).abs() < 1e-12);
    let (a, b) = (&dense.stability, &p.stability);
    assert_eq!(a.eigenvalues.len(), b.eigenvalues.len());
    assert_eq!((a.n_unstable, a.n_zero), (b.n_unstable, b.n_zero));
    let scale = a.eigenvalues.iter().map(|z| z.norm()).fold(0.0, f64::max);
    let worst = a
        .eigenvalues
        .iter()
        .zip(&b.eigenvalues)
        .map(|(x, y)| (x.re - y.re).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 1e-6 * scale,
        "real parts differ by {worst:.2e} of {scale:.2e}"
    );
    assert!((a.lambda_max - b.lambda_max).abs() < 1e-6 * scale);
}
