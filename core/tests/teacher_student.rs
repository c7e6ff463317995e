//! The teacher–student model: derived integrals against the closed forms of the literature
//! (erf) and an independent integral (ReLU's four-orthant I4), the symmetric plateau of the
//! soft committee machine, and the ODE against SGD.

use aedyn::ode::Flow;
use aedyn::teacher_student::integrals::{Scratch, Slot};
use aedyn::teacher_student::{TsIntegrals, TsParams, TsSystem};
use nalgebra::DVector;
use std::f64::consts::PI;

const ERF: &str = "erf(x / SQRT_2)";

/// A positive definite 4×4 covariance, row-major.
fn cov4(seed: u64) -> [f64; 16] {
    // A Aᵀ/4 + 0.3 I with a fixed pseudo-random A
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut a = [0.0; 16];
    for v in a.iter_mut() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
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

/// SPEC: Saad & Solla's / Goldt et al.'s closed forms for g = erf(x/√2).
fn erf_i4(c: &[f64; 16]) -> f64 {
    let c_ = |i: usize, j: usize| c[(i - 1) * 4 + (j - 1)];
    let l4 = (1.0 + c_(1, 1)) * (1.0 + c_(2, 2)) - c_(1, 2).powi(2);
    let l0 = l4 * c_(3, 4) - c_(2, 3) * c_(2, 4) * (1.0 + c_(1, 1))
        - c_(1, 3) * c_(1, 4) * (1.0 + c_(2, 2))
        + c_(1, 2) * c_(1, 3) * c_(2, 4)
        + c_(1, 2) * c_(1, 4) * c_(2, 3);
    let l1 = l4 * (1.0 + c_(3, 3)) - c_(2, 3).powi(2) * (1.0 + c_(1, 1))
        - c_(1, 3).powi(2) * (1.0 + c_(2, 2))
        + 2.0 * c_(1, 2) * c_(1, 3) * c_(2, 3);
    let l2 = l4 * (1.0 + c_(4, 4)) - c_(2, 4).powi(2) * (1.0 + c_(1, 1))
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
    let i3 = ints.term(&[(0, Slot::Dg), (1, Slot::X), (2, Slot::Act)]).unwrap();
    let j2 = ints.term(&[(0, Slot::Dg), (1, Slot::Dg)]).unwrap();
    let mut s = Scratch::default();
    for seed in 0..20 {
        let c = cov4(seed);
        let got = ints.eval(&i4, &c, 4, &mut s);
        let want = erf_i4(&c);
        assert!((got - want).abs() < 1e-13, "I4 seed {seed}: {got} vs {want}");
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

