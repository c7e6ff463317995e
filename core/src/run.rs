//! One experiment end to end: config → data model → initial weights → {SGD seeds in parallel;
//! ODE from the same initial weights} → trajectories on a shared log-spaced time grid.

use crate::activation::Activation;
use crate::config::{
    Config, DataKind, Directions, FormName, Initial, MethodName, ReductionName, SpectrumKind,
};
use crate::data::{Dataset, Spectrum, SpikeShape, SpikedModel};
use crate::error::{Error, Result, config_err};
use crate::model::{Training, Weights};
use crate::ode::integrate::Method;
use crate::ode::system::{Form, Reduction};
use crate::ode::{IntegratorOptions, OdeSystem, integrate};
use crate::order::{ModeDensity, OrderParams};
use crate::sim::{EigenbasisGaussian, ImageRows, Sampler, Sgd};
use nalgebra::DMatrix;
use rayon::prelude::*;
use std::borrow::Cow;

/// Real data: preprocessed rows and the eigenvectors of their Ω.
pub struct RealData {
    pub rows: Vec<f64>,
    pub p: usize,
    pub eigenvectors: DMatrix<f64>,
}

/// A resolved problem: everything the simulation and the ODE need.
pub struct Problem {
    pub act: &'static dyn Activation,
    pub training: Training,
    pub spectrum: Spectrum,
    pub real: Option<RealData>,
    pub form: Form,
    pub reduction: Reduction,
    pub typical_init: bool,
    pub init_std: f64,
    pub seed: u64,
    pub seeds: usize,
    pub times: Vec<f64>,
    pub integrator: IntegratorOptions,
    /// per-mode densities reported for this many leading modes (capped by the ODE's single modes)
    pub modes: usize,
}

/// Results on the shared time grid.
pub struct Trajectory {
    pub times: Vec<f64>,
    pub eps_ode: Vec<f64>,
    /// mean over seeds (NaN without SGD)
    pub eps_sgd: Vec<f64>,
    /// standard deviation over seeds (0 with one seed)
    pub eps_sgd_std: Vec<f64>,
    /// ε_PCA(m) for m = 0..=K
    pub pca: Vec<f64>,
    pub ode_order: Vec<OrderParams>,
    /// mean over seeds
    pub sgd_order: Vec<OrderParams>,
    /// densities of the leading modes at each time (ODE)
    pub ode_modes: Vec<Vec<ModeDensity>>,
    /// the same from the SGD weights, mean over seeds
    pub sgd_modes: Vec<Vec<ModeDensity>>,
    /// eigenvalues of the reported modes
    pub mode_rho: Vec<f64>,
    pub activation: &'static str,
    pub k: usize,
    pub d: usize,
}

/// The seed of SGD run `i`'s input stream: every run starts from the same initial weights (seed
/// `seed`) and differs in its samples only; the odd multiplier keeps the streams of consecutive
/// runs apart.
pub fn sgd_stream_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_add(7919 * i as u64 + 1)
}

/// `t = 0` followed by `points` log-spaced times from `max(t_max/1000, 1/D)` to `t_max`.
pub fn time_grid(t_max: f64, points: usize, d: usize) -> Vec<f64> {
    let t0 = (t_max / 1000.0).max(1.0 / d as f64).min(t_max);
    let mut v = vec![0.0];
    let (a, b) = (t0.ln(), t_max.ln());
    for i in 0..points {
        let f = if points > 1 {
            i as f64 / (points - 1) as f64
        } else {
            1.0
        };
        v.push((a + f * (b - a)).exp());
    }
    if let Some(last) = v.last_mut() {
        *last = t_max;
    }
    v.dedup();
    v
}

impl Problem {
    /// Resolves a validated config (loads data, computes spectra); the activation is the
    /// registered one named by `activation`, or that key read as an expression.
    pub fn from_config(cfg: &Config) -> Result<Self> {
        cfg.validate_values()?;
        let act = crate::registry::resolve(&cfg.activation, cfg.quadrature)?;
        Self::build(cfg, act)
    }

