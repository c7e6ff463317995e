//! The command line, as a user runs it.

use std::process::Command;

/// A temporary directory named `prefix…`, removed when dropped.
fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tmp")
}

fn aedyn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aedyn"))
}

/// `aedyn COMMAND CONFIG --quiet --out DIR`.
fn quiet(command: &str, cfg: &std::path::Path, dir: &std::path::Path) -> std::process::Output {
    aedyn()
        .args([
            command,
            cfg.to_str().unwrap_or_default(),
            "--quiet",
            "--out",
            dir.to_str().unwrap_or_default(),
        ])
        .output()
        .expect("runs")
}

#[test]
fn run_writes_csv_svg_and_summary() {
    let tmp = scratch("aedyn-cli-");
    let dir = tmp.path();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        "k = 2\nt_max = 10.0\n[data]\nd = 200\n[sgd]\nseeds = 2\n[output]\npoints = 20\n",
    )
    .expect("write");
    let out = aedyn()
        .args([
            "run",
            cfg.to_str().unwrap_or_default(),
            "--quiet",
            "--out",
            dir.to_str().unwrap_or_default(),
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("trajectory.csv")).expect("csv");
    assert!(csv.starts_with("t,eps_ode,eps_sgd,eps_sgd_std,eps_pca_0"));
    assert_eq!(csv.lines().count(), 22);
    // per-mode densities of the two spikes (the modes the spike+bulk ODE tracks one by one)
    let modes = std::fs::read_to_string(dir.join("modes.csv")).expect("modes.csv");
    assert!(modes.starts_with("t,tau,rho,ode_q_11,ode_q_12,ode_q_21,ode_q_22,ode_r_11"));
    assert_eq!(modes.lines().count(), 1 + 21 * 2);
    let svg = std::fs::read_to_string(dir.join("trajectory.svg")).expect("svg");
    assert!(svg.contains("<svg"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("max_t |ε_ode − ε_sgd|"), "{stdout}");
}

#[test]
fn bad_config_exits_with_the_key_named() {
    let tmp = scratch("aedyn-cli-bad-");
    let dir = tmp.path();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "lr = -2.0\n").expect("write");
    let out = aedyn()
        .args(["run", cfg.to_str().unwrap_or_default()])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`lr` = -2"), "{err}");
    std::fs::write(&cfg, "[data]\nkind = \"cifar10\"\npath = \"").expect("write");
    let out = aedyn()
        .args(["run", cfg.to_str().unwrap_or_default()])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}

#[test]
fn integrals_prints_formulas_and_rejects_unknown_names() {
    let out = aedyn().args(["integrals", "erf"]).output().expect("runs");
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("I3 = E[g'(x1) x2 g(x3)]")
            && s.contains("closed form")
            && s.contains("dw^k_τ/dt"),
        "{s}"
    );
    let out = aedyn().args(["integrals", "swish"]).output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("linear") && !err.contains("invalid config"),
        "{err}"
    );
}

