//! The teacher–student model: derived integrals against the closed forms of the literature
//! (erf) and an independent integral (ReLU's four-orthant I4), the symmetric plateau of the
//! soft committee machine, and the ODE against SGD.

use aedyn::ode::Flow;
use aedyn::teacher_student::integrals::{Scratch, Slot, Term};
use aedyn::teacher_student::{TsIntegrals, TsParams, TsSystem};
use nalgebra::DVector;
use std::f64::consts::PI;

const ERF: &str = "erf(x / SQRT_2)";

/// A positive definite 4×4 covariance, row-major.
fn cov4(seed: u64) -> [f64; 16] {
    // A Aᵀ/4 + 0.3 I with a fixed pseudo-random A
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut a = [0.0; 16];
    for v in a.iter_mut() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *v = ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0;
    }
    let mut c = [0.0; 16];
    for i in 0..4 {
        for j in 0..4 {
            c[i * 4 + j] = (0..4).map(|k| a[i * 4 + k] * a[j * 4 + k]).sum::<f64>() / 2.0
                + if i == j { 0.3 } else { 0.0 };
        }
    }
    c
}

/// Saad & Solla's / Goldt et al.'s closed forms for g = erf(x/√2) (docs/theory.md §8.3).
fn erf_i4(c: &[f64; 16]) -> f64 {
    let c_ = |i: usize, j: usize| c[(i - 1) * 4 + (j - 1)];
    let l4 = (1.0 + c_(1, 1)) * (1.0 + c_(2, 2)) - c_(1, 2).powi(2);
    let l0 = l4 * c_(3, 4)
        - c_(2, 3) * c_(2, 4) * (1.0 + c_(1, 1))
        - c_(1, 3) * c_(1, 4) * (1.0 + c_(2, 2))
        + c_(1, 2) * c_(1, 3) * c_(2, 4)
        + c_(1, 2) * c_(1, 4) * c_(2, 3);
    let l1 = l4 * (1.0 + c_(3, 3))
        - c_(2, 3).powi(2) * (1.0 + c_(1, 1))
        - c_(1, 3).powi(2) * (1.0 + c_(2, 2))
        + 2.0 * c_(1, 2) * c_(1, 3) * c_(2, 3);
    let l2 = l4 * (1.0 + c_(4, 4))
        - c_(2, 4).powi(2) * (1.0 + c_(1, 1))
        - c_(1, 4).powi(2) * (1.0 + c_(2, 2))
        + 2.0 * c_(1, 2) * c_(1, 4) * c_(2, 4);
    4.0 / (PI * PI) / l4.sqrt() * (l0 / (l1 * l2).sqrt()).asin()
}

#[test]
fn erf_four_point_integral_is_the_arcsin_formula() {
    let mut ints = TsIntegrals::new(ERF, ERF, 4).unwrap();
    let i4 = ints
        .term(&[(0, Slot::Dg), (1, Slot::Dg), (2, Slot::Act), (3, Slot::Act)])
        .unwrap();
    let i3 = ints
        .term(&[(0, Slot::Dg), (1, Slot::X), (2, Slot::Act)])
        .unwrap();
    let j2 = ints.term(&[(0, Slot::Dg), (1, Slot::Dg)]).unwrap();
    let mut s = Scratch::default();
    for seed in 0..20 {
        let c = cov4(seed);
        let got = ints.eval(&i4, &c, 4, &mut s);
        let want = erf_i4(&c);
        assert!(
            (got - want).abs() < 1e-13,
            "I4 seed {seed}: {got} vs {want}"
        );
        let c_ = |i: usize, j: usize| c[(i - 1) * 4 + (j - 1)];
        let l3 = (1.0 + c_(1, 1)) * (1.0 + c_(3, 3)) - c_(1, 3).powi(2);
        let want3 = 2.0 / PI * (c_(2, 3) * (1.0 + c_(1, 1)) - c_(1, 2) * c_(1, 3))
            / ((1.0 + c_(1, 1)) * l3.sqrt());
        let got3 = ints.eval(&i3, &c, 4, &mut s);
        assert!((got3 - want3).abs() < 1e-13, "I3: {got3} vs {want3}");
        let wantj = 2.0 / PI / ((1.0 + c_(1, 1)) * (1.0 + c_(2, 2)) - c_(1, 2).powi(2)).sqrt();
        let gotj = ints.eval(&j2, &c, 4, &mut s);
        assert!((gotj - wantj).abs() < 1e-13, "J2: {gotj} vs {wantj}");
    }
}

fn soft_committee(k: usize, lr: f64) -> TsSystem {
    let mut t = vec![0.0; k * k];
    for i in 0..k {
        t[i * k + i] = 1.0;
    }
    TsSystem::new(
        TsParams {
            k,
            m: k,
            lr,
            lr_v: lr,
            noise_var: 0.0,
            train_v: false,
            v_star: vec![1.0; k],
            t,
            v_fixed: vec![1.0; k],
        },
        ERF,
        ERF,
    )
    .unwrap()
}

#[test]
fn the_symmetric_plateau_is_a_fixed_point_with_the_saad_solla_error() {
    for (k, want) in [(2, 0.0116108), (3, 0.0202966), (4, 0.0283773)] {
        let sys = soft_committee(k, 1e-6);
        let q = 1.0 / (2 * k - 1) as f64;
        let r = 1.0 / ((k * (2 * k - 1)) as f64).sqrt();
        let y = sys.state(&vec![q; k * k], &vec![r; k * k], &[]);
        let eps = sys.error(&y);
        assert!((eps - want).abs() < 5e-7, "K = {k}: ε = {eps} vs {want}");
        let mut dy = DVector::zeros(sys.len());
        sys.rhs(&y, &mut dy, &mut sys.workspace());
        assert!(dy.amax() < 1e-12, "K = {k}: |F| = {}", dy.amax());
    }
}

/// Independent reference for ReLU's I4 = E[Θ(x1) Θ(x2) relu(x3) relu(x4)]: composite
/// Gauss–Legendre over (x3, x4) ∈ [0, 9σ]² against their bivariate density, times the
/// conditional two-orthant probability of (x1, x2) (`orthant2`) — no four-dimensional orthant.
fn relu_i4_reference(c: &[f64; 16]) -> f64 {
    let at = |i: usize, j: usize| c[i * 4 + j];
    let (s3, s4, s34) = (at(2, 2), at(3, 3), at(2, 3));
    let det = s3 * s4 - s34 * s34;
    let inv = [s4 / det, -s34 / det, s3 / det];
    // B = C[(1,2),(3,4)], B C34⁻¹
    let b = [[at(0, 2), at(0, 3)], [at(1, 2), at(1, 3)]];
    let bi = |r: [f64; 2]| [r[0] * inv[0] + r[1] * inv[1], r[0] * inv[1] + r[1] * inv[2]];
    let (b1, b2) = (bi(b[0]), bi(b[1]));
    let v1 = at(0, 0) - (b1[0] * b[0][0] + b1[1] * b[0][1]);
    let v2 = at(1, 1) - (b2[0] * b[1][0] + b2[1] * b[1][1]);
    let v12 = at(0, 1) - (b1[0] * b[1][0] + b1[1] * b[1][1]);
    // 20-point Gauss–Legendre on [0, 1] by Newton on P20
    let n = 20;
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n {
        let mut z = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, z);
            for kk in 2..=n {
                let p2 = ((2 * kk - 1) as f64 * z * p1 - (kk - 1) as f64 * p0) / kk as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = n as f64 * (z * p1 - p0) / (z * z - 1.0);
            let dz = p1 / dp;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        x[i] = 0.5 * (1.0 - z);
        w[i] = 1.0 / ((1.0 - z * z) * dp * dp);
    }
    let panels = 40;
    let (h3, h4) = (
        9.0 * s3.sqrt() / panels as f64,
        9.0 * s4.sqrt() / panels as f64,
    );
    let mut sum = 0.0;
    for p in 0..panels {
        for i in 0..n {
            let x3 = h3 * (p as f64 + x[i]);
            for q in 0..panels {
                for j in 0..n {
                    let x4 = h4 * (q as f64 + x[j]);
                    let quad = inv[0] * x3 * x3 + 2.0 * inv[1] * x3 * x4 + inv[2] * x4 * x4;
                    let dens = (-0.5 * quad).exp() / (2.0 * PI * det.sqrt());
                    let m1 = b1[0] * x3 + b1[1] * x4;
                    let m2 = b2[0] * x3 + b2[1] * x4;
                    let p12 = aedyn::kernels::orthant2(m1, m2, v1, v2, v12);
                    sum += w[i] * w[j] * h3 * h4 * dens * x3 * x4 * p12;
                }
            }
        }
    }
    sum
}

#[test]
fn relu_four_point_integral_matches_an_independent_integral() {
    let mut ints = TsIntegrals::new("relu(x)", "relu(x)", 4).unwrap();
    let i4 = ints
        .term(&[(0, Slot::Dg), (1, Slot::Dg), (2, Slot::Act), (3, Slot::Act)])
        .unwrap();
    let mut s = Scratch::default();
    for seed in [1, 7, 11] {
        let c = cov4(seed);
        let got = ints.eval(&i4, &c, 4, &mut s);
        let want = relu_i4_reference(&c);
        assert!((got - want).abs() < 1e-9, "seed {seed}: {got} vs {want}");
    }
}