    /// Resolves a config with any activation (for programs that do not use the CLI); the
    /// config's `activation` key is ignored.
    ///
    /// ```
    /// use aedyn::prelude::*;
    /// use aedyn::config::Config;
    /// use aedyn::run::{Problem, run};
    ///
    /// #[activation]
    /// fn hard_tanh(x: f64) -> f64 { x.clamp(-1.0, 1.0) }
    ///
    /// let cfg = Config::from_toml("t_max = 2.0\n[data]\nd = 200\n[sgd]\nseeds = 1", "doc")?;
    /// let trajectory = run(&Problem::with_activation(&cfg, &HardTanh)?, false)?;
    /// assert!(trajectory.eps_ode.last().unwrap() < &trajectory.eps_ode[0]);
    /// # Ok::<(), aedyn::Error>(())
    /// ```
    pub fn with_activation(cfg: &Config, act: &'static dyn Activation) -> Result<Self> {
        cfg.validate_values()?;
        Self::build(cfg, act)
    }

    fn build(cfg: &Config, act: &'static dyn Activation) -> Result<Self> {
        let training = Training::new(cfg.k, cfg.lr, cfg.tied, cfg.bias, cfg.algorithm);
        let dc = &cfg.data;
        let (spectrum, real, default_reduction) = match dc.kind {
            DataKind::Cifar10 | DataKind::Mnist => {
                let path = dc.path.clone().unwrap_or_default();
                let img = crate::images::load(&dc.kind.to_string(), &path, dc.max_images)?;
                if cfg.k > img.d {
                    return Err(config_err(
                        "k",
                        cfg.k,
                        &format!("at most the image dimension {}", img.d),
                    ));
                }
                let rows = crate::images::preprocess(&img, dc.center);
                let ds = Dataset::new(DMatrix::from_row_slice(img.p, img.d, &rows))?;
                let real = RealData {
                    rows,
                    p: img.p,
                    eigenvectors: ds.eigenvectors,
                };
                (ds.spectrum, Some(real), Reduction::Full)
            }
            DataKind::Custom => (
                Spectrum::new(dc.eigenvalues.clone())?,
                None,
                Reduction::Full,
            ),
            kind @ (DataKind::Spiked | DataKind::Sinusoidal) => {
                let d = dc.d;
                let m = dc.spikes.len();
                let model = SpikedModel {
                    d,
                    lambdas: dc.spikes.iter().map(|s| s.sqrt()).collect(),
                    sigma: dc.bulk.sqrt(),
                    shape: if kind == DataKind::Sinusoidal {
                        SpikeShape::Sinusoidal
                    } else {
                        SpikeShape::Random
                    },
                    seed: cfg.seed ^ 0xda7a,
                };
                let spectrum = if dc.spectrum == SpectrumKind::Empirical {
                    model.empirical_spectrum(dc.samples, cfg.seed ^ 0x5a3b)?
                } else if kind == DataKind::Spiked && dc.directions == Directions::Orthogonal {
                    let mut rho = vec![dc.bulk; d];
                    for (r, s) in dc.spikes.iter().enumerate() {
                        rho[r] = s * d as f64;
                    }
                    Spectrum::new(rho)?
                } else {
                    model.population_spectrum()?
                };
                let red = if dc.spectrum == SpectrumKind::Population {
                    Reduction::SpikeBulk { spikes: m }
                } else {
                    Reduction::Full
                };
                (spectrum, None, red)
            }
        };
        if cfg.k > spectrum.d() {
            return Err(config_err(
                "k",
                cfg.k,
                &format!("at most D = {}", spectrum.d()),
            ));
        }
        let reduction = match cfg.ode.reduction {
            Some(ReductionName::Full) => Reduction::Full,
            Some(ReductionName::SpikeBulk) => match default_reduction {
                Reduction::SpikeBulk { .. } => default_reduction,
                Reduction::Full => Reduction::SpikeBulk {
                    spikes: dc.spikes.len().min(spectrum.d()),
                },
            },
            None => default_reduction,
        };
        let form = match cfg.ode.form {
            FormName::Density => Form::Density,
            FormName::Paper => Form::Paper,
            FormName::Vector => Form::Vector,
        };
        let times = time_grid(cfg.t_max, cfg.output.points, spectrum.d());
        Ok(Problem {
            act,
            training,
            spectrum,
            real,
            form,
            reduction,
            typical_init: cfg.ode.initial == Initial::Typical,
            init_std: cfg.init_std,
            seed: cfg.seed,
            seeds: cfg.sgd.seeds,
            modes: cfg.output.modes,
            times,
            integrator: IntegratorOptions {
                method: match cfg.ode.method {
                    MethodName::Dop853 => Method::Dop853,
                    MethodName::Dopri5 => Method::Dopri5,
                },
                rtol: cfg.ode.rtol,
                atol: cfg.ode.atol,
                stats: cfg.ode.stats,
                ..Default::default()
            },
        })
    }

