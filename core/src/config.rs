//! The run configuration (TOML; docs/architecture.md §7). Every key has a documented default;
//! unknown keys are an error; every value is validated with a message naming the key and range.

use crate::error::{Error, Result, config_err};
pub use crate::model::Algorithm;

/// Declares a config enum read from TOML as snake_case strings (unknown values are errors that
/// name the key and list the allowed values).
macro_rules! config_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? } default $default:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }
        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self { $($name::$variant => $text),+ })
            }
        }
    };
}

config_enum! {
    /// `data.kind`
    DataKind {
        /// Gaussian spiked covariance (spikes · D, bulk)
        Spiked => "spiked",
        /// spiked with sinusoidal spike directions
        Sinusoidal => "sinusoidal",
        /// any spectrum given by `data.eigenvalues`
        Custom => "custom",
        /// CIFAR-10 binary images (grayscale)
        Cifar10 => "cifar10",
        /// IDX images (MNIST, Fashion-MNIST)
        Mnist => "mnist",
    } default Spiked
}

config_enum! {
    /// `data.directions` of spiked data
    Directions { Orthogonal => "orthogonal", Random => "random" } default Orthogonal
}

config_enum! {
    /// `data.spectrum`
    SpectrumKind { Population => "population", Empirical => "empirical" } default Population
}

config_enum! {
    /// `ode.form`
    FormName { Vector => "vector", Density => "density", Paper => "paper" } default Vector
}

config_enum! {
    /// `ode.reduction`
    ReductionName { Full => "full", SpikeBulk => "spike_bulk" } default Full
}

config_enum! {
    /// `ode.input_mean`: how the ODE treats the mean of uncentred images
    InputMeanName {
        /// Gaussian inputs with the images' mean and covariance, `x ~ N(μ, C)`
        Exact => "exact",
        /// zero-mean Gaussian inputs with the images' second moment Ω (the paper's model)
        Ignored => "ignored",
    } default Exact
}

config_enum! {
    /// `ode.initial`
    Initial { Weights => "weights", Typical => "typical" } default Weights
}

config_enum! {
    /// `ode.method`
    MethodName { Dopri5 => "dopri5", Dop853 => "dop853" } default Dopri5
}
config_enum! {
    /// `model`
    ModelKind {
        /// the shallow autoencoder of the paper
        Autoencoder => "autoencoder",
        /// a two-layer student learning from a two-layer teacher (docs/theory.md §8)
        TeacherStudent => "teacher_student",
    } default Autoencoder
}

config_enum! {
    /// `teacher.weights`
    TeacherWeights {
        /// orthonormal rows scaled by √N: T = I exactly
        Orthonormal => "orthonormal",
        /// i.i.d. standard normal entries: T = I + O(1/√N)
        Gaussian => "gaussian",
    } default Orthonormal
}
use serde::Deserialize;

/// `[teacher]` (model = "teacher_student")
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeacherConfig {
    /// Teacher hidden units M ≥ 1. Default 2.
    pub m: usize,
    /// The teacher's activation (a registered name or an expression). Default: the student's.
    pub activation: Option<String>,
    /// Teacher second layer v* (M values). Default all ones.
    pub second_layer: Option<Vec<f64>>,
    /// Output noise σ ≥ 0 (standard deviation). Default 0.
    pub noise: f64,
    /// "orthonormal" (T = I exactly, default) or "gaussian".
    pub weights: TeacherWeights,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        TeacherConfig {
            m: 2,
            activation: None,
            second_layer: None,
            noise: 0.0,
            weights: TeacherWeights::Orthonormal,
        }
    }
}

/// `[student]` (model = "teacher_student")
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentConfig {
    /// Train the second layer v (else v = 1: the soft committee machine). Default false.
    pub train_second_layer: bool,
    /// Learning rate η_v of the second layer. Default `lr`.
    pub lr_second_layer: Option<f64>,
}

