//! The whole derivation of one activation: parse, normal form and its derivatives, every integral
//! of the [catalogue](crate::catalogue) into one closed-form graph, and the printed formulas.
//! Used by `#[activation]` at compile time and by `aedyn` at run time (expressions in configs).

use crate::catalogue::{CATALOGUE, Piece, Spec};
use crate::closed::{Graph, Id};
use crate::derive::{DeriveError, Deriver, MTerm};
use crate::expr::{self, Expr};
use crate::product::{Factor, product_terms};
use crate::render;
use crate::series::{self, NotInAlgebra, Series};

/// How an integral is evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Exact closed form: the root node in the graph.
    Closed(Id),
    /// quadrature (only when allowed), with the reason no closed form exists.
    Quadrature(String),
    /// Not a defined expectation, with the reason.
    Undefined(String),
}

/// The printed forms of a closed-form integral.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Printed {
    pub general: String,
    pub zero_mean: String,
    pub general_latex: String,
    pub zero_mean_latex: String,
}

/// One derived integral.
#[derive(Clone, Debug)]
pub struct IntegralDerivation {
    pub spec: &'static Spec,
    pub outcome: Outcome,
    /// The derivation trace, one rule application per line.
    pub trace: Vec<String>,
    /// Final formulas (closed forms only).
    pub printed: Option<Printed>,
}

/// Why an activation is refused.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// The sub-expression to blame, as text, if known (to point a compile error at it).
    pub culprit: Option<String>,
    pub message: String,
}

/// The derivation of one activation.
#[derive(Clone, Debug)]
pub struct ActivationDerivation {
    /// g as parsed and simplified.
    pub g: Expr,
    /// g, g', g'', g''' as expression trees (pointwise evaluation; Dirac terms are 0 there).
    pub pointwise: [Expr; 4],
    /// g, g', g'', g''' in the normal form (distributional derivatives of the normal form).
    pub series: [Result<Series, NotInAlgebra>; 4],
    pub graph: Graph,
    pub integrals: Vec<IntegralDerivation>,
    /// Where g or a derivative jumps within ±[`BREAK_RANGE`](crate::breaks::BREAK_RANGE)
    /// (found only when some integral falls back to quadrature; empty for smooth g).
    pub breaks: Vec<f64>,
}

/// The largest constant an activation may hold: the four-point integrals of the teacher–student
/// ODE multiply four factors of g (1e60⁴ = 1e240 leaves room for the Gaussian moments).
pub const LARGEST_CONSTANT: f64 = 1e60;

/// Parses an activation written as an expression in `x` (the attribute's syntax).
pub fn parse_expression(src: &str) -> Result<Expr, String> {
    if let Some(why) = unbalanced_delimiters(src) {
        return Err(format!("`{src}` is not an expression: {why}"));
    }
    let e: syn::Expr =
        syn::parse_str(src).map_err(|e| format!("`{src}` is not an expression: {e}"))?;
    expr::parse(&e, "x")
        .map(expr::simplify)
        .map_err(|e| e.to_string().replace("#[activation]: ", ""))
}

