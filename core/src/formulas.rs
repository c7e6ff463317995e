//! What `aedyn integrals NAME` prints: an activation's derivatives, the final closed form of every
//! integral (general means and zero means), optionally the derivation traces, and the ODE
//! right-hand side specialised to the activation (its closed forms substituted, terms whose
//! closed form vanishes identically dropped). Text or LaTeX; snapshotted in the tests.

use crate::activation::{Activation, Formula, Integral, Method};
use aedyn_symbolic::latex::latex_text;
use std::fmt::Write;

/// What to print.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    /// Add each integral's derivation trace.
    pub trace: bool,
    /// LaTeX instead of plain text.
    pub latex: bool,
}

fn formula(act: &dyn Activation, i: Integral) -> &'static Formula {
    &act.formulas()[i.index()]
}

fn method_text(m: Method) -> &'static str {
    match m {
        Method::ClosedForm => "closed form",
        Method::Quadrature => "composite Gauss–Legendre quadrature",
        Method::Undefined => "undefined",
    }
}

/// The derived integrals and the specialised ODE, as text (or LaTeX with `opts.latex`).
pub fn render(act: &dyn Activation, opts: RenderOptions) -> String {
    if opts.latex {
        return render_latex(act, opts);
    }
    let mut s = String::new();
    let [g, dg, d2g, d3g] = act.derivatives_text();
    let _ = writeln!(
        s,
        "activation `{}`: g(x) = {}",
        act.name(),
        act.expression()
    );
    let _ = writeln!(
        s,
        "  g(x)    = {g}\n  g'(x)   = {dg}\n  g''(x)  = {d2g}\n  g'''(x) = {d3g}"
    );
    let _ = writeln!(
        s,
        "\nGaussian integrals, x ~ N(μ, C) (means μ1.., covariance entries C11, C12, ..; \
         Φ, φ standard normal CDF and density, Φ₂ the bivariate normal CDF; docs/integrals.md):"
    );
    if let Some(rule) = act.quadrature_rule() {
        s.push_str(&quadrature_text(rule));
    }
    for f in act.formulas() {
        // (closed-form undefined integrals print their derivation's first line below)
        let undefined = act
            .undefined_reason(f.integral)
            .filter(|_| f.method == Method::Quadrature);
        let method = if undefined.is_some() {
            Method::Undefined
        } else {
            f.method
        };
        let refused = f.method == Method::Quadrature
            && act.quadrature_rule().is_some_and(|r| r.refusal.is_some());
        let _ = writeln!(
            s,
            "\n{} = {}   [{}{}]",
            f.integral.name(),
            f.definition,
            if refused {
                "refused: composite Gauss–Legendre quadrature does not resolve g (above)".into()
            } else {
                format!("{}{}", method_text(method), dirac_note(act, f.integral))
            },
            if f.general.contains("Φ₄[numerical") {
                "; with the numerical base case Φ₄, error ≤ 1e-10 (docs/integrals.md §3)"
            } else {
                ""
            }
        );
        match f.method {
            Method::ClosedForm => {
                let _ = writeln!(s, "  general:   {}", f.general);
                let _ = writeln!(s, "  zero mean: {}", f.zero_mean);
            }
            _ => {
                let first = f.derivation.lines().next().unwrap_or("");
                let _ = writeln!(s, "  {}", undefined.as_deref().unwrap_or(first));
            }
        }
        if opts.trace && f.method == Method::ClosedForm {
            let _ = writeln!(s, "  derivation:");
            for line in f.derivation.lines() {
                let _ = writeln!(s, "  | {line}");
            }
        }
    }
    s.push('\n');
    s.push_str(&ode_text(act, false));
    s
}

/// What the composite quadrature found about g: its feature window and panel width, its breaks
/// with the jumps of g … g''' there, or why it is refused.
fn quadrature_text(rule: &crate::quad::Rule) -> String {
    let mut s = String::from(
        "\nQuadrature (composite Gauss–Legendre, 16 nodes per panel; docs/integrals.md \
         §Quadrature):\n",
    );
    if let Some(why) = &rule.refusal {
        let _ = writeln!(s, "  refused: {why}");
        return s;
    }
    if rule.panel.is_finite() {
        let _ = writeln!(
            s,
            "  g's features lie within |x| ≤ {:.3}; panels there at most {:.3} wide",
            rule.window, rule.panel
        );
    } else {
        let _ = writeln!(s, "  g has no features (panels follow the Gaussian only)");
    }
    if rule.finite_to.is_finite() {
        let _ = writeln!(
            s,
            "  the written g … g''' evaluate finitely for |x| ≤ {:.1} and overflow somewhere beyond: \
             the rule is self-checked only for Gaussians whose integration range stays inside; \
             further out expectations are unchecked, and NaN where a node meets the overflow (an \
             ODE stops there)",
            rule.finite_to
        );
    }
    for b in &rule.breaks {
        let _ = writeln!(
            s,
            "  break at x = {}: jumps of g, g', g'', g''' = {}, {}, {}, {} (panel edge; Dirac \
             terms added exactly)",
            number(b.at),
            number(b.jump[0]),
            number(b.jump[1]),
            number(b.jump[2]),
            number(b.jump[3]),
        );
    }
    s
}

