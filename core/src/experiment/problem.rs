//! Problem building: a config (or a builder call with any activation) resolved into everything
//! the simulation and the ODE need — data model and spectrum, reduction, initial weights, time
//! grid, integrator options.

use super::seeds;
use crate::activation::Activation;
use crate::config::{
    Config, DataKind, Directions, FormName, Initial, MethodName, ReductionName, SpectrumKind,
};
use crate::data::{Dataset, InputMean, Spectrum, SpikeShape, SpikedModel};
use crate::error::{Result, config_err};
use crate::model::{Training, Weights};
use crate::ode::integrate::Method;
use crate::ode::system::{Form, Reduction};
use crate::ode::{IntegratorOptions, OdeSystem};
use crate::order::{ModeDensity, OrderParams};
use nalgebra::DMatrix;
use std::borrow::Cow;

/// Real data: preprocessed rows and the eigenvectors of the ODE's modes (of Ω, or of the covariance
/// C when the ODE tracks the images' mean).
pub struct RealData {
    pub rows: Vec<f64>,
    pub p: usize,
    pub eigenvectors: DMatrix<f64>,
}

/// A resolved problem: everything the simulation and the ODE need.
pub struct Problem {
    pub act: &'static dyn Activation,
    pub training: Training,
    /// Eigenvalues of the inputs' covariance for the ODE's modes: Ω for zero-mean models, the
    /// covariance `C = Ω − μμᵀ` when the ODE tracks the images' mean ([`Problem::input_mean`])
    pub spectrum: Spectrum,
    /// The images' mean along the eigenvectors of C, when the ODE tracks it (uncentred images,
    /// `ode.input_mean = "exact"`; docs/theory.md §2.3)
    pub input_mean: Option<InputMean>,
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
    /// Caveats of this set-up for the user (e.g. [`mean_note`]); the CLI prints them on stderr.
    pub notes: Vec<String>,
}

/// Share of the inputs' second moment below which their mean is not worth a note.
const MEAN_SHARE_NOTED: f64 = 1e-3;

/// The note for images that keep a per-pixel mean `μ` (no `data.center`) trained with an activation
/// that is not odd, when the ODE ignores the mean (`ode.input_mean = "ignored"`, or the density and
/// paper forms): it then describes zero-mean Gaussian inputs with the images' second moment Ω
/// (docs/theory.md §2.3), whose fields `λ = w·x/√D` have mean 0, while the images' fields have
/// mean `w·μ/√D`. An odd g sees the mean only at second order; any other g is shifted by it at
/// first order (measured: relu, K = 1, an uncentred Fashion-MNIST sample: ODE–SGD gap 22 % of
/// ε(0); 0.14 % centred). Tied weights see it for an odd non-linear g too: at second order, but
/// multiplied by √D (docs/theory.md §5.10; tied erf, K = 2, Fashion-MNIST 8.4 % ignored against
/// 4.2 % with the mean). `None` when g is odd and the weights untied, when g is linear (the
/// dynamics see only Ω; a bias, which would see the mean, is refused with the mean ignored), or
/// when the mean's share `|μ|²/tr Ω` is below 1e-3.
pub fn mean_note(
    act: &dyn Activation,
    tied: bool,
    rows: &[f64],
    d: usize,
    trace: f64,
) -> Option<String> {
    let odd = [0.1, 0.5, 1.0, 2.0, 3.0].iter().all(|&x: &f64| {
        let (a, b) = (act.g(x), act.g(-x));
        (a + b).abs() <= 1e-12 * (a.abs() + b.abs() + 1.0)
    });
    let p = rows.len() / d.max(1);
    let slope = act.g(1.0);
    let linear = [0.1, 0.5, 2.0, 3.0]
        .iter()
        .all(|&x: &f64| (act.g(x) - slope * x).abs() <= 1e-12 * (slope * x).abs().max(1.0));
    if (odd && (!tied || linear)) || p == 0 || trace.is_nan() || trace <= 0.0 {
        return None;
    }
    let mut mean = vec![0.0; d];
    for row in rows.chunks_exact(d) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x;
        }
    }
    let share = mean.iter().map(|m| (m / p as f64).powi(2)).sum::<f64>() / trace;
    (share >= MEAN_SHARE_NOTED).then(|| {
        format!(
            "the images keep a per-pixel mean μ (|μ|² = {:.1} % of E|x|²) that the ODE ignores \
             (its zero-mean Gaussian model, docs/theory.md §2.3); {}, so the ODE need not \
             follow SGD (relu, K = 1, Fashion-MNIST: gap 22 % \
             of ε(0)); ode.input_mean = \"exact\" (vector form) models the mean, \
             data.center = true removes it",
            100.0 * share,
            if odd {
                format!(
                    "the weights are tied, where the mean acts on the odd `{}` with a factor √D",
                    act.name()
                )
            } else {
                format!(
                    "`{}` is not odd, so the mean acts at first order",
                    act.name()
                )
            }
        )
    })
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
    // exp(ln t) rounds either way: where the range is empty (t_max ≤ 1/D) or narrow, the grid
    // must still not decrease
    for i in 1..v.len() {
        v[i] = v[i].max(v[i - 1]).min(t_max);
    }
    v.dedup();
    v
}