/// Where the parentheses or brackets of `src` do not pair up (the lexer's own message, "cannot
/// parse string into token stream", names neither the character nor its place).
fn unbalanced_delimiters(src: &str) -> Option<String> {
    let mut open: Vec<(usize, char)> = Vec::new();
    for (i, ch) in src.char_indices() {
        match ch {
            '(' | '[' | '{' => open.push((i, ch)),
            ')' | ']' | '}' => {
                let want = match ch {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match open.pop() {
                    Some((_, o)) if o == want => {}
                    Some((j, o)) => {
                        return Some(format!("`{ch}` at byte {i} closes the `{o}` at byte {j}"));
                    }
                    None => return Some(format!("`{ch}` at byte {i} has no opening `{want}`")),
                }
            }
            _ => {}
        }
    }
    open.pop()
        .map(|(j, o)| format!("the `{o}` at byte {j} is never closed"))
}

/// Whether g is smooth: no non-smooth operation (whose argument could change sign) anywhere in
/// its tree ([`crate::breaks::break_arguments`]).
pub fn is_smooth(e: &Expr) -> bool {
    crate::breaks::break_arguments(e).is_empty()
}

/// The integrand of `spec` as multi-variable terms.
fn integrand(
    spec: &Spec,
    series: &[Result<Series, NotInAlgebra>; 4],
) -> Result<Vec<MTerm>, DeriveError> {
    let mut factors = Vec::new();
    for piece in spec.pieces {
        factors.push(match *piece {
            Piece::G(v, k) => (
                v,
                Factor::Series(
                    series[k]
                        .as_ref()
                        .map_err(|e| DeriveError::NoClosedForm(e.0.clone()))?,
                ),
            ),
            Piece::X(v, p) => (v, Factor::Power(p)),
        });
    }
    Ok(product_terms(spec.arity, &factors))
}

/// Derives every integral of the catalogue for g. With `quadrature`, integrals without a closed
/// form fall back to quadrature; where g has kinks or jumps, their places are found
/// ([`ActivationDerivation::breaks`]) so that the quadrature can integrate piecewise and add the
/// Dirac terms of g's derivatives.
pub fn derive_activation(g: Expr, quadrature: bool) -> Result<ActivationDerivation, Refusal> {
    let largest = expr::largest_constant(&g);
    if largest > LARGEST_CONSTANT {
        return Err(Refusal {
            culprit: None,
            message: format!(
                "a constant of magnitude {largest:e} in g: the integrals multiply up to four \
                 factors of g and would overflow f64 (constants up to {LARGEST_CONSTANT:e} are \
                 supported; rescale g)"
            ),
        });
    }
    let mut pointwise = vec![g.clone()];
    for k in 0..3 {
        let d = expr::diff(&pointwise[k]);
        pointwise.push(d);
    }
    let pointwise: [Expr; 4] = std::array::from_fn(|k| pointwise[k].clone());
    let s0 = series::to_series(&g);
    let series: [Result<Series, NotInAlgebra>; 4] = match &s0 {
        Ok(s) => {
            let d1 = series::derivative(s);
            let d2 = series::derivative(&d1);
            let d3 = series::derivative(&d2);
            [Ok(s.clone()), Ok(d1), Ok(d2), Ok(d3)]
        }
        Err(e) => std::array::from_fn(|_| Err(e.clone())),
    };
    let mut graph = Graph::new();
    let mut integrals = Vec::new();
    for spec in &CATALOGUE {
        let mut d = Deriver::new(&mut graph, spec.arity);
        let result = integrand(spec, &series).and_then(|terms| {
            let mut parts = Vec::new();
            for t in &terms {
                parts.push(d.expect(t, 0, 0)?);
            }
            Ok(d.graph.add(parts))
        });
        let trace = std::mem::take(&mut d.trace);
        let outcome = match result {
            Ok(root) => Outcome::Closed(root),
            Err(DeriveError::Undefined(why)) => Outcome::Undefined(why),
            Err(DeriveError::NoClosedForm(why)) => {
                if !quadrature {
                    return Err(Refusal {
                        culprit: culprit(&why),
                        message: format!(
                            "integral {} = {} has no closed form: {why}; add `quadrature` \
                             (`#[activation(quadrature)]`, `quadrature = true` in a config, or \
                             `aedyn integrals --quadrature`) to allow quadrature",
                            spec.variant, spec.definition
                        ),
                    });
                }
                Outcome::Quadrature(why)
            }
        };
        integrals.push(IntegralDerivation {
            spec,
            outcome,
            trace,
            printed: None,
        });
    }
    for i in integrals.iter_mut() {
        if let Outcome::Closed(root) = i.outcome {
            let general = graph.display_form(root);
            let zero = graph.zero_mean_form(root);
            i.printed = Some(Printed {
                general: render::formula(&graph, general, false),
                zero_mean: render::formula(&graph, zero, false),
                general_latex: render::formula(&graph, general, true),
                zero_mean_latex: render::formula(&graph, zero, true),
            });
        }
    }
    let quadrature_used = integrals
        .iter()
        .any(|i| matches!(i.outcome, Outcome::Quadrature(_)));
    let breaks = if quadrature_used && !is_smooth(&g) {
        crate::breaks::break_points(&g, crate::breaks::BREAK_RANGE)
    } else {
        Vec::new()
    };
    Ok(ActivationDerivation {
        breaks,
        g,
        pointwise,
        series,
        graph,
        integrals,
    })
}

/// The name of the function in a "`f(x)`: why" message.
fn culprit(why: &str) -> Option<String> {
    Some(why.strip_prefix('`')?.split('(').next()?.to_string())
}

/// The kernels of one ODE right-hand side evaluation, one unit: `E[g'], E[g''], E[g'''], E[g'²],
/// E[g²], E[g'g], E[g''g]` at λ ~ N(μ1, C11).
pub const UNIT_KERNELS: [&str; 7] = ["Dg", "D2g", "D3g", "DgDg1", "GG1", "DgG1", "D2gG1"];
/// The kernels of one pair of units (k, m) at (λ^k, λ^m) ~ N(μ, C): `I2, E[g'(λ^k)g'(λ^m)],
/// E[g'(λ^k)g(λ^m)], E[g'(λ^m)g(λ^k)], E[g''(λ^k)g(λ^m)], E[g''(λ^m)g(λ^k)]` ("…21" = variables
/// exchanged).
pub const PAIR_KERNELS: [&str; 6] = ["I2", "DgDg", "DgG", "DgG21", "D2gG", "D2gG21"];

/// Roots of the fused kernels ([`ActivationDerivation::ode_kernels`]).
#[derive(Clone, Debug)]
pub struct OdeKernels {
    pub unit: Vec<Id>,
    pub pair: Vec<Id>,
    pub unit_zero: Vec<Id>,
    pub pair_zero: Vec<Id>,
}

impl ActivationDerivation {
    /// The fused ODE kernels: unit and pair roots for general means, then the same specialised to
    /// zero means (means substituted by 0 and simplified: no exp(0), Φ(0) = ½, Sheppard's Φ₂).
    pub fn ode_kernels(&mut self) -> Option<OdeKernels> {
        let (unit, pair) = self.ode_kernel_roots()?;
        let zero = |g: &mut Graph, r: Id| {
            g.rebuild(
                r,
                &|n| match n {
                    crate::closed::Node::Mean(_) => Some(0.0),
                    _ => None,
                },
                false,
            )
        };
        let unit_zero = unit.iter().map(|&r| zero(&mut self.graph, r)).collect();
        let pair_zero = pair.iter().map(|&r| zero(&mut self.graph, r)).collect();
        Some(OdeKernels {
            unit,
            pair,
            unit_zero,
            pair_zero,
        })
    }

    /// The roots of the fused ODE kernels ([`UNIT_KERNELS`], [`PAIR_KERNELS`]) in the graph, when
    /// all of them are closed forms (the pair roots with exchanged variables are added to the graph).
    pub fn ode_kernel_roots(&mut self) -> Option<(Vec<Id>, Vec<Id>)> {
        let root = |d: &Self, v: &str| -> Option<Id> {
            let i = CATALOGUE.iter().position(|s| s.variant == v)?;
            match d.integrals[i].outcome {
                Outcome::Closed(r) => Some(r),
                _ => None,
            }
        };
        let unit = UNIT_KERNELS
            .iter()
            .map(|v| root(self, v))
            .collect::<Option<Vec<_>>>()?;
        let mut pair = Vec::new();
        for v in PAIR_KERNELS {
            match v.strip_suffix("21") {
                Some(base) => {
                    let r = root(self, base)?;
                    pair.push(self.graph.swap12(r));
                }
                None => pair.push(root(self, v)?),
            }
        }
        Some((unit, pair))
    }

    /// The value of integral `i` at `(mean, cov)` by the evaluator (closed forms only).
    pub fn eval(&self, i: usize, mean: &[f64], cov: &[Vec<f64>]) -> Option<f64> {
        match self.integrals[i].outcome {
            Outcome::Closed(root) => Some(render::eval(&self.graph, root, mean, cov)),
            Outcome::Undefined(_) => Some(f64::NAN),
            Outcome::Quadrature(_) => None,
        }
    }

    /// g, g', g'', g''' as text: the normal form where g is in the algebra (Dirac terms shown),
    /// else the expression tree.
    pub fn derivatives_text(&self) -> [String; 4] {
        std::array::from_fn(|k| match &self.series[k] {
            Ok(s) => series_text(s),
            Err(_) => expr::to_text(&self.pointwise[k]),
        })
    }
}

/// A series as text, e.g. `2·x·Θ(x) - δ(x - 1)`.
pub fn series_text(s: &Series) -> String {
    if s.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = s
        .iter()
        .map(|t| {
            let mut unit = t.clone();
            unit.c = 1.0;
            let m = MTerm {
                c: t.c,
                parts: vec![unit],
            };
            let txt = m.text().replace("x1", "x");
            // drop a leading "1·"
            match txt.strip_prefix("1·") {
                Some(r) => r.to_string(),
                None => match txt.strip_prefix("-1·") {
                    Some(r) => format!("-{r}"),
                    None => txt,
                },
            }
        })
        .collect();
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            match p.strip_prefix('-') {
                Some(r) => {
                    out.push_str(" - ");
                    out.push_str(r);
                    continue;
                }
                None => out.push_str(" + "),
            }
        }
        out.push_str(p);
    }
    out
}

