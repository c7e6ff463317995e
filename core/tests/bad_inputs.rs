//! Every bad input of the README's table through the real binary: exit code 1, an `error:` line
//! naming the key or file, no panic, and no trajectory.csv left behind; a run that stops part-way
//! (stiffness, a quadrature beyond its trusted variance) keeps the trajectory it computed.

use std::path::Path;
use std::process::Command;

/// A scratch directory, removed when dropped.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("aedyn-bad-inputs-")
        .tempdir()
        .expect("tmp dir")
}

/// A scratch directory holding `NAME/config.toml` with `config`: (the directory's guard,
/// `NAME/`, the config's path).
fn with_config(
    name: &str,
    config: &str,
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = scratch();
    let dir = tmp.path().join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, config).expect("write");
    (tmp, dir, cfg)
}

/// Runs `aedyn run CONFIG --out OUT --quiet` and checks the failure.
fn fails(name: &str, config: &str, expect: &[&str]) {
    let (_tmp, dir, cfg) = with_config(name, config);
    let out = dir.join("out");
    check(
        name,
        &[
            "run",
            cfg.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--quiet",
        ],
        expect,
        &out,
    );
}

/// Runs `aedyn run CONFIG --out OUT --quiet` on a run that stops part-way and checks that it
/// fails with `expect` in its first `error:` line, without a panic, and keeps what it computed:
/// the trajectory is written and a note says so.
fn stops(name: &str, config: &str, expect: &[&str]) {
    let (_tmp, dir, cfg) = with_config(name, config);
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_aedyn"))
        .args([
            "run",
            cfg.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--quiet",
        ])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{name}: exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "{name}: panicked: {err}");
    // (notes about the set-up, e.g. a slow right-hand side, may precede the error)
    let first = err
        .lines()
        .find(|l| !l.starts_with("note: "))
        .unwrap_or_default();
    assert!(first.starts_with("error: "), "{name}: {err}");
    for e in expect {
        assert!(first.contains(e), "{name}: `{e}` not in: {first}");
    }
    assert!(err.contains("holds what was computed"), "{name}: {err}");
    assert!(
        out.join("trajectory.csv").exists(),
        "{name}: no trajectory.csv"
    );
}

/// Runs `aedyn run CONFIG --out OUT --quiet` and checks that it succeeds and writes the
/// trajectory.
fn succeeds(name: &str, config: &str) {
    let (_tmp, dir, cfg) = with_config(name, config);
    let o = Command::new(env!("CARGO_BIN_EXE_aedyn"))
        .args([
            "run",
            cfg.to_str().expect("utf-8"),
            "--out",
            dir.join("out").to_str().expect("utf-8"),
            "--quiet",
        ])
        .output()
        .expect("runs");
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(dir.join("out/trajectory.csv").exists(), "{name}");
}

fn check(name: &str, args: &[&str], expect: &[&str], out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_aedyn"))
        .args(args)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{name}: exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "{name}: panicked: {err}");
    // one error line, as the README promises (TOML's own errors draw the line with a caret);
    // notes about the set-up (a slow right-hand side) may precede it
    let lines: Vec<&str> = err
        .trim_end()
        .lines()
        .filter(|l| !l.starts_with("note: "))
        .collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error: "),
        "{name}: {err}"
    );
    for e in expect {
        assert!(err.contains(e), "{name}: `{e}` not in: {err}");
    }
    assert!(
        !out.join("trajectory.csv").exists(),
        "{name}: left a trajectory.csv"
    );
}

