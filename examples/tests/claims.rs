//! Every example's claims, run as tests: each binary must exit successfully and print its
//! `CLAIM SUPPORTED` verdicts with no `CLAIM NOT SUPPORTED` (the same runs as `cargo run -p
//! aedyn-examples --bin NAME`, in a temporary directory).

use std::process::Command;

fn claims_hold(name: &str, exe: &str) {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("aedyn-claims-{name}-"))
        .tempdir()
        .expect("tmp");
    let dir = tmp.path();
    let out = Command::new(exe).current_dir(dir).output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let supported = stdout.matches("CLAIM SUPPORTED").count();
    assert!(supported > 0, "{name} printed no verdict:\n{stdout}");
    assert!(
        !stdout.contains("CLAIM NOT SUPPORTED"),
        "{name} has an unsupported claim:\n{stdout}"
    );
}

#[test]
fn sequential() {
    claims_hold("sequential", env!("CARGO_BIN_EXE_sequential"));
}

#[test]
fn long_time() {
    claims_hold("long_time", env!("CARGO_BIN_EXE_long_time"));
}

#[test]
fn relu() {
    claims_hold("relu", env!("CARGO_BIN_EXE_relu"));
}

#[test]
fn truncated() {
    claims_hold("truncated", env!("CARGO_BIN_EXE_truncated"));
}

#[test]
fn cifar10() {
    claims_hold("cifar10", env!("CARGO_BIN_EXE_cifar10"));
}

#[test]
fn custom_activation() {
    claims_hold("custom_activation", env!("CARGO_BIN_EXE_custom_activation"));
}

#[test]
fn teacher_student() {
    claims_hold("teacher_student", env!("CARGO_BIN_EXE_teacher_student"));
}

#[test]
fn tied_saturation() {
    claims_hold("tied_saturation", env!("CARGO_BIN_EXE_tied_saturation"));
}

#[test]
fn going_linear() {
    claims_hold("going_linear", env!("CARGO_BIN_EXE_going_linear"));
}