/// ` + Dirac terms at x = b, …` for a quadrature integral whose integrand has Dirac terms at
/// g's breaks (added exactly), else empty.
fn dirac_note(act: &dyn Activation, i: Integral) -> String {
    let Some(Ok(parts)) = act.quadrature_rule().and_then(|r| r.diracs.get(i.index())) else {
        return String::new();
    };
    let mut at: Vec<f64> = parts.iter().flat_map(|d| d.0.iter().map(|t| t.0)).collect();
    at.sort_by(f64::total_cmp);
    at.dedup();
    if at.is_empty() {
        return String::new();
    }
    let at: Vec<String> = at.into_iter().map(number).collect();
    format!(" + exact Dirac terms at x = {}", at.join(", "))
}

/// A number for the printed rule: rounded to 12 significant digits, shortest form.
fn number(v: f64) -> String {
    let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
    format!("{rounded}")
}

fn render_latex(act: &dyn Activation, opts: RenderOptions) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "% activation `{}`: g(x) = {}  (x ~ N(\\mu, C))",
        ascii_comment(act.name()),
        ascii_comment(act.expression())
    );
    let _ = writeln!(s, "\\begin{{align*}}");
    for f in act.formulas() {
        let lhs = f.latex;
        match f.method {
            Method::ClosedForm => {
                let _ = writeln!(s, "{lhs} &= {} \\\\", f.general_latex);
                let _ = writeln!(s, "{lhs}\\big|_{{\\mu=0}} &= {} \\\\", f.zero_mean_latex);
            }
            m => {
                let _ = writeln!(s, "{lhs} &: \\text{{{}}} \\\\", latex_text(method_text(m)));
            }
        }
    }
    let _ = writeln!(s, "\\end{{align*}}");
    if opts.trace {
        for f in act.formulas() {
            if f.method == Method::ClosedForm {
                let _ = writeln!(
                    s,
                    "% derivation of {}\n\\[{}\\]",
                    f.integral.name(),
                    f.derivation_latex
                );
            }
        }
    }
    s.push_str(&ode_text(act, true));
    s
}

/// A LaTeX comment's text in ASCII (as written where it is ASCII already) on one line.
fn ascii_comment(s: &str) -> String {
    let line = s.replace(['\n', '\r'], " ");
    if line.is_ascii() {
        line
    } else {
        latex_text(&line)
    }
}

/// Renames the integration variables of a zero-mean closed form to the order parameters of
/// units k (x1) and m (x2): `C11 → Q^kk`, `C12 → Q^km`, `C22 → Q^mm`.
fn in_units(f: &str, latex: bool) -> String {
    if latex {
        f.replace("C_{11}", "Q^{kk}")
            .replace("C_{12}", "Q^{km}")
            .replace("C_{22}", "Q^{mm}")
    } else {
        f.replace("C11", "Q^kk")
            .replace("C12", "Q^km")
            .replace("C22", "Q^mm")
    }
}

/// An integral's LaTeX definition over the fields of units k and m: `x_1 → λ^k`, `x_2 → λ^m`,
/// `x → λ^k` (e.g. `\mathbb{E}[g(\lambda^k)\,g(\lambda^m)]`).
fn unit_latex(definition: &str) -> String {
    definition
        .replace("x_1", "{\\lambda^k}")
        .replace("x_2", "{\\lambda^m}")
        .replace("(x)", "(\\lambda^k)")
}