    pub fn d(&self) -> usize {
        self.spectrum.d()
    }

    /// Initial weights of run `i` (seeded).
    pub fn initial_weights(&self, i: usize) -> Weights {
        Weights::init(
            self.training.k,
            self.d(),
            self.init_std,
            self.training.tied,
            self.seed.wrapping_add(1000 * i as u64),
        )
    }

    /// Weights in the eigenbasis of Ω: `(W E, V E)` for real data; for Gaussian data the SGD already
    /// runs in the eigenbasis and the weights are borrowed as they are.
    pub fn eigenbasis<'w>(&self, w: &'w Weights) -> (Cow<'w, [f64]>, Cow<'w, [f64]>) {
        let tied = self.training.tied;
        match &self.real {
            None => (
                Cow::Borrowed(&w.w[..]),
                Cow::Borrowed(if tied { &w.w[..] } else { &w.v[..] }),
            ),
            Some(real) => {
                let (k, d) = (w.k, w.d);
                let project = |m: &[f64]| -> Vec<f64> {
                    let p = DMatrix::from_row_slice(k, d, m) * &real.eigenvectors;
                    let mut out = vec![0.0; k * d];
                    for a in 0..k {
                        for j in 0..d {
                            out[a * d + j] = p[(a, j)];
                        }
                    }
                    out
                };
                let we = project(&w.w);
                let ve = if tied { we.clone() } else { project(&w.v) };
                (Cow::Owned(we), Cow::Owned(ve))
            }
        }
    }

    /// The ODE system of this problem.
    pub fn ode_system(&self) -> Result<OdeSystem<'static>> {
        OdeSystem::new(
            self.act,
            self.training,
            &self.spectrum.rho,
            self.form,
            self.reduction,
        )
    }

    /// The error of SGD weights: exact population error (Gaussian data) or the mean loss over the
    /// images (real data).
    /// ε, the order parameters and the densities of the first `modes` modes of SGD weights.
    pub fn sgd_error(&self, w: &Weights, modes: usize) -> (f64, OrderParams, Vec<ModeDensity>) {
        let (we, ve) = self.eigenbasis(w);
        let o = OrderParams::from_eigenbasis(&we, &ve, &w.beta, &self.spectrum.rho);
        let d = self.spectrum.d();
        let md = (0..modes.min(d))
            .map(|tau| ModeDensity::from_eigenbasis(&we, &ve, d, tau))
            .collect();
        let eps = match &self.real {
            None => o.error(self.act, self.spectrum.pca_error(0)),
            Some(real) => {
                // at most EVAL_IMAGES images, evenly spaced (an unbiased estimate of the data-set loss)
                let stride = real.p.div_ceil(EVAL_IMAGES).max(1);
                image_loss(self.act, w, self.training.tied, &real.rows, real.p, stride)
            }
        };
        (eps, o, md)
    }
}

/// Images used to evaluate the SGD error on real data (evenly spaced through the data set).
pub const EVAL_IMAGES: usize = 2000;

