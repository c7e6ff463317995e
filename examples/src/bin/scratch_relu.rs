use aedyn::ode::{IntegratorOptions, integrate};
fn main() {
    let tmax: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1e4);
    let d: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1000);
    let toml = format!(
        "seed = 1\nactivation = \"relu\"\nk = 4\nbias = true\nt_max = {tmax}\n[data]\nd = {d}\n[sgd]\nseeds = 0\n[ode]\nstiffness_check = false"
    );
    let cfg = aedyn::config::Config::from_toml(&toml, "x").unwrap();
    let pb = aedyn::run::Problem::from_config(&cfg).unwrap();
    let (sys, y0) = pb.ode_start().unwrap();
    let times: Vec<f64> = (0..=20)
        .map(|i| {
            if i == 0 {
                0.0
            } else {
                10f64.powf(2.0 + (tmax.log10() - 2.0) * i as f64 / 20.0)
            }
        })
        .collect();
    let st = integrate(
        &sys,
        y0,
        &times,
        IntegratorOptions {
            stiffness_check: false,
            ..Default::default()
        },
        |_| {},
    )
    .unwrap();
    let pca2 = pb.spectrum.pca_error(2);
    let k = 4;
    let mut prev: Option<(f64, f64)> = None;
    for s in &st[1..] {
        let o = sys.order_params(&s.y);
        let exc = sys.error(&s.y) - pca2;
        print!("{:10.1} exc={:.3e} b=[", s.t, exc);
        let mut bs = 0.0;
        for u in 0..k {
            let q = o.q[u * k + u];
            let b = o.beta[u] / q.sqrt();
            bs += b / 4.0;
            print!("{:5.2} ", b);
        }
        print!(
            "] Q11={:.3} T0_11={:.3} β1={:.3}",
            o.q[0], o.t0[0], o.beta[0]
        );
        let slope = prev
            .map(|(t0, e0)| -(exc / e0).ln() / (s.t / t0).ln())
            .unwrap_or(f64::NAN);
        println!(
            " b²-2lnt={:.3} exc·t={:.3e} slope={:.3}",
            bs * bs - 2.0 * s.t.ln(),
            exc * s.t,
            slope
        );
        prev = Some((s.t, exc));
    }
}