/// Top-level configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// "autoencoder" (default) or "teacher_student".
    pub model: ModelKind,
    /// A registered activation's name (the built-ins linear, erf, relu, sign, gelu, tanh, and every
    /// `#[activation]` linked into the binary), or an expression in `x` in the attribute's syntax,
    /// derived at run time (e.g. "(x + 0.3).max(0.0).min(1.2)"). Default "erf".
    pub activation: String,
    /// Allow quadrature for an expression's integrals without a closed form (as
    /// `#[activation(quadrature)]`). Default false.
    pub quadrature: bool,
    /// Hidden units K ≥ 1, K ≤ D. Default 2.
    pub k: usize,
    /// Learning rate η > 0. Default 1.
    pub lr: f64,
    /// Final time t = steps/D, > 0. Default 60.
    pub t_max: f64,
    /// Standard deviation σ0 ≥ 0 of the initial weights. Default 0.1.
    pub init_std: f64,
    /// Train the encoder bias. Default false.
    pub bias: bool,
    /// Tie decoder and encoder (v ≡ w). Default false (true for `algorithm = "sanger"`, which
    /// refuses an explicit `tied = false`).
    pub tied: Option<bool>,
    /// "vanilla" | "truncated" | "sanger". Default "vanilla".
    pub algorithm: Algorithm,
    /// Base seed of weights and samples. Default 0.
    pub seed: u64,
    pub data: DataConfig,
    pub sgd: SgdConfig,
    pub output: OutputConfig,
    pub ode: OdeConfig,
    pub teacher: TeacherConfig,
    pub student: StudentConfig,
}

/// `[data]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// "spiked" | "sinusoidal" | "custom" | "cifar10" | "mnist". Default "spiked".
    pub kind: DataKind,
    /// Input dimension D (synthetic data). Default 1000.
    pub d: usize,
    /// Spike eigenvalues in units of D. Default [25/35, 9/35].
    pub spikes: Vec<f64>,
    /// Bulk eigenvalue. Default 1/35.
    pub bulk: f64,
    /// Spike directions of "spiked": "orthogonal" (exact spectrum spikes·D + bulk) or "random".
    pub directions: Directions,
    /// "population" (exact) or "empirical" (spiked Wishart from `samples` draws). Default "population".
    pub spectrum: SpectrumKind,
    /// Number of samples P of the empirical spectrum. Default 10000.
    pub samples: usize,
    /// Eigenvalues of Ω for kind "custom" (length D).
    pub eigenvalues: Vec<f64>,
    /// Data file for real data (CIFAR-10 binary or IDX, gzip or not).
    pub path: Option<String>,
    /// Subtract the per-pixel mean (real data). Default false (the paper's preprocessing).
    pub center: bool,
    /// Use at most this many images (0 = all). Default 0.
    pub max_images: usize,
}

/// `[sgd]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgdConfig {
    /// Number of independent SGD runs (0 = ODE only), all from the same initial weights. Default 8.
    pub seeds: usize,
}

/// `[output]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Number of log-spaced output times (plus t = 0). Default 120.
    pub points: usize,
    /// Per-mode densities written to `modes.csv` for this many leading modes (default: 4, capped
    /// by the modes the ODE tracks one by one; a value set above those is an error). 0: no file.
    pub modes: Option<usize>,
}

/// `[ode]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OdeConfig {
    /// "vector" (default), "density", or "paper" (the paper's regression form; untied only).
    pub form: FormName,
    /// "full" (every mode) or "spike_bulk" (spikes one by one, bulk aggregated). Default: "spike_bulk"
    /// for synthetic spiked data, "full" otherwise.
    pub reduction: Option<ReductionName>,
    /// "weights" (the SGD's initial weights, seed 0) or "typical". Default "weights".
    pub initial: Initial,
    /// Integrator: "dopri5" (default) or "dop853".
    pub method: MethodName,
    /// Relative tolerance of the integrator. Default 1e-9.
    pub rtol: f64,
    /// Absolute tolerance of the integrator. Default 1e-12.
    pub atol: f64,
    /// Print the integrator's statistics per output segment (RHS evaluations, accepted and
    /// rejected steps) on stderr. Default false.
    pub stats: bool,
    /// Stop with an error when the explicit integrator detects stiffness (ode_solvers' test every
    /// 1000 steps). `false` lets it go on with the small steps stability needs — what long-time
    /// runs need, where the fast directions' rates grow (the untied erf AE's decoder). Default true.
    pub stiffness_check: bool,
    /// Threads of one integration: 2 (the default) integrates a vector-form state of at least
    /// 2 048 components in two halves on two threads where the machine has two cores
    /// (docs/architecture.md, "Two threads"); 1 keeps it on one (a machine busy with other work:
    /// there the halves wait for each other).
    pub threads: usize,
    /// The mean of uncentred images (`data.center = false`): "exact" (Gaussian inputs with the
    /// images' mean and covariance; the default with the vector form over all modes) or "ignored"
    /// (zero-mean Gaussian inputs with the images' second moment Ω, the paper's model; the default
    /// with the density and paper forms and the spike + bulk reduction, which cannot carry the
    /// mean).
    pub input_mean: Option<InputMeanName>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            activation: "erf".into(),
            quadrature: false,
            k: 2,
            lr: 1.0,
            t_max: 60.0,
            init_std: 0.1,
            bias: false,
            tied: None,
            algorithm: Algorithm::Vanilla,
            seed: 0,
            data: DataConfig::default(),
            sgd: SgdConfig::default(),
            output: OutputConfig::default(),
            ode: OdeConfig::default(),
            model: ModelKind::Autoencoder,
            teacher: TeacherConfig::default(),
            student: StudentConfig::default(),
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            kind: DataKind::Spiked,
            d: 1000,
            spikes: vec![25.0 / 35.0, 9.0 / 35.0],
            bulk: 1.0 / 35.0,
            directions: Directions::Orthogonal,
            spectrum: SpectrumKind::Population,
            samples: 10_000,
            eigenvalues: vec![],
            path: None,
            center: false,
            max_images: 0,
        }
    }
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { seeds: 8 }
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            points: 120,
            modes: None,
        }
    }
}

