//! The ODE for inputs with a mean, `x ~ N(μ, C)` (docs/theory.md §2.3, §5.10): its right-hand side
//! is the expected SGD step (exact at any D, checked by brute-force Gauss–Hermite quadrature over
//! x at D = 3), its error is the expected loss, a linear autoencoder's ε does not depend on how
//! the second moment is split into mean and covariance, and on the vendored uncentred MNIST images
//! the ODE follows SGD where the zero-mean model of the same images does not.

use aedyn::activation::Activation;
use aedyn::builtins::Gelu;
use aedyn::config::Config;
use aedyn::model::{Algorithm, Training};
use aedyn::ode::OdeSystem;
use aedyn::ode::system::{Form, Reduction};
use aedyn::run::{Problem, run};
use nalgebra::DVector;

const D: usize = 3;
const K: usize = 2;
/// eigenvalues of the covariance C (diagonal: its eigenbasis is the pixel basis)
const RHO: [f64; D] = [1.6, 0.9, 0.4];
const MU: [f64; D] = [0.7, -0.4, 0.5];
const W: [[f64; D]; K] = [[0.9, -0.3, 0.5], [0.2, 0.8, -0.6]];
const V: [[f64; D]; K] = [[0.6, 0.4, -0.2], [-0.5, 0.3, 0.7]];
const BETA: [f64; K] = [0.15, -0.25];
const ETA: f64 = 0.7;

/// `D·E[one SGD step]` of the state `(W, V̂ = V/√D, β)` and `E[ℓ]`, by a tensor Gauss–Hermite rule
/// over `x = μ + √ρ ⊙ z` (docs/theory.md §1.2–1.4, written out directly).
fn expected_step(act: &dyn Activation, tr: &Training) -> (Vec<f64>, Vec<f64>, Vec<f64>, f64) {
    let (nodes, weights) = aedyn_symbolic::hermite::rule(48);
    let df = D as f64;
    let sd = df.sqrt();
    let v = if tr.tied { W } else { V };
    let (mut dw, mut dv, mut db, mut loss) = (vec![0.0; K * D], vec![0.0; K * D], [0.0; K], 0.0);
    for (a, wa) in nodes.iter().zip(&weights) {
        for (b, wb) in nodes.iter().zip(&weights) {
            for (c, wc) in nodes.iter().zip(&weights) {
                let p = wa * wb * wc;
                let z = [a, b, c];
                let x: Vec<f64> = (0..D).map(|i| MU[i] + RHO[i].sqrt() * z[i]).collect();
                let lam: Vec<f64> = (0..K)
                    .map(|k| (0..D).map(|i| W[k][i] * x[i]).sum::<f64>() / sd + BETA[k])
                    .collect();
                let out: Vec<f64> = lam.iter().map(|&l| act.g(l)).collect();
                let full: Vec<f64> = (0..D)
                    .map(|i| x[i] - (0..K).map(|m| v[m][i] * out[m]).sum::<f64>())
                    .collect();
                loss += p * full.iter().map(|e| e * e).sum::<f64>() / (2.0 * df);
                for k in 0..K {
                    let delta: Vec<f64> = (0..D)
                        .map(|i| {
                            x[i] - (0..K)
                                .filter(|&m| tr.sees(k, m))
                                .map(|m| v[m][i] * out[m])
                                .sum::<f64>()
                        })
                        .collect();
                    let vd: f64 = (0..D).map(|i| v[k][i] * delta[i]).sum();
                    let dg = act.dg(lam[k]);
                    db[k] += p * ETA * dg * vd / df;
                    for i in 0..D {
                        dw[k * D + i] += p * if tr.algorithm == Algorithm::Sanger {
                            ETA * out[k] * delta[i]
                        } else if tr.tied {
                            ETA * (out[k] * delta[i] + dg * vd / sd * x[i])
                        } else {
                            ETA / df * dg * vd / sd * x[i]
                        };
                        dv[k * D + i] += p * ETA * out[k] * delta[i] / sd;
                    }
                }
            }
        }
    }
    (dw, dv, db.to_vec(), loss)
}

