//! The command line, as a user runs it.

use std::process::Command;

fn aedyn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aedyn"))
}

#[test]
fn run_writes_csv_svg_and_summary() {
    let dir = std::env::temp_dir().join(format!("aedyn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
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
    let dir = std::env::temp_dir().join(format!("aedyn-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("linear"));
}
