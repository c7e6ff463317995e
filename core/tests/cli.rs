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