/// `aedyn fixed-points` on a config's TOML text.
fn analysed(toml: &str) -> aedyn::fixed_points::Report {
    let cfg = aedyn::config::Config::from_toml(toml, "test").expect("valid config");
    aedyn::fixed_points::analyse_config(&cfg).expect("analysed")
}

/// The erf soft committee machine's plateau (K = M = 2, N = 500, init_std 0.01) at learning
/// rate `lr` to `t_max`: the report and its first saddle.
fn erf_plateau(
    lr: f64,
    t_max: f64,
) -> (aedyn::fixed_points::Report, aedyn::fixed_points::FixedPoint) {
    let report = analysed(&format!(
        "model = \"teacher_student\"\nk = 2\nlr = {lr:?}\nt_max = {t_max:?}\ninit_std = 0.01\n\
         [teacher]\nm = 2\n[data]\nd = 500"
    ));
    let plateau = report
        .points
        .iter()
        .find(|p| p.n_unstable > 0)
        .expect("the plateau is found")
        .clone();
    (report, plateau)
}

#[test]
fn plateau_escape_rate_and_time_from_the_fixed_point_analysis() {
    // K = M = 2 at small η: λ_max/η → 0.065750 (docs/theory.md §8.4, Saad & Solla), plateau → 0.0116108
    let (report, plateau) = erf_plateau(0.02, 8000.0);
    assert!(plateau.residual < 1e-12);
    let rate = plateau.lambda_max / 0.02;
    assert!(
        (rate - 0.065750).abs() < 0.002 * 0.065750 + 1e-4,
        "λ_max/η = {rate}"
    );
    assert!(
        (plateau.eps - 0.0116108).abs() < 2e-4,
        "ε = {}",
        plateau.eps
    );
    let rel = (plateau.escape_time - plateau.time_spent).abs() / plateau.time_spent;
    assert!(
        rel < 0.1,
        "escape {} vs spent {}",
        plateau.escape_time,
        plateau.time_spent
    );
    let end = report.points.last().unwrap();
    assert_eq!(end.n_unstable, 0);
    assert!(end.eps.abs() < 1e-10, "realisable: ε → 0, got {}", end.eps);
}

/// A run that ends on the plateau: the time spent there is only a lower bound, and the report
/// says so (it listed 25 against an escape predicted after 72 without a word).
#[test]
fn a_saddle_the_run_ends_on_has_its_time_spent_marked_as_a_lower_bound() {
    let (report, plateau) = erf_plateau(0.5, 60.0);
    assert!(
        plateau.time_spent < plateau.escape_time,
        "spent {} of an escape after {}",
        plateau.time_spent,
        plateau.escape_time
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("still near the saddle") && n.contains("lower bound")),
        "{:?}",
        report.notes
    );
}

/// The students' departure from their permutation-symmetric trajectory, linearised along it
/// (`aedyn fixed-points`, docs/theory.md §9), against the trajectory's own deviation, at 1 % and
/// 10 % of the state, N = 1000: within 2 % for ReLU (K = M = 2, η = 0.1: 41.27 / 113.9 against
/// 41.27 / 114.6), whose short plateau the fixed-point estimate `ln(r/δ)/λ_max` misses by 46 %
/// (N = 500: 46.4 predicted near it, 31.7 spent), and for erf with K = M = 3 (599.2 / 1087.6
/// against 598.9 / 1086.5). The linearised deviation grows at the plateau's λ_max (erf: 0.00472 vs 0.0047166).
#[test]
fn specialisation_is_predicted_along_the_symmetric_trajectory() {
    use aedyn::config::Config;
    for (toml, lambda) in [
        (
            "activation = \"relu\"\nk = 2\nlr = 0.1\nt_max = 200.0",
            None,
        ),
        (
            "activation = \"erf\"\nk = 3\nlr = 0.1\nt_max = 1300.0\n[teacher]\nm = 3",
            Some(0.0047166),
        ),
    ] {
        let cfg = Config::from_toml(
            &format!("model = \"teacher_student\"\ninit_std = 0.01\n{toml}\n[data]\nd = 1000"),
            "test",
        )
        .unwrap();
        // the premise: the states P fixes are invariant (F(Py) is fixed by P) and P projects
        let pb = aedyn::teacher_student::run::TsProblem::from_config(&cfg).unwrap();
        let (sys, y0) = pb.system().unwrap();
        let py = sys.symmetrised(&y0);
        assert!((sys.symmetrised(&py) - &py).amax() < 1e-15);
        assert!((&y0 - &py).amax() > 1e-6, "the start is not symmetric");
        let mut f = DVector::zeros(py.len());
        sys.rhs(&py, &mut f, &mut sys.workspace());
        assert!((sys.symmetrised(&f) - &f).amax() < 1e-14 * (1.0 + f.amax()));
        let report = aedyn::fixed_points::analyse_config(&cfg).unwrap();
        assert_eq!(report.specialisation.len(), 2, "{toml}");
        for sp in &report.specialisation {
            println!(
                "{}: level {}: predicted {:.3}, ODE {:.3}, rate {:.5}",
                toml.lines().next().unwrap(),
                sp.level,
                sp.predicted,
                sp.ode,
                sp.rate
            );
            let rel = (sp.predicted - sp.ode).abs() / sp.ode;
            assert!(rel < 0.02, "{toml}: level {}: {sp:?}", sp.level);
        }
        if let Some(lambda) = lambda {
            let rate = report.specialisation[1].rate;
            assert!(
                (rate / lambda - 1.0).abs() < 0.01,
                "rate {rate} vs λ_max {lambda}"
            );
        }
    }
}

/// Over-realisable ReLU students (K = 3, M = 2, η = 0.5, N = 500, t_max = 1000): their symmetric
/// trajectory heads for coinciding students, where F is not differentiable and the tangent
/// along it crawls (it took minutes to reach t = 1000); the departure is integrated only until
/// both levels are crossed (t ≈ 40), and is predicted to 1 % (14.63 / 33.00 against the
/// trajectory's 14.63 / 33.10).
#[test]
fn departure_stops_once_its_levels_are_crossed() {
    use aedyn::config::Config;
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"relu\"\nk = 3\nlr = 0.5\nt_max = 1000.0\n\
         init_std = 0.01\n[teacher]\nm = 2\n[data]\nd = 500",
        "test",
    )
    .unwrap();
    let report = aedyn::fixed_points::analyse_config(&cfg).unwrap();
    assert!(
        !report.notes.iter().any(|n| n.contains("budget")),
        "{:?}",
        report.notes
    );
    assert_eq!(report.specialisation.len(), 2);
    for sp in &report.specialisation {
        println!(
            "level {}: predicted {:.3}, ODE {:.3}",
            sp.level, sp.predicted, sp.ode
        );
        assert!((sp.predicted / sp.ode - 1.0).abs() < 0.01, "{sp:?}");
    }
}

#[test]
fn ode_matches_sgd_for_the_soft_committee_machine() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::{TsProblem, run};
    // erf, K = M = 2, η = 0.5, N = 500, 4 seeds: the ODE describes the mean SGD curve to within
    // 2 % of ε(0) over the whole run (plateau and escape included)
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nk = 2\nlr = 0.5\nt_max = 300.0\ninit_std = 0.01\n\
         [teacher]\nm = 2\n[data]\nd = 500\n[sgd]\nseeds = 4\n[output]\npoints = 40",
        "test",
    )
    .unwrap();
    let tr = run(&TsProblem::from_config(&cfg).unwrap(), false).unwrap();
    assert!(
        tr.max_relative_gap() < 0.02,
        "gap {}",
        tr.max_relative_gap()
    );
    assert!((tr.plateau - 0.0116108).abs() < 1e-6);
    assert!(tr.eps_ode.last().unwrap() < &1e-3);
}

