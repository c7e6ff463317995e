//! Benchmarks of the claims in the README: SGD steps/s (D = 1000, K = 4, erf, one core), ODE
//! spiked (4 spikes, K = 4) to t = 10⁴, full spectrum (D = 1024, K = 4) to t = 10³, the grayscale
//! CIFAR-10 spectrum of the vendored test images (D = 1024, K = 4) to t = 10² and 10³, and the
//! evaluation time of generated closed forms.
//! Run: `cargo bench -p aedyn --bench engine`.

use aedyn::builtins::{Gelu, ReluAct, ScaledErf};
use aedyn::model::{Algorithm, Training, Weights};
use aedyn::ode::integrate::Method;
use aedyn::ode::system::{Form, Reduction};
use aedyn::ode::{IntegratorOptions, OdeSystem, integrate};
use aedyn::sim::{EigenbasisGaussian, Sgd};
use aedyn::{Activation, Gauss3, Integral};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// The tolerances of the scipy baseline (rtol 1e-8, atol 1e-11); Dopri5 is its RK45 pair.
const BENCH_TOL: IntegratorOptions = IntegratorOptions {
    method: Method::Dopri5,
    rtol: 1e-8,
    atol: 1e-11,
    max_steps: 5_000_000,
    stats: false,
    stiffness_check: true,
    two_threads: false,
};

fn spectrum(d: usize) -> Vec<f64> {
    // 4 spikes ρ/D = (0.4, 0.2, 0.1, 0.05), bulk 1/35
    let mut rho = vec![1.0 / 35.0; d];
    for (i, s) in [0.4, 0.2, 0.1, 0.05].iter().enumerate() {
        rho[i] = s * d as f64;
    }
    rho
}

fn training() -> Training {
    Training {
        k: 4,
        lr: 1.0,
        tied: false,
        bias: false,
        algorithm: Algorithm::Vanilla,
    }
}

fn sgd(c: &mut Criterion) {
    let d = 1000;
    let rho = spectrum(d);
    let sampler = EigenbasisGaussian::new(&rho);
    let mut s = Sgd::new(
        Weights::init(4, d, 0.1, false, 1),
        training(),
        &ScaledErf,
        2,
    );
    let mut g = c.benchmark_group("sgd");
    g.throughput(criterion::Throughput::Elements(1000));
    g.bench_function("erf_D1000_K4_1000_steps", |b| {
        b.iter(|| s.run(&sampler, 1000))
    });
    let mut rng = aedyn::sim::SampleRng::seed_from_u64(1);
    let mut x = vec![0.0; d];
    g.bench_function("sampling_only_D1000_1000_samples", |b| {
        b.iter(|| {
            for _ in 0..1000 {
                aedyn::sim::Sampler::sample(&sampler, &mut rng, &mut x);
            }
            black_box(&x);
        })
    });
    g.finish();
}

