//! Where a non-smooth g breaks: the points at which g or one of its derivatives jumps. They are
//! the sign changes of the arguments of g's non-smooth operations (`max(a, c)`, `min(a, c)`:
//! a − c; `relu(a)`, `Θ(a)`, `sign(a)`, `|a|`: a), found numerically once per activation (at
//! compile time for `#[activation]`, at run time for expressions). The quadrature of an activation
//! without closed forms puts panel edges there and adds the Dirac terms of g's derivatives
//! (docs/integrals.md §Quadrature). A root where an argument only touches zero is no break (g is
//! smooth there: `relu(x²)`), so only sign changes count.

use crate::expr::{self, Expr, Func};

/// Half-width of the range searched for breaks (the quadrature probes g's features over the
/// same range).
pub const BREAK_RANGE: f64 = 100.0;

/// The arguments whose sign changes are g's possible breaks, each once.
pub fn break_arguments(e: &Expr) -> Vec<Expr> {
    let mut out = Vec::new();
    collect(e, &mut out);
    out
}

fn collect(e: &Expr, out: &mut Vec<Expr>) {
    let mut push = |a: Expr| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    match e {
        Expr::Const(_) | Expr::X => {}
        Expr::Add(v) | Expr::Mul(v) => v.iter().for_each(|t| collect(t, out)),
        Expr::Div(a, b) => {
            collect(a, out);
            collect(b, out);
        }
        Expr::Powi(a, _) => collect(a, out),
        Expr::Max(a, c) | Expr::Min(a, c) => {
            push(expr::simplify(Expr::Add(vec![
                (**a).clone(),
                Expr::Const(-c),
            ])));
            collect(a, out);
        }
        Expr::Call(f, a) => {
            if matches!(
                f,
                Func::Relu | Func::Heaviside | Func::Sign | Func::Abs | Func::Delta(_)
            ) {
                push((**a).clone());
            }
            collect(a, out);
        }
    }
}

/// Where one of g's non-smooth arguments changes sign, ascending, each to the last bit
/// (bisection down to adjacent floating-point numbers). A scan of step 0.05 over
/// `[−range, range]`, and with steps growing by 1 % beyond it out to |x| = 1e8, finds the sign
/// changes; an interval is split further (down to 1e-9 relative) while a pair of roots may hide
/// inside it by the mean value theorem (|a| at both ends below twice its length times the larger
/// |a'|).
pub fn break_points(g: &Expr, range: f64) -> Vec<f64> {
    let grid = scan_grid(range);
    let mut roots = Vec::new();
    for a in break_arguments(g) {
        let da = expr::diff(&a);
        let f = |x: f64| expr::eval(&a, x);
        let df = |x: f64| expr::eval(&da, x);
        sign_changes(&f, &df, &grid, &mut roots);
    }
    roots.sort_by(f64::total_cmp);
    roots.dedup_by(|a, b| (*a - *b).abs() <= 1e-12 * (1.0 + a.abs()));
    roots
}

/// Ascending scan points: step 0.05 over [−range, range], then growing by 1 % out to ±1e8.
fn scan_grid(range: f64) -> Vec<f64> {
    const STEP: f64 = 0.05;
    const FAR: f64 = 1e8;
    let mut outer = Vec::new();
    let mut x = range * 1.01;
    while x < FAR {
        outer.push(x);
        x *= 1.01;
    }
    outer.push(FAR);
    let n = (2.0 * range / STEP).round() as usize;
    let mut grid: Vec<f64> = outer.iter().rev().map(|x| -x).collect();
    grid.extend((0..=n).map(|i| -range + STEP * i as f64));
    grid.extend(outer);
    grid
}