#[test]
fn identical_students_stay_identical_as_in_sgd() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::{TsProblem, run};
    // From init_std = 0 SGD's students are identical and stay so (equal gradients). The ODE
    // gives twins their representative's derivatives: computed apart they differed by rounding,
    // and a clamp student, whose d(Q11 − Q12)/dt grows like √(Q11 − Q12), had Q11 − Q12 = 1e-3
    // by t = 12 and 6 % of Q11 by t = 200 (K = 2; closed forms, no quadrature involved).
    for (act, t_max) in [("x.clamp(-0.5, 2.0)", 30.0), ("erf", 300.0)] {
        let cfg = Config::from_toml(
            &format!(
                "model = \"teacher_student\"\nactivation = \"{act}\"\nk = 3\nlr = 0.5\n\
                 t_max = {t_max}\ninit_std = 0.0\n[teacher]\nm = 2\nactivation = \"erf\"\n\
                 [data]\nd = 500\n[sgd]\nseeds = 2\n[output]\npoints = 12"
            ),
            "test",
        )
        .unwrap();
        let tr = run(&TsProblem::from_config(&cfg).unwrap(), false).unwrap();
        for (t, o) in tr.times.iter().zip(&tr.ode_order) {
            let q = &o.q;
            assert!(
                q.iter().all(|x| *x == q[0])
                    && (0..2).all(|m| o.r[m] == o.r[2 + m] && o.r[m] == o.r[4 + m]),
                "{act}, t = {t}: students apart, Q {q:?}, R {:?}",
                o.r
            );
        }
        let gap = tr.max_relative_gap();
        println!("{act} students from init_std = 0: ODE–SGD gap {gap:.4}");
        assert!(gap < 0.03, "{act}: gap {gap}");
    }
    // students merely close are not twins: their separation keeps its own derivative
    let p = TsParams {
        k: 2,
        m: 2,
        lr: 0.5,
        lr_v: 0.5,
        noise_var: 0.0,
        train_v: false,
        v_star: vec![1.0; 2],
        t: vec![1.0, 0.0, 0.0, 1.0],
        v_fixed: vec![1.0; 2],
    };
    let sys = TsSystem::new(p, "x.clamp(-0.5, 2.0)", ERF).unwrap();
    let (q, r) = (0.1, 0.3 * 0.1f64.sqrt());
    for (delta, twins) in [(0.0, true), (1e-15, true), (1e-9, false)] {
        let y = sys.state(
            &[q, q * (1.0 - delta), q * (1.0 - delta), q],
            &[r; 4],
            &[1.0; 2],
        );
        let mut dy = y.clone();
        sys.rhs(&y, &mut dy, &mut sys.workspace());
        let apart = dy[0] - dy[1];
        // √(2·1e-9·Q11)-proportional: 4.4e-7 here
        if twins {
            assert_eq!(apart, 0.0, "δ = {delta}");
        } else {
            assert!(apart > 1e-7, "δ = {delta}: d(Q11 − Q12)/dt = {apart}");
        }
    }
    // equal Q but different overlaps with a teacher, or different fixed second-layer weights:
    // not twins (R is stored after the three entries of Q)
    let y = sys.state(&[q; 4], &[r, r, r * (1.0 + 1e-9), r], &[1.0; 2]);
    let mut dy = y.clone();
    sys.rhs(&y, &mut dy, &mut sys.workspace());
    assert_ne!(dy[3], dy[5], "R rows apart");
    let p = TsParams {
        v_fixed: vec![1.0, 1.0 + 1e-9],
        ..sys.p.clone()
    };
    let other = TsSystem::new(p, "x.clamp(-0.5, 2.0)", ERF).unwrap();
    let y = other.state(&[q; 4], &[r; 4], &[]);
    let mut dy = y.clone();
    other.rhs(&y, &mut dy, &mut other.workspace());
    assert_ne!(dy[3], dy[5], "second-layer weights apart");
}

#[test]
fn teacher_student_config_errors_name_the_key() {
    use aedyn::config::Config;
    let err = |t: &str| {
        Config::from_toml(&format!("model = \"teacher_student\"\n{t}"), "t")
            .unwrap_err()
            .to_string()
    };
    assert!(err("[teacher]\nm = 0").contains("`teacher.m`"));
    assert!(err("[teacher]\nm = 2\nsecond_layer = [1.0]").contains("`teacher.second_layer`"));
    assert!(err("[teacher]\nnoise = -1.0").contains("`teacher.noise`"));
    assert!(err("tied = true").contains("`tied`"));
    assert!(err("[student]\nlr_second_layer = 0.0").contains("`student.lr_second_layer`"));
    assert!(err("[teacher]\nweights = \"random\"").contains("`orthonormal`"));
    assert!(err("[teacher]\nm = 20\n[data]\nd = 10").contains("at most data.d"));
}

/// `E[g'(x1) g'(x2) g(x3) g(x4)]` by a 32⁴-point Gauss–Hermite tensor rule through the Cholesky
/// factor of C (an independent reference for smooth g).
fn i4_by_hermite(c: &[f64; 16], g: impl Fn(f64) -> f64, dg: impl Fn(f64) -> f64) -> f64 {
    let (z, w) = aedyn_symbolic::hermite::rule(32);
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            l[i][j] = if i == j {
                (c[i * 4 + i] - s).sqrt()
            } else {
                (c[i * 4 + j] - s) / l[j][j]
            };
        }
    }
    let n = z.len();
    let mut sum = 0.0;
    for a in 0..n {
        for b in 0..n {
            for e in 0..n {
                for f in 0..n {
                    let u = [z[a], z[b], z[e], z[f]];
                    let x: Vec<f64> = (0..4)
                        .map(|i| (0..=i).map(|k| l[i][k] * u[k]).sum())
                        .collect();
                    sum += w[a] * w[b] * w[e] * w[f] * dg(x[0]) * dg(x[1]) * g(x[2]) * g(x[3]);
                }
            }
        }
    }
    sum
}

/// A real function.
type Real = fn(f64) -> f64;

#[test]
fn smooth_activations_four_point_integrals_match_gauss_hermite() {
    use aedyn::prelude::erf;
    let cases: [(&str, Real, Real); 2] = [
        (
            "x * erf(x)",
            |x| x * erf(x),
            |x| erf(x) + 2.0 / PI.sqrt() * x * (-x * x).exp(),
        ),
        (
            "0.5 * x * (1.0 + erf(x / SQRT_2))",
            |x| 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            |x| {
                0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2))
                    + x * (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
            },
        ),
    ];
    for (src, g, dg) in cases {
        let mut ints = TsIntegrals::new(src, src, 4).unwrap();
        let i4 = ints
            .term(&[(0, Slot::Dg), (1, Slot::Dg), (2, Slot::Act), (3, Slot::Act)])
            .unwrap();
        let mut s = Scratch::default();
        for seed in [3, 5] {
            let c = cov4(seed);
            let got = ints.eval(&i4, &c, 4, &mut s);
            let want = i4_by_hermite(&c, g, dg);
            assert!(
                (got - want).abs() < 1e-8 * want.abs().max(1.0),
                "{src}, seed {seed}: {got} vs {want}"
            );
        }
    }
}

/// `E[Π f_i(x_i)]` over N(0, C) (C row-major `d × d`) by an `order`-point Gauss–Hermite tensor
/// rule through the *symmetric* square root of C (eigen-decomposition) — another factorisation
/// than the Cholesky factor the library's quadrature uses, so an independent reference.
fn hermite_symmetric(c: &[f64], d: usize, order: usize, f: &dyn Fn(&[f64]) -> f64) -> f64 {
    let (z, w) = aedyn_symbolic::hermite::rule(order);
    let m = nalgebra::DMatrix::from_row_slice(d, d, c);
    let e = m.symmetric_eigen();
    let sqrt_l = nalgebra::DMatrix::from_diagonal(&e.eigenvalues.map(|v| v.max(0.0).sqrt()));
    let s = &e.eigenvectors * sqrt_l * e.eigenvectors.transpose();
    let mut idx = vec![0usize; d];
    let mut sum = 0.0;
    let mut x = vec![0.0; d];
    loop {
        let mut wt = 1.0;
        for i in 0..d {
            wt *= w[idx[i]];
            x[i] = (0..d).map(|j| s[(i, j)] * z[idx[j]]).sum();
        }
        sum += wt * f(&x);
        let mut i = 0;
        loop {
            if i == d {
                return sum;
            }
            idx[i] += 1;
            if idx[i] < order {
                break;
            }
            idx[i] = 0;
            i += 1;
        }
    }
}

/// tanh's teacher–student integrals (two students, two teachers) and four quadrature patterns:
/// `[I4, I3, I2, J2] = [E[g'(x1) g'(x2) g(x3) g(x4)], E[g'(x1) x3 g(x4)], E[g(x2) g(x4)],
/// E[g'(x1) g'(x2)]]`.
fn tanh_terms() -> (TsIntegrals, [Term; 4]) {
    let tanh = aedyn::registry::resolve("tanh", false).unwrap();
    let mut ints = TsIntegrals::for_activations(tanh, tanh, 2).unwrap();
    let i4 = ints
        .term(&[(0, Slot::Dg), (1, Slot::Dg), (2, Slot::Act), (3, Slot::Act)])
        .unwrap();
    let i3 = ints
        .term(&[(0, Slot::Dg), (2, Slot::X), (3, Slot::Act)])
        .unwrap();
    let i2 = ints.term(&[(1, Slot::Act), (3, Slot::Act)]).unwrap();
    let j2 = ints.term(&[(0, Slot::Dg), (1, Slot::Dg)]).unwrap();
    (ints, [i4, i3, i2, j2])
}

