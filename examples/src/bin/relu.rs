//! ReLU autoencoders without and with a trained bias, K = 2 and K = 4: what the equations show.

use aedyn_examples::*;

fn main() -> std::process::ExitCode {
    finish(body())
}

/// How far the fixed-point analysis follows each ODE (the approach is slow: the slowest
/// decaying direction has rate ~1e-3 with a bias).
const FP_T_MAX: f64 = 3000.0;

fn body() -> Result<(), aedyn::Error> {
    println!("ReLU AE, D = 1000, spikes (25/35, 9/35), bulk 1/35, η = 1, t ≤ 300");
    println!(
        "{:>3} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "K", "bias", "ε_ode", "ε_sgd", "ε_PCA(1)", "ε_PCA(2)", "t(ε<ε_PCA(1)+δ)", "gap"
    );
    let mut rows = Vec::new();
    let mut trs = Vec::new();
    for k in [2, 4] {
        for bias in [false, true] {
            let toml = format!(
                "seed = 1\nactivation = \"relu\"\nk = {k}\nbias = {bias}\nt_max = 300.0\n[output]\npoints = 160"
            );
            let (_, tr) = run_toml(&toml, None)?;
            trs.push(tr.eps_sgd.last().copied().unwrap_or(f64::NAN));
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
    // the fixed points these runs end at (aedyn fixed-points: Newton from the end state and the
    // slow points, the bulk's encoder block held: it moves at relative rate O(1/D))
    println!();
    println!(
        "Fixed points reached (Newton on the fast components to |F| < 1e-12, or to F's rounding noise where larger; loadings: share of unit k's"
    );
    println!(
        "input variance Q_kk from PC1 / PC2, signed by w_k·e_τ; β the bias; λ_2 the slowest decay outside the bulk)"
    );
    println!(
        "{:>3} {:>6} {:>10} {:>10} {:>10} {:>4} {:>4} {:>11} {:>11}  loadings (PC1, PC2), β",
        "K", "bias", "ε*", "ε_ode(300)", "ε_sgd(300)", "unst", "zero", "λ_max", "λ_2"
    );
    let sgd_at = |i: usize| trs[i];
    let mut fixed = Vec::new();
    let mut no_fixed = Vec::new();
    let mut fp_csv = String::from(
        "k,bias,eps_fixed_point,eps_ode,eps_sgd,n_unstable,n_zero,lambda_max,lambda_2\n",
    );
    for (i, &(k, bias, fin, _, _, _)) in rows.iter().enumerate() {
        let cfg = aedyn::config::Config::from_toml(
            &format!(
                "seed = 1\nactivation = \"relu\"\nk = {k}\nbias = {bias}\nt_max = {FP_T_MAX}\n[sgd]\nseeds = 0\n[ode]\nstiffness_check = false"
            ),
            "example",
        )?;
        let pb = aedyn::run::Problem::from_config(&cfg)?;
        let (sys, _) = pb.ode_start()?;
        let report = aedyn::fixed_points::analyse_config(&cfg)?;
        let Some(p) = report
            .points
            .iter()
            .filter(|p| p.n_unstable == 0)
            .max_by(|a, b| a.t.total_cmp(&b.t))
        else {
            // no finite end state: follow the bias along the ODE
            let (_, long) = run_toml(
                &format!(
                    "seed = 1\nactivation = \"relu\"\nk = {k}\nbias = {bias}\nt_max = {FP_T_MAX}\n[sgd]\nseeds = 0\n[output]\npoints = 60\n[ode]\nstiffness_check = false"
                ),
                None,
            )?;
            let at = |t: f64| {
                let i = long
                    .times
                    .iter()
                    .position(|&s| s >= t)
                    .unwrap_or(long.times.len() - 1);
                let b = &long.ode_order[i].beta;
                (
                    long.times[i],
                    long.eps_ode[i],
                    b.iter().sum::<f64>() / b.len() as f64,
                )
            };
            let (t1, e1, b1) = at(FP_T_MAX / 10.0);
            let (t2, e2, b2) = at(FP_T_MAX);
            let growth = (b2 / b1).ln() / (t2 / t1).ln();
            println!(
                "{k:>3} {bias:>6}  no stable fixed point reported near the trajectory; along the ODE: mean β = {b1:.4} → {b2:.4} (t = {t1:.0} → {t2:.0}, local exponent {growth:.3}), ε = {e1:.5} → {e2:.5}"
            );
            for n in &report.notes {
                println!("      note: {n}");
            }
            fixed.push(None);
            no_fixed.push((k, b2 / b1, e2 < e1));
            continue;
        };
        for q in report.points.iter().filter(|q| q.n_unstable > 0) {
            println!(
                "      also visited: saddle near t = {:.1}, ε = {:.5}, {} unstable (λ_max = {:.3e}), escape predicted {:.1} / spent {:.1}",
                q.t, q.eps, q.n_unstable, q.lambda_max, q.escape_time, q.time_spent
            );
        }
        // the slowest decaying direction outside the bulk (the bulk's own directions decay at
        // rates O(1/D))
        let lambda2 = p
            .stability_free
            .as_ref()
            .unwrap_or(&p.stability)
            .slowest_decay();
        let o = sys.order_params(&p.y);
        let n = 2 * k;
        let d = pb.spectrum.rho.len() as f64;
        let mut load = String::new();
        for u in 0..k {
            let share = |tau: usize| {
                let w = p.y[tau * n + u];
                w.signum() * pb.spectrum.rho[tau] / d * w * w / o.q[u * k + u]
            };
            load.push_str(&format!(" ({:+.3}, {:+.3})", share(0), share(1)));
            if bias {
                load.push_str(&format!(" β={:+.3}", o.beta[u]));
            }
        }
        let sgd = sgd_at(i);
        println!(
            "{k:>3} {bias:>6} {:>10.5} {fin:>10.5} {sgd:>10.5} {:>4} {:>4} {:>11.3e} {lambda2:>11.3e} {load}",
            p.eps, p.n_unstable, p.n_zero, p.lambda_max
        );
        fp_csv.push_str(&format!(
            "{k},{bias},{:.10e},{fin:.10e},{sgd:.10e},{},{},{:.6e},{lambda2:.6e}\n",
            p.eps, p.n_unstable, p.n_zero, p.lambda_max
        ));
        fixed.push(Some((p.eps, load)));
    }
    // the fixed points where every unit sits on one principal component: Newton from each
    // placement (units on PC1/PC2 with a sign, up to permutations of the units)
    println!();
    println!(
        "Fixed points with every unit started on one PC (Newton from aligned states; distinct results)"
    );
    let options = [(0usize, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)];
    let label = |p: &[(usize, f64)]| {
        p.iter()
            .map(|&(t, s)| format!("PC{}{}", t + 1, if s > 0.0 { "+" } else { "−" }))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut aligned: Vec<(usize, bool, f64, usize)> = Vec::new();
    for &(k, bias, ..) in &rows {
        let cfg = aedyn::config::Config::from_toml(
            &format!("seed = 1\nactivation = \"relu\"\nk = {k}\nbias = {bias}\n[sgd]\nseeds = 0"),
            "example",
        )?;
        let pb = aedyn::run::Problem::from_config(&cfg)?;
        let (sys, _) = pb.ode_start()?;
        // placements as non-decreasing sequences of option indices (one per multiset)
        let mut found: Vec<(f64, usize, usize, f64, String)> = Vec::new();
        let mut idx = vec![0usize; k];
        loop {
            let place: Vec<(usize, f64)> = idx.iter().map(|&i| options[i]).collect();
            if let Some(start) = sys.aligned_state(&place, 1.0, 0.5)
                && let Ok(c) = aedyn::fixed_points::refine(&sys, &start)
                && !found
                    .iter()
                    .any(|f| (f.0 - c.eps).abs() < 1e-9 && f.1 == c.stability.n_unstable)
            {
                let mut start = label(&place);
                if !c.stability.resolved() {
                    start += &format!(
                        "  (Jacobian error {:.1e}: counts not resolved)",
                        c.jacobian_error
                    );
                }
                found.push((
                    c.eps,
                    c.stability.n_unstable,
                    c.stability.n_zero,
                    c.stability.lambda_max,
                    start,
                ));
            }
            // next non-decreasing index sequence
            let Some(j) = (0..k).rev().find(|&j| idx[j] + 1 < options.len()) else {
                break;
            };
            idx[j] += 1;
            for l in j + 1..k {
                idx[l] = idx[j];
            }
        }
        found.sort_by(|a, b| a.0.total_cmp(&b.0));
        println!(
            "  K = {k}, bias = {bias}: {} distinct fixed points",
            found.len()
        );
        for (eps, unst, zero, lmax, start) in &found {
            println!(
                "    ε = {eps:.6}  unstable {unst:>2}  zero {zero:>2}  λ_max = {lmax:>10.3e}   from {start}"
            );
            aligned.push((k, bias, *eps, *unst));
        }
    }
    let pca0 = rows[0].3 + 25.0 / 35.0 / 2.0;
    let half1 = pca0 - 25.0 / 35.0 / 4.0;
    verdict(
        "K = 2 without bias: the half-variance state (one unit's worth of PC1, ε = ε_PCA(0) − ρ₁/4D) is a saddle; the pair on PC1 (ε_PCA(1)) the only stable aligned fixed point",
        aligned
            .iter()
            .any(|&(k, b, e, u)| k == 2 && !b && (e - half1).abs() < 1e-6 && u > 0)
            && aligned.iter().any(|&(k, b, _, u)| k == 2 && !b && u == 0)
            && aligned
                .iter()
                .filter(|&&(k, b, _, u)| k == 2 && !b && u == 0)
                .all(|&(_, _, e, _)| (e - rows[0].3).abs() < 1e-6),
    );
    write_text("relu", "fixed_points.csv", &fp_csv)?;
    let eps_of = |i: usize| fixed[i].as_ref().map(|f: &(f64, String)| f.0);
    verdict(
        "fixed points: K = 2 without bias ends at a stable pair on PC1 with ε* = ε_PCA(1) (to 1e-6)",
        eps_of(0).is_some_and(|e| (e - rows[0].3).abs() < 1e-6),
    );
    verdict(
        "fixed points: K = 4 without bias ends at a stable fixed point with ε* = ε_PCA(2) (to 1e-5): a pair per PC",
        eps_of(2).is_some_and(|e| (e - rows[2].4).abs() < 1e-5),
    );
    verdict(
        "fixed points: with a bias, K = 2 ends at a stable fixed point below ε_PCA(1), and ODE and SGD at t = 300 approach it from above (within 1.5 %)",
        eps_of(1).is_some_and(|e| {
            let above = |x: f64| x > e && x < 1.015 * e;
            e < rows[1].3 && above(rows[1].2) && above(sgd_at(1))
        }),
    );
    verdict(
        "fixed points: with a bias, K = 4 has no stable fixed point near its trajectory up to t = 3000: Newton does not converge while the bias keeps growing and ε falls",
        no_fixed
            .iter()
            .any(|&(k, ratio, falling)| k == 4 && ratio > 1.02 && falling),
    );
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
    if std::env::args().any(|a| a == "--long") {
        long_run()?;
    }
    Ok(())
}

/// `--long`: K = 4 with a bias followed to t = 10⁶ (about 8 minutes): the bias in units of the
/// field's width, `b_k = β_k/√Q_kk`, and the error against ε_PCA(2) and against ε_PCA(2) less one
/// bulk mode's share `ρ_bulk/2D` (docs/theory.md §6.5).
fn long_run() -> Result<(), aedyn::Error> {
    use aedyn::ode::{IntegratorOptions, integrate};
    println!();
    println!("K = 4 with bias, ODE to t = 10⁶ (reference set-up, D = 1000)");
    let cfg = aedyn::config::Config::from_toml(
        "seed = 1\nactivation = \"relu\"\nk = 4\nbias = true\nt_max = 1e6\n[sgd]\nseeds = 0\n[ode]\nstiffness_check = false",
        "example",
    )?;
    let pb = aedyn::run::Problem::from_config(&cfg)?;
    let (sys, y0) = pb.ode_start()?;
    let times: Vec<f64> = std::iter::once(0.0)
        .chain((0..=8).map(|i| 10f64.powf(2.0 + 0.5 * i as f64)))
        .collect();
    // the fast directions stiffen as the bias grows: small steps, many of them per output
    let opts = IntegratorOptions {
        stiffness_check: false,
        max_steps: 100_000_000,
        ..pb.integrator
    };
    let states = integrate(&sys, y0, &times, opts, |_| {})?;
    let pca2 = pb.spectrum.pca_error(2);
    let d = pb.spectrum.rho.len();
    let bulk_share = pb.spectrum.rho[d - 1] / (2.0 * d as f64);
    println!(
        "{:>10} {:>14} {:>22}  b_k = β_k/√Q_kk",
        "t", "ε − ε_PCA(2)", "ε − ε_PCA(2) + ρ_b/2D"
    );
    for s in &states[1..] {
        let o = sys.order_params(&s.y);
        let k = o.k;
        let eps = sys.error(&s.y);
        let b: Vec<String> = (0..k)
            .map(|u| format!("{:.2}", o.beta[u] / o.q[u * k + u].sqrt()))
            .collect();
        println!(
            "{:>10.0} {:>14.3e} {:>22.3e}  {}",
            s.t,
            eps - pca2,
            eps - pca2 + bulk_share,
            b.join(" ")
        );
    }
    Ok(())
}
