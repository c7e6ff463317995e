//! Gaussian universality on the vendored real images: the ODE over all modes of the images'
//! covariance, with their mean (docs/theory.md §5.10), against SGD on the images (erf, K = 4):
//! max_t |ε_ode − ε_sgd| ≤ 5 % of ε(0).

use aedyn::config::Config;
use aedyn::run::{Problem, run};

fn data(path: &str) -> String {
    format!("{}/../data/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn gap(kind: &str, path: &str, extra: &str) -> f64 {
    let toml = format!(
        "k = 4\nt_max = 60.0\nseed = 1\n[sgd]\nseeds = 2\n[output]\npoints = 40\n[data]\nkind = \"{kind}\"\npath = {:?}\n{extra}",
        data(path)
    );
    let cfg = Config::from_toml(&toml, "test").expect("valid");
    let pb = Problem::from_config(&cfg).expect("loads");
    let tr = run(&pb, false).expect("runs");
    let g = tr.max_relative_gap();
    println!(
        "{kind}: gap {:.3}% of ε(0) = {:.4}; ε(60) ode {:.5} sgd {:.5}",
        100.0 * g,
        tr.eps_ode[0],
        tr.eps_ode.last().unwrap_or(&0.0),
        tr.eps_sgd.last().unwrap_or(&0.0)
    );
    // learning happened: ε dropped by more than 10 %
    assert!(tr.eps_ode.last().unwrap_or(&1.0) < &(0.9 * tr.eps_ode[0]));
    g
}

#[test]
fn grayscale_cifar10() {
    assert!(gap("cifar10", "cifar10/test_subset.bin", "") <= 0.05);
}

#[test]
fn mnist() {
    assert!(
        gap(
            "mnist",
            "mnist/t10k-images-idx3-ubyte.gz",
            "max_images = 3000"
        ) <= 0.05
    );
}

/// Every vendored file against the SHA-256 listed in its folder's `SHA256SUMS`.
#[test]
fn vendored_files_match_their_sha256_checksums() {
    use sha2::{Digest, Sha256};
    let mut checked = 0;
    for dir in ["cifar10", "mnist"] {
        let sums = std::fs::read_to_string(data(&format!("{dir}/SHA256SUMS"))).expect("sums");
        for line in sums.lines().filter(|l| !l.trim().is_empty()) {
            let (want, name) = line.split_once("  ").expect("`HASH  NAME` lines");
            let bytes = std::fs::read(data(&format!("{dir}/{name}"))).expect("vendored");
            let got: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, want, "{dir}/{name}");
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
    let meta = std::fs::metadata(data("cifar10/test_subset.bin")).expect("vendored");
    assert_eq!(
        meta.len(),
        1000 * 3073,
        "1000 CIFAR-10 records of 3073 bytes"
    );
}

#[test]
fn truncated_gzip_names_file_and_offset() {
    let bytes = std::fs::read(data("mnist/t10k-images-idx3-ubyte.gz")).expect("vendored");
    let tmp = tempfile::Builder::new()
        .prefix("aedyn-gz-")
        .tempdir()
        .expect("tmp");
    let dir = tmp.path();
    let cut = dir.join("cut.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let e = aedyn::images::load_idx(cut.to_str().unwrap_or_default(), 0)
        .expect_err("truncated")
        .to_string();
    assert!(
        e.contains("cut.gz") && e.contains("at byte") && e.contains("gzip"),
        "{e}"
    );
}

/// A gzip-compressed CIFAR-10 batch (as `gzip data_batch_1.bin` leaves it) loads the same
/// images as the raw file.
#[test]
fn gzipped_cifar10_loads_the_same_images() {
    use std::io::Write;
    let raw = std::fs::read(data("cifar10/test_subset.bin")).expect("vendored");
    let tmp = tempfile::Builder::new()
        .prefix("aedyn-cifar-gz-")
        .tempdir()
        .expect("tmp");
    let gz = tmp.path().join("subset.bin.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&raw[..50 * 3073]).expect("compress");
    std::fs::write(&gz, enc.finish().expect("compress")).expect("write");
    let a = aedyn::images::load_cifar10(gz.to_str().unwrap_or_default(), 0).expect("gzip");
    let b = aedyn::images::parse_cifar10(&raw[..50 * 3073], "raw", 0).expect("raw");
    assert_eq!((a.p, a.d), (50, 1024));
    assert_eq!(a.pixels, b.pixels);
}

#[test]
fn fixed_points_of_the_images_over_all_their_modes() {
    // tied erf, K = 2, on the centred grayscale CIFAR-10 subset over all 1024 modes (2050
    // components): analysed over the leading modes, a stable fixed point at the end of the run,
    // an exact fixed point of the whole system (docs/theory.md §9)
    let toml = format!(
        "activation = \"erf\"\ntied = true\nk = 2\nlr = 1.0\nt_max = 2000.0\n[sgd]\nseeds = 0\n\
         [data]\nkind = \"cifar10\"\npath = {:?}\ncenter = true",
        data("cifar10/test_subset.bin")
    );
    let cfg = Config::from_toml(&toml, "test").expect("valid");
    let report = aedyn::fixed_points::analyse_config(&cfg).expect("analysis");
    assert_eq!(report.points.len(), 1, "{:?}", report.notes);
    let p = &report.points[0];
    assert_eq!((p.n_unstable, p.n_zero), (0, 2));
    assert!(p.residual < 1e-12);
    assert!((p.eps - 0.0766952).abs() < 1e-6, "{}", p.eps);
    // every one of the 2050 eigenvalues, the held modes' included
    assert_eq!(p.stability.eigenvalues.len(), p.y.len());
    assert!(p.time_spent > 1000.0, "{}", p.time_spent);
    let pb = Problem::from_config(&cfg).expect("loads");
    let (sys, _) = pb.ode_start().expect("system");
    let mut f = nalgebra::DVector::zeros(sys.len());
    let mut ws = sys.workspace();
    sys.rhs_with(&p.y, &mut f, &mut ws);
    assert!(
        f.amax() < 1e-12,
        "|F|∞ of the whole system {:.1e}",
        f.amax()
    );
    // with the images' mean every mode is driven: the whole state is analysed, the Jacobian
    // blockdiag(M(ρ_τ)) + U Vᵀ assembled and its 2050 eigenvalues taken densely (docs/theory.md
    // §9, "Inputs with a mean")
    let uncentred = toml.replace("center = true", "");
    let cfg = Config::from_toml(&uncentred, "test").expect("valid");
    let report = aedyn::fixed_points::analyse_config(&cfg).expect("analysis");
    assert_eq!(report.points.len(), 1, "{:?}", report.notes);
    let p = &report.points[0];
    assert_eq!(
        (p.n_unstable, p.n_zero),
        (0, 2),
        "{:?}",
        &p.stability.eigenvalues[..4]
    );
    assert!(p.residual < 1e-12);
    assert!((p.eps - 0.0776927).abs() < 1e-6, "{}", p.eps);
    assert_eq!(p.stability.eigenvalues.len(), p.y.len());
    let pb = Problem::from_config(&cfg).expect("loads");
    let (sys, _) = pb.ode_start().expect("system");
    assert!(sys.has_input_mean());
    let mut f = nalgebra::DVector::zeros(sys.len());
    sys.rhs_with(&p.y, &mut f, &mut sys.workspace());
    assert!(f.amax() < 1e-12, "|F|∞ {:.1e}", f.amax());
    // untied, K = 5: 10 245 components, beyond the dense spectrum's limit: refused naming `k`
    // (before the integration)
    let large = uncentred.replace("tied = true\nk = 2", "k = 5");
    let cfg = Config::from_toml(&large, "test").expect("valid");
    match aedyn::fixed_points::analyse_config(&cfg) {
        Err(e) => assert!(e.to_string().contains("`k`"), "{e}"),
        Ok(_) => panic!("refused"),
    }
}

#[test]
fn a_few_images_with_constant_pixels() {
    // six MNIST images leave 452 of 784 pixels constant: their covariance rows vanish, where
    // nalgebra's QR iteration returned infinite eigenvalues ("non-finite initial state"); split
    // off, the run learns and SGD on the images follows the ODE
    for extra in ["max_images = 6", "max_images = 50\ncenter = true"] {
        let toml = format!(
            "k = 2\nt_max = 5.0\n[sgd]\nseeds = 2\n[output]\npoints = 20\n[data]\n\
             kind = \"mnist\"\npath = {:?}\n{extra}",
            data("mnist/t10k-images-idx3-ubyte.gz")
        );
        let cfg = Config::from_toml(&toml, "test").expect("valid");
        let pb = Problem::from_config(&cfg).expect("loads");
        let tr = run(&pb, false).expect("runs");
        assert!(tr.eps_ode.iter().all(|e| e.is_finite()), "{extra}");
        assert!(
            tr.eps_ode.last().unwrap_or(&1.0) < &tr.eps_ode[0],
            "{extra}: learns"
        );
        assert!(
            tr.max_relative_gap() < 0.05,
            "{extra}: gap {}",
            tr.max_relative_gap()
        );
    }
}