/// tanh has no closed form: its teacher–student integrals come from the Gauss–Hermite fallback
/// (orders by the fields' variance, `GH_TIERS`). Against references through another
/// factorisation (120 nodes per dimension for I2, J2, I3; 44 for I4), at covariances with variances
/// from 0.3 to 1.5 and strong correlations: I3 (exact in its linear field), I2 and J2 within 1e-7,
/// I4 within 5e-4 of its size (GH converges slowly for tanh, whose poles at ±iπ/2 are near the
/// real axis; I4 enters the ODE only with η²; the tiers' accuracy is measured in
/// `tanh_quadrature_accuracy_holds_up_to_the_trusted_variance`).
#[test]
fn tanh_teacher_student_integrals_by_quadrature_match_references() {
    assert!(
        aedyn::registry::resolve("tanh", false)
            .unwrap()
            .allows_quadrature()
    );
    let (ints, [i4, i3, i2, j2]) = tanh_terms();
    assert!(ints.uses_quadrature());
    // the variance the quadrature is trusted at (found with the first quadrature pattern), the
    // one measured for tanh
    assert!((ints.quadrature_trusted_variance().unwrap() - 4.0).abs() < 1e-12);
    let g = |x: f64| x.tanh();
    let dg = |x: f64| 1.0 - x.tanh().powi(2);
    let mut s = Scratch::default();
    let (mut worst, mut worst4): (f64, f64) = (0.0, 0.0);
    for seed in [1, 3, 5, 8] {
        let c = cov4(seed);
        let sub = |idx: &[usize]| -> Vec<f64> {
            idx.iter()
                .flat_map(|&a| idx.iter().map(move |&b| c[a * 4 + b]))
                .collect()
        };
        let cases: [(f64, f64); 4] = [
            (
                ints.eval(&i4, &c, 4, &mut s),
                hermite_symmetric(&c, 4, 44, &|x| dg(x[0]) * dg(x[1]) * g(x[2]) * g(x[3])),
            ),
            (
                ints.eval(&i3, &c, 4, &mut s),
                hermite_symmetric(&sub(&[0, 2, 3]), 3, 120, &|x| dg(x[0]) * x[1] * g(x[2])),
            ),
            (
                ints.eval(&i2, &c, 4, &mut s),
                hermite_symmetric(&sub(&[1, 3]), 2, 120, &|x| g(x[0]) * g(x[1])),
            ),
            (
                ints.eval(&j2, &c, 4, &mut s),
                hermite_symmetric(&sub(&[0, 1]), 2, 120, &|x| dg(x[0]) * dg(x[1])),
            ),
        ];
        for (i, (got, want)) in cases.iter().enumerate() {
            let rel = (got - want).abs() / want.abs().max(1e-3);
            if i == 0 {
                worst4 = worst4.max(rel);
            } else {
                worst = worst.max(rel);
            }
            let tol = if i == 0 { 5e-4 } else { 1e-7 };
            assert!(rel < tol, "seed {seed}, integral {i}: {got} vs {want}");
        }
    }
    println!("tanh quadrature: worst relative error {worst:.2e} (I2, J2, I3), I4 {worst4:.2e}");
}

/// The quadrature's accuracy holds up to the variance it is trusted at (4 for tanh): with the
/// orders of `GH_TIERS` rising with the variance, each tier is measured where it is used alone at
/// the largest variance (5 % below its bound, where the next tier starts to be blended in), near
/// the end of the blending band (1 % below the bound) and at 4 for the last, each integral's
/// covariance scaled so that its integrated fields reach that
/// variance (I3 integrates its linear field exactly), with strong correlations: I2, J2 and I3 are
/// within 1e-8 of their size (measured ≤ 6.4e-9) and I4 within 1e-4 absolute (≤ 5.6e-5), against
/// references (I3 through its conditional mean in the linear field, a 2-D rule) through the
/// symmetric square root of C with more nodes (I4's own error ≤ 1e-6 at variance 4, measured
/// against 96 nodes). With 20 nodes at every variance, I4 was off by 7.5e-4 at variance 4 (6 %
/// of its value), J2 by 2.5e-4 relative with 64.
#[test]
fn tanh_quadrature_accuracy_holds_up_to_the_trusted_variance() {
    let (ints, [i4, i3, i2, j2]) = tanh_terms();
    let g = |x: f64| x.tanh();
    let dg = |x: f64| 1.0 - x.tanh().powi(2);
    let mut s = Scratch::default();
    // each finite bound's band: where the tier is alone (0.95) and near its end (0.99), where the
    // tier's weight is small but its error largest
    let tops = [
        (0.95 * 1.2, 40),
        (0.99 * 1.2, 40),
        (0.95 * 1.5, 40),
        (0.99 * 1.5, 40),
        (0.95 * 2.0, 44),
        (0.99 * 2.0, 44),
        (0.95 * 2.5, 48),
        (0.99 * 2.5, 48),
        (0.95 * 3.0, 52),
        (0.99 * 3.0, 52),
        (4.0, 60),
    ];
    for (variance, order4) in tops {
        let (mut worst4, mut worst): (f64, f64) = (0.0, 0.0);
        for seed in [1, 5, 13] {
            let base = cov4(seed);
            // the covariance with the largest variance of the fields `integrated` at `variance`
            let scaled = |integrated: &[usize]| -> [f64; 16] {
                let largest = integrated.iter().map(|&i| base[i * 5]).fold(0.0, f64::max);
                base.map(|v| v * variance / largest)
            };
            let sub = |c: &[f64; 16], idx: &[usize]| -> Vec<f64> {
                idx.iter()
                    .flat_map(|&a| idx.iter().map(move |&b| c[a * 4 + b]))
                    .collect()
            };
            s.new_state();
            let c = scaled(&[0, 1, 2, 3]);
            let want4 =
                hermite_symmetric(&c, 4, order4, &|x| dg(x[0]) * dg(x[1]) * g(x[2]) * g(x[3]));
            worst4 = worst4.max((ints.eval(&i4, &c, 4, &mut s) - want4).abs());
            let (c3, c2, cj) = (scaled(&[0, 3]), scaled(&[1, 3]), scaled(&[0, 1]));
            // I3 = E[g'(x0) g(x3) E[x2 | x0, x3]], the conditional mean by regression
            let (p, q, r) = (c3[0], c3[3], c3[15]);
            let det = p * r - q * q;
            let (a, b) = (
                (c3[8] * r - c3[11] * q) / det,
                (c3[11] * p - c3[8] * q) / det,
            );
            let others = [
                (
                    ints.eval(&i3, &c3, 4, &mut s),
                    hermite_symmetric(&sub(&c3, &[0, 3]), 2, 300, &|x| {
                        dg(x[0]) * (a * x[0] + b * x[1]) * g(x[1])
                    }),
                ),
                (
                    ints.eval(&i2, &c2, 4, &mut s),
                    hermite_symmetric(&sub(&c2, &[1, 3]), 2, 300, &|x| g(x[0]) * g(x[1])),
                ),
                (
                    ints.eval(&j2, &cj, 4, &mut s),
                    hermite_symmetric(&sub(&cj, &[0, 1]), 2, 300, &|x| dg(x[0]) * dg(x[1])),
                ),
            ];
            for (got, want) in others {
                worst = worst.max((got - want).abs() / want.abs().max(1e-3));
            }
        }
        println!(
            "variance {variance}: I4 absolute error ≤ {worst4:.1e}, I2/J2/I3 relative ≤ {worst:.1e}"
        );
        assert!(worst4 < 1e-4, "variance {variance}: I4 off by {worst4:.2e}");
        assert!(
            worst < 1e-8,
            "variance {variance}: I2/J2/I3 off by {worst:.2e}"
        );
    }
}

/// Where a field's variance crosses a bound of `GH_TIERS` the integrals are continuous (the next
/// tier's rule is blended in below the bound): on both sides of each bound, 1e-12 apart in
/// relative variance (each term's covariance scaled by the variance of its own integrated fields),
/// I4, J2 and I2 agree to 2e-11 — where the tiers themselves differ by 1e-9 (J2 at 1.2) to 1e-5
/// (I4 at 3).
#[test]
fn quadrature_orders_change_continuously_with_the_variance() {
    let (ints, [i4, _, i2, j2]) = tanh_terms();
    let mut s = Scratch::default();
    let base = cov4(5);
    let at = |variance: f64, own: &[usize], term, s: &mut Scratch| {
        let largest = own.iter().map(|&i| base[i * 5]).fold(0.0, f64::max);
        let c: Vec<f64> = base.iter().map(|v| v * variance / largest).collect();
        s.new_state();
        ints.eval(term, &c, 4, s)
    };
    for bound in [1.2, 1.5, 2.0, 2.5, 3.0] {
        for (term, own) in [(&i4, &[0, 1, 2, 3][..]), (&j2, &[0, 1]), (&i2, &[1, 3])] {
            let below = at(bound * (1.0 - 1e-12), own, term, &mut s);
            let above = at(bound * (1.0 + 1e-12), own, term, &mut s);
            assert!(
                (below - above).abs() < 2e-11,
                "bound {bound}, fields {own:?}: {below} below, {above} above"
            );
        }
    }
}

/// Students that coincide (a singular covariance, summed on the pivoted path) give the value of
/// the merged pattern (the linear field integrated exactly) to rounding, also where the linear
/// field's variance calls for another tier than the students': its variance does not count.
#[test]
fn coinciding_students_keep_the_merged_value_whatever_the_linear_fields_variance() {
    let tanh = aedyn::registry::resolve("tanh", false).unwrap();
    let mut ints = TsIntegrals::for_activations(tanh, tanh, 2).unwrap();
    // I3(k, b, c) with students k = c identical, and I3(k, b, k)
    let apart = ints
        .term(&[(0, Slot::Dg), (2, Slot::X), (1, Slot::Act)])
        .unwrap();
    let merged = ints
        .term(&[(0, Slot::Dg), (2, Slot::X), (0, Slot::Act)])
        .unwrap();
    let mut s = Scratch::default();
    // students of variance 2.6 (alone in their tier), a teacher field b of variance 3.5 (the last)
    let (q, v) = (2.6, 3.5);
    #[rustfmt::skip]
    let c = [
        q,   q,   0.9, 0.3,
        q,   q,   0.9, 0.3,
        0.9, 0.9, v,   0.2,
        0.3, 0.3, 0.2, 1.0,
    ];
    let (a, b) = (
        ints.eval(&apart, &c, 4, &mut s),
        ints.eval(&merged, &c, 4, &mut s),
    );
    assert!((a - b).abs() < 1e-13 * a.abs().max(1.0), "{a} vs {b}");
}