fn check(tr: Training) {
    let act = &Gelu;
    let sys = OdeSystem::new(act, tr, &RHO, Form::Vector, Reduction::Full)
        .expect("an ODE")
        .with_input_mean(&MU)
        .expect("vector form");
    let flat = |m: [[f64; D]; K]| m.iter().flatten().copied().collect::<Vec<f64>>();
    let y = sys.state_from_weights(&flat(W), &flat(V), &BETA);
    let mut dy = DVector::zeros(y.len());
    let mut ws = sys.workspace();
    sys.rhs_with(&y, &mut dy, &mut ws);
    let (dw, dv, db, loss) = expected_step(act, &tr);
    let n = if tr.tied { K } else { 2 * K };
    let mut worst: f64 = 0.0;
    let mut compare = |what: &str, ode: f64, sgd: f64| {
        let err = (ode - sgd).abs() / (1e-3 + sgd.abs());
        assert!(
            err < 1e-9,
            "{tr:?}: {what}: ODE {ode:.12e} against the expected SGD step {sgd:.12e}"
        );
        worst = worst.max(err);
    };
    for tau in 0..D {
        for k in 0..K {
            compare(&format!("dw^{k}_{tau}"), dy[tau * n + k], dw[k * D + tau]);
            if !tr.tied {
                compare(
                    &format!("dv̂^{k}_{tau}"),
                    dy[tau * n + K + k],
                    dv[k * D + tau],
                );
            }
        }
    }
    if tr.bias {
        for k in 0..K {
            compare(&format!("dβ^{k}"), dy[D * n + k], db[k]);
        }
    }
    compare("ε", sys.error(&y), loss);
    println!("{tr:?}: worst relative difference {worst:.2e}");
}

/// docs/theory.md §5.10: with a mean, every drift term (the mean's drive `μ_τ c`, `B^k`'s
/// `n^k E[g'']`, the bias drift's `n^k E[g']`, kernels at `β + m`) is the expected SGD step, for a
/// smooth activation that is not odd (gelu), at D = 3 where nothing is averaged away.
#[test]
fn the_drift_with_an_input_mean_is_the_expected_sgd_step() {
    for (tied, bias, algorithm) in [
        (false, true, Algorithm::Vanilla),
        (false, false, Algorithm::Truncated),
        (true, true, Algorithm::Vanilla),
        (true, false, Algorithm::Truncated),
        (true, false, Algorithm::Sanger),
    ] {
        check(Training::new(K, ETA, tied, bias, algorithm));
    }
}

fn mnist(extra: &str, seeds: usize) -> Problem {
    let toml = format!(
        "seed = 3\n{extra}\n[sgd]\nseeds = {seeds}\n[output]\npoints = 30\n[data]\nkind = \"mnist\"\n\
         path = \"{}/../data/mnist/t10k-images-idx3-ubyte.gz\"\nmax_images = 3000\n",
        env!("CARGO_MANIFEST_DIR")
    );
    Problem::from_config(&Config::from_toml(&toml, "test").expect("valid")).expect("loads")
}

/// A linear autoencoder's updates are quadratic in x, so its dynamics see only the second
/// moment Ω = C + μμᵀ: the ODE with the mean (modes of C) and the zero-mean ODE (modes of Ω) give
/// the same ε to integrator accuracy.
#[test]
fn a_linear_autoencoder_sees_only_the_second_moment() {
    let [exact, ignored] = ["exact", "ignored"].map(|m| {
        let cfg =
            format!("activation = \"linear\"\nk = 2\nt_max = 30.0\n[ode]\ninput_mean = \"{m}\"");
        run(&mnist(&cfg, 0), false).expect("runs")
    });
    for (a, b) in exact.eps_ode.iter().zip(&ignored.eps_ode) {
        assert!(
            (a - b).abs() <= 1e-7 * b,
            "ε {a} with the mean against {b} without"
        );
    }
    // the PCA levels: Ω's eigenvalues, from C + μμᵀ or from XᵀX/P
    for (a, b) in exact.pca.iter().zip(&ignored.pca) {
        assert!((a - b).abs() <= 1e-12 * b, "ε_PCA {a} against {b}");
    }
    println!("ε from {} to {:?}", exact.eps_ode[0], exact.eps_ode.last());
    assert!(exact.eps_ode.last() < Some(&(0.97 * exact.eps_ode[0])));
}