#[test]
fn bad_config_values_name_the_key() {
    let small = "[data]\nd = 50\n[sgd]\nseeds = 1\n";
    for (name, cfg, expect) in [
        (
            "negative_spike",
            "[data]\nspikes = [-0.7, 0.25]",
            vec!["data.spikes", "-0.7"],
        ),
        (
            "nan_spike",
            "[data]\nspikes = [nan, 0.25]",
            vec!["data.spikes", "NaN"],
        ),
        ("negative_bulk", "[data]\nbulk = -1.0", vec!["data.bulk"]),
        (
            // zero weights put every field at variance 0, where the clamp's kinks at ±1 have
            // no finite kernels (it was reported as a divergence at t = 0 with "smaller lr")
            "zero_init_of_a_clamp",
            "activation = \"x.max(-1.0).min(1.0)\"\ninit_std = 0.0\n[data]\nd = 50",
            vec!["init_std", "variance 0"],
        ),
        ("nan_bulk", "[data]\nbulk = nan", vec!["data.bulk"]),
        (
            "negative_custom",
            "[data]\nkind = \"custom\"\nd = 3\neigenvalues = [1.0, -2.0, 0.5]",
            vec!["data.eigenvalues", "-2"],
        ),
        (
            "custom_wrong_length",
            "[data]\nkind = \"custom\"\nd = 4\neigenvalues = [1.0, 2.0]",
            vec!["data.eigenvalues", "exactly data.d = 4"],
        ),
        ("t_max_zero", "t_max = 0.0", vec!["t_max"]),
        ("t_max_negative", "t_max = -5.0", vec!["t_max"]),
        ("init_std_negative", "init_std = -0.1", vec!["init_std"]),
        ("lr_infinite", "lr = inf", vec!["lr", "inf"]),
        (
            "k_above_d",
            "k = 8\n[data]\nd = 5",
            vec!["`k`", "data.d = 5"],
        ),
        (
            "wrong_type",
            "k = \"two\"",
            vec![
                "config.toml",
                "line 1, column 5 (`k = \"two\"`)",
                "invalid type",
            ],
        ),
        (
            "unknown_key",
            "learning_rate = 0.1",
            vec!["unknown field", "learning_rate"],
        ),
        (
            "bad_algorithm",
            "algorithm = \"adam\"",
            vec!["algorithm", "adam"],
        ),
        (
            "division_by_zero",
            "activation = \"x / (1.0 - 1.0)\"\nquadrature = true",
            vec!["activation", "division by zero", "`(1.0 - 1.0)`"],
        ),
        (
            "unbalanced_parenthesis",
            "activation = \"relu(x + 1.0\"",
            vec!["activation", "the `(` at byte 4 is never closed"],
        ),
        (
            "unsupported_expression",
            "activation = \"x.sin()\"",
            vec!["activation", "unsupported method `.sin`"],
        ),
        (
            "malformed_expression",
            "activation = \"x + * 2\"",
            vec!["activation", "unsupported unary operator"],
        ),
        (
            "unparsable_expression",
            "activation = \"x +\"",
            vec!["activation", "not an expression"],
        ),
        (
            "no_closed_form",
            "activation = \"x.tanh() * relu(x)\"",
            vec!["activation", "quadrature"],
        ),
        (
            "undefined_under_quadrature",
            "activation = \"sigmoid(x) + heaviside(x)\"\nquadrature = true",
            vec!["activation", "E[g'(x)²]", "undefined", "δ·δ"],
        ),
        (
            "sanger_with_untied_weights",
            "algorithm = \"sanger\"\ntied = false",
            vec!["`tied` = false", "\"sanger\"", "decoder ≡ encoder"],
        ),
        (
            "more_modes_than_the_ode_tracks",
            "[data]\nd = 50\nspikes = [0.7, 0.2]\n[output]\nmodes = 3",
            vec!["`output.modes` = 3", "at most the 2 modes"],
        ),
        (
            "bias_on_uncentred_images",
            concat!(
                "bias = true\n[data]\nkind = \"cifar10\"\npath = \"",
                env!("CARGO_MANIFEST_DIR"),
                "/../data/cifar10/test_subset.bin\"\n[ode]\ninput_mean = \"ignored\""
            ),
            vec![
                "`ode.input_mean` = \"ignored\"",
                "bias = true with uncentred images",
                "pixels' mean",
            ],
        ),
        (
            "bias_with_the_density_form_on_uncentred_images",
            concat!(
                "bias = true\n[data]\nkind = \"cifar10\"\npath = \"",
                env!("CARGO_MANIFEST_DIR"),
                "/../data/cifar10/test_subset.bin\"\n[ode]\nform = \"density\""
            ),
            vec![
                "`ode.form` = \"density\"",
                "bias = true with uncentred images",
            ],
        ),
        (
            "input_mean_with_centred_images",
            concat!(
                "[data]\nkind = \"cifar10\"\ncenter = true\npath = \"",
                env!("CARGO_MANIFEST_DIR"),
                "/../data/cifar10/test_subset.bin\"\n[ode]\ninput_mean = \"exact\""
            ),
            vec!["`ode.input_mean` = \"exact\"", "uncentred images only"],
        ),
        (
            "input_mean_with_gaussian_data",
            "[ode]\ninput_mean = \"ignored\"",
            vec!["`ode.input_mean`", "other inputs have no mean"],
        ),
        (
            "exact_input_mean_with_the_density_form",
            concat!(
                "[data]\nkind = \"cifar10\"\npath = \"",
                env!("CARGO_MANIFEST_DIR"),
                "/../data/cifar10/test_subset.bin\"\n[ode]\nform = \"density\"\ninput_mean = \"exact\""
            ),
            vec!["`ode.form` = \"density\"", "cannot carry"],
        ),
        (
            "exact_input_mean_with_the_spike_bulk_reduction",
            concat!(
                "[data]\nkind = \"cifar10\"\npath = \"",
                env!("CARGO_MANIFEST_DIR"),
                "/../data/cifar10/test_subset.bin\"\n[ode]\nreduction = \"spike_bulk\"\ninput_mean = \"exact\""
            ),
            vec![
                "`ode.reduction` = \"spike_bulk\"",
                "\"full\"",
                "cannot carry",
            ],
        ),
    ] {
        fails(
            name,
            &format!("{cfg}\n{}", if cfg.contains("[data]") { "" } else { small }),
            &expect,
        );
    }
}

