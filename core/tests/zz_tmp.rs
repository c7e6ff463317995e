use aedyn::{Gauss3, Integral};
#[test]
fn tmp() {
    for src in [
        "x.max(-1.0).min(1.0)",
        "(x + 0.3).max(0.0).min(1.2)",
        "relu",
        "x.abs().min(1.0)",
    ] {
        let act = aedyn::registry::resolve(src, false).unwrap();
        let n = Gauss3 {
            mean: [0.0; 3],
            cov: [[0.0; 3]; 3],
        };
        let vals: Vec<String> = Integral::ALL
            .iter()
            .map(|&i| format!("{i:?}={:.3}", act.integral(i, &n)))
            .collect();
        println!("{src}: {}", vals.join(" "));
        let u = act.unit_kernels(0.0, 0.0, false);
        println!("  unit kernels {:?}", u);
    }
}