fn ode(c: &mut Criterion) {
    let mut g = c.benchmark_group("ode");
    g.sample_size(10);
    // 100 log-spaced output times from 0.1 to 10⁴ (plus t = 0)
    let times: Vec<f64> = std::iter::once(0.0)
        .chain((0..100).map(|i| 10f64.powf(-1.0 + 5.0 * i as f64 / 99.0)))
        .collect();
    let d = 1000;
    let rho = spectrum(d);
    let w = Weights::init(4, d, 0.1, false, 1);
    let sys = OdeSystem::new(
        &ScaledErf,
        training(),
        &rho,
        Form::Vector,
        Reduction::SpikeBulk { spikes: 4 },
    )
    .expect("system");
    let y0 = sys.state_from_weights(&w.w, &w.v, &w.beta);
    g.bench_function("spiked_4_spikes_K4_to_t1e4", |b| {
        b.iter(|| integrate(&sys, y0.clone(), &times, BENCH_TOL, |_| {}).expect("ok"))
    });
    // number of RHS evaluations of that run (each evaluates the unit kernels of 4 units)
    let counting = Counting(std::sync::atomic::AtomicUsize::new(0));
    let leaked: &'static Counting = Box::leak(Box::new(counting));
    let csys = OdeSystem::new(
        leaked,
        training(),
        &rho,
        Form::Vector,
        Reduction::SpikeBulk { spikes: 4 },
    )
    .expect("system");
    integrate(&csys, y0.clone(), &times, BENCH_TOL, |_| {}).expect("ok");
    println!(
        "spiked_4_spikes_K4_to_t1e4: {} RHS evaluations",
        leaked.0.load(std::sync::atomic::Ordering::Relaxed) / 4
    );
    // where the time goes: one right-hand side, and its kernel evaluations alone, at the state
    // of t = 20 (units partly aligned with the spikes)
    let mid = integrate(&sys, y0.clone(), &[0.0, 20.0], BENCH_TOL, |_| {}).expect("ok");
    let y20 = mid.last().expect("state").y.clone();
    let mut ws = sys.workspace();
    let mut dy = y20.clone();
    g.bench_function("spiked_K4_one_rhs", |b| {
        b.iter(|| sys.rhs_with(black_box(&y20), &mut dy, &mut ws))
    });
    let o = sys.order_params(&y20);
    let mut kv = aedyn::ode::drift::KernelValues::zeros(4);
    g.bench_function("spiked_K4_kernels_of_one_rhs", |b| {
        b.iter(|| kv.fill(&ScaledErf, black_box(&o), false))
    });
    // the same kernels through the single integrals (what the fused kernels replace)
    g.bench_function("spiked_K4_kernels_of_one_rhs_unfused", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for u in 0..4 {
                acc +=
                    aedyn::activation::default_unit_kernels(&ScaledErf, 0.0, o.q(u, u), false)[0];
                for m in u + 1..4 {
                    acc +=
                        aedyn::activation::default_pair_kernels(&ScaledErf, &o.pair(u, m), false)
                            [0];
                }
            }
            black_box(acc)
        })
    });
    let dop853 = IntegratorOptions {
        method: Method::Dop853,
        ..BENCH_TOL
    };
    g.bench_function("spiked_4_spikes_K4_to_t1e4_dop853", |b| {
        b.iter(|| integrate(&sys, y0.clone(), &times, dop853, |_| {}).expect("ok"))
    });
    // the same spectrum, all 1024 modes integrated one by one
    let d = 1024;
    let rho = spectrum(d);
    let w = Weights::init(4, d, 0.1, false, 1);
    let sys = OdeSystem::new(&ScaledErf, training(), &rho, Form::Vector, Reduction::Full)
        .expect("system");
    let y0 = sys.state_from_weights(&w.w, &w.v, &w.beta);
    let times: Vec<f64> = std::iter::once(0.0)
        .chain((0..60).map(|i| 10f64.powf(-1.0 + 4.0 * i as f64 / 59.0)))
        .collect();
    g.bench_function("full_spectrum_D1024_K4_to_t1e3", |b| {
        b.iter(|| integrate(&sys, y0.clone(), &times, BENCH_TOL, |_| {}).expect("ok"))
    });
    let two_threads = IntegratorOptions {
        two_threads: true,
        ..BENCH_TOL
    };
    g.bench_function("full_spectrum_D1024_K4_to_t1e3_two_threads", |b| {
        b.iter(|| integrate(&sys, y0.clone(), &times, two_threads, |_| {}).expect("ok"))
    });
    g.bench_function("full_spectrum_D1024_K4_to_t1e3_dop853", |b| {
        b.iter(|| integrate(&sys, y0.clone(), &times, dop853, |_| {}).expect("ok"))
    });
    let counting = Counting(std::sync::atomic::AtomicUsize::new(0));
    let leaked: &'static Counting = Box::leak(Box::new(counting));
    let csys =
        OdeSystem::new(leaked, training(), &rho, Form::Vector, Reduction::Full).expect("system");
    integrate(&csys, y0.clone(), &times, BENCH_TOL, |_| {}).expect("ok");
    println!(
        "full_spectrum_D1024_K4_to_t1e3: {} RHS evaluations",
        leaked.0.load(std::sync::atomic::Ordering::Relaxed) / 4
    );
    // the grayscale CIFAR-10 spectrum of the 1 000 vendored test images (the `cifar10` example's
    // preprocessing), all 1024 modes, to t = 10³ and to the example's t = 100
    let cifar_rho = cifar10_spectrum();
    let cifar = OdeSystem::new(
        &ScaledErf,
        training(),
        &cifar_rho,
        Form::Vector,
        Reduction::Full,
    )
    .expect("system");
    let cifar_y0 = cifar.state_from_weights(&w.w, &w.v, &w.beta);
    for t_max in [100.0, 1000.0] {
        let times: Vec<f64> = std::iter::once(0.0)
            .chain((0..60).map(|i| t_max * 10f64.powf(-4.0 + 4.0 * i as f64 / 59.0)))
            .collect();
        g.bench_function(format!("cifar10_spectrum_D1024_K4_to_t{t_max}"), |b| {
            b.iter(|| integrate(&cifar, cifar_y0.clone(), &times, BENCH_TOL, |_| {}).expect("ok"))
        });
        g.bench_function(
            format!("cifar10_spectrum_D1024_K4_to_t{t_max}_two_threads"),
            |b| {
                b.iter(|| {
                    integrate(&cifar, cifar_y0.clone(), &times, two_threads, |_| {}).expect("ok")
                })
            },
        );
    }
    let counted = OdeSystem::new(
        leaked,
        training(),
        &cifar_rho,
        Form::Vector,
        Reduction::Full,
    )
    .expect("system");
    leaked.0.store(0, std::sync::atomic::Ordering::Relaxed);
    integrate(&counted, cifar_y0.clone(), &times, BENCH_TOL, |_| {}).expect("ok");
    println!(
        "cifar10_spectrum_D1024_K4_to_t1e3: {} RHS evaluations",
        leaked.0.load(std::sync::atomic::Ordering::Relaxed) / 4
    );
    // where the time goes: one right-hand side of the full spectrum (8 192 components)
    let mut ws = sys.workspace();
    let mut dy = y0.clone();
    g.bench_function("full_spectrum_D1024_K4_one_rhs", |b| {
        b.iter(|| sys.rhs_with(black_box(&y0), &mut dy, &mut ws))
    });
    g.finish();
}

