//! The whole command line as a library function (docs/architecture.md §6): the stock `aedyn`
//! binary is `fn main() -> ExitCode { aedyn::cli::main() }`, and so can a user's crate be, with
//! its own `#[activation]`s available by name next to the built-ins.

use crate::config::{Config, DataKind, ModelKind};
use crate::formulas::RenderOptions;
use crate::registry;
use crate::run::Problem;
use crate::teacher_student::run::TsProblem;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "aedyn",
    version,
    about = "Exact ODEs of online SGD in shallow autoencoders, side by side with SGD"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Integrate the ODEs and run SGD from the same initial weights; write trajectory.csv/.svg.
    Run {
        /// TOML config; omit for the built-in defaults (the paper's set-up with D = 1000)
        config: Option<String>,
        /// output directory
        #[arg(long, default_value = "out")]
        out: String,
        /// no progress bars and no table (only the ODE–SGD gap and the files written)
        #[arg(long)]
        quiet: bool,
    },
    /// Print the final closed forms of an activation's integrals (general and zero means) and its
    /// specialised ODE right-hand side.
    Integrals {
        /// a registered activation (see `aedyn list`) or an expression in x, e.g. 'x * erf(x)'
        /// (one starting with `-`, e.g. '-x * erf(x)', is taken as the expression)
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// add each integral's derivation trace
        #[arg(long)]
        trace: bool,
        /// print LaTeX instead of text
        #[arg(long)]
        latex: bool,
        /// allow quadrature for an expression's integrals without a closed form
        #[arg(long)]
        quadrature: bool,
    },
    /// List the registered activations with the status of their integrals.
    List,
    /// Integrate the ODE of a config, find the fixed points at its trajectory's slow stretches
    /// (plateaus) and end state, refine them by Newton to |F| < 1e-12, and report their
    /// stability and escape times; write fixed_points.csv.
    FixedPoints {
        /// TOML config (either model); omit for the built-in defaults
        config: Option<String>,
        /// output directory
        #[arg(long, default_value = "out")]
        out: String,
        /// no progress bars (integration, Newton's candidates) on stderr
        #[arg(long)]
        quiet: bool,
    },
}