/// The symmetric plateau of the tanh soft committee machine (K = M = 2, η → 0) found by the run's
/// Newton search on the quadrature ODE, against an independent computation: all students the
/// same vector `r (B_1 + B_2)`, so `λ = r (ν_1 + ν_2)`, and r solves `E[g'(λ) ν_1 (2 g(λ) −
/// g(ν_1) − g(ν_2))] = 0` (dR/dt = 0), found by bisection on a 160² Gauss–Hermite rule; then
/// `ε = ½ E[(2 g(λ) − g(ν_1) − g(ν_2))²]`. Also: the run's ODE follows SGD through the plateau.
#[test]
fn tanh_soft_committee_plateau_and_ode_vs_sgd() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::{TsProblem, run};
    let (z, w) = aedyn_symbolic::hermite::rule(160);
    let g = |x: f64| x.tanh();
    let dg = |x: f64| 1.0 - x.tanh().powi(2);
    let expect = |f: &dyn Fn(f64, f64) -> f64| -> f64 {
        let mut s = 0.0;
        for (a, wa) in z.iter().zip(&w) {
            for (b, wb) in z.iter().zip(&w) {
                s += wa * wb * f(*a, *b);
            }
        }
        s
    };
    let drift = |r: f64| {
        expect(&|n1, n2| {
            let l = r * (n1 + n2);
            dg(l) * n1 * (2.0 * g(l) - g(n1) - g(n2))
        })
    };
    let (mut lo, mut hi) = (0.2, 0.6);
    assert!(drift(lo) * drift(hi) < 0.0);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if drift(lo) * drift(mid) <= 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let r = 0.5 * (lo + hi);
    let want = 0.5
        * expect(&|n1, n2| {
            let e = 2.0 * g(r * (n1 + n2)) - g(n1) - g(n2);
            e * e
        });
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"tanh\"\nk = 2\nlr = 0.5\nt_max = 20.0\n\
         init_std = 0.01\n[teacher]\nm = 2\n[data]\nd = 500\n[sgd]\nseeds = 4\n[output]\npoints = 20",
        "test",
    )
    .unwrap();
    let tr = run(&TsProblem::from_config(&cfg).unwrap(), false).unwrap();
    assert!(
        (tr.plateau - want).abs() < 1e-6 * want,
        "plateau {} vs independent {want}",
        tr.plateau
    );
    // at η = 0.5 the trajectory sits on a plateau above the η → 0 one, and SGD agrees
    assert!(
        tr.max_relative_gap() < 0.02,
        "gap {}",
        tr.max_relative_gap()
    );
    let end = *tr.eps_ode.last().unwrap();
    assert!(end > want && end < 1.6 * want, "ε(20) = {end}");
}

/// erf²: all 16 autoencoder integrals have closed forms (at most four erf factors meet), but the
/// teacher–student I4 has six. Without quadrature the model is refused, naming the integral; with
/// `quadrature` (erf² is smooth) Gauss–Hermite stands in and agrees with the closed-form I2.
#[test]
fn erf_squared_needs_quadrature_for_its_four_point_integral() {
    let params = TsParams {
        k: 1,
        m: 1,
        lr: 0.1,
        lr_v: 0.1,
        noise_var: 0.0,
        train_v: false,
        v_star: vec![1.0],
        t: vec![1.0],
        v_fixed: vec![1.0],
    };
    let closed = aedyn::registry::resolve("erf(x).powi(2)", false).unwrap();
    let msg = TsSystem::for_activations(params.clone(), closed, closed)
        .err()
        .expect("six erf factors have no closed form")
        .to_string();
    assert!(
        msg.contains("E[g'(x1)") && msg.contains("quadrature"),
        "{msg}"
    );
    let quad = aedyn::registry::resolve("erf(x).powi(2)", true).unwrap();
    let sys = TsSystem::for_activations(params, quad, quad).unwrap();
    assert!(sys.uses_quadrature());
    // ε_g at Q = 0.7, R = 0.4: ½ (I2(λ,λ) − 2 I2(λ,ν) + I2(ν,ν)), closed form vs the system
    let mut ints = TsIntegrals::new("erf(x).powi(2)", "erf(x).powi(2)", 1).unwrap();
    let terms = [
        ints.term(&[(0, Slot::Act), (0, Slot::Act)]).unwrap(),
        ints.term(&[(0, Slot::Act), (1, Slot::Act)]).unwrap(),
        ints.term(&[(1, Slot::Act), (1, Slot::Act)]).unwrap(),
    ];
    let omega = [0.7, 0.4, 0.4, 1.0];
    let mut s = Scratch::default();
    let v: Vec<f64> = terms
        .iter()
        .map(|t| ints.eval(t, &omega, 2, &mut s))
        .collect();
    let want = 0.5 * (v[0] - 2.0 * v[1] + v[2]);
    let got = sys.error(&sys.state(&[0.7], &[0.4], &[]));
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
}

/// Quadrature at the boundary of the cone of Gram matrices, where the plateaus (coinciding
/// students) and the perfectly learned state (students = teachers) lie and where Newton's and
/// the Jacobian's steps leave it (tanh, K = M = 2, η = 0.5, N = 500, `TsIntegrals::eval`):
/// - the plateau saddle found by Newton from the ODE's state at t = 25 has `λ_max` equal to
///   the growth rate of the students' difference `(Q_11 − Q_22, R_1m − R_2m)` measured on the
///   ODE trajectory between t = 25 and 40, to 1 % (0.08467 vs 0.0846; with the covariance
///   clamped onto the cone it came out 0.0120, or 0.0234 by one-sided differences);
/// - the perfectly learned state is a zero of F to 1e-13 and stable, with the same spectrum from
///   difference steps 100 times apart, to 5e-3 of the largest |λ| (it had three spurious unstable directions: a Cholesky
///   factor that drops a vanishing pivot drops its first-order correlations too).
#[test]
fn tanh_plateau_and_perfect_state_are_resolved_on_the_cone_boundary() {
    use aedyn::config::Config;
    use aedyn::fixed_points::{Refused, refine};
    use aedyn::ode::fixed_points::{jacobian_with_steps, stability};
    use aedyn::ode::integrate;
    use aedyn::teacher_student::run::TsProblem;
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"tanh\"\nk = 2\nlr = 0.5\nt_max = 40.0\n\
         init_std = 0.01\n[data]\nd = 500",
        "test",
    )
    .unwrap();
    let pb = TsProblem::from_config(&cfg).unwrap();
    let (sys, y0) = pb.system().unwrap();
    let states = integrate(&sys, y0, &[0.0, 25.0, 40.0], pb.integrator, |_| {}).unwrap();
    let split = |y: &DVector<f64>| {
        let o = sys.order(y);
        let d = [o.q[0] - o.q[3], o.r[0] - o.r[2], o.r[1] - o.r[3]];
        d.iter().map(|v| v * v).sum::<f64>().sqrt()
    };
    let rate = (split(&states[2].y) / split(&states[1].y)).ln() / 15.0;
    let saddle = match refine(&sys, &states[1].y) {
        Ok(r) => r,
        Err(Refused::Newton(w) | Refused::Unphysical(w)) => panic!("plateau: {w}"),
    };
    let lambda = saddle.stability.lambda_max;
    println!(
        "tanh plateau: ε = {:.7}, λ_max = {lambda:.5} vs growth rate {rate:.5}, |F| = {:.1e}",
        saddle.eps, saddle.residual
    );
    assert!((saddle.eps - 0.0313928).abs() < 1e-6, "{}", saddle.eps);
    assert!((lambda / rate - 1.0).abs() < 0.01, "{lambda} vs {rate}");

    let perfect = sys.state(&[1.0, 0.0, 0.0, 1.0], &[1.0, 0.0, 0.0, 1.0], &[]);
    let mut ws = sys.workspace();
    let mut f = DVector::zeros(perfect.len());
    sys.rhs(&perfect, &mut f, &mut ws);
    assert!(
        f.amax() < 1e-13,
        "|F| = {:.1e} at the perfect state",
        f.amax()
    );
    let mut spectrum = |factor: f64| {
        let st = stability(&jacobian_with_steps(&sys, &perfect, &mut ws, factor));
        let mut re: Vec<f64> = st.eigenvalues.iter().map(|c| c.re).collect();
        re.sort_by(|a, b| b.total_cmp(a));
        re
    };
    let (fine, coarse) = (spectrum(1.0), spectrum(100.0));
    println!("perfect state: {fine:.5?} (steps ×100: {coarse:.5?})");
    assert!(fine[0] < -0.02, "λ_max = {}", fine[0]);
    // I4's rule leaves up to ~1e-4 (absolute) of quadrature error in F: the spectra agree to 5e-3 of the
    // largest |λ|
    let scale = fine.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (a, b) in fine.iter().zip(&coarse) {
        assert!((a - b).abs() < 5e-3 * scale, "{a} vs {b}");
    }
}