/// Measured (uncentred MNIST, 3000 images, seed 3, t ≤ 50): relu K = 1 gap 0.29 % of ε(0) with the
/// mean against 26 % without; erf(x) + 0.1x, K = 2 with a trained bias 0.20 % (refused without
/// the mean, where it was 27 %).
#[test]
fn uncentred_images_follow_sgd_with_the_mean_in_the_ode() {
    let relu = |mean: &str| {
        let pb = mnist(
            &format!("activation = \"relu\"\nk = 1\nt_max = 50.0\n[ode]\ninput_mean = \"{mean}\""),
            4,
        );
        run(&pb, false).expect("runs")
    };
    let with_mean = relu("exact");
    // the fields' means m = w·μ/√D, n = v·μ/D of the ODE against those of the SGD weights
    let (ode, sgd) = (&with_mean.ode_order, &with_mean.sgd_order);
    let last = ode.len() - 1;
    println!(
        "m: ODE {} SGD {}; n: ODE {} SGD {}",
        ode[last].m[0], sgd[last].m[0], ode[last].n[0], sgd[last].n[0]
    );
    assert!((ode[last].m[0] - sgd[last].m[0]).abs() <= 0.05 * sgd[last].m[0].abs());
    assert!((ode[last].n[0] - sgd[last].n[0]).abs() <= 0.05 * sgd[last].n[0].abs());
    let (exact, ignored) = (
        with_mean.max_relative_gap(),
        relu("ignored").max_relative_gap(),
    );
    println!("relu K = 1: gap {exact:.4} with the mean, {ignored:.4} without");
    assert!(exact <= 0.01 && ignored >= 0.03);
    let pb = mnist(
        "activation = \"erf(x) + 0.1 * x\"\nk = 2\nbias = true\nt_max = 60.0",
        4,
    );
    let gap = run(&pb, false).expect("runs").max_relative_gap();
    println!("erf(x) + 0.1x, K = 2, bias: gap {gap:.4}");
    assert!(gap <= 0.015);
}

/// The note about an ignored mean comes only where the ODE ignores it.
#[test]
fn the_mean_note_comes_only_when_the_mean_is_ignored() {
    let notes = |extra: &str| mnist(&format!("activation = \"relu\"\n{extra}"), 0).notes;
    assert!(notes("").is_empty());
    let ignored = notes("[ode]\ninput_mean = \"ignored\"");
    assert!(
        ignored.len() == 1 && ignored[0].contains("28.") && ignored[0].contains("input_mean"),
        "{ignored:?}"
    );
    assert_eq!(notes("[ode]\nform = \"density\"").len(), 1);
}

/// `aedyn fixed-points` on images with their mean (docs/theory.md §9): every mode is driven, so
/// the analysis works over the whole state with the structured Jacobian and Newton steps of
/// `aedyn::ode::driven`. Small 4×4 IDX images (60 of them, pixels 100 + a pseudo-random part)
/// keep the state small enough for the generic dense analysis (finite-difference Jacobian, SVD
/// Newton steps, nalgebra's Schur form), which must find the same point and spectrum. The same
/// images with the mean ignored are analysed as well.
#[test]
fn fixed_points_with_an_input_mean_match_the_dense_analysis() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("tiny-idx3-ubyte");
    let (p, side) = (60u32, 4u32);
    let mut bytes = vec![0, 0, 8, 3];
    for v in [p, side, side] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    // pixels with a clear mean: 100 + a pseudo-random part
    let mut state = 12345u32;
    for _ in 0..p * side * side {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push(100 + ((state >> 16) % 120) as u8);
    }
    std::fs::write(&path, &bytes).expect("write");
    let cfg = |mean: &str, bias: bool| {
        let toml = format!(
            "activation = \"relu\"\nk = 2\nbias = {bias}\nt_max = 5000.0\n[sgd]\nseeds = 0\n\
             [data]\nkind = \"mnist\"\npath = {:?}\n[ode]\ninput_mean = \"{mean}\"",
            path.to_str().expect("utf-8")
        );
        Config::from_toml(&toml, "test").expect("valid")
    };
    let report = aedyn::fixed_points::analyse_config(&cfg("exact", true)).expect("analysed");
    assert!(!report.points.is_empty(), "{:?}", report.notes);
    let pb = Problem::from_config(&cfg("exact", true)).expect("loads");
    let (sys, _) = pb.ode_start().expect("an ODE");
    assert!(sys.has_input_mean());
    for point in &report.points {
        assert!(point.residual < 1e-12, "|F| = {:.1e}", point.residual);
        let dense = match aedyn::fixed_points::refine(&sys, &point.y) {
            Ok(r) => r,
            Err(_) => panic!("the dense analysis refines the point"),
        };
        let moved = (&dense.y - &point.y).amax();
        assert!(
            moved < 1e-9,
            "the dense Newton moved the point by {moved:.1e}"
        );
        let (a, b) = (&point.stability, &dense.stability);
        assert_eq!(a.eigenvalues.len(), b.eigenvalues.len());
        assert_eq!(
            (a.n_unstable, a.n_zero),
            (b.n_unstable, b.n_zero),
            "structured {:?} dense {:?}",
            &a.eigenvalues[..4],
            &b.eigenvalues[..4]
        );
        let scale = b.eigenvalues.iter().map(|z| z.norm()).fold(0.0, f64::max);
        for (x, y) in a.eigenvalues.iter().zip(&b.eigenvalues) {
            assert!(
                (x.re - y.re).abs() < 1e-7 * scale,
                "real parts {:.6e} (structured) and {:.6e} (dense)",
                x.re,
                y.re
            );
        }
        println!(
            "t = {}: ε = {:.7}, {} unstable, {} zero, λ_max {:.3e} (dense {:.3e})",
            point.t, point.eps, a.n_unstable, a.n_zero, a.lambda_max, b.lambda_max
        );
    }
    aedyn::fixed_points::analyse_config(&cfg("ignored", false)).expect("analysed without the mean");
}