/// The eigenvalues of the covariance of the vendored grayscale CIFAR-10 test images, preprocessed
/// as `aedyn run` does (`data.kind = "cifar10"`).
fn cifar10_spectrum() -> Vec<f64> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/cifar10/test_subset.bin"
    );
    let img = aedyn::images::load_cifar10(path, 0).expect("vendored CIFAR-10 images");
    let rows = aedyn::images::preprocess(&img, false);
    let x = nalgebra::DMatrix::from_row_slice(img.p, img.d, &rows);
    aedyn::data::Dataset::new(x).expect("spectrum").spectrum.rho
}

/// erf with a counter of unit-kernel evaluations.
struct Counting(std::sync::atomic::AtomicUsize);

impl Activation for Counting {
    fn name(&self) -> &'static str {
        "erf"
    }
    fn g(&self, x: f64) -> f64 {
        ScaledErf.g(x)
    }
    fn dg(&self, x: f64) -> f64 {
        ScaledErf.dg(x)
    }
    fn d2g(&self, x: f64) -> f64 {
        ScaledErf.d2g(x)
    }
    fn d3g(&self, x: f64) -> f64 {
        ScaledErf.d3g(x)
    }
    fn integral(&self, which: Integral, n: &Gauss3) -> f64 {
        ScaledErf.integral(which, n)
    }
    fn formulas(&self) -> &'static [aedyn::Formula] {
        ScaledErf.formulas()
    }
    fn derivatives_text(&self) -> [&'static str; 4] {
        ScaledErf.derivatives_text()
    }
    fn unit_kernels(&self, mean: f64, var: f64, bias: bool) -> [f64; 7] {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ScaledErf.unit_kernels(mean, var, bias)
    }
    fn pair_kernels(&self, n: &Gauss3, bias: bool) -> [f64; 6] {
        ScaledErf.pair_kernels(n, bias)
    }
}