/// Over-realisable students (K = 3 > M = 2) with two students on one teacher (with it, or against
/// it for an even or odd g): their perfectly learned states are exact fixed points, built by
/// `TsSystem::perfect_state` from a nearby state and accepted where F vanishes to 1e-12. Three exactly proportional fields there once left F at
/// ~3e-10 (two steps one Dirac condition determines each took ½, docs/integrals.md §4). A fixed
/// second layer needs the lengths of the students sharing a teacher to add up, `Σ v_a c_a^p = v*_b`
/// for a g homogeneous of degree p (ReLU: 1, ReLU²: 2), which the nearby state only approximates;
/// a trained one is the least-squares v.
#[test]
fn over_realisable_perfect_states_are_exact() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::TsProblem;
    // (g, degree, parity of a student against its teacher, lengths and signs of students 0 and 1)
    let cases = [
        ("relu", 1.0, 1.0, [(0.35, 1.0), (0.7, 1.0)]),
        ("relu(x).powi(2)", 2.0, 1.0, [(0.35, 1.0), (0.7, 1.0)]),
        // even: the student against its teacher counts fully
        ("x.abs()", 1.0, 1.0, [(0.35, 1.0), (0.7, -1.0)]),
        // odd: it counts negatively
        ("x * x.abs()", 2.0, -1.0, [(0.9, 1.0), (0.35, -1.0)]),
    ];
    for (activation, degree, parity, students) in cases {
        for trained in [false, true] {
            let cfg = Config::from_toml(
                &format!(
                    "model = \"teacher_student\"\nactivation = \"{activation}\"\nk = 3\n\
                     init_std = 0.01\n[teacher]\nm = 2\n[data]\nd = 500\n\
                     [student]\ntrain_second_layer = {trained}"
                ),
                "test",
            )
            .unwrap();
            let (sys, _) = TsProblem::from_config(&cfg).unwrap().system().unwrap();
            let t = sys.p.t.clone();
            // students 0 and 1 on teacher 0 (lengths that do not add up), student 2 on teacher 1
            // (length 1.1)
            let teacher = [0usize, 0, 1];
            let c = [
                students[0].0 * students[0].1,
                students[1].0 * students[1].1,
                1.1,
            ];
            let q: Vec<f64> = (0..9)
                .map(|i| c[i / 3] * c[i % 3] * t[teacher[i / 3] * 2 + teacher[i % 3]])
                .collect();
            let r: Vec<f64> = (0..6)
                .map(|i| c[i / 2] * t[teacher[i / 2] * 2 + i % 2])
                .collect();
            let near = sys.state(&q, &r, &[0.6, 0.5, 0.9]);
            let y = sys
                .perfect_state(&near)
                .unwrap_or_else(|| panic!("{activation}, trained {trained}: none found"));
            let mut f = DVector::zeros(y.len());
            sys.rhs(&y, &mut f, &mut sys.workspace());
            let eps = sys.error(&y);
            println!(
                "{activation}, trained {trained}: |F| = {:.1e}, ε = {eps:.1e}",
                f.amax()
            );
            assert!(f.amax() < 1e-12 && eps.abs() < 1e-14);
            let o = sys.order(&y);
            // still two students on one teacher, exactly (anti-)aligned
            let rho = o.q[1] / (o.q[0] * o.q[4]).sqrt();
            let want = students[0].1 * students[1].1;
            assert!((rho - want).abs() < 1e-14, "ρ = {rho}");
            if !trained {
                // Σ σ_a v_a c_a^p = v*_0 over the students on teacher 0 (v fixed at 1, v* = 1;
                // σ = 1 for a student with its teacher, the parity of g against it)
                let length = |a: usize| (o.q[a * 3 + a] / t[0]).sqrt();
                let sigma = |a: usize| if students[a].1 > 0.0 { 1.0 } else { parity };
                let weight = sigma(0) * length(0).powf(degree) + sigma(1) * length(1).powf(degree);
                assert!((weight - sys.p.v_star[0]).abs() < 1e-12, "{weight}");
            }
        }
    }
}

/// The fixed-point analysis of a config and its perfectly learned state (ε = 0), which must be
/// listed.
fn perfect_state_of(
    cfg: &aedyn::config::Config,
) -> (aedyn::fixed_points::Report, aedyn::fixed_points::FixedPoint) {
    let report = aedyn::fixed_points::analyse_config(cfg).unwrap();
    let perfect = report
        .points
        .iter()
        .find(|p| p.eps.abs() < 1e-12)
        .cloned()
        .unwrap_or_else(|| panic!("no perfect state: {:?}", report.notes));
    (report, perfect)
}

/// ReLU, K = M = 2: the perfectly learned state is an exact fixed point where F is not
/// differentiable (its kernels have square-root singularities in the overlaps), so Newton cannot
/// reach it. `aedyn fixed-points` lists it from the exact state (ε = 0, |F| < 1e-12, attracting:
/// λ_max is the trajectory's rate of approach), and a long run reaches t_max there instead of
/// stalling (the integrator's steps once fell below the resolution of t at t ≈ 985, η = 0.1;
/// held at the exact state where they stall, or converged to it now that nearly singular
/// covariances keep their digits).
#[test]
fn relu_perfect_state_is_listed_and_reached() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::TsProblem;
    let toml = |lr: f64, t: f64| {
        format!(
            "model = \"teacher_student\"\nactivation = \"relu\"\nk = 2\nlr = {lr}\nt_max = {t}\n\
             init_std = 0.01\n[data]\nd = 500\n[sgd]\nseeds = 0"
        )
    };
    let cfg = Config::from_toml(&toml(0.1, 400.0), "test").unwrap();
    let (report, perfect) = perfect_state_of(&cfg);
    println!(
        "perfect state: λ_max = {:.4e}, |F| = {:.1e}",
        perfect.lambda_max, perfect.residual
    );
    assert_eq!(perfect.n_unstable, 0);
    assert!(perfect.residual < 1e-12 && perfect.lambda_max < -1e-3);
    // the plateau saddle is still found next to it
    assert!(
        report
            .points
            .iter()
            .any(|p| p.n_unstable == 1 && p.eps > 0.07)
    );

    let cfg = Config::from_toml(&toml(0.5, 300.0), "test").unwrap();
    let pb = TsProblem::from_config(&cfg).unwrap();
    // reaches t_max at the perfect state: held there where the steps stall at the kinks (as they
    // did while the nearly singular covariances lost digits), or converged to it
    let tr = aedyn::teacher_student::run::run(&pb, false).expect("reaches the perfect state");
    assert_eq!(tr.times.last().copied(), Some(300.0));
    let last = tr.eps_ode.last().copied().unwrap_or(f64::NAN);
    assert!(last.abs() < 1e-9, "{last}");
}

/// A student with kinks on both sides (the clamp of contract 4) needs Φ₃ and Φ₄ with non-zero
/// means near singular correlations on the plateau: their adaptive bisection is capped, and the
/// run (ODE and the plateau search) finishes in seconds (it once hung for minutes at t_max = 1).
#[test]
fn clamped_student_runs_in_seconds() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::TsProblem;
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"x.clamp(-1.0, 1.0)\"\nk = 2\nlr = 0.2\n\
         t_max = 5.0\n[data]\nd = 300\n[sgd]\nseeds = 0",
        "test",
    )
    .unwrap();
    let pb = TsProblem::from_config(&cfg).unwrap();
    let start = std::time::Instant::now();
    let tr = aedyn::teacher_student::run::run(&pb, false).expect("runs");
    println!("{:.1} s", start.elapsed().as_secs_f64());
    assert_eq!(tr.times.last().copied(), Some(5.0));
    assert!(tr.eps_ode.iter().all(|e| e.is_finite()));
}

/// A ReLU student with a trained second layer converges to a rescaled copy of the teacher,
/// `w_a = c_a w*_a`, `v_a = v*_a / c_a` (ReLU is positively homogeneous), with `c_a` set by the
/// initial weights. There λ_a and ν_a are exactly proportional with unequal variances: the closed
/// forms must see ρ = 1 and conditional variances and covariances of exactly 0, not rounding
/// (rounding cost eight digits in √(1 − ρ²), sent an I4 to 1e116, and stopped the run at
/// t ≈ 426 for η = 0.1 and after minutes at t ≈ 233 for η = 0.5). `aedyn fixed-points` lists the
/// rescaled state with F = 0 to 1e-12.
#[test]
fn relu_with_trained_second_layer_reaches_a_rescaled_teacher() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::TsProblem;
    let toml = |lr: f64, t: f64| {
        format!(
            "model = \"teacher_student\"\nactivation = \"relu\"\nk = 2\nlr = {lr}\nt_max = {t}\n\
             init_std = 0.01\n[student]\ntrain_second_layer = true\n[data]\nd = 500\n\
             [sgd]\nseeds = 0"
        )
    };
    for lr in [0.1, 0.5, 1.0] {
        let cfg = Config::from_toml(&toml(lr, 1000.0), "test").unwrap();
        let pb = TsProblem::from_config(&cfg).unwrap();
        let tr = aedyn::teacher_student::run::run(&pb, false)
            .unwrap_or_else(|e| panic!("η = {lr}: {e}"));
        assert_eq!(tr.times.last().copied(), Some(1000.0));
        let eps = *tr.eps_ode.last().unwrap();
        let o = tr.ode_order.last().unwrap();
        // each student on one teacher (identity or swapped), rescaled by c = |R|
        let mut scales = vec![];
        for a in 0..2 {
            let (b, r) = (0..2)
                .map(|b| (b, o.r[a * 2 + b]))
                .max_by(|x, y| x.1.abs().total_cmp(&y.1.abs()))
                .unwrap();
            let c = r.abs();
            let q = o.q[a * 2 + a];
            println!(
                "η = {lr}: student {a} → teacher {b}: c = {c:.6}, Q/c² = {:.2e} − 1, v·c = {:.2e} − 1, ε = {eps:.1e}",
                q / (c * c) - 1.0,
                o.v[a] * c - 1.0
            );
            assert!((q / (c * c) - 1.0).abs() < 1e-6 && (o.v[a] * c - 1.0).abs() < 1e-6);
            scales.push(c);
        }
        assert!(eps.abs() < 1e-9, "η = {lr}: ε = {eps:e}");
        assert!(
            scales.iter().any(|c| (c - 1.0).abs() > 0.05),
            "the rescaled family is not exercised: c = {scales:?}"
        );
    }
    let cfg = Config::from_toml(&toml(0.1, 600.0), "test").unwrap();
    let (_, perfect) = perfect_state_of(&cfg);
    println!(
        "perfect state: {:?}, |F| = {:.1e}, λ_max = {:.4e}",
        perfect.y.as_slice(),
        perfect.residual,
        perfect.lambda_max
    );
    assert!(perfect.residual < 1e-12 && perfect.n_unstable == 0);
    // Q_11 = c² with c ≠ 1 and v_1 = 1/c
    let (q11, v1) = (perfect.y[0], perfect.y[perfect.y.len() - 2]);
    assert!((q11 - 1.0).abs() > 0.05 && (q11.sqrt() * v1 - 1.0).abs() < 1e-12);
}