#[test]
fn teacher_student_run_and_fixed_points_write_their_files() {
    let tmp = scratch("aedyn-cli-ts-");
    let dir = tmp.path();
    let cfg = dir.join("ts.toml");
    // a student expression that is no registered name, a different registered teacher
    std::fs::write(
        &cfg,
        "model = \"teacher_student\"\nactivation = \"erf(x) + 0.1 * x\"\nk = 3\nlr = 0.5\n\
         t_max = 20.0\ninit_std = 0.1\n[teacher]\nm = 2\nactivation = \"relu\"\nnoise = 0.1\n\
         [student]\ntrain_second_layer = true\n[data]\nd = 300\n[sgd]\nseeds = 2\n\
         [output]\npoints = 15\n",
    )
    .expect("write");
    let (c, d) = (
        cfg.to_str().unwrap_or_default(),
        dir.to_str().unwrap_or_default(),
    );
    let out = aedyn()
        .args(["run", c, "--quiet", "--out", d])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("trajectory.csv")).expect("csv");
    assert!(
        csv.starts_with("t,eps_ode,eps_sgd,eps_sgd_std,ode_Q_11"),
        "{csv}"
    );
    assert!(csv.lines().next().unwrap_or_default().contains("sgd_v_3"));
    assert_eq!(csv.lines().count(), 17);
    assert!(dir.join("trajectory.svg").exists());
    let out = aedyn()
        .args(["fixed-points", c, "--out", d, "--quiet"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fp = std::fs::read_to_string(dir.join("fixed_points.csv")).expect("fixed_points.csv");
    assert!(
        fp.starts_with("t,eps,n_unstable,lambda_max,escape_time"),
        "{fp}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("fixed point(s) of the teacher_student ODE")
    );
}

/// A run that diverges loses nothing it computed: the ReLU teacher–student ODE at η = 6 overflows
/// at t ≈ 5.8 and one SGD seed at t ≈ 9 (weights above 1e75, where its ε overflows; the seed's
/// weights became non-finite only at t ≈ 37); `aedyn run` still writes the trajectory (the ODE's
/// columns nan from the first output it did not reach, SGD's likewise), names both failures with
/// their times and exits with failure.
#[test]
fn a_diverging_run_writes_what_it_computed_and_fails() {
    let tmp = scratch("aedyn-cli-div-");
    let dir = tmp.path();
    let cfg = dir.join("div.toml");
    std::fs::write(
        &cfg,
        "model = \"teacher_student\"\nactivation = \"relu\"\nk = 2\nlr = 6.0\nt_max = 50.0\n\
         [data]\nd = 200\n[sgd]\nseeds = 2\n",
    )
    .expect("write");
    let out = quiet("run", &cfg, dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("error: ODE diverged at t = "), "{stderr}");
    assert!(stderr.contains("error: SGD diverged at t = "), "{stderr}");
    assert!(stderr.contains("holds what was computed"), "{stderr}");
    let csv = std::fs::read_to_string(dir.join("trajectory.csv")).expect("csv");
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().expect("number")).collect())
        .collect();
    // every output time, to t_max
    assert_eq!(rows.last().map(|r| r[0]), Some(50.0));
    let ode_until = rows.iter().take_while(|r| r[1].is_finite()).count();
    let sgd_until = rows.iter().take_while(|r| r[2].is_finite()).count();
    println!(
        "ODE rows {ode_until}, SGD rows {sgd_until} of {}",
        rows.len()
    );
    assert!(ode_until > 10 && ode_until < sgd_until && sgd_until < rows.len());
    // nothing after the stop, the order parameters with it
    assert!(
        rows[ode_until..]
            .iter()
            .all(|r| r[1].is_nan() && r[4].is_nan())
    );
    assert!(
        rows[sgd_until..]
            .iter()
            .all(|r| r[2].is_nan() && r.last().is_some_and(|v| v.is_nan()))
    );
    assert!(dir.join("trajectory.svg").exists());
    // the fixed-point analysis covers the trajectory as far as it went, and says so
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .expect("cfg")
            .replace("50.0", "20.0"),
    )
    .expect("write");
    let out = quiet("fixed-points", &cfg, dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("the integration stopped before t_max (ODE diverged at t = 5.8")
            && stdout.contains("the analysis covers the trajectory up to t = "),
        "{stdout}"
    );
    assert!(dir.join("fixed_points.csv").exists());
}

/// Errors of the argument parser exit with 1 like every bad input (clap's default is 2): an
/// expression starting with `-` is taken for a flag, and the message says to put `--` before it.
#[test]
fn argument_errors_exit_with_one() {
    let out = aedyn()
        .args(["integrals", "relu", "--latx"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error:") && stderr.contains("--latx"),
        "{stderr}"
    );
    // an expression starting with `-` is the expression, with or without `--`, and flags after it
    // are flags
    for args in [
        &["integrals", "-(-(-x))"][..],
        &["integrals", "--", "-(-(-x))"],
        &["integrals", "--trace", "-(-(-x))"],
    ] {
        let out = aedyn().args(args).output().expect("runs");
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("g(x)    = -x"));
    }
    let out = aedyn()
        .args(["integrals", "-x", "--latex"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\\begin{align*}"));
    assert_eq!(
        aedyn().arg("--help").output().expect("runs").status.code(),
        Some(0)
    );
}

#[test]
fn a_large_ode_sgd_gap_is_explained() {
    // spikes 50 and 20 times D at D = 500: SGD's fluctuations are large (gap 29 % of ε(0), 1.1 %
    // at D = 8000); the run says why, on stderr; a run within 5 % says nothing of it
    let tmp = scratch("aedyn-cli-gap-");
    let dir = tmp.path();
    for (name, spikes, noted) in [
        ("large", "[50.0, 20.0]", true),
        ("small", "[0.714, 0.257]", false),
    ] {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "k = 2\nt_max = 20.0\n[data]\nd = 500\nspikes = {spikes}\nbulk = 0.5\n\
                 [sgd]\nseeds = 2\n"
            ),
        )
        .expect("write");
        let out = quiet("run", &cfg, &dir.join(name));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.contains("finite-size effect"),
            noted,
            "{name}: {stderr}"
        );
    }
}
