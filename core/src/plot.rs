//! SVG figure of a trajectory: ε(t) of the ODE and of SGD (mean ± std) with reference levels
//! (the PCA errors of the autoencoder, the plateau of a teacher–student run), logarithmic axes.

use crate::error::{Error, Result};
use plotters::prelude::*;

/// What one figure shows: the error curves on a shared time grid and labelled horizontal levels.
pub struct Curves<'a> {
    pub times: &'a [f64],
    pub eps_ode: &'a [f64],
    /// mean over seeds (NaN without SGD)
    pub eps_sgd: &'a [f64],
    pub eps_sgd_std: &'a [f64],
    /// (label, value), drawn as thin grey lines labelled at their left end
    pub levels: Vec<(String, f64)>,
    /// the time axis' label
    pub time_label: &'static str,
}

/// Writes `trajectory.svg`-style figure to `path`.
pub fn write_svg(tr: &Curves, path: &str, title: &str) -> Result<()> {
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
        .chain(tr.levels.iter().map(|(_, v)| v))
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo < hi {
        (lo * 0.8, hi * 1.2)
    } else {
        (1e-3, 1.0)
    };
    let ((t_ticks, t_light), (e_ticks, e_light)) = (log_ticks(tmin, tmax), log_ticks(lo, hi));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (tmin..tmax)
                .log_scale()
                .with_key_points(t_ticks)
                .with_light_points(t_light),
            (lo..hi)
                .log_scale()
                .with_key_points(e_ticks)
                .with_light_points(e_light),
        )
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(tr.time_label)
        .y_desc("ε")
        .x_labels(8)
        .y_labels(20)
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    // levels: thin grey lines, each labelled at its left end (no legend entries)
    for (label, p) in &tr.levels {
        if *p > lo && *p < hi {
            let c = RGBColor(140, 140, 140);
            chart
                .draw_series(LineSeries::new(
                    vec![(tmin, *p), (tmax, *p)],
                    c.stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{label} = {}", tick(*p)),
                    (tmin * 1.08, *p * 1.015),
                    ("sans-serif", 13).into_font().color(&c),
                )))
                .map_err(|e| err(e.to_string()))?;
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
        // SGD: mean ± std over seeds as a band, the mean as markers
        let band: Vec<(f64, f64, f64)> = tr
            .times
            .iter()
            .zip(tr.eps_sgd.iter().zip(tr.eps_sgd_std))
            .filter(|(t, (m, s))| **t > 0.0 && m.is_finite() && s.is_finite())
            .map(|(t, (m, s))| (*t, (m - s).max(lo), (m + s).min(hi)))
            .collect();
        let mut polygon: Vec<(f64, f64)> = band.iter().map(|(t, _, up)| (*t, *up)).collect();
        polygon.extend(band.iter().rev().map(|(t, down, _)| (*t, *down)));
        let red = RGBColor(200, 40, 40);
        chart
            .draw_series(std::iter::once(Polygon::new(
                polygon,
                red.mix(0.2).filled(),
            )))
            .map_err(|e| err(e.to_string()))?
            .label("SGD, mean ± std over seeds")
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 4), (x + 20, y + 4)], red.mix(0.3).filled())
            });
        chart
            .draw_series(
                pts(tr.eps_sgd)
                    .into_iter()
                    .map(|p| Circle::new(p, 2, red.filled())),
            )
            .map_err(|e| err(e.to_string()))?;
    }
    chart
        .draw_series(LineSeries::new(pts(tr.eps_ode), BLUE.stroke_width(2)))
        .map_err(|e| err(e.to_string()))?
        .label("ODE")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// A short tick label: at most three significant decimals, no trailing zeros (0.3, 10, 1e4 as 10000).
/// Labelled and light tick positions of a logarithmic axis over `[lo, hi]`: 1, 2 and 5 per decade
/// (only the decades when the range spans more than four of them; 1 to 9 when it spans less than
/// one), light lines at 1..9 per decade.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let inside = |v: &f64| *v >= lo && *v <= hi;
    let decade = |m: &[f64]| -> Vec<f64> {
        (a..=b)
            .flat_map(|e| m.iter().map(move |c| c * 10f64.powi(e)))
            .filter(inside)
            .collect()
    };
    let light = decade(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let bold = if b - a > 4 {
        decade(&[1.0])
    } else {
        let v = decade(&[1.0, 2.0, 5.0]);
        if v.len() < 3 { light.clone() } else { v }
    };
    (bold, light)
}

fn tick(v: f64) -> String {
    if v >= 100.0 {
        return format!("{v:.0}");
    }
    let digits = if v >= 1.0 {
        1
    } else {
        (-v.log10()).ceil() as usize + 2
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
