//! Shared helpers of the paper-reproduction examples: run a config, write CSV + SVG under
//! `out/examples/NAME/`, and print tables.

use aedyn::config::Config;
use aedyn::run::{Problem, Trajectory, run};

/// Output directory of an example.
pub fn out_dir(name: &str) -> String {
    let dir = format!("out/examples/{name}");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {dir}: {e}");
    }
    dir
}

/// Parses a config, resolves it (with `act` in place of the config's activation, if given) and
/// runs ODE + SGD.
pub fn run_toml(
    toml: &str,
    act: Option<&'static dyn aedyn::Activation>,
) -> Result<(Problem, Trajectory), aedyn::Error> {
    let cfg = Config::from_toml(toml, "example")?;
    let pb = match act {
        Some(a) => Problem::with_activation(&cfg, a)?,
        None => Problem::from_config(&cfg)?,
    };
    let tr = run(&pb, false)?;
    Ok((pb, tr))
}

/// Writes `text` to `out/examples/NAME/file` and says so.
pub fn write_text(name: &str, file: &str, text: &str) -> Result<(), aedyn::Error> {
    let path = format!("{}/{file}", out_dir(name));
    std::fs::write(&path, text).map_err(|source| aedyn::Error::Io {
        path: path.clone(),
        source,
    })?;
    println!("  wrote {path}");
    Ok(())
}

/// Writes `NAME/label.csv` and `NAME/label.svg` of an autoencoder trajectory.
pub fn save(name: &str, label: &str, tr: &Trajectory, title: &str) -> Result<(), aedyn::Error> {
    save_files(name, label, &tr.csv(), &tr.curves(), title)
}

/// Writes `NAME/label.csv` (the given text) and `NAME/label.svg` (the given curves).
pub fn save_files(
    name: &str,
    label: &str,
    csv_text: &str,
    curves: &aedyn::plot::Curves,
    title: &str,
) -> Result<(), aedyn::Error> {
    let dir = out_dir(name);
    let csv = format!("{dir}/{label}.csv");
    std::fs::write(&csv, csv_text).map_err(|source| aedyn::Error::Io {
        path: csv.clone(),
        source,
    })?;
    aedyn::plot::write_svg(curves, &format!("{dir}/{label}.svg"), title)?;
    println!("  wrote {dir}/{label}.csv and .svg");
    Ok(())
}

/// First grid time at which a curve drops below a level (linear interpolation), if any.
pub use aedyn::ode::escape::crossing;

/// Prints a verdict line.
pub fn verdict(claim: &str, holds: bool) {
    println!(
        "CLAIM {}: {claim}",
        if holds { "SUPPORTED" } else { "NOT SUPPORTED" }
    );
}

/// Exit code helper.
pub fn finish(r: Result<(), aedyn::Error>) -> std::process::ExitCode {
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