#[test]
fn bad_data_files_name_the_file() {
    let tmp = scratch();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).expect("dir");
    let as_dir = dir.to_str().expect("utf-8").to_string();
    fails(
        "data_path_is_a_directory",
        &format!("[data]\nkind = \"mnist\"\npath = \"{as_dir}\""),
        &[&as_dir],
    );
    let idx = dir.join("bad.idx");
    std::fs::write(&idx, [0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28]).expect("write");
    let idx_s = idx.to_str().expect("utf-8").to_string();
    fails(
        "truncated_idx",
        &format!("[data]\nkind = \"mnist\"\npath = \"{idx_s}\""),
        &[&idx_s, "byte"],
    );
    let cifar = dir.join("bad.bin");
    std::fs::write(&cifar, vec![3u8; 3073 + 100]).expect("write");
    let cifar_s = cifar.to_str().expect("utf-8").to_string();
    fails(
        "cifar_wrong_length",
        &format!("[data]\nkind = \"cifar10\"\npath = \"{cifar_s}\""),
        &[&cifar_s, "byte"],
    );
    let missing = dir.join("missing.bin");
    let missing_s = missing.to_str().expect("utf-8").to_string();
    fails(
        "missing_file",
        &format!("[data]\nkind = \"cifar10\"\npath = \"{missing_s}\""),
        &[&missing_s],
    );
}

