//! Errors reported to users: every message names what was wrong and what would fix it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// A configuration value out of range: names the key and the allowed range.
    #[error("invalid config: `{key}` = {value}: {allowed}")]
    Config {
        key: String,
        value: String,
        allowed: String,
    },
    /// A malformed configuration file.
    #[error("cannot read config {path}: {message}")]
    ConfigFile { path: String, message: String },
    /// A malformed data file: names the file and the byte offset.
    #[error("malformed data file {path} at byte {offset}: {message}")]
    DataFile {
        path: String,
        offset: u64,
        message: String,
    },
    /// An I/O failure on a named file.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// SGD or ODE diverged.
    #[error(
        "{what} diverged at t = {t:.4} ({detail}); try a smaller learning rate `lr` or a smaller `init_std`"
    )]
    Diverged {
        what: &'static str,
        t: f64,
        detail: String,
    },
    /// The integrator could not proceed.
    #[error(
        "ODE integration failed at t = {t:.4}: {message}; the dynamics are diverging or very stiff: try a smaller learning rate `lr`, or tighter `ode.rtol`; for long runs whose fast directions stiffen, `ode.stiffness_check = false` lets the integrator go on with small steps"
    )]
    Integration { t: f64, message: String },
    /// The right-hand side refused a state (its integrals would be wrong there).
    #[error("the ODE stopped at t = {t:.4}: {message}")]
    Refused { t: f64, message: String },
    /// The ODE state stopped describing any set of weights: ε below ε_PCA(K), the least error
    /// of any K units (their reconstruction lies in the span of K decoder vectors).
    #[error(
        "the ODE left the physical region at t = {t:.4} (ε = {eps:.4e} < ε_PCA({k}) = {floor:.4e}, the least error any {k} units reach); {hint}"
    )]
    Unphysical {
        t: f64,
        eps: f64,
        k: usize,
        floor: f64,
        hint: String,
    },
    /// The activation does not define a kernel the requested ODE needs.
    #[error("activation `{activation}` has no ODE: {message}")]
    NoOde { activation: String, message: String },
    /// An activation expression that cannot be parsed or derived: names the offending part.
    #[error("activation expression `{expression}`: {message}")]
    Expression { expression: String, message: String },
    /// A teacher–student set-up whose integrals cannot be derived.
    #[error("teacher–student model: {0}")]
    TeacherStudent(String),
    /// A spectrum or data model that is not a valid covariance.
    #[error("invalid spectrum: {0}")]
    Spectrum(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for a config error.
pub fn config_err(key: &str, value: impl std::fmt::Display, allowed: &str) -> Error {
    Error::Config {
        key: key.to_string(),
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}