/// Sign changes of `f` between consecutive points of `grid` (see [`break_points`]).
fn sign_changes(f: &dyn Fn(f64) -> f64, df: &dyn Fn(f64) -> f64, grid: &[f64], out: &mut Vec<f64>) {
    const FINEST: f64 = 1e-9;
    const MAX_SPLITS: usize = 100_000;
    let mut splits = 0;
    let mut stack: Vec<(f64, f64)> = Vec::new();
    if let (Some(&lo), Some(&next)) = (grid.first(), grid.get(1))
        && f(lo) == 0.0
        && f(lo - FINEST * (next - lo)).signum() * f(next).signum() < 0.0
    {
        // a root at the very start: counted if f changes sign across it
        out.push(lo);
    }
    for w in grid.windows(2) {
        stack.push((w[0], w[1]));
        while let Some((a, b)) = stack.pop() {
            let (fa, fb) = (f(a), f(b));
            if !(fa.is_finite() && fb.is_finite()) {
                continue;
            }
            let tiny = FINEST * (b - a).max(1e-300);
            if fa * fb < 0.0 || (fb == 0.0 && f(b + tiny).signum() * fa.signum() < 0.0) {
                out.push(bisect(f, a, b));
                continue;
            }
            let slope = df(a).abs().max(df(b).abs());
            let may_hide = fa.abs() + fb.abs() <= 2.0 * (b - a) * slope;
            if may_hide && b - a > FINEST * (1.0 + a.abs()) && splits < MAX_SPLITS && fb != 0.0 {
                splits += 1;
                let m = 0.5 * (a + b);
                stack.push((m, b));
                stack.push((a, m));
            }
        }
    }
}

/// The sign change of `f` in [a, b] (`f(a)·f(b) ≤ 0`), to adjacent floating-point numbers.
fn bisect(f: &dyn Fn(f64) -> f64, mut a: f64, mut b: f64) -> f64 {
    let sa = f(a).signum();
    loop {
        let m = 0.5 * (a + b);
        if m <= a || m >= b {
            break;
        }
        let fm = f(m);
        if fm == 0.0 {
            return m;
        }
        if fm.signum() == sa {
            a = m;
        } else {
            b = m;
        }
    }
    if f(a).abs() <= f(b).abs() { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaks(src: &str) -> Vec<f64> {
        let g = crate::activation::parse_expression(src).expect("parses");
        break_points(&g, BREAK_RANGE)
    }

    #[test]
    fn affine_kinks_are_found_exactly() {
        let b = breaks("(x + 0.3).max(0.0).min(1.2)");
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[0] == -0.3 && (b[1] - 0.9).abs() < 1e-15, "{b:?}");
        assert_eq!(breaks("relu(x)"), vec![0.0]);
        assert_eq!(breaks("x.abs().min(1.0)"), vec![-1.0, 0.0, 1.0]);
        assert!(breaks("x.tanh() + x").is_empty());
    }

    #[test]
    fn kinks_of_non_affine_arguments_are_roots() {
        let b = breaks("x.exp().min(2.0)");
        assert_eq!(b.len(), 1);
        assert!((b[0] - 2f64.ln()).abs() < 1e-15, "{b:?}");
        assert_eq!(breaks("x.tanh().max(0.0)"), vec![0.0]);
        // x² − 1e-4 changes sign at ±0.01, within one scan step
        let b = breaks("heaviside(x * x - 0.0001) * x.tanh()");
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(
            (b[0] + 0.01).abs() < 1e-15 && (b[1] - 0.01).abs() < 1e-15,
            "{b:?}"
        );
    }

    #[test]
    fn breaks_far_out_are_found() {
        let b = breaks("relu(x - 150.0) * x.tanh()");
        assert_eq!(b, vec![150.0]);
        let b = breaks("heaviside(-x - 2.5e5) + sigmoid(x)");
        assert_eq!(b, vec![-2.5e5]);
    }

    #[test]
    fn touching_zero_is_no_break() {
        assert!(breaks("relu(x * x) + x.tanh()").is_empty());
        assert!(breaks("(x * x).abs()").is_empty());
    }
}