/// docs/theory.md §9 (inputs with a mean): the structured Jacobian `blockdiag(M(ρ_τ)) + U Vᵀ`
/// of `aedyn::ode::driven` is the finite-difference Jacobian of the whole right-hand side, and
/// its Newton step solves `J δ = −F` (the reduced system eliminates the modes exactly), for every
/// training set-up the mean applies to.
#[test]
fn the_structured_jacobian_with_an_input_mean_is_the_jacobian() {
    use aedyn::ode::driven::Structure;
    // the covariance's eigenvalues as given; with a mode of zero variance (untied: a singular
    // block, which the reduced system keeps); and with that mode's mean zero as well (untied: its
    // encoder weights are inert, left out)
    for (rho, mu) in [
        (RHO, MU),
        ([1.6, 0.9, 0.0], MU),
        ([1.6, 0.9, 0.0], [0.7, -0.4, 0.0]),
    ] {
        for (tied, bias, algorithm) in [
            (false, false, Algorithm::Vanilla),
            (false, true, Algorithm::Vanilla),
            (false, true, Algorithm::Truncated),
            (true, false, Algorithm::Vanilla),
            (true, true, Algorithm::Vanilla),
            (true, false, Algorithm::Sanger),
        ] {
            let tr = Training::new(K, ETA, tied, bias, algorithm);
            let sys = OdeSystem::new(&Gelu, tr, &rho, Form::Vector, Reduction::Full)
                .expect("an ODE")
                .with_input_mean(&mu)
                .expect("vector form");
            let flat = |m: [[f64; D]; K]| m.iter().flatten().copied().collect::<Vec<f64>>();
            let y = sys.state_from_weights(&flat(W), &flat(V), &BETA);
            let structure = Structure::with_error(&sys, &y, true);
            let dense = structure.dense();
            let fd = aedyn::ode::fixed_points::jacobian(&sys, &y, &mut sys.workspace());
            let diff = (&dense - &fd).amax() / fd.amax();
            assert!(
                diff < 1e-8,
                "{tr:?}: structured against finite differences: {diff:.2e}"
            );
            assert!(
                structure.error() < 1e-7 * fd.amax(),
                "{tr:?}: {:.2e}",
                structure.error()
            );
            let mut f = DVector::zeros(y.len());
            sys.rhs_with(&y, &mut f, &mut sys.workspace());
            let step = structure.newton_step(&f, bias, 0.0).expect("a step");
            let mut jd = &dense * &step + &f;
            if !bias {
                // the biases are held: their rows (zero drift) do not constrain the step
                for b in 0..K {
                    jd[y.len() - K + b] = 0.0;
                }
            }
            assert!(
                jd.amax() < 1e-10 * f.amax(),
                "{tr:?}: |Jδ + F| = {:.2e}",
                jd.amax()
            );
            // the implicit Euler step of the continuation: (J − σI) δ = −F
            let sigma = 0.3;
            let step = structure.newton_step(&f, bias, sigma).expect("a step");
            let mut shifted = &dense * &step - sigma * &step + &f;
            if !bias {
                for b in 0..K {
                    shifted[y.len() - K + b] = 0.0;
                }
            }
            assert!(
                shifted.amax() < 1e-10 * f.amax(),
                "{tr:?}: σ = {sigma}: {:.2e}",
                shifted.amax()
            );
            println!(
                "{tr:?}, ρ {rho:?}: structured − FD {diff:.1e}, |Jδ + F| {:.1e}",
                jd.amax()
            );
        }
    }
}
