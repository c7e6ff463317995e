//! `aedyn run CONFIG.toml [--out DIR]` and `aedyn integrals NAME`.

use aedyn::builtins::{BUILTIN_NAMES, builtin};
use aedyn::config::Config;
use aedyn::run::{Problem, run};
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
        /// TOML config; omit for the built-in defaults (docs/theory.md §6 set-up with D = 1000)
        config: Option<String>,
        /// output directory
        #[arg(long, default_value = "out")]
        out: String,
        /// no progress bars
        #[arg(long)]
        quiet: bool,
    },
    /// Print the final closed forms of an activation's integrals (general and zero means) and
    /// its specialised ODE right-hand side.
    Integrals {
        /// linear, erf, relu, sign, gelu or tanh
        name: String,
        /// add each integral's derivation trace
        #[arg(long)]
        trace: bool,
        /// print LaTeX instead of text
        #[arg(long)]
        latex: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cmd: Command) -> Result<(), aedyn::Error> {
    match cmd {
        Command::Integrals { name, trace, latex } => {
            let act = builtin(&name).ok_or_else(|| {
                aedyn::error::config_err("NAME", &name, &format!("one of {BUILTIN_NAMES:?}"))
            })?;
            let opts = aedyn::formulas::RenderOptions { trace, latex };
            print!("{}", aedyn::formulas::render(act, opts));
            Ok(())
        }
        Command::Run { config, out, quiet } => {
            let cfg = match &config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            let start = std::time::Instant::now();
            let problem = Problem::from_config(&cfg)?;
            let tr = run(&problem, !quiet)?;
            std::fs::create_dir_all(&out).map_err(|source| aedyn::Error::Io {
                path: out.clone(),
                source,
            })?;
            let csv = format!("{out}/trajectory.csv");
            std::fs::write(&csv, tr.csv()).map_err(|source| aedyn::Error::Io {
                path: csv.clone(),
                source,
            })?;
            if !tr.mode_rho.is_empty() {
                let modes = format!("{out}/modes.csv");
                std::fs::write(&modes, tr.modes_csv()).map_err(|source| aedyn::Error::Io {
                    path: modes.clone(),
                    source,
                })?;
            }
            let svg = format!("{out}/trajectory.svg");
            let title = format!(
                "{} AE, K = {}, D = {}, {} ({} SGD seeds)",
                cfg.activation, cfg.k, tr.d, cfg.algorithm, cfg.sgd.seeds
            );
            aedyn::plot::write_svg(&tr, &svg, &title)?;
            print!("{}", tr.summary());
            println!(
                "wrote {csv} and {svg} in {:.1} s",
                start.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
