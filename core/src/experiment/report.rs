//! The results of a run and their reports: CSV files, the stdout summary, the figure's curves.

use crate::order::{ModeDensity, OrderParams};

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
    /// The ODE tracks the inputs' mean: the CSV adds the fields' means `m^k`, `n^k`
    /// (docs/theory.md §5.10) after each source's β.
    pub input_mean: bool,
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
        max_relative_gap(&self.eps_ode, &self.eps_sgd)
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
            if self.input_mean {
                for name in ["m", "n"] {
                    for a in 0..k {
                        let _ = write!(s, ",{src}_{name}_{}", a + 1);
                    }
                }
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
                if self.input_mean {
                    for v in o.m.iter().chain(&o.n) {
                        let _ = write!(s, ",{v:.10e}");
                    }
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
        s.push_str(&error_table(
            &self.times,
            &self.eps_ode,
            &self.eps_sgd,
            &self.eps_sgd_std,
        ));
        s
    }
}

/// `max_t |ε_ode − ε_sgd| / ε_ode(0)` over a shared time grid.
pub fn max_relative_gap(eps_ode: &[f64], eps_sgd: &[f64]) -> f64 {
    let e0 = eps_ode[0];
    eps_ode
        .iter()
        .zip(eps_sgd)
        .map(|(a, b)| (a - b).abs() / e0)
        .fold(0.0, f64::max)
}

/// ε of the ODE and of SGD (mean, std) at twelve evenly picked output times, and with SGD the
/// largest gap, as a text table for stdout.
pub fn error_table(times: &[f64], eps_ode: &[f64], eps_sgd: &[f64], eps_sgd_std: &[f64]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let n = times.len();
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
            times[j], eps_ode[j], eps_sgd[j], eps_sgd_std[j]
        );
    }
    if eps_sgd.iter().all(|v| v.is_finite()) {
        let _ = writeln!(
            s,
            "max_t |ε_ode − ε_sgd| / ε(0) = {:.3}%",
            100.0 * max_relative_gap(eps_ode, eps_sgd)
        );
    }
    s
}
