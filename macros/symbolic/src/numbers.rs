//! Readable numbers: a constant is printed as `(p/q)·K` or `p/(q·K)` with a small rational p/q
//! and K one of 1, π, √2, √π, √(2π), √(2/π) when it equals one to 1e-13 (relative), else as a
//! decimal.

use std::f64::consts::PI;

/// (value, text, LaTeX) of the recognised irrational factors.
fn bases() -> [(f64, &'static str, &'static str); 6] {
    [
        (1.0, "", ""),
        (PI, "π", "\\pi"),
        (2f64.sqrt(), "√2", "\\sqrt{2}"),
        (PI.sqrt(), "√π", "\\sqrt{\\pi}"),
        ((2.0 * PI).sqrt(), "√(2π)", "\\sqrt{2\\pi}"),
        ((2.0 / PI).sqrt(), "√(2/π)", "\\sqrt{2/\\pi}"),
    ]
}

/// `v ≈ p/q` with q ≤ 16, |p| ≤ 256.
fn rational(v: f64) -> Option<(i64, i64)> {
    for q in 1..=16i64 {
        let p = v * q as f64;
        let r = p.round();
        if r.abs() <= 256.0 && (p - r).abs() <= 1e-13 * p.abs().max(1.0) && r != 0.0 {
            return Some((r as i64, q));
        }
    }
    None
}

/// The simplest `(p, q, base index, divided)`: `v = (p/q)·K` or `v = p/(q·K)`.
fn recognise(v: f64) -> Option<(i64, i64, usize, bool)> {
    let mut best: Option<(f64, (i64, i64, usize, bool))> = None;
    for (i, (k, _, _)) in bases().iter().enumerate() {
        for divided in [false, true] {
            if i == 0 && divided {
                continue;
            }
            let r = if divided { v * k } else { v / k };
            if let Some((p, q)) = rational(r) {
                let score = (p.abs() + q) as f64 + if i == 0 { -0.5 } else { 0.0 };
                if best.is_none_or(|(s, _)| score < s) {
                    best = Some((score, (p, q, i, divided)));
                }
            }
        }
    }
    best.map(|(_, r)| r)
}

/// The shortest decimal within four units in the last place of `v` (1e-15 relative: the
/// rounding of the constant folding that produced it, so 0.1·0.1 prints as 0.01), positional up
/// to 20 characters and below 1e16, else in exponent form. A formula pasted from the output
/// gives the numbers the tool computes: seven significant digits once put a printed zero-mean
/// form of `relu(x).powi(12)` 6e-5 off.
fn decimal(v: f64) -> String {
    let close = (1..=17)
        .map(|digits| format!("{:.*e}", digits - 1, v))
        .filter_map(|s| s.parse::<f64>().ok())
        .find(|back| (back - v).abs() <= 4.0 * f64::EPSILON * v.abs())
        .unwrap_or(v);
    let s = format!("{close}");
    // positional below 1e16 (beyond, its digits are padding zeros: 39894228040143300000)
    if s.len() <= 20 && close.abs() < 1e16 {
        s
    } else {
        format!("{close:e}")
    }
}

/// Plain-text number, e.g. `2/π`, `1/√(2π)`, `√(2/π)`, `3/4`, `0.3`.
pub fn text_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let Some((p, q, i, divided)) = recognise(v) else {
        return decimal(v);
    };
    let k = bases()[i].1;
    let sign = if p < 0 { "-" } else { "" };
    let p = p.abs();
    let s = match (i, divided) {
        (0, _) if q == 1 => format!("{p}"),
        (0, _) => format!("{p}/{q}"),
        (_, false) => {
            let num = if p == 1 {
                k.to_string()
            } else {
                format!("{p}{k}")
            };
            if q == 1 { num } else { format!("{num}/{q}") }
        }
        (_, true) => {
            if q == 1 {
                format!("{p}/{k}")
            } else {
                format!("{p}/({q}{k})")
            }
        }
    };
    format!("{sign}{s}")
}

/// LaTeX number, e.g. `\frac{2}{\pi}`.
pub fn latex_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let Some((p, q, i, divided)) = recognise(v) else {
        return decimal(v).replace("e", "\\times 10^{")
            + if decimal(v).contains('e') { "}" } else { "" };
    };
    let k = bases()[i].2;
    let sign = if p < 0 { "-" } else { "" };
    let p = p.abs();
    let (num, den) = match (i, divided) {
        (0, _) => (
            format!("{p}"),
            if q == 1 {
                String::new()
            } else {
                format!("{q}")
            },
        ),
        (_, false) => (
            if p == 1 {
                k.to_string()
            } else {
                format!("{p}{k}")
            },
            if q == 1 {
                String::new()
            } else {
                format!("{q}")
            },
        ),
        (_, true) => (
            format!("{p}"),
            if q == 1 {
                k.to_string()
            } else {
                format!("{q}{k}")
            },
        ),
    };
    if den.is_empty() {
        format!("{sign}{num}")
    } else {
        format!("{sign}\\frac{{{num}}}{{{den}}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_recognised() {
        assert_eq!(text_number(2.0 / PI), "2/π");
        assert_eq!(text_number(1.0 / (2.0 * PI).sqrt()), "1/√(2π)");
        assert_eq!(text_number((2.0 / PI).sqrt()), "√(2/π)");
        assert_eq!(text_number(1.0 / (2.0 * PI)), "1/(2π)");
        assert_eq!(text_number(0.25), "1/4");
        assert_eq!(text_number(-3.0), "-3");
        assert_eq!(text_number(0.3), "3/10");
        assert_eq!(text_number(0.123456789123), "0.123456789123");
        assert_eq!(latex_number(2.0 / PI), "\\frac{2}{\\pi}");
    }

    /// Decimals read back to 1e-15 (they once kept seven significant digits above 100).
    #[test]
    fn decimals_read_back_to_rounding() {
        for v in [
            112.48417010349102,
            -3.3e-21,
            0.1 * 0.1,
            6.02214076e23,
            PI.ln() / 3.0,
        ] {
            let s = text_number(v);
            let back: f64 = s.parse().expect("a decimal");
            assert!((back - v).abs() <= 1e-15 * v.abs(), "{v}: {s}");
        }
        assert_eq!(text_number(112.48417010349102), "112.484170103491");
        // the folding's rounding is not printed
        assert_eq!(text_number(0.1 * 0.1), "0.01");
        assert_eq!(text_number(0.2 * 0.2), "0.04");
        assert_eq!(text_number(-3.3e-21), "-3.3e-21");
        assert_eq!(text_number(3.98942280401433e19), "3.98942280401433e19");
        assert_eq!(text_number(158117071612.5), "158117071612.5");
        assert_eq!(latex_number(-3.3e-21), "-3.3\\times 10^{-21}");
    }
}