/// Parses the process arguments and runs the command; errors are printed as `error: …` and give
/// exit code 1.
pub fn main() -> ExitCode {
    // clap's own errors (an unknown flag, an expression starting with `-`) exit with 1 like
    // every other bad input (clap's default is 2); help and version exit with 0
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match execute(cli.command) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        // (its errors are printed)
        Ok(Outcome::Stopped) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How a command that ran ended.
enum Outcome {
    Done,
    /// a run stopped early: its output is written, its errors printed
    Stopped,
}

fn execute(cmd: Command) -> Result<Outcome, crate::Error> {
    match cmd {
        Command::List => {
            print!("{}", list());
            Ok(Outcome::Done)
        }
        Command::Integrals {
            name,
            trace,
            latex,
            quadrature,
        } => {
            let act = registry::resolve(&name, quadrature)?;
            print!(
                "{}",
                crate::formulas::render(act, RenderOptions { trace, latex })
            );
            // a quadrature rule that cannot resolve g leaves no integral: say so in the exit code
            if let Some(why) = act.quadrature_rule().and_then(|r| r.refusal.as_deref()) {
                return Err(crate::Error::Expression {
                    expression: name,
                    message: format!("refused: {why}"),
                });
            }
            Ok(Outcome::Done)
        }
        Command::Run { config, out, quiet } => {
            let cfg = match &config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            let start = std::time::Instant::now();
            let (csv_text, finished, title, gap, stopped) = match cfg.model {
                ModelKind::Autoencoder => {
                    let problem = Problem::from_config(&cfg)?;
                    // caveats of the set-up are shown even with --quiet
                    for note in &problem.notes {
                        eprintln!("note: {note}");
                    }
                    let (tr, stopped) = crate::run::run_partial(&problem, !quiet)?;
                    let title = format!(
                        "{} AE, K = {}, D = {}, {} ({} SGD seeds)",
                        problem.act.name(),
                        cfg.k,
                        tr.d,
                        cfg.algorithm,
                        cfg.sgd.seeds
                    );
                    create_dir(&out)?;
                    if !tr.mode_rho.is_empty() {
                        write_atomically(&format!("{out}/modes.csv"), &tr.modes_csv())?;
                    }
                    let gap = tr
                        .eps_sgd
                        .iter()
                        .all(|v| v.is_finite())
                        .then(|| tr.max_relative_gap());
                    (tr.csv(), Run::Ae(tr), title, gap, stopped)
                }
                ModelKind::TeacherStudent => {
                    let problem = TsProblem::from_config(&cfg)?;
                    let (tr, stopped) = crate::teacher_student::run::run_partial(&problem, !quiet)?;
                    let title = format!(
                        "teacher–student: {} student K = {}, {} teacher M = {}, N = {} ({} SGD seeds)",
                        tr.student, tr.k, tr.teacher, tr.m, tr.n, cfg.sgd.seeds
                    );
                    let gap = tr
                        .eps_sgd
                        .iter()
                        .all(|v| v.is_finite())
                        .then(|| tr.max_relative_gap());
                    (tr.csv(), Run::Ts(tr), title, gap, stopped)
                }
            };
            create_dir(&out)?;
            let csv = format!("{out}/trajectory.csv");
            write_atomically(&csv, &csv_text)?;
            let svg = format!("{out}/trajectory.svg");
            let (curves, summary) = match &finished {
                Run::Ae(tr) => (tr.curves(), tr.summary()),
                Run::Ts(tr) => (tr.curves(), tr.summary()),
            };
            crate::plot::write_svg(&curves, &svg, &title)?;
            if !quiet {
                print!("{summary}");
            } else if let Some(gap) = gap {
                println!("max_t |ε_ode − ε_sgd| / ε(0) = {:.3}%", 100.0 * gap);
            }
            if let Some(gap) = gap.filter(|g| *g > LARGE_GAP) {
                eprintln!("note: {}", large_gap_note(gap, &cfg));
            }
            println!(
                "wrote {csv} and {svg} in {:.1} s",
                start.elapsed().as_secs_f64()
            );
            // a run that stopped early: what it computed is written, its later values are nan
            if stopped.is_empty() {
                return Ok(Outcome::Done);
            }
            for e in &stopped {
                eprintln!("error: {e}");
            }
            eprintln!(
                "note: {csv} holds what was computed; the columns of a run that stopped are nan \
                 from the first output time it did not reach"
            );
            Ok(Outcome::Stopped)
        }
        Command::FixedPoints { config, out, quiet } => {
            let cfg = match &config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            let report = crate::fixed_points::analyse_config_with(&cfg, !quiet)?;
            create_dir(&out)?;
            let csv = format!("{out}/fixed_points.csv");
            write_atomically(&csv, &report.csv())?;
            print!("{}", report.summary());
            println!("wrote {csv}");
            for (name, text) in [
                ("plateaus", report.plateaus_csv()),
                ("specialisation", report.specialisation_csv()),
            ] {
                if let Some(text) = text {
                    let path = format!("{out}/{name}.csv");
                    write_atomically(&path, &text)?;
                    println!("wrote {path}");
                }
            }
            Ok(Outcome::Done)
        }
    }
}

/// The trajectory of either model.
enum Run {
    Ae(crate::run::Trajectory),
    Ts(crate::teacher_student::run::TsTrajectory),
}

fn create_dir(out: &str) -> Result<(), crate::Error> {
    std::fs::create_dir_all(out).map_err(|source| crate::Error::Io {
        path: out.to_string(),
        source,
    })
}

/// Writes `path` through a temporary file in the same directory and a rename, so that a failed
/// run never leaves a half-written file.
fn write_atomically(path: &str, text: &str) -> Result<(), crate::Error> {
    let tmp = format!("{path}.tmp");
    let io = |p: &str| {
        let p = p.to_string();
        move |source| crate::Error::Io { path: p, source }
    };
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// The registered activations, one line each: name, expression, and how many of the integrals
/// are closed form / quadrature / undefined.
pub fn list() -> String {
    use crate::activation::Method;
    let mut s = String::from(
        "registered activations (name: g(x); integrals closed form / quadrature / undefined):\n",
    );
    for a in registry::registered() {
        let count = |m: Method| a.formulas().iter().filter(|f| f.method == m).count();
        s.push_str(&format!(
            "  {:<14} g(x) = {:<40} {:>2} / {:>2} / {:>2}\n",
            a.name(),
            a.expression(),
            count(Method::ClosedForm),
            count(Method::Quadrature),
            count(Method::Undefined)
        ));
    }
    s.push_str("any other name is read as an expression in x, e.g. aedyn integrals 'x * erf(x)'\n");
    s
}

/// The ODE–SGD gap (relative to ε(0)) above which `aedyn run` explains where a gap comes from.
pub const LARGE_GAP: f64 = 0.05;

/// Why SGD may be far from the ODE: the ODE is SGD's limit of a large input dimension at a fixed
/// learning rate (Gaussian inputs), so a large gap is a finite-size effect.
fn large_gap_note(gap: f64, cfg: &Config) -> String {
    let real = matches!(cfg.data.kind, DataKind::Cifar10 | DataKind::Mnist)
        && cfg.model == ModelKind::Autoencoder;
    format!(
        "SGD departs from the ODE by up to {:.1} % of ε(0). The ODE is SGD's limit of a large \
         input dimension at a fixed learning rate; a gap this large is a finite-size effect — \
         SGD's fluctuations, or the random timing of an escape from a plateau — that shrinks as \
         the dimension grows{} (README, \"Results\")",
        100.0 * gap,
        if real {
            ", or the images' departure from a Gaussian of their mean and covariance"
        } else {
            " (a larger data.d) or the learning rate falls"
        }
    )
}