impl Problem {
    /// Resolves a validated config (loads data, computes spectra); the activation is the
    /// registered one named by `activation`, or that key read as an expression.
    pub fn from_config(cfg: &Config) -> Result<Self> {
        cfg.validate_values()?;
        let act = crate::registry::resolve_key("activation", &cfg.activation, cfg.quadrature)?;
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
        let tied = cfg.tied.unwrap_or(false);
        let training = Training::new(cfg.k, cfg.lr, tied, cfg.bias, cfg.algorithm);
        let dc = &cfg.data;
        let mut input_mean = None;
        let (spectrum, real, default_reduction) = match dc.kind {
            DataKind::Cifar10 | DataKind::Mnist => {
                let path = dc.path.clone().unwrap_or_default();
                let img = crate::images::load(&dc.kind.to_string(), &path, dc.max_images)?;
                if img.p < 2 {
                    return Err(crate::Error::DataFile {
                        path,
                        offset: 0,
                        message: "the file holds 1 image: the input covariance needs at least 2"
                            .into(),
                    });
                }
                if cfg.k > img.d {
                    return Err(config_err(
                        "k",
                        cfg.k,
                        &format!("at most the image dimension {}", img.d),
                    ));
                }
                let rows = crate::images::preprocess(&img, dc.center);
                let x = DMatrix::from_row_slice(img.p, img.d, &rows);
                let ds = if cfg.models_input_mean() {
                    let (ds, mean) = Dataset::with_mean(x)?;
                    input_mean = Some(mean);
                    ds
                } else {
                    Dataset::new(x)?
                };
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
                    seed: cfg.seed ^ seeds::SPIKE_DIRECTIONS,
                };
                let spectrum = if dc.spectrum == SpectrumKind::Empirical {
                    model.empirical_spectrum(dc.samples, cfg.seed ^ seeds::EMPIRICAL_SAMPLES)?
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
        let single_modes = reduction.single_modes(spectrum.d());
        let modes = match cfg.output.modes {
            Some(m) if m > single_modes => {
                return Err(config_err(
                    "output.modes",
                    m,
                    &format!(
                        "at most the {single_modes} modes the ODE tracks one by one (with \
                         the spike + bulk reduction, the spikes; ode.reduction = \"full\" tracks \
                         all D)"
                    ),
                ));
            }
            Some(m) => m,
            None => 4.min(single_modes),
        };
        let times = time_grid(cfg.t_max, cfg.output.points, spectrum.d());
        let notes = match &real {
            Some(r) if !dc.center && input_mean.is_none() => mean_note(
                act,
                training.tied,
                &r.rows,
                spectrum.d(),
                spectrum.rho.iter().sum(),
            )
            .into_iter()
            .collect(),
            _ => vec![],
        };
        Ok(Problem {
            notes,
            act,
            training,
            spectrum,
            input_mean,
            real,
            form,
            reduction,
            typical_init: cfg.ode.initial == Initial::Typical,
            init_std: cfg.init_std,
            seed: cfg.seed,
            seeds: cfg.sgd.seeds,
            modes,
            times,
            integrator: IntegratorOptions {
                method: match cfg.ode.method {
                    MethodName::Dop853 => Method::Dop853,
                    MethodName::Dopri5 => Method::Dopri5,
                },
                rtol: cfg.ode.rtol,
                atol: cfg.ode.atol,
                stats: cfg.ode.stats,
                stiffness_check: cfg.ode.stiffness_check,
                two_threads: cfg.ode.threads == 2,
                ..Default::default()
            },
        })
    }

    pub fn d(&self) -> usize {
        self.spectrum.d()
    }

    /// `ε_PCA(m)`: the tail of the second moment Ω's eigenvalues over `2D` (docs/theory.md §3.4),
    /// also when the ODE's modes are those of the covariance.
    pub fn pca_error(&self, m: usize) -> f64 {
        self.input_mean
            .as_ref()
            .map_or(&self.spectrum, |mean| &mean.second_moment)
            .pca_error(m)
    }

    /// Initial weights of run `i` (seeded).
    pub fn initial_weights(&self, i: usize) -> Weights {
        Weights::init(
            self.training.k,
            self.d(),
            self.init_std,
            self.training.tied,
            seeds::initial_weights_seed(self.seed, i),
        )
    }

    /// Weights in the eigenbasis of the ODE's modes: `(W E, V E)` for real data; for Gaussian data the SGD already
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

    /// The ODE system with the initial state of run 0's weights (or, with `ode.initial =
    /// "typical"`, the typical state; such ensemble averages have full-rank blocks, so the
    /// rank-one stabilisation is off for them).
    pub fn ode_start(&self) -> Result<(OdeSystem<'static>, nalgebra::DVector<f64>)> {
        let mut sys = self.ode_system()?;
        sys.rank_one_modes = !self.typical_init;
        let y0 = if self.typical_init {
            sys.typical_state(self.init_std)?
        } else {
            let w0 = self.initial_weights(0);
            let (we, ve) = self.eigenbasis(&w0);
            sys.state_from_weights(&we, &ve, &w0.beta)
        };
        if self.init_std == 0.0 {
            // every field has variance 0: the closed forms of kinks or jumps away from 0 (the
            // Gaussian densities there, times powers of 1/variance) are 0·∞ at that limit
            let mut f = nalgebra::DVector::zeros(y0.len());
            let mut ws = sys.workspace();
            sys.rhs_with(&y0, &mut f, &mut ws);
            // (a failure the right-hand side records — the paper form's vanishing determinants
            // at Q = T = 0 — is reported by the integration with its own reason)
            if ws.failure.is_none() && f.iter().any(|v| !v.is_finite()) {
                return Err(crate::error::config_err(
                    "init_std",
                    0,
                    &format!(
                        "above 0 (e.g. 1e-6) for the activation `{}`: with every weight 0 each \
                         field starts with variance 0, where the ODE's kernels of its kinks or \
                         jumps are not finite (their Gaussian densities meet powers of 1/variance)",
                        self.act.name()
                    ),
                ));
            }
        }
        Ok((sys, y0))
    }

    /// The ODE system of this problem.
    pub fn ode_system(&self) -> Result<OdeSystem<'static>> {
        let sys = OdeSystem::new(
            self.act,
            self.training,
            &self.spectrum.rho,
            self.form,
            self.reduction,
        )?;
        match &self.input_mean {
            Some(mean) => sys.with_input_mean(&mean.components),
            None => Ok(sys),
        }
    }

    /// The error of SGD weights: exact population error (Gaussian data) or the mean loss over the
    /// images (real data).
    /// ε, the order parameters and the densities of the first `modes` modes of SGD weights.
    pub fn sgd_error(&self, w: &Weights, modes: usize) -> (f64, OrderParams, Vec<ModeDensity>) {
        let (we, ve) = self.eigenbasis(w);
        let mut o = OrderParams::from_eigenbasis(&we, &ve, &w.beta, &self.spectrum.rho);
        let d = self.spectrum.d();
        if let Some(mean) = &self.input_mean {
            let sqrt_d = (d as f64).sqrt();
            o.set_field_means(
                &mean.components,
                |u, tau| we[u * d + tau],
                |u, tau| ve[u * d + tau] / sqrt_d,
            );
        }
        let md = (0..modes.min(d))
            .map(|tau| ModeDensity::from_eigenbasis(&we, &ve, d, tau))
            .collect();
        let eps = match &self.real {
            None => o.error(self.act, self.pca_error(0)),
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

#[cfg(test)]
mod tests {
    use super::{mean_note, time_grid};

    /// Images with a mean: noted for relu (not odd), not for erf (odd) nor once centred.
    #[test]
    fn a_mean_the_ode_does_not_see_is_noted_for_activations_that_are_not_odd() {
        let (d, p) = (3, 4);
        // per-pixel mean (0.5, 0, 0) on top of ±1 deviations
        let rows: Vec<f64> = (0..p * d)
            .map(|i| if i % d == 0 { 0.5 } else { 0.0 } + if (i / d) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let trace: f64 = rows.iter().map(|x| x * x).sum::<f64>() / p as f64;
        let relu = crate::registry::lookup("relu").unwrap().unwrap();
        let erf = crate::registry::lookup("erf").unwrap().unwrap();
        let note = mean_note(relu, false, &rows, d, trace).expect("relu is noted");
        // |μ|² = 0.25 of E|x|² = 3.25
        assert!(
            note.contains("7.7 %") && note.contains("data.center"),
            "{note}"
        );
        assert!(mean_note(erf, false, &rows, d, trace).is_none());
        let tied = mean_note(erf, true, &rows, d, trace).expect("tied erf is noted");
        assert!(tied.contains("tied"), "{tied}");
        let linear = crate::registry::lookup("linear").unwrap().unwrap();
        assert!(mean_note(linear, true, &rows, d, trace).is_none());
        let centred: Vec<f64> = rows
            .iter()
            .enumerate()
            .map(|(i, x)| if i % d == 0 { x - 0.5 } else { *x })
            .collect();
        assert!(mean_note(relu, false, &centred, d, 3.0).is_none());
    }

    /// The output grid rises strictly from 0 to `t_max`, also where `t_max ≤ 1/D` leaves an
    /// empty log range (there `exp(ln t_max)` rounded above `t_max` made the grid decrease and
    /// the integrator refuse a valid config).
    #[test]
    fn time_grid_rises_to_t_max() {
        for (t_max, d) in [
            (0.01, 100),
            (0.005, 100),
            (1e-9, 1000),
            (1.0, 1000),
            (60.0, 1000),
        ] {
            for points in [1, 2, 20, 100] {
                let t = time_grid(t_max, points, d);
                assert_eq!(t[0], 0.0);
                assert_eq!(*t.last().unwrap(), t_max, "t_max {t_max}, D {d}");
                assert!(t.windows(2).all(|w| w[1] > w[0]), "{t:?}");
            }
        }
    }
}