/// The derivation trace in LaTeX: one `aligned` row per step, the term in math mode and the rule
/// applied as `\\text{…}`; nesting as `\\quad`.
pub fn latex_trace(trace: &str) -> String {
    const MAP: [(&str, &str); 16] = [
        ("√(2/π)", "\\sqrt{2/\\pi}"),
        ("1/√(2π)", "\\tfrac{1}{\\sqrt{2\\pi}}"),
        ("2/√π", "\\tfrac{2}{\\sqrt{\\pi}}"),
        ("1/√2", "\\tfrac{1}{\\sqrt{2}}"),
        ("√2", "\\sqrt{2}"),
        ("2/π", "\\tfrac{2}{\\pi}"),
        ("1/π", "\\tfrac{1}{\\pi}"),
        ("π", "\\pi "),
        ("·", " \\cdot "),
        ("Θ", "\\Theta"),
        ("δ", "\\delta"),
        ("²", "^2"),
        ("exp(", "\\exp("),
        ("erf(", "\\operatorname{erf}("),
        ("x1", "x_1"),
        ("x2", "x_2"),
    ];
    let rows: Vec<String> = trace
        .lines()
        .map(|line| {
            let depth = line.len() - line.trim_start().len();
            let (term, rule) = line
                .trim_start()
                .split_once(" → ")
                .unwrap_or((line.trim_start(), ""));
            let mut t = term.replace("x3", "x_3");
            for (from, to) in MAP {
                t = t.replace(from, to);
            }
            // ASCII only: the remaining symbols as commands, the rule as text with inline math
            let t = crate::latex::latex_math(&t);
            let rule = crate::latex::latex_text(rule);
            // one indentation and plain relation spacing: KaTeX counts every spacing macro
            // (`\quad`, `\;`) against a limit of 1000 expansions per formula
            let indent = match depth / 2 {
                0 => String::new(),
                n => format!("\\hspace{{{n}em}} "),
            };
            format!("{indent}{t} \\to \\text{{{rule}}}")
        })
        .collect();
    format!(
        "\\begin{{aligned}}&{}\\end{{aligned}}",
        rows.join(" \\\\ &")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbalanced_delimiters_are_named_with_their_place() {
        for (src, want) in [
            ("(x + 1.0", "the `(` at byte 0 is never closed"),
            ("x + 1.0)", "`)` at byte 7 has no opening `(`"),
            ("erf(x]", "`]` at byte 5 closes the `(` at byte 3"),
        ] {
            let err = parse_expression(src).expect_err(src);
            assert!(err.contains(want), "{src}: {err}");
        }
        assert!(parse_expression("relu((x + 1.0) * 2.0)").is_ok());
    }

    /// `x.max(1e200 * x)` had integrals of exactly 0 (products overflowed); constants beyond 1e60
    /// (also folded ones, and clamp bounds) are refused, naming the magnitude.
    #[test]
    fn constants_that_would_overflow_the_integrals_are_refused() {
        for src in ["x.max(1e200 * x)", "1e40 * 1e40 * relu(x)", "x.min(1e70)"] {
            let g = parse_expression(src).expect("parses");
            let err = derive_activation(g, true).expect_err(src).message;
            assert!(
                err.contains("e") && err.contains("overflow"),
                "{src}: {err}"
            );
        }
        let g = parse_expression("x.max(1e20 * x)").expect("parses");
        assert!(derive_activation(g, false).is_ok());
    }
}