impl Default for OdeConfig {
    fn default() -> Self {
        OdeConfig {
            form: FormName::Vector,
            method: MethodName::Dopri5,
            reduction: None,
            initial: Initial::Weights,
            rtol: 1e-9,
            atol: 1e-12,
            stats: false,
            stiffness_check: true,
            threads: 2,
            input_mean: None,
        }
    }
}

fn positive(key: &str, v: f64, max: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(())
    } else {
        Err(config_err(
            key,
            v,
            &format!("a finite number in (0, {max}]"),
        ))
    }
}

/// A TOML error on one line: where (line, column and the line's text, which names the key) and
/// what, instead of the parser's multi-line drawing with a caret.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let what = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(span) = e.span() else {
        return what;
    };
    let mut at = span.start.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    format!(
        "line {}, column {} (`{}`): {what}",
        text[..at].matches('\n').count() + 1,
        text[line_start..at].chars().count() + 1,
        text[line_start..line_end].trim()
    )
}

impl Config {
    /// Parses TOML text; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str, path: &str) -> Result<Self> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::ConfigFile {
            path: path.to_string(),
            message: one_line(&e, text),
        })?;
        // a key of the other model is an error even when written with its default value
        if let Ok(table) = text.parse::<toml::Table>() {
            cfg.reject_keys_of_the_other_model(&table)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The keys that belong to one model only: `(key path, the model it belongs to, whether a
    /// config holds it changed from its default)`. Read from a file, such a key is an error with
    /// the other model when present at all ([`Self::reject_keys_of_the_other_model`]); in a
    /// config built in code, when changed ([`Self::validate_values`]).
    #[allow(clippy::type_complexity)]
    const MODEL_KEYS: [(&'static str, ModelKind, fn(&Config) -> bool); 25] = {
        use ModelKind::{Autoencoder as Ae, TeacherStudent as Ts};
        [
            ("tied", Ae, |c| c.tied == Some(true)),
            ("bias", Ae, |c| c.bias),
            ("algorithm", Ae, |c| c.algorithm != Algorithm::Vanilla),
            ("data.kind", Ae, |c| c.data.kind != DataKind::Spiked),
            ("data.spikes", Ae, |c| {
                c.data.spikes != DataConfig::default().spikes
            }),
            ("data.bulk", Ae, |c| {
                c.data.bulk != DataConfig::default().bulk
            }),
            ("data.directions", Ae, |c| {
                c.data.directions != Directions::Orthogonal
            }),
            ("data.spectrum", Ae, |c| {
                c.data.spectrum != SpectrumKind::Population
            }),
            ("data.samples", Ae, |c| {
                c.data.samples != DataConfig::default().samples
            }),
            ("data.eigenvalues", Ae, |c| !c.data.eigenvalues.is_empty()),
            ("data.path", Ae, |c| c.data.path.is_some()),
            ("data.center", Ae, |c| c.data.center),
            ("data.max_images", Ae, |c| c.data.max_images != 0),
            ("ode.form", Ae, |c| c.ode.form != FormName::Vector),
            ("ode.reduction", Ae, |c| c.ode.reduction.is_some()),
            ("ode.initial", Ae, |c| c.ode.initial != Initial::Weights),
            ("ode.input_mean", Ae, |c| c.ode.input_mean.is_some()),
            ("output.modes", Ae, |c| c.output.modes.is_some()),
            ("teacher.m", Ts, |c| {
                c.teacher.m != TeacherConfig::default().m
            }),
            ("teacher.activation", Ts, |c| c.teacher.activation.is_some()),
            ("teacher.second_layer", Ts, |c| {
                c.teacher.second_layer.is_some()
            }),
            ("teacher.noise", Ts, |c| c.teacher.noise != 0.0),
            ("teacher.weights", Ts, |c| {
                c.teacher.weights != TeacherWeights::Orthonormal
            }),
            ("student.train_second_layer", Ts, |c| {
                c.student.train_second_layer
            }),
            ("student.lr_second_layer", Ts, |c| {
                c.student.lr_second_layer.is_some()
            }),
        ]
    };

    /// Why a key of the other model is not allowed.
    fn other_model_err(&self, key: &str, shown: impl std::fmt::Display, owner: ModelKind) -> Error {
        config_err(
            key,
            shown,
            &format!(
                "not allowed with model = \"{}\": it applies to model = \"{owner}\" only",
                self.model
            ),
        )
    }

    /// Refuses a key of [`Self::MODEL_KEYS`] present in the TOML `table` when the config's model
    /// is the other one.
    fn reject_keys_of_the_other_model(&self, table: &toml::Table) -> Result<()> {
        for (key, owner, _) in Self::MODEL_KEYS {
            if owner == self.model {
                continue;
            }
            let mut value: Option<&toml::Value> = None;
            let mut here = Some(table);
            for part in key.split('.') {
                value = here.and_then(|t| t.get(part));
                here = value.and_then(|v| v.as_table());
            }
            if let Some(v) = value {
                return Err(self.other_model_err(key, v, owner));
            }
        }
        Ok(())
    }

    /// Refuses a key of [`Self::MODEL_KEYS`] of the other model changed from its default (a
    /// config built in code).
    fn reject_changed_keys_of_the_other_model(&self) -> Result<()> {
        match Self::MODEL_KEYS
            .iter()
            .find(|(_, owner, changed)| *owner != self.model && changed(self))
        {
            Some(&(key, owner, _)) => {
                Err(self.other_model_err(key, "(changed from its default)", owner))
            }
            None => Ok(()),
        }
    }

    /// The `[data]` keys that apply to some data kinds only: `(key, the kinds it applies to,
    /// whether it is changed from its default)`. A key changed for a kind that ignores it is an
    /// error (a data file given with synthetic data would silently train on synthetic data).
    /// `d` is not among them (real images set their own dimension, and `data.d` is ignored), nor
    /// `spikes` (its length sets the spikes of `ode.reduction = "spike_bulk"` for any kind).
    #[allow(clippy::type_complexity)]
    const DATA_KEYS: [(
        &'static str,
        &'static [DataKind],
        fn(&DataConfig) -> Option<String>,
    ); 7] = {
        use DataKind::{Cifar10, Custom, Mnist, Sinusoidal, Spiked};
        [
            ("path", &[Cifar10, Mnist], |d| {
                d.path.as_ref().map(|p| format!("{p:?}"))
            }),
            ("center", &[Cifar10, Mnist], |d| {
                d.center.then(|| "true".into())
            }),
            ("max_images", &[Cifar10, Mnist], |d| {
                (d.max_images != 0).then(|| d.max_images.to_string())
            }),
            ("eigenvalues", &[Custom], |d| {
                (!d.eigenvalues.is_empty()).then(|| format!("{} values", d.eigenvalues.len()))
            }),
            ("directions", &[Spiked], |d| {
                (d.directions != Directions::Orthogonal).then(|| format!("\"{}\"", d.directions))
            }),
            ("spectrum", &[Spiked, Sinusoidal], |d| {
                (d.spectrum != SpectrumKind::Population).then(|| format!("\"{}\"", d.spectrum))
            }),
            ("samples", &[Spiked, Sinusoidal], |d| {
                (d.samples != DataConfig::default().samples).then(|| d.samples.to_string())
            }),
        ]
    };

    /// Refuses a `[data]` key of [`Self::DATA_KEYS`] set for a data kind that does not use it.
    fn reject_data_keys_of_other_kinds(&self) -> Result<()> {
        let kind = self.data.kind;
        for (key, kinds, set) in Self::DATA_KEYS {
            if kinds.contains(&kind) {
                continue;
            }
            if let Some(value) = set(&self.data) {
                let names: Vec<String> = kinds.iter().map(|k| format!("\"{k}\"")).collect();
                return Err(config_err(
                    &format!("data.{key}"),
                    value,
                    &format!(
                        "not used with data.kind = \"{kind}\": it applies to data.kind = {} only",
                        names.join(" or ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads and validates a config file.
    pub fn load(path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_string(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Whether the data are real images.
    pub fn is_real(&self) -> bool {
        matches!(self.data.kind, DataKind::Cifar10 | DataKind::Mnist)
    }

    /// Whether the ODE models the inputs' mean (docs/theory.md §2.3): uncentred images with
    /// `ode.input_mean = "exact"`, the default with the vector form over all modes.
    pub fn models_input_mean(&self) -> bool {
        self.is_real()
            && !self.data.center
            && match self.ode.input_mean {
                Some(m) => m == InputMeanName::Exact,
                None => {
                    self.ode.form == FormName::Vector
                        && self.ode.reduction != Some(ReductionName::SpikeBulk)
                }
            }
    }

    /// Checks every value against its allowed range, and that `activation` names a registered
    /// activation or is a derivable expression.
    pub fn validate(&self) -> Result<()> {
        self.validate_values()?;
        crate::registry::resolve_key("activation", &self.activation, self.quadrature)?;
        if let Some(a) = &self.teacher.activation {
            crate::registry::resolve_key("teacher.activation", a, self.quadrature)?;
        }
        Ok(())
    }

    /// Checks the teacher–student keys.
    fn validate_teacher_student(&self) -> Result<()> {
        let t = &self.teacher;
        if t.m == 0 || t.m > 64 {
            return Err(config_err("teacher.m", t.m, "an integer in [1, 64]"));
        }
        if t.m > self.data.d {
            return Err(config_err(
                "teacher.m",
                t.m,
                &format!("at most data.d = {} (the input dimension N)", self.data.d),
            ));
        }
        if !(t.noise.is_finite() && t.noise >= 0.0 && t.noise <= 1e3) {
            return Err(config_err(
                "teacher.noise",
                t.noise,
                "a finite number in [0, 1000]",
            ));
        }
        if let Some(v) = &t.second_layer {
            if v.len() != t.m {
                return Err(config_err(
                    "teacher.second_layer",
                    format!("{} values", v.len()),
                    &format!("exactly teacher.m = {} values", t.m),
                ));
            }
            if let Some(x) = v.iter().find(|x| !x.is_finite() || x.abs() > 1e6) {
                return Err(config_err(
                    "teacher.second_layer",
                    x,
                    "finite numbers in [-1e6, 1e6]",
                ));
            }
        }
        if let Some(l) = self.student.lr_second_layer {
            positive("student.lr_second_layer", l, 1e6)?;
            if !self.student.train_second_layer {
                return Err(config_err(
                    "student.lr_second_layer",
                    l,
                    "unset unless student.train_second_layer = true (the second layer is \
                     fixed at v = 1 otherwise)",
                ));
            }
        }
        Ok(())
    }

    /// Checks every value except `activation` against its allowed range.
    pub fn validate_values(&self) -> Result<()> {
        self.reject_changed_keys_of_the_other_model()?;
        if self.model == ModelKind::Autoencoder {
            self.reject_data_keys_of_other_kinds()?;
        }
        if self.model == ModelKind::TeacherStudent {
            self.validate_teacher_student()?;
        }
        if self.k == 0 || self.k > 64 {
            return Err(config_err(
                "k",
                self.k,
                "an integer in [1, 64] and at most data.d",
            ));
        }
        positive("lr", self.lr, 1e6)?;
        positive("t_max", self.t_max, 1e9)?;
        if !(self.init_std.is_finite() && self.init_std >= 0.0 && self.init_std <= 1e3) {
            return Err(config_err(
                "init_std",
                self.init_std,
                "a finite number in [0, 1000]",
            ));
        }
        positive("ode.rtol", self.ode.rtol, 1e-2)?;
        positive("ode.atol", self.ode.atol, 1e-2)?;
        if !(1..=2).contains(&self.ode.threads) {
            return Err(config_err("ode.threads", self.ode.threads, "1 or 2"));
        }
        if self.sgd.seeds > 1000 {
            return Err(config_err(
                "sgd.seeds",
                self.sgd.seeds,
                "an integer in [0, 1000]",
            ));
        }
        if self.output.points < 2 || self.output.points > 100_000 {
            return Err(config_err(
                "output.points",
                self.output.points,
                "an integer in [2, 100000]",
            ));
        }
        if let Some(modes) = self.output.modes.filter(|m| *m > 1000) {
            return Err(config_err("output.modes", modes, "an integer in [0, 1000]"));
        }
        if self.algorithm == Algorithm::Sanger && self.tied == Some(false) {
            return Err(config_err(
                "tied",
                false,
                "true or absent with algorithm = \"sanger\" (Sanger's rule, GHA, trains tied \
                 weights: decoder ≡ encoder)",
            ));
        }
        if let Some(m) = self.ode.input_mean
            && (!self.is_real() || self.data.center)
        {
            return Err(config_err(
                "ode.input_mean",
                format!("\"{m}\""),
                "absent: it applies to uncentred images only (data.kind = \"cifar10\" or \
                 \"mnist\" with data.center = false); other inputs have no mean",
            ));
        }
        if self.bias && self.is_real() && !self.data.center && !self.models_input_mean() {
            let why = "when bias = true with uncentred images (or data.center = true): a trained \
                       bias is driven by the pixels' mean, which only the vector form over all \
                       modes carries (ode.input_mean = \"exact\"); a zero-mean Gaussian model of \
                       the images does not have it";
            // name the key the user wrote that leaves the mean out
            return Err(if self.ode.input_mean.is_some() {
                config_err("ode.input_mean", "\"ignored\"", &format!("\"exact\" {why}"))
            } else if self.ode.form != FormName::Vector {
                config_err(
                    "ode.form",
                    format!("\"{}\"", self.ode.form),
                    &format!("\"vector\" {why}"),
                )
            } else {
                config_err(
                    "ode.reduction",
                    "\"spike_bulk\"",
                    &format!("\"full\" (the default for images) {why}"),
                )
            });
        }
        let d = &self.data;
        if self.is_real() {
            if d.max_images == 1 {
                return Err(config_err(
                    "data.max_images",
                    1,
                    "0 (all images) or at least 2 (a covariance needs two images)",
                ));
            }
            if d.path.is_none() {
                return Err(config_err(
                    "data.path",
                    "(missing)",
                    "the path of a data file (CIFAR-10 binary or IDX images)",
                ));
            }
        } else {
            if d.d == 0 || d.d > 200_000 {
                return Err(config_err("data.d", d.d, "an integer in [1, 200000]"));
            }
            if self.k > d.d {
                return Err(config_err(
                    "k",
                    self.k,
                    &format!("at most data.d = {}", d.d),
                ));
            }
            if d.kind == DataKind::Custom {
                if d.eigenvalues.len() != d.d {
                    return Err(config_err(
                        "data.eigenvalues",
                        format!("{} values", d.eigenvalues.len()),
                        &format!("exactly data.d = {} eigenvalues", d.d),
                    ));
                }
                if let Some(v) = d.eigenvalues.iter().find(|v| !v.is_finite() || **v < 0.0) {
                    return Err(config_err(
                        "data.eigenvalues",
                        v,
                        "finite and ≥ 0 (Ω must be positive semidefinite)",
                    ));
                }
            } else {
                if d.spikes.is_empty() || d.spikes.len() > d.d {
                    return Err(config_err(
                        "data.spikes",
                        format!("{} values", d.spikes.len()),
                        "between 1 and data.d spike eigenvalues",
                    ));
                }
                if let Some(v) = d
                    .spikes
                    .iter()
                    .find(|v| !v.is_finite() || **v <= 0.0 || **v > 1e6)
                {
                    return Err(config_err(
                        "data.spikes",
                        v,
                        "finite numbers in (0, 1e6] (eigenvalues in units of D)",
                    ));
                }
                if !(d.bulk.is_finite() && d.bulk >= 0.0 && d.bulk <= 1e6) {
                    return Err(config_err(
                        "data.bulk",
                        d.bulk,
                        "a finite number in [0, 1e6]",
                    ));
                }
            }
            if d.spectrum == SpectrumKind::Empirical && (d.samples < 2 || d.samples > 1_000_000) {
                return Err(config_err(
                    "data.samples",
                    d.samples,
                    "an integer in [2, 1000000]",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::from_toml(text, "test.toml")
            .expect_err("invalid")
            .to_string()
    }

    #[test]
    fn defaults_are_valid() {
        Config::from_toml("", "empty.toml").expect("defaults valid");
    }

    #[test]
    fn each_bad_value_names_its_key_and_range() {
        assert!(err("k = 0").contains("`k` = 0"));
        assert!(err("k = 5\n[data]\nd = 4").contains("at most data.d = 4"));
        assert!(err("lr = -1.0").contains("`lr` = -1"));
        assert!(err("lr = 0.0").contains("(0, "));
        assert!(err("t_max = 0.0").contains("`t_max`"));
        assert!(err("init_std = -0.1").contains("`init_std`"));
        assert!(err("activation = \"swish\"").contains("neither a registered activation"));
        // the teacher's activation is its own key
        let e = err("model = \"teacher_student\"\n[teacher]\nactivation = \"swish\"");
        assert!(e.contains("`teacher.activation` = \"swish\""), "{e}");
        let e = err("algorithm = \"adam\"");
        assert!(
            e.contains("algorithm = \"adam\"") && e.contains("`vanilla`, `truncated`, `sanger`"),
            "{e}"
        );
        assert!(err("[data]\nd = 0").contains("`data.d` = 0"));
        assert!(err("[data]\nspikes = [0.5, -1.0]").contains("`data.spikes` = -1"));
        assert!(err("[data]\nbulk = nan").contains("`data.bulk`"));
        assert!(
            err("[data]\nkind = \"custom\"\nd = 3\neigenvalues = [1.0, 2.0]")
                .contains("exactly data.d = 3")
        );
        assert!(
            err("[data]\nkind = \"custom\"\nd = 2\neigenvalues = [1.0, -2.0]")
                .contains("positive semidefinite")
        );
        assert!(err("[data]\nkind = \"cifar10\"").contains("`data.path`"));
        // a data key that the kind ignores is refused, naming the key and the kinds it is for
        for (text, key, kinds) in [
            (
                "[data]\npath = \"images.idx\"",
                "data.path",
                "\"cifar10\" or \"mnist\"",
            ),
            (
                "[data]\nkind = \"sinusoidal\"\ncenter = true",
                "data.center",
                "\"cifar10\"",
            ),
            (
                "[data]\neigenvalues = [1.0, 2.0]",
                "data.eigenvalues",
                "\"custom\" only",
            ),
            (
                "[data]\nkind = \"sinusoidal\"\ndirections = \"random\"",
                "data.directions",
                "\"spiked\" only",
            ),
            (
                "[data]\nkind = \"custom\"\nd = 2\neigenvalues = [1.0, 2.0]\nspectrum = \"empirical\"",
                "data.spectrum",
                "\"sinusoidal\"",
            ),
        ] {
            let e = err(text);
            assert!(
                e.contains(&format!("`{key}`")) && e.contains(kinds),
                "{text}: {e}"
            );
        }
        assert!(err("[output]\npoints = 1").contains("`output.points`"));
        let e = err("[ode]\nmethod = \"rk4\"");
        assert!(
            e.contains("method = \"rk4\"") && e.contains("`dopri5`") && e.contains("`dop853`"),
            "{e}"
        );
        assert!(err("[output]\nmodes = 5000").contains("`output.modes`"));
        assert!(err("[ode]\nrtol = 0.5").contains("`ode.rtol`"));
        assert!(err("[ode]\nthreads = 3").contains("`ode.threads`"));
        assert!(err("[sgd]\nseeds = 100000").contains("`sgd.seeds`"));
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_rejected() {
        assert!(err("learning_rate = 1.0").contains("learning_rate"));
        assert!(err("[data]\nsize = 3").contains("size"));
        assert!(err("k = \"two\"").contains("k"));
    }
}