/// An |x| student (K = M = 2, η = 0.5, N = 500) approaches its perfectly learned state
/// exponentially while F, not differentiable there, shrinks the integrator's steps with the
/// distance: held once it is within a tolerance that loosens with the evaluations spent
/// creeping (`hold_tolerance`; asked every 200 evaluations of an output interval), the run to
/// t = 100 takes under 6 k right-hand sides (2.1 k; it took 670 k holding only at 1e-6, 37 k with
/// the tolerance loosening ten times slower), and it ends at the perfect state (|ε| < 1e-12), which the hold
/// recognises as the exact one (ε = 0 exactly).
#[test]
fn a_creeping_approach_to_a_perfect_state_ends_there() {
    use aedyn::config::Config;
    use aedyn::ode::{Flow, integrate};
    use aedyn::teacher_student::run::TsProblem;
    use std::cell::Cell;
    struct Counting<'a> {
        sys: &'a TsSystem,
        calls: Cell<u64>,
    }
    impl Flow for Counting<'_> {
        type Workspace = <TsSystem as Flow>::Workspace;
        fn workspace(&self) -> Self::Workspace {
            self.sys.workspace()
        }
        fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>, ws: &mut Self::Workspace) {
            self.calls.set(self.calls.get() + 1);
            self.sys.rhs(y, dy, ws)
        }
        fn failure(ws: &Self::Workspace) -> Option<String> {
            TsSystem::failure(ws)
        }
        fn settled(&self, y: &DVector<f64>, tol: f64) -> Option<DVector<f64>> {
            self.sys.settled(y, tol)
        }
    }
    // the end state of a run (times: the config's output grid unless given), its ε, the exact
    // fixed point `settled` finds next to it, and the RHS evaluations spent
    let run = |toml: &str, times: Option<Vec<f64>>| {
        let cfg = Config::from_toml(toml, "test").unwrap();
        let pb = TsProblem::from_config(&cfg).unwrap();
        let (sys, y0) = pb.system().unwrap();
        let counting = Counting {
            sys: &sys,
            calls: Cell::new(0),
        };
        let times = times.unwrap_or_else(|| pb.times.clone());
        let states = integrate(&counting, y0, &times, pb.integrator, |_| {}).unwrap();
        let last = states.last().unwrap().y.clone();
        let exact = sys.settled(&last, 1e-6).map(|y| sys.error(&y));
        (sys.error(&last), exact, counting.calls.get())
    };
    let (eps, exact, calls) = run(
        "model = \"teacher_student\"\nactivation = \"x.abs()\"\nk = 2\nlr = 0.5\n\
         t_max = 100.0\ninit_std = 0.5\n[data]\nd = 500",
        Some((0..=20).map(|i| 5.0 * i as f64).collect()),
    );
    println!("|x| student: {calls} RHS evaluations");
    assert!(eps.abs() < 1e-12, "{eps}");
    assert_eq!(exact, Some(0.0), "the exact perfect state next to it");
    assert!(calls < 6_000, "{calls}");

    // a clamp student (kinks on both sides, milliseconds per evaluation) creeps over many
    // log-spaced output intervals of a few hundred evaluations each: held once within 1e-6 of the
    // perfect state (it crept from t ≈ 170 to 300 for 107 s when only intervals of 2 000
    // evaluations were checked)
    let (eps, _, calls) = run(
        "model = \"teacher_student\"\nactivation = \"x.clamp(-0.5, 2.0)\"\nk = 2\nlr = 0.5\n\
         t_max = 300.0\ninit_std = 0.05\n[data]\nd = 500\n[sgd]\nseeds = 0",
        None,
    );
    println!("clamp student: {calls} RHS evaluations");
    assert!(eps.abs() < 1e-15, "{eps}");
    assert!(calls < 8_000, "{calls}");

    // an over-realisable student (K = 3, M = 2) with one kink creeps within one long output
    // interval: 125 k evaluations in [660, 700] (3 min) when only output times were checked, held
    // within that interval now
    let (eps, _, calls) = run(
        "model = \"teacher_student\"\nactivation = \"x.max(-1.0)\"\nk = 3\nlr = 0.5\n\
         t_max = 700.0\ninit_std = 0.01\n[teacher]\nm = 2\n[data]\nd = 500\n[sgd]\nseeds = 0",
        None,
    );
    println!("over-realisable x.max(-1.0) student: {calls} RHS evaluations");
    assert!(eps.abs() < 1e-15, "{eps}");
    assert!(calls < 20_000, "{calls}");
}

/// A smooth student that learns a teacher with a kink (tanh student, ReLU teacher: no closed
/// form, a Gauss–Hermite rule across the teacher's kink would converge slowly): the teacher's
/// fields are integrated piecewise between its breaks, and the ODE follows SGD.
#[test]
fn smooth_student_learns_a_kinked_teacher() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::{TsProblem, run};
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"tanh\"\nk = 2\nlr = 0.5\nt_max = 30.0\n\
         init_std = 0.5\n[teacher]\nm = 2\nactivation = \"relu\"\n[data]\nd = 500\n[sgd]\n\
         seeds = 4\n[output]\npoints = 20",
        "test",
    )
    .unwrap();
    let tr = run(&TsProblem::from_config(&cfg).unwrap(), false).unwrap();
    let gap = tr.max_relative_gap();
    println!("tanh student, ReLU teacher: ODE–SGD gap {gap:.4}");
    assert!(gap < 0.02, "gap {gap}");
    // ε(0) ≈ 0.8 falls to ≈ 0.53 (a tanh student cannot represent the unbounded teacher)
    let (start, end) = (tr.eps_ode[0], *tr.eps_ode.last().unwrap());
    assert!(end < 0.75 * start, "ε from {start} to {end}");
}

/// A student with a kink outside the closed-form algebra (softsign, `x/(1 + |x|)`: g' has a kink
/// at 0) learning a ReLU teacher: every field is integrated piecewise, with graded panels where
/// one student's kink shows smoothed at another's level, and the ODE follows SGD; identical
/// students stay identical. A student that jumps outside the algebra is refused, naming where
/// (E[g'²] would hold δ²).
#[test]
fn kinked_student_outside_the_algebra_learns_a_kinked_teacher() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::{TsProblem, run};
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"x / (1.0 + x.abs())\"\nquadrature = true\n\
         k = 2\nlr = 0.5\nt_max = 20.0\ninit_std = 0.5\n[teacher]\nm = 2\nactivation = \"relu\"\n\
         [data]\nd = 500\n[sgd]\nseeds = 4\n[output]\npoints = 12",
        "test",
    )
    .unwrap();
    let tr = run(&TsProblem::from_config(&cfg).unwrap(), false).unwrap();
    let gap = tr.max_relative_gap();
    let (start, end) = (tr.eps_ode[0], *tr.eps_ode.last().unwrap());
    println!("softsign student, ReLU teacher: ODE–SGD gap {gap:.4}, ε {start:.4} → {end:.4}");
    assert!(gap < 0.03, "gap {gap}");
    assert!(end < 0.7 * start, "ε from {start} to {end}");

    // identical students (init_std = 0, g and g' continuous at 0) stay identical to rounding, as
    // SGD's do:
    // coinciding fields are summed as one variable (summed apart, I4 differed by 5e-12, which
    // the plateau's saddle amplified to Q11 − Q12 = 1e-3 by t = 28, 4 % of Q11 by t = 100)
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"x.tanh().max(-0.5)\"\nquadrature = true\n\
         k = 2\nlr = 0.5\nt_max = 100.0\ninit_std = 0.0\n[teacher]\nm = 2\nactivation = \"erf\"\n\
         [data]\nd = 500\n[sgd]\nseeds = 2\n[output]\npoints = 12",
        "test",
    )
    .unwrap();
    let tr = run(&TsProblem::from_config(&cfg).unwrap(), false).unwrap();
    for (t, o) in tr.times.iter().zip(&tr.ode_order) {
        let apart = (o.q[0] - o.q[1]).abs();
        assert!(
            apart <= 1e-13 * o.q[0],
            "t = {t}: Q11 {} vs Q12 {}",
            o.q[0],
            o.q[1]
        );
    }
    let gap = tr.max_relative_gap();
    println!("tanh.max(-0.5) student from init_std = 0: ODE–SGD gap {gap:.4}");
    assert!(gap < 0.03, "gap {gap}");

    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"heaviside(x) * (x.tanh() + 1.0)\"\n\
         quadrature = true\nk = 2\n[teacher]\nm = 2\nactivation = \"relu\"\n[data]\nd = 100",
        "test",
    )
    .unwrap();
    let err = TsProblem::from_config(&cfg)
        .and_then(|p| p.system().map(|_| ()))
        .unwrap_err()
        .to_string();
    // the cause first, then the integral that needed the quadrature
    let cause = err.find("jumps at x = 0 (by 1.000e0)");
    let needed = err.find("for the teacher–student integral");
    assert!(
        cause.is_some() && needed.is_some() && cause < needed && err.contains("E[g'(λ)²]"),
        "{err}"
    );
}

