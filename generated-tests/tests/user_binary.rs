//! A user's binary (`src/bin/user_cli.rs`: two `#[activation]`s and `aedyn::cli::main()`) runs
//! both by name through `run` and `integrals`, lists them, and the stock library gives the same
//! ODE trajectories for the same functions written as expressions.

use aedyn::config::Config;
use aedyn::run::{Problem, run};
use std::process::Command;

fn user_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_user_cli"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn user_activations_are_listed_next_to_the_builtins() {
    let (ok, out, _) = user_cli(&["list"]);
    assert!(ok);
    for name in ["clipped", "bumpy", "erf", "relu", "linear"] {
        assert!(
            out.contains(&format!("  {name} ")),
            "{name} missing:\n{out}"
        );
    }
}

#[test]
fn user_activations_print_their_formulas() {
    let (ok, out, err) = user_cli(&["integrals", "clipped"]);
    assert!(ok, "{err}");
    assert!(out.contains("activation `clipped`"), "{out}");
    assert!(out.contains("ODE right-hand side specialised to `clipped`"));
    let (ok, out, _) = user_cli(&["integrals", "bumpy", "--latex"]);
    assert!(ok);
    assert!(out.contains("\\begin{align*}"));
}

#[test]
fn user_activations_run_by_name() {
    let tmp = tempfile::Builder::new()
        .prefix("aedyn-user-cli-")
        .tempdir()
        .expect("tmp dir");
    let dir = tmp.path();
    for name in ["clipped", "bumpy"] {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!("activation = \"{name}\"\nt_max = 5.0\n[data]\nd = 300\n[sgd]\nseeds = 2\n"),
        )
        .expect("write config");
        let out_dir = dir.join(name);
        let (ok, out, err) = user_cli(&[
            "run",
            cfg.to_str().expect("utf-8"),
            "--out",
            out_dir.to_str().expect("utf-8"),
            "--quiet",
        ]);
        assert!(ok, "{name}: {err}");
        assert!(out.contains("wrote"), "{out}");
        let csv = std::fs::read_to_string(out_dir.join("trajectory.csv")).expect("csv");
        assert!(csv.starts_with("t,eps_ode,eps_sgd,eps_sgd_std"));
    }
}

/// The same functions written as expressions (run-time derivation) give the same ODE trajectory
/// as the compiled activations, to 1e-12 relative.
#[test]
fn expressions_reproduce_the_compiled_trajectories() {
    use aedyn_generated_tests::activations::{ClampShift, GaussErf, XErf};
    for (act, expr) in [
        (
            &ClampShift as &'static dyn aedyn::Activation,
            "(x + 0.3).max(0.0).min(1.2)",
        ),
        (&XErf, "x * erf(x / SQRT_2)"),
        (&GaussErf, "exp(-0.3 * x * x) * erf(x)"),
    ] {
        for bias in [false, true] {
            let toml = format!(
                "activation = \"{expr}\"\nbias = {bias}\nt_max = 30.0\n[data]\nd = 500\n[sgd]\nseeds = 0"
            );
            let cfg = Config::from_toml(&toml, "test").expect("valid");
            let from_expr = run(&Problem::from_config(&cfg).expect("expr"), false).expect("runs");
            let compiled =
                run(&Problem::with_activation(&cfg, act).expect("act"), false).expect("runs");
            for (a, b) in from_expr.eps_ode.iter().zip(&compiled.eps_ode) {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs(),
                    "{expr} (bias {bias}): {a} vs {b}"
                );
            }
        }
    }
}