/// `coef·[closed form]`, or None when the closed form is identically zero.
fn term(act: &dyn Activation, coef: &str, i: Integral, latex: bool) -> Option<String> {
    let f = formula(act, i);
    let body = match f.method {
        Method::ClosedForm if f.zero_mean == "0" => return None,
        Method::ClosedForm => {
            let z = if latex {
                f.zero_mean_latex
            } else {
                f.zero_mean
            };
            // named subexpressions ("where" lines) are kept with the term
            in_units(z, latex).replace('\n', " ")
        }
        Method::Quadrature if latex => format!("{}\\ (\\text{{quadrature}})", unit_latex(f.latex)),
        Method::Undefined if latex => format!("{}\\ (\\text{{undefined}})", unit_latex(f.latex)),
        Method::Quadrature => format!("{}(quadrature)", i.name()),
        Method::Undefined => format!("{}(UNDEFINED)", i.name()),
    };
    let wrapped = if latex {
        format!("\\left[{body}\\right]")
    } else {
        format!("[{body}]")
    };
    Some(if coef.is_empty() {
        wrapped
    } else if latex {
        format!("{coef} {wrapped}")
    } else {
        format!("{coef}·{wrapped}")
    })
}

fn join_terms(terms: &[(char, Option<String>)]) -> String {
    let mut s = String::new();
    for (sign, t) in terms {
        let Some(t) = t else { continue };
        if s.is_empty() {
            if *sign == '-' {
                s.push('-');
            }
        } else {
            s.push_str(if *sign == '-' { " - " } else { " + " });
        }
        s.push_str(t);
    }
    if s.is_empty() { "0".into() } else { s }
}