fn closed_forms(c: &mut Criterion) {
    let mut n = Gauss3::zero();
    n.mean = [0.1, -0.2, 0.3];
    n.cov = [[1.0, 0.3, 0.2], [0.3, 0.8, 0.1], [0.2, 0.1, 0.9]];
    let mut g = c.benchmark_group("closed_form");
    let acts: [&dyn Activation; 3] = [&ScaledErf, &ReluAct, &Gelu];
    for a in acts {
        for which in [Integral::I2, Integral::I3, Integral::D2gG] {
            g.bench_function(format!("{}_{}", a.name(), which.name()), |b| {
                b.iter(|| a.integral(black_box(which), black_box(&n)))
            });
        }
    }
    g.finish();
}

/// The teacher–student ODE (docs/theory.md §8): erf soft committee machine, K = M = 4,
/// η = 0.5, T = I, from σ0 = 0.01 initial weights at N = 1000, to t = 10⁴ with 100 log-spaced
/// outputs (the peer: `benches/peers/ts_euler_numpy.py`, fixed-step Euler at dt = 0.01).
fn teacher_student(c: &mut Criterion) {
    use aedyn::config::Config;
    use aedyn::teacher_student::TsSystem;
    use aedyn::teacher_student::run::TsProblem;
    let problem = |toml: &str| {
        let cfg = Config::from_toml(toml, "bench").expect("config");
        let pb = TsProblem::from_config(&cfg).expect("problem");
        let (sys, y0) = pb.system().expect("system");
        (pb, sys, y0)
    };
    let mut g = c.benchmark_group("teacher_student");
    g.sample_size(10);
    let mut to_t_max =
        |name: &str, (pb, sys, y0): &(TsProblem, TsSystem, nalgebra::DVector<f64>)| {
            g.bench_function(name, |b| {
                b.iter(|| integrate(sys, y0.clone(), &pb.times, pb.integrator, |_| {}).expect("ok"))
            });
        };
    let erf = problem(
        "model = \"teacher_student\"\nk = 4\nlr = 0.5\nt_max = 10000.0\ninit_std = 0.01\n\
         [teacher]\nm = 4\n[data]\nd = 1000\n[sgd]\nseeds = 0\n[output]\npoints = 100",
    );
    to_t_max("erf_K4_M4_to_t1e4", &erf);
    // a student with kinks on both sides (hard tanh): its I3/I4 reach three- and four-orthant
    // probabilities with means (Plackett's integrals), thousands per right-hand side, shared
    // among the threads (README "Teacher–student networks"); K = 3, M = 2, N = 500, to t = 20
    let hard_tanh = problem(
        "model = \"teacher_student\"\nactivation = \"x.clamp(-1.0, 1.0)\"\nk = 3\nlr = 0.5\n\
         t_max = 20.0\ninit_std = 0.01\n[teacher]\nm = 2\n[data]\nd = 500\n[sgd]\nseeds = 0",
    );
    to_t_max("hard_tanh_K3_M2_to_t20", &hard_tanh);
    let (_, sys, y0) = &erf;
    let mut ws = aedyn::ode::Flow::workspace(sys);
    let mut dy = y0.clone();
    g.bench_function("erf_K4_M4_one_rhs", |b| {
        b.iter(|| aedyn::ode::Flow::rhs(sys, y0, &mut dy, &mut ws))
    });
    g.finish();
}

criterion_group!(benches, sgd, ode, closed_forms, teacher_student);
criterion_main!(benches);