/// ELU, `relu(x) + exp(min(x, 0)) − 1`: exp of a piecewise-affine argument splits at its break
/// (`Θ(x) + eˣΘ(−x)`), so every teacher–student expectation has a closed form (no quadrature,
/// none declared) and the ODE follows SGD.
#[test]
fn elu_teacher_student_in_closed_form() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::{TsProblem, run};
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"relu(x) + x.min(0.0).exp() - 1.0\"\nk = 2\n\
         lr = 0.5\nt_max = 30.0\ninit_std = 0.5\n[data]\nd = 500\n[sgd]\nseeds = 4\n\
         [output]\npoints = 20",
        "test",
    )
    .unwrap();
    let pb = TsProblem::from_config(&cfg).unwrap();
    let (sys, _) = pb.system().unwrap();
    assert!(!sys.uses_quadrature());
    let tr = run(&pb, false).unwrap();
    let gap = tr.max_relative_gap();
    println!("ELU teacher–student: ODE–SGD gap {gap:.4}");
    assert!(gap < 0.03, "gap {gap}");
    assert!(*tr.eps_ode.last().unwrap() < 0.5 * tr.eps_ode[0]);
}

/// Two students of a kinked activation that coincide (`w₁ = w₂`) stay identical: the subspace of
/// [`TsSystem::coinciding_groups`] is invariant, F maps it into itself (to rounding), and its basis
/// is orthonormal.
#[test]
fn coinciding_students_span_an_invariant_subspace() {
    use aedyn::config::Config;
    use aedyn::teacher_student::run::TsProblem;
    let cfg = Config::from_toml(
        "model = \"teacher_student\"\nactivation = \"x.max(-0.5).min(1.5)\"\nk = 3\nlr = 0.3\n\
         t_max = 1.0\n[teacher]\nm = 2\n[data]\nd = 500\n[sgd]\nseeds = 0",
        "test",
    )
    .unwrap();
    let (sys, _) = TsProblem::from_config(&cfg).unwrap().system().unwrap();
    // students 1 = 3 (length² 0.4, overlaps 0.45, 0.2 with the teachers), student 2 apart
    let q = [0.4, 0.1, 0.4, 0.1, 0.7, 0.1, 0.4, 0.1, 0.4];
    let r = [0.45, 0.2, -0.3, 0.6, 0.45, 0.2];
    let y = sys.state(&q, &r, &[1.0; 3]);
    let (groups, basis) = sys
        .coinciding_groups(&y, 1e-12)
        .expect("students 1 and 3 coincide");
    assert_eq!(groups, vec![vec![0, 2], vec![1]]);
    let gram = basis.tr_mul(&basis);
    assert!((gram - nalgebra::DMatrix::identity(basis.ncols(), basis.ncols())).amax() < 1e-15);
    // Q: (G1,G1), (G1,G2), (G2,G2); R: 2 per group
    assert_eq!(basis.ncols(), 3 + 4);
    let mut f = DVector::zeros(y.len());
    sys.rhs(&y, &mut f, &mut sys.workspace());
    let off = &f - &basis * basis.tr_mul(&f);
    println!(
        "|F| = {:.3e}, off the subspace {:.1e}",
        f.amax(),
        off.amax()
    );
    assert!(
        f.amax() > 1e-3 && off.amax() < 1e-13 * f.amax().max(1.0),
        "{off}"
    );
    // apart, they are no group
    let q_apart = [0.4, 0.1, 0.3, 0.1, 0.7, 0.1, 0.3, 0.1, 0.4];
    let y = sys.state(&q_apart, &r, &[1.0; 3]);
    assert!(sys.coinciding_groups(&y, 0.1).is_none());
}

/// The plateaus of kinked students (K = M = 2) are fixed points where the two students
/// coincide, and F is not differentiable across coinciding students of a kinked activation:
/// Newton in the whole space stops at |F| ~ 1e-7 … 1e-6 without a descent step.
/// `aedyn fixed-points` refines them in the invariant subspace where they coincide (to
/// |F|∞ < 1e-12 of the whole system), lists them with the counts marked unresolved, and says
/// why. The clamp `x.max(-0.5).min(1.5)` at η = 0.3 (N = 500): ε = 0.0928809 (it was once dropped
/// without a note: the perfect state's fallback took any refused start). Hard tanh at η = 0.5
/// (N = 1000): ε = 0.0806200; the trajectory passes it (closest at t ≈ 9.4) with the students
/// apart: from its slow point at t = 10.9 their squared separation is 10.7 % of `Q_11 + Q_22`,
/// beyond the 10 % within which the subspace was once tried (the plateau was reported as
/// "Newton stopped"; [`aedyn::fixed_points::COINCIDING`] is now 25 %).
#[test]
fn a_plateau_of_coinciding_kinked_students_is_refined_in_their_subspace() {
    // (config, ε of the plateau, when the trajectory is closest, time spent near it at least)
    let cases = [
        (
            "activation = \"x.max(-0.5).min(1.5)\"\nk = 2\nlr = 0.3\nt_max = 22.0\n\
             [data]\nd = 500\n",
            0.0928809,
            15.0..18.0,
            10.0,
        ),
        (
            "activation = \"x.clamp(-1.0, 1.0)\"\nk = 2\nlr = 0.5\nt_max = 100.0\n",
            0.0806200,
            8.0..11.0,
            15.0,
        ),
    ];
    for (config, eps, closest, near) in cases {
        let report = analysed(&format!(
            "model = \"teacher_student\"\ninit_std = 0.01\n{config}[teacher]\nm = 2\n[sgd]\nseeds = 0"
        ));
        let plateau = report
            .points
            .iter()
            .find(|p| (p.eps - eps).abs() < 1e-6)
            .unwrap_or_else(|| panic!("{config}: no plateau: {:?}", report.notes));
        println!(
            "plateau: t = {:.3}, ε = {:.9}, |F| = {:.1e}, time near {:.2}",
            plateau.t, plateau.eps, plateau.residual, plateau.time_spent
        );
        assert!(plateau.residual < 1e-12, "{config}");
        assert!(!plateau.resolved, "{config}");
        assert!(closest.contains(&plateau.t), "{config}: {}", plateau.t);
        assert!(
            plateau.time_spent > near,
            "{config}: {}",
            plateau.time_spent
        );
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("students 1 = 2 coinciding")),
            "{config}: {:?}",
            report.notes
        );
    }
}

/// Newton from the end state of an erf soft committee machine at η = 50 (found by a black-box
/// sweep) wanders to states whose Jacobian is not finite, where nalgebra's unbounded SVD never
/// returned: `aedyn fixed-points` hung. Now Newton stops with the reason, in milliseconds.
#[test]
fn newton_stops_where_the_jacobian_is_not_finite() {
    let report = analysed(
        "model = \"teacher_student\"\nlr = 50.0\nt_max = 5\n[data]\nd = 300\n[sgd]\nseeds = 0",
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("Newton stopped: the Jacobian is not finite")),
        "{:?}",
        report.notes
    );
}

/// The cost note of a slow right-hand side (the CLI prints it even with `--quiet`): none for
/// K = M = 2 (microseconds per evaluation), one naming K and M for K = 48, M = 4 (about 0.6 s per
/// evaluation here, twelve times the 0.05 s threshold).
#[test]
fn a_slow_right_hand_side_is_announced_with_its_cost() {
    use aedyn::teacher_student::run::{TsProblem, slow_rhs_note};
    let note = |k: usize, m: usize| {
        let cfg = aedyn::config::Config::from_toml(
            &format!(
                "model = \"teacher_student\"\nk = {k}\nt_max = 1.0\n[teacher]\nm = {m}\n\
                 [data]\nd = 100\n[sgd]\nseeds = 0"
            ),
            "test",
        )
        .expect("valid");
        slow_rhs_note(&TsProblem::from_config(&cfg).expect("problem")).expect("evaluates")
    };
    assert_eq!(note(2, 2), None);
    let slow = note(48, 4).expect("K = 48 is slow");
    assert!(
        slow.contains("K = 48, M = 4") && slow.contains("per step"),
        "{slow}"
    );
}