/// `(1/n) Σ_images (1/2D)‖x − x̂‖²` over every `stride`-th image.
pub fn image_loss(
    act: &dyn Activation,
    w: &Weights,
    tied: bool,
    rows: &[f64],
    p: usize,
    stride: usize,
) -> f64 {
    let (k, d) = (w.k, w.d);
    let mut total = 0.0;
    let mut count = 0usize;
    let mut g = vec![0.0; k];
    for i in (0..p).step_by(stride.max(1)) {
        count += 1;
        let x = &rows[i * d..(i + 1) * d];
        for a in 0..k {
            let dot: f64 = w.w_row(a).iter().zip(x).map(|(u, v)| u * v).sum();
            g[a] = act.g(dot / (d as f64).sqrt() + w.beta[a]);
        }
        let mut s = 0.0;
        for j in 0..d {
            let mut xh = 0.0;
            for a in 0..k {
                xh += w.v_row(a, tied)[j] * g[a];
            }
            s += (x[j] - xh) * (x[j] - xh);
        }
        total += s / (2.0 * d as f64);
    }
    total / count.max(1) as f64
}

/// Runs the ODE and the SGD seeds (progress bars on stderr with `show_progress` and the default
/// `cli` feature).
pub fn run(pb: &Problem, show_progress: bool) -> Result<Trajectory> {
    let d = pb.d();
    let k = pb.training.k;
    let times = pb.times.clone();
    let t_max = *times.last().unwrap_or(&0.0);
    // ODE
    let mut sys = pb.ode_system()?;
    // typical initial conditions are ensemble averages (full-rank blocks)
    sys.rank_one_modes = !pb.typical_init;
    let y0 = if pb.typical_init {
        sys.typical_state(pb.init_std)?
    } else {
        let w0 = pb.initial_weights(0);
        let (we, ve) = pb.eigenbasis(&w0);
        sys.state_from_weights(&we, &ve, &w0.beta)
    };
    let bar = show_progress.then(|| crate::progress::Progress::new(1000, "ODE"));
    let states = integrate(&sys, y0, &times, pb.integrator, |t| {
        if let Some(b) = &bar {
            b.set_position((1000.0 * t / t_max) as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let ode_order: Vec<OrderParams> = states.iter().map(|s| sys.order_params(&s.y)).collect();
    let modes = pb.modes.min(sys.single_modes());
    let ode_modes: Vec<Vec<ModeDensity>> = states
        .iter()
        .map(|s| sys.mode_densities(&s.y, modes))
        .collect();
    let eps_ode: Vec<f64> = ode_order
        .iter()
        .map(|o| o.error(pb.act, sys.half_trace))
        .collect();
    // ε ≥ 0 for any weights: a negative value means the state describes no network
    if let Some((j, &eps)) = eps_ode.iter().enumerate().find(|(_, e)| **e < -1e-12) {
        return Err(Error::Unphysical {
            t: times[j],
            eps,
            hint: if pb.typical_init {
                "typical initial conditions (q_τ = σ0² I) average over initial weights, which is \
                 exact for the self-averaging bulk but not for single spike modes, whose densities \
                 must stay rank one: use `ode.initial = \"weights\"`"
                    .into()
            } else {
                "tighten `ode.rtol` or lower `lr`".into()
            },
        });
    }
    // SGD
    let steps: Vec<u64> = times
        .iter()
        .map(|t| (t * d as f64).round() as u64)
        .collect();
    let total = steps.last().copied().unwrap_or(0) * pb.seeds as u64;
    let bar = (show_progress && pb.seeds > 0)
        .then(|| crate::progress::Progress::new(total.max(1), "SGD"));
    let sampler: Box<dyn Sampler + '_> = match &pb.real {
        None => Box::new(EigenbasisGaussian::new(&pb.spectrum.rho)),
        Some(r) => Box::new(ImageRows { d, rows: &r.rows }),
    };
    type Measured = (f64, OrderParams, Vec<ModeDensity>);
    let runs: Vec<Result<Vec<Measured>>> = (0..pb.seeds)
        .into_par_iter()
        .map(|i| {
            // every seed starts from the ODE's initial weights; seeds differ in the samples only
            let mut sgd = Sgd::new(
                pb.initial_weights(0),
                pb.training,
                pb.act,
                sgd_stream_seed(pb.seed, i),
            );
            let mut out = Vec::with_capacity(steps.len());
            let mut done = 0;
            for (j, &s) in steps.iter().enumerate() {
                sgd.run(sampler.as_ref(), s - done);
                if let Some(b) = &bar {
                    b.inc(s - done);
                }
                done = s;
                if !sgd.is_finite() {
                    return Err(Error::Diverged {
                        what: "SGD",
                        t: times[j],
                        detail: format!("non-finite weights after {s} steps (seed {i})"),
                    });
                }
                out.push(pb.sgd_error(&sgd.weights, modes));
            }
            Ok(out)
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let runs: Vec<Vec<Measured>> = runs.into_iter().collect::<Result<_>>()?;
    let n = times.len();
    let mut eps_sgd = vec![f64::NAN; n];
    let mut eps_sgd_std = vec![f64::NAN; n];
    let mut sgd_order = vec![OrderParams::zeros(k); n];
    let mut sgd_modes = vec![vec![ModeDensity::zeros(k); modes]; n];
    if !runs.is_empty() {
        let s = runs.len() as f64;
        for j in 0..n {
            let m = runs.iter().map(|r| r[j].0).sum::<f64>() / s;
            let var = runs.iter().map(|r| (r[j].0 - m).powi(2)).sum::<f64>() / (s - 1.0).max(1.0);
            eps_sgd[j] = m;
            eps_sgd_std[j] = var.sqrt();
            let o = &mut sgd_order[j];
            for r in &runs {
                let p = &r[j].1;
                for (dst, src) in [
                    (&mut o.q, &p.q),
                    (&mut o.r, &p.r),
                    (&mut o.t0, &p.t0),
                    (&mut o.t, &p.t),
                ] {
                    for (a, b) in dst.iter_mut().zip(src.iter()) {
                        *a += b / s;
                    }
                }
                for (a, b) in o.beta.iter_mut().zip(&p.beta) {
                    *a += b / s;
                }
                for (mean, m) in sgd_modes[j].iter_mut().zip(&r[j].2) {
                    mean.add_scaled(1.0 / s, m);
                }
            }
        }
    }
    let pca = (0..=k).map(|m| pb.spectrum.pca_error(m)).collect();
    Ok(Trajectory {
        times,
        eps_ode,
        eps_sgd,
        eps_sgd_std,
        pca,
        ode_order,
        sgd_order,
        ode_modes,
        sgd_modes,
        mode_rho: pb.spectrum.rho[..modes].to_vec(),
        activation: pb.act.name(),
        k,
        d,
    })
}

impl Trajectory {
    /// The curves of the figure: ε of ODE and SGD with the PCA levels.
    #[cfg(feature = "cli")]
    pub fn curves(&self) -> crate::plot::Curves<'_> {
        crate::plot::Curves {
            times: &self.times,
            eps_ode: &self.eps_ode,
            eps_sgd: &self.eps_sgd,
            eps_sgd_std: &self.eps_sgd_std,
            levels: (self.pca.iter().enumerate())
                .map(|(m, p)| (format!("ε_PCA({m})"), *p))
                .collect(),
            time_label: "t = steps / D",
        }
    }

    /// `max_t |ε_ode − ε_sgd| / ε_ode(0)`.
    pub fn max_relative_gap(&self) -> f64 {
        let e0 = self.eps_ode[0];
        self.eps_ode
            .iter()
            .zip(&self.eps_sgd)
            .map(|(a, b)| (a - b).abs() / e0)
            .fold(0.0, f64::max)
    }

    /// The CSV text: `t,eps_ode,eps_sgd,eps_sgd_std`, PCA levels, then order parameters.
    pub fn csv(&self) -> String {
        use std::fmt::Write;
        let k = self.k;
        let mut s = String::from("t,eps_ode,eps_sgd,eps_sgd_std");
        for m in 0..=k {
            let _ = write!(s, ",eps_pca_{m}");
        }
        for src in ["ode", "sgd"] {
            for name in ["Q", "R", "T0"] {
                for a in 0..k {
                    for b in 0..k {
                        let _ = write!(s, ",{src}_{name}_{}{}", a + 1, b + 1);
                    }
                }
            }
            for a in 0..k {
                let _ = write!(s, ",{src}_beta_{}", a + 1);
            }
        }
        s.push('\n');
        for j in 0..self.times.len() {
            let _ = write!(
                s,
                "{:.6e},{:.10e},{:.10e},{:.10e}",
                self.times[j], self.eps_ode[j], self.eps_sgd[j], self.eps_sgd_std[j]
            );
            for p in &self.pca {
                let _ = write!(s, ",{p:.10e}");
            }
            for o in [&self.ode_order[j], &self.sgd_order[j]] {
                for v in o.q.iter().chain(&o.r).chain(&o.t0).chain(&o.beta) {
                    let _ = write!(s, ",{v:.10e}");
                }
            }
            s.push('\n');
        }
        s
    }

    /// The CSV of the per-mode densities: one row per time and mode,
    /// `t,tau,rho,ode_q_11..,ode_r_11..,ode_t_11..,sgd_q_11..,sgd_r_11..,sgd_t_11..` (τ = 1 is the
    /// largest eigenvalue; SGD columns are means over seeds, NaN without SGD).
    pub fn modes_csv(&self) -> String {
        use std::fmt::Write;
        let k = self.k;
        let mut s = String::from("t,tau,rho");
        for src in ["ode", "sgd"] {
            for name in ["q", "r", "t"] {
                for a in 0..k {
                    for b in 0..k {
                        let _ = write!(s, ",{src}_{name}_{}{}", a + 1, b + 1);
                    }
                }
            }
        }
        s.push('\n');
        let no_sgd = self.eps_sgd.iter().all(|e| e.is_nan());
        for j in 0..self.times.len() {
            for (tau, rho) in self.mode_rho.iter().enumerate() {
                let _ = write!(s, "{:.6e},{},{rho:.10e}", self.times[j], tau + 1);
                for (src, m) in [(&self.ode_modes, false), (&self.sgd_modes, no_sgd)] {
                    let md = &src[j][tau];
                    for v in md.q.iter().chain(&md.r).chain(&md.t) {
                        let v = if m { f64::NAN } else { *v };
                        let _ = write!(s, ",{v:.10e}");
                    }
                }
                s.push('\n');
            }
        }
        s
    }

    /// Human-readable summary for stdout.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let n = self.times.len();
        let _ = writeln!(
            s,
            "activation {}, K = {}, D = {}, t_max = {}",
            self.activation,
            self.k,
            self.d,
            self.times[n - 1]
        );
        let pca: Vec<String> = self
            .pca
            .iter()
            .enumerate()
            .map(|(m, p)| format!("ε_PCA({m}) = {p:.4}"))
            .collect();
        let _ = writeln!(s, "{}", pca.join(", "));
        let _ = writeln!(
            s,
            "{:>10} {:>12} {:>12} {:>10}",
            "t", "eps_ode", "eps_sgd", "sgd_std"
        );
        let picks = 12.min(n);
        for i in 0..picks {
            let j = if picks > 1 {
                i * (n - 1) / (picks - 1)
            } else {
                0
            };
            let _ = writeln!(
                s,
                "{:>10.3} {:>12.6} {:>12.6} {:>10.2e}",
                self.times[j], self.eps_ode[j], self.eps_sgd[j], self.eps_sgd_std[j]
            );
        }
        if self.eps_sgd.iter().all(|v| v.is_finite()) {
            let _ = writeln!(
                s,
                "max_t |ε_ode − ε_sgd| / ε(0) = {:.3}%",
                100.0 * self.max_relative_gap()
            );
        }
        s
    }
}
