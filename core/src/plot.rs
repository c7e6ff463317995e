//! SVG figure of a trajectory: ε(t) of the ODE and of SGD (mean ± std) with the PCA levels,
//! logarithmic time axis.

use crate::error::{Error, Result};
use crate::run::Trajectory;
use plotters::prelude::*;

/// Writes `trajectory.svg`-style figure to `path`.
pub fn write_svg(tr: &Trajectory, path: &str, title: &str) -> Result<()> {
    let err = |e: String| Error::Io {
        path: path.to_string(),
        source: std::io::Error::other(e),
    };
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let t: Vec<f64> = tr.times.iter().copied().filter(|t| *t > 0.0).collect();
    let (tmin, tmax) = (
        t.first().copied().unwrap_or(1e-3),
        t.last().copied().unwrap_or(1.0),
    );
    let all = tr
        .eps_ode
        .iter()
        .chain(tr.eps_sgd.iter())
        .chain(tr.pca.iter())
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo < hi {
        (lo * 0.8, hi * 1.2)
    } else {
        (1e-3, 1.0)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((tmin..tmax).log_scale(), (lo..hi).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("t = steps / D")
        .y_desc("ε")
        .y_labels(12)
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|v| format!("{v:.3}"))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (m, p) in tr.pca.iter().enumerate() {
        if *p > 0.0 {
            let c = RGBColor(150, 150, 150);
            chart
                .draw_series(LineSeries::new(
                    vec![(tmin, *p), (tmax, *p)],
                    c.stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?
                .label(format!("ε_PCA({m})"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
    }
    let pts = |v: &[f64]| -> Vec<(f64, f64)> {
        tr.times
            .iter()
            .zip(v)
            .filter(|(t, e)| **t > 0.0 && e.is_finite() && **e > 0.0)
            .map(|(t, e)| (*t, *e))
            .collect()
    };
    if tr.eps_sgd.iter().any(|v| v.is_finite()) {
        chart
            .draw_series(
                pts(&tr.eps_sgd)
                    .into_iter()
                    .map(|p| Circle::new(p, 3, RED.filled())),
            )
            .map_err(|e| err(e.to_string()))?
            .label("SGD (mean over seeds)")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, RED.filled()));
    }
    chart
        .draw_series(LineSeries::new(pts(&tr.eps_ode), BLUE.stroke_width(2)))
        .map_err(|e| err(e.to_string()))?
        .label("ODE")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}