/// The vector-form ODE right-hand side (docs/theory.md §5) with this activation's zero-bias
/// closed forms substituted; terms whose closed form is identically zero are dropped. A trained
/// bias uses the general-mean forms printed above with λ^k ~ N(β^k, Q^kk).
pub fn ode_text(act: &dyn Activation, latex: bool) -> String {
    use Integral as I;
    let t = |coef: &str, i: I| term(act, coef, i, latex);
    let (rkk, t0kk, t0km) = if latex {
        ("R^{kk}", "T_0^{kk}", "T_0^{km}")
    } else {
        ("R^kk", "T0^kk", "T0^km")
    };
    let sum = if latex {
        "\\sum_{m\\ne k}"
    } else {
        "Σ_{m≠k}"
    };
    let a = join_terms(&[('+', t("", I::Dg))]);
    let b = join_terms(&[
        ('+', t(rkk, I::D3g)),
        ('-', t(&format!("{sum} {t0km}"), I::D2gG)),
        ('-', t(t0kk, I::D2gG1)),
        ('-', t(t0kk, I::DgDg1)),
    ]);
    let cross = t(&format!("{sum} {t0km}"), I::DgDg);
    let gg = join_terms(&[('+', t("", I::GG1))]);
    let i2 = t("", I::I2);
    let d2g = join_terms(&[('+', t(rkk, I::D2g))]);
    let undefined: Vec<&str> = act
        .formulas()
        .iter()
        .filter(|f| f.method == Method::Undefined)
        .map(|f| f.integral.name())
        .collect();
    let mut s = String::new();
    if latex {
        let _ = writeln!(
            s,
            "% ODE right-hand side (vector form), specialised to `{}`, zero biases; \
             \\lambda^k \\sim N(0, Q^{{kk}})",
            ascii_comment(act.name())
        );
        let _ = writeln!(s, "\\begin{{align*}}");
        let _ = writeln!(s, "A^k &= {a} \\\\");
        let _ = writeln!(s, "B^k &= {b} \\\\");
        let enc = join_terms(&[
            ('+', Some("A^k \\hat v^k_\\tau".into())),
            ('+', Some("B^k w^k_\\tau".into())),
            ('-', cross.map(|c| format!("{c} w^m_\\tau"))),
        ]);
        let _ = writeln!(
            s,
            "\\frac{{dw^k_\\tau}}{{dt}} &= \\eta \\frac{{\\rho_\\tau}}{{D}} \\left( {enc} \\right) \\\\"
        );
        let dec = join_terms(&[
            ('+', Some("\\frac{\\rho_\\tau}{D} A^k w^k_\\tau".into())),
            ('-', Some(format!("{gg} \\hat v^k_\\tau"))),
            (
                '-',
                i2.clone().map(|c| format!("{sum} {c} \\hat v^m_\\tau")),
            ),
        ]);
        let _ = writeln!(
            s,
            "\\frac{{d\\hat v^k_\\tau}}{{dt}} &= \\eta \\left( {dec} \\right) \\\\"
        );
        let eps = join_terms(&[
            ('+', Some("\\frac{\\operatorname{Tr}\\Omega}{2D}".into())),
            ('-', Some("\\sum_k R^{kk} A^k".into())),
            (
                '+',
                Some(format!("\\frac{{1}}{{2}}\\sum_k T_0^{{kk}} {gg}")),
            ),
            (
                '+',
                i2.map(|c| format!("\\frac{{1}}{{2}}\\sum_{{k\\ne m}} T_0^{{km}} {c}")),
            ),
        ]);
        let _ = writeln!(s, "\\varepsilon &= {eps} \\\\");
        // the trained bias: general means, then its value at β = 0 (as in the text)
        let def = |i: I| unit_latex(formula(act, i).latex);
        let _ = writeln!(
            s,
            "\\frac{{d\\beta^k}}{{dt}} &= \\eta \\left( R^{{kk}} {} - T_0^{{kk}} {} - {sum} {t0km} {} \\right), \\quad \\lambda^k \\sim N(\\beta^k, Q^{{kk}}) \\\\",
            def(I::D2g),
            def(I::DgG1),
            def(I::DgG)
        );
        let bias0 = join_terms(&[
            ('+', Some(d2g)),
            ('-', t(t0kk, I::DgG1)),
            ('-', t(&format!("{sum} {t0km}"), I::DgG)),
        ]);
        let _ = writeln!(
            s,
            "\\left.\\frac{{d\\beta^k}}{{dt}}\\right|_{{\\beta = 0}} &= \\eta \\left( {bias0} \\right)"
        );
        let _ = writeln!(s, "\\end{{align*}}");
        let _ = writeln!(
            s,
            "% truncated SGD: every sum over m runs over m <= k; tied weights: docs/theory.md \
             Sec. 5.4; inputs with a mean (uncentred images): docs/theory.md Sec. 5.10"
        );
        return s;
    }
    let _ = writeln!(
        s,
        "ODE right-hand side specialised to `{}` (vector form, docs/theory.md §5), zero biases, \
         λ^k ~ N(0, Q^kk); [..] are the closed forms above with C11 → Q^kk, C12 → Q^km, C22 → Q^mm:",
        act.name()
    );
    let _ = writeln!(s, "  A^k = {a}");
    let _ = writeln!(s, "  B^k = {b}");
    let enc = join_terms(&[
        ('+', Some("A^k v̂^k_τ".into())),
        ('+', Some("B^k w^k_τ".into())),
        ('-', cross.map(|c| format!("{c} w^m_τ"))),
    ]);
    let _ = writeln!(s, "  dw^k_τ/dt = η (ρ_τ/D) ({enc})");
    let dec = join_terms(&[
        ('+', Some("(ρ_τ/D) A^k w^k_τ".into())),
        ('-', Some(format!("{gg} v̂^k_τ"))),
        ('-', i2.clone().map(|c| format!("{sum} {c} v̂^m_τ"))),
    ]);
    let _ = writeln!(s, "  dv̂^k_τ/dt = η ({dec})");
    let eps = join_terms(&[
        ('+', Some("TrΩ/2D".into())),
        ('-', Some("Σ_k R^kk A^k".into())),
        ('+', Some(format!("½ Σ_k T0^kk {gg}"))),
        ('+', i2.map(|c| format!("½ Σ_{{k≠m}} T0^km·{c}"))),
    ]);
    let _ = writeln!(s, "  ε = {eps}");
    let _ = writeln!(
        s,
        "  trained bias: dβ^k/dt = η (R^kk E_d2g(λ^k) - T0^kk E_dg_g(λ^k) - Σ_{{m≠k}} T0^km E_dg1_g2(λ^k, λ^m)) \
         with the general-mean forms, and every kernel above at λ^k ~ N(β^k, Q^kk); at β = 0: {}",
        join_terms(&[
            ('+', Some(d2g)),
            ('-', t(t0kk, I::DgG1)),
            ('-', t(&format!("{sum} {t0km}"), I::DgG)),
        ])
    );
    let _ = writeln!(
        s,
        "  truncated SGD: every Σ_m runs over m ≤ k; tied weights: docs/theory.md §5."
    );
    let _ = writeln!(
        s,
        "  inputs with a mean (uncentred images, x ~ N(μ, C)): every kernel at λ^k ~ N(β^k + m^k, Q^kk), \
         B^k + n^k E_d2g(λ^k), the bias drift + n^k A^k, and each mode driven by μ_τ: \
         dw^k_τ/dt += η (μ_τ/√D) F^k, dv̂^k_τ/dt += η (μ_τ/√D) E_g(λ^k), with F^k the bias drift over η, \
         ε - Σ_k n^k E_g(λ^k) (docs/theory.md §5.10)."
    );
    if !undefined.is_empty() {
        let _ = writeln!(
            s,
            "  note: {} undefined (products of distributions): the encoder ODE of this activation does not exist",
            undefined.join(", ")
        );
    }
    s
}