#[test]
fn an_output_directory_that_cannot_be_created_is_named() {
    let tmp = scratch();
    let dir = tmp.path().join("outdir");
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("a_file");
    std::fs::write(&file, "x").expect("write");
    let cfg = dir.join("ok.toml");
    std::fs::write(&cfg, "t_max = 1.0\n[data]\nd = 50\n[sgd]\nseeds = 1\n").expect("write");
    let out = file.join("sub");
    check(
        "out_under_a_file",
        &[
            "run",
            cfg.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        &[out.to_str().expect("utf-8")],
        &out,
    );
}

#[test]
fn missing_config_and_unknown_activation_in_integrals() {
    let tmp = scratch();
    let out = tmp.path().join("none");
    check(
        "missing_config",
        &["run", "/nonexistent/aedyn.toml"],
        &["/nonexistent/aedyn.toml"],
        &out,
    );
    check(
        "integrals_bad_expression",
        &["integrals", "x.cos()"],
        &[
            "activation expression `x.cos()`",
            "unsupported method `.cos`",
        ],
        &out,
    );
}

/// A flow that stiffens (the untied erf AE's decoder grows as t^(1/3)): the explicit integrator
/// stops with the time and the way out; with `ode.stiffness_check = false` the same run completes.
#[test]
fn stiffness_names_the_time_and_the_switch_that_lets_the_run_go_on() {
    let base =
        "seed = 1\nt_max = 20000.0\n[data]\nd = 200\n[sgd]\nseeds = 0\n[output]\npoints = 20";
    stops(
        "stiff",
        base,
        &[
            "ODE integration failed at t = ",
            "ode.stiffness_check = false",
        ],
    );
    succeeds(
        "stiff_ok",
        &format!("{base}\n[ode]\nstiffness_check = false"),
    );
}

/// The teacher–student Gauss–Hermite fallback is trusted only up to a field variance
/// (`QUADRATURE_MAX_VARIANCE`): a run whose students grow stops with the variance and the way
/// out instead of integrating wrong kernels. The autoencoder's composite quadrature has no such
/// limit: the tied tanh autoencoder (saturating units) and the untied one run.
#[test]
fn quadrature_beyond_its_trusted_variance_stops_with_the_variance_named() {
    // the teacher–student quadrature (fixed Gauss–Hermite rules) stops once a field is wide (a
    // teacher with a large second layer drives the students' norms up)
    stops(
        "quadrature_variance_ts",
        "model = \"teacher_student\"\nactivation = \"tanh\"\nk = 2\nlr = 0.5\nt_max = 30.0\n\
         [teacher]\nweights = \"gaussian\"\nsecond_layer = [3.0, 3.0]\n[data]\nd = 500\n\
         [sgd]\nseeds = 0",
        &[
            "the ODE stopped at t = ",
            "student field λ_",
            "reached variance",
            "Gauss–Hermite",
        ],
    );
    // the trusted variance scales with the activation's features: tanh(3x), three times
    // narrower, is trusted to variance 0.39 (4/9 on the grid of steps), so unit-variance fields
    // stop at once: the students' (init_std = 1, with a teacher of wide features) when the run
    // reaches them, the teacher's (fixed) before the run starts
    fails(
        "quadrature_variance_narrow",
        "model = \"teacher_student\"\nactivation = \"(3.0 * x).tanh()\"\nquadrature = true\n\
         k = 2\nlr = 0.5\nt_max = 1.0\ninit_std = 1.0\n[teacher]\nactivation = \"erf\"\n\
         [data]\nd = 500\n[sgd]\nseeds = 0",
        &[
            "the ODE stopped at t = 0.0000",
            "reached variance",
            "features' width",
        ],
    );
    fails(
        "quadrature_variance_teacher",
        "model = \"teacher_student\"\nactivation = \"(3.0 * x).tanh()\"\nquadrature = true\n\
         k = 2\nlr = 0.5\nt_max = 1.0\ninit_std = 0.01\n[data]\nd = 500\n[sgd]\nseeds = 0",
        &[
            "teacher field ν_1 has variance T_11 = 1.000",
            "the teacher's overlaps are fixed",
        ],
    );
    // the autoencoder's composite quadrature follows g's features at any variance: the tied
    // tanh autoencoder, whose fields reach variance ~150, runs
    let base = "activation = \"tanh\"\nk = 2\nlr = 1.0\nt_max = 3.0\n[data]\nd = 500\n\
                [sgd]\nseeds = 0\n[output]\npoints = 10";
    succeeds("quadrature_tied", &format!("tied = true\n{base}"));
    succeeds("quadrature_ok", base);
}

/// Inputs found by a black-box sweep: each is an error naming the key or the token, or (a run
/// shorter than 1/D) runs.
#[test]
fn keys_of_the_other_model_literals_and_short_runs() {
    let ts = "model = \"teacher_student\"\nk = 2\nlr = 0.5\nt_max = 2.0\n[data]\nd = 100\n\
              [sgd]\nseeds = 1\n";
    fails(
        "ts_spikes",
        &ts.replace("d = 100", "d = 100\nspikes = [1.0]"),
        &["`data.spikes`", "model = \"autoencoder\" only"],
    );
    fails(
        "ts_modes",
        &format!("{ts}[output]\nmodes = 2\n"),
        &["`output.modes`"],
    );
    fails(
        "ts_lr_v",
        &format!("{ts}[student]\nlr_second_layer = 0.1\n"),
        &["`student.lr_second_layer`", "train_second_layer = true"],
    );
    fails(
        "ts_init_zero",
        &format!("activation = \"relu\"\ninit_std = 0.0\n{ts}"),
        &[
            "`init_std`",
            "`relu` or its derivative jumps at 0",
            "Q = R = 0",
        ],
    );
    // one student too: its field starts on the jump (|x|: SGD's g'(0)² = 0 keeps w = 0, the
    // ODE's sign² = 1 grew Q, a 33 % gap)
    fails(
        "ts_init_zero_one_student",
        &format!(
            "activation = \"x.abs()\"\ninit_std = 0.0\n{}",
            ts.replace("k = 2", "k = 1")
        ),
        &["`init_std`", "jumps at 0", "pointwise g'(0)"],
    );
    // g and g' continuous at 0 (erf; ELU, whose g'' jumps there; a clamp with kinks elsewhere):
    // the zero state is well defined
    for (name, act) in [
        ("ts_init_zero_erf", "erf"),
        ("ts_init_zero_elu", "relu(x) + x.min(0.0).exp() - 1.0"),
        ("ts_init_zero_clamp", "x.clamp(-0.5, 2.0)"),
    ] {
        succeeds(
            name,
            &format!("activation = \"{act}\"\ninit_std = 0.0\n{ts}"),
        );
    }
    fails(
        "ae_teacher",
        "k = 2\nt_max = 1.0\n[teacher]\nm = 3\n",
        &["`teacher.m`", "model = \"teacher_student\" only"],
    );
    // present with its default value is still the other model's key
    fails(
        "ae_teacher_default",
        "k = 2\nt_max = 1.0\n[teacher]\nm = 2\n",
        &["`teacher.m` = 2", "model = \"teacher_student\" only"],
    );
    fails(
        "ts_tied_default",
        &format!("tied = false\n{ts}"),
        &["`tied` = false", "model = \"autoencoder\" only"],
    );
    fails(
        "ts_modes_default",
        &format!("{ts}[output]\nmodes = 4\n"),
        &["`output.modes` = 4"],
    );
    fails(
        "glued_literal",
        "activation = \"0.5x + relu(x)\"\nt_max = 1.0\n",
        &["`0.5x`", "suffix"],
    );
    fails(
        "huge_literal",
        "activation = \"1e400 * x\"\nt_max = 1.0\n",
        &["`1e400`", "finite"],
    );
    // t_max below 1/D: the log-spaced grid is empty and must not decrease
    succeeds(
        "short_ae",
        "t_max = 0.01\n[data]\nd = 100\n[sgd]\nseeds = 1\n",
    );
    succeeds("short_ts", &ts.replace("t_max = 2.0", "t_max = 0.005"));
}
