//! Renderers of the closed-form IR ([`crate::closed`]): Rust tokens (what `#[activation]`
//! emits), an evaluator (run-time derivations), and text / LaTeX (what `aedyn integrals` prints).
//! The Rust code and the evaluator perform the same operations in the same order on the same
//! kernels, so they agree to the last bit up to the compiler's floating-point contraction.

use crate::closed::{Graph, Id, Node};
use crate::kernels as k;
use crate::numbers::{latex_number, text_number};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use rustc_hash::FxHashMap as HashMap;

/// A float literal token with full precision (negative values parenthesised).
pub fn float_tokens(v: f64) -> TokenStream {
    let lit = |v: f64| -> TokenStream {
        let v = if v == 0.0 { 0.0 } else { v };
        proc_macro2::TokenTree::Literal(proc_macro2::Literal::f64_suffixed(v)).into()
    };
    if v < 0.0 {
        let p = lit(-v);
        quote!((-#p))
    } else {
        lit(v)
    }
}

/// Straight-line Rust code evaluating several roots at once (shared subexpressions computed once),
/// as an array `[f64; roots.len()]`.
pub fn rust_many(g: &Graph, roots: &[Id], kernels: &TokenStream) -> TokenStream {
    let (stmts, names) = rust_block(g, roots, kernels);
    quote!({ #(#stmts)* [#(#names),*] })
}

/// Straight-line Rust code evaluating `root` for a Gaussian bound to `n` (`n.mean[i]`,
/// `n.cov[i][j]`), calling the kernels at the path `kernels` (e.g. `::aedyn::kernels`).
pub fn rust(g: &Graph, root: Id, kernels: &TokenStream) -> TokenStream {
    let (stmts, names) = rust_block(g, &[root], kernels);
    let r = &names[0];
    quote!({ #(#stmts)* #r })
}

/// The `let` statements of the nodes the roots depend on, and the roots' names.
fn rust_block(
    g: &Graph,
    roots: &[Id],
    kernels: &TokenStream,
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let order = g.reachable(roots);
    let name = |id: Id| -> TokenStream {
        match g.node(id) {
            Node::Const(b) => float_tokens(f64::from_bits(*b)),
            Node::Mean(i) => {
                let i = *i as usize;
                quote!(n.mean[#i])
            }
            Node::Cov(i, j) => {
                let (i, j) = (*i as usize, *j as usize);
                quote!(n.cov[#i][#j])
            }
            _ => {
                let v = format_ident!("v{}", id);
                quote!(#v)
            }
        }
    };
    let mut stmts = Vec::new();
    for &id in &order {
        let e = match g.node(id) {
            Node::Const(_) | Node::Mean(_) | Node::Cov(..) => continue,
            Node::Add(v) => {
                let t: Vec<_> = v.iter().map(|&c| name(c)).collect();
                joined(&t, quote!(+))
            }
            Node::Mul(v) => {
                let t: Vec<_> = v.iter().map(|&c| name(c)).collect();
                joined(&t, quote!(*))
            }
            Node::Pow(b, h) => {
                let b = name(*b);
                match *h {
                    1 => quote!(#b.sqrt()),
                    -1 => quote!(1.0 / #b.sqrt()),
                    -2 => quote!(1.0 / #b),
                    h if h % 2 == 0 => {
                        let e = h / 2;
                        quote!(#b.powi(#e))
                    }
                    h => quote!(#b.sqrt().powi(#h)),
                }
            }
            Node::Exp(x) => {
                let x = name(*x);
                quote!(#x.exp())
            }
            Node::Erf(x) => {
                let x = name(*x);
                quote!(#kernels::erf(#x))
            }
            Node::Asin(x) => {
                let x = name(*x);
                quote!(#kernels::asin(#x))
            }
            Node::Phi(x) => {
                let x = name(*x);
                quote!(#kernels::phi(#x))
            }
            Node::FloorVar(x) => {
                let x = name(*x);
                quote!(#kernels::floor_var(#x))
            }
            Node::CondVar(x, s) => {
                let (x, s) = (name(*x), name(*s));
                quote!(#kernels::cond_var(#x, #s))
            }
            Node::Schur(a, b, c, d) => {
                let (a, b, c, d) = (name(*a), name(*b), name(*c), name(*d));
                quote!(#kernels::schur(#a, #b, #c, #d))
            }
            Node::CondCov(c, a, b) => {
                let (c, a, b) = (name(*c), name(*a), name(*b));
                quote!(#kernels::cond_cov(#c, #a, #b))
            }
            Node::CondMean(a, b, v) => {
                let (a, b, v) = (name(*a), name(*b), name(*v));
                quote!(#kernels::cond_mean(#a, #b, #v))
            }
            Node::ThresholdVar(v, m, o) => {
                let (v, m, o) = (name(*v), name(*m), name(*o));
                quote!(#kernels::threshold_var(#v, #m, #o))
            }
            Node::Orientation(c, p, d) => {
                let (c, p, d) = (name(*c), name(*p), name(*d));
                quote!(#kernels::orientation(#c, #p, #d))
            }
            Node::ThresholdCov(v) => {
                let t: Vec<_> = v.iter().map(|&c| name(c)).collect();
                quote!(#kernels::threshold_cov(#(#t),*))
            }
            Node::Corr(a, b, c) => {
                let (a, b, c) = (name(*a), name(*b), name(*c));
                quote!(#kernels::corr(#a, #b, #c))
            }
            Node::Orthant1(a, b) => {
                let (a, b) = (name(*a), name(*b));
                quote!(#kernels::orthant1(#a, #b))
            }
            Node::Orthant2(v) => {
                let t: Vec<_> = v.iter().map(|&c| name(c)).collect();
                quote!(#kernels::orthant2(#(#t),*))
            }
            Node::Orthant3(v) => {
                let t: Vec<_> = v.iter().map(|&c| name(c)).collect();
                let (m, s, c) = (&t[0..3], &t[3..6], &t[6..9]);
                quote!(#kernels::orthant3([#(#m),*], [#(#s),*], [#(#c),*]))
            }
            Node::Orthant4(v) => {
                let t: Vec<_> = v.iter().map(|&c| name(c)).collect();
                let (m, s, c) = (&t[0..4], &t[4..8], &t[8..14]);
                quote!(#kernels::orthant4([#(#m),*], [#(#s),*], [#(#c),*]))
            }
        };
        let v = format_ident!("v{}", id);
        stmts.push(quote!(let #v: f64 = #e;));
    }
    (stmts, roots.iter().map(|&r| name(r)).collect())
}

/// `t1 op t2 op …`
fn joined(t: &[TokenStream], op: TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for (i, x) in t.iter().enumerate() {
        if i > 0 {
            out.extend(op.clone());
        }
        out.extend(x.clone());
    }
    out
}

/// Evaluates `root` at the Gaussian `(mean, cov)` of any dimension (entries beyond the
/// integral's arity unused), through a [`Program`].
pub fn eval(g: &Graph, root: Id, mean: &[f64], cov: &[Vec<f64>]) -> f64 {
    let n = mean.len();
    let flat: Vec<f64> = cov
        .iter()
        .flat_map(|row| (0..n).map(move |j| row.get(j).copied().unwrap_or(0.0)))
        .collect();
    Program::new(g, root).eval_n(mean, &flat, n, &mut Vec::new())
}

/// Text or LaTeX of a closed form: the expression, then `where` lines naming subexpressions
/// that occur more than once and are not short.
pub fn formula(g: &Graph, root: Id, latex: bool) -> String {
    let order = g.reachable(&[root]);
    let mut refs: HashMap<Id, usize> = HashMap::default();
    for &id in &order {
        for c in g.children(id) {
            *refs.entry(c).or_default() += 1;
        }
    }
    let mut names: HashMap<Id, String> = HashMap::default();
    let mut defs: Vec<Id> = Vec::new();
    for &id in &order {
        if id == root || refs.get(&id).copied().unwrap_or(0) < 2 {
            continue;
        }
        if matches!(
            g.node(id),
            Node::Const(_)
                | Node::Mean(_)
                | Node::Cov(..)
                | Node::FloorVar(_)
                | Node::CondVar(..)
                | Node::CondCov(..)
                | Node::ThresholdVar(..)
                | Node::ThresholdCov(..)
                | Node::Orientation(..)
        ) {
            continue;
        }
        if g.tree_size(id) < 8 {
            continue;
        }
        let n = defs.len() + 1;
        names.insert(
            id,
            if latex {
                format!("u_{{{n}}}")
            } else {
                format!("u{n}")
            },
        );
        defs.push(id);
    }
    let r = Renderer {
        g,
        latex,
        names: &names,
    };
    let mut s = r.expr(root, 0, true);
    if !defs.is_empty() {
        let lines: Vec<String> = defs
            .iter()
            .map(|&d| format!("{} = {}", names[&d], r.expr(d, 0, true)))
            .collect();
        if latex {
            s = format!("{s},\\quad \\text{{where }} {}", lines.join(",\\ "));
        } else {
            s = format!("{s}\n    where {}", lines.join("\n          "));
        }
    }
    s
}

struct Renderer<'a> {
    g: &'a Graph,
    latex: bool,
    names: &'a HashMap<Id, String>,
}

/// Precedence: 0 = sum, 1 = factor of a product, 2 = base of a power.
impl Renderer<'_> {
    fn expr(&self, id: Id, prec: u8, top: bool) -> String {
        if !top && let Some(n) = self.names.get(&id) {
            return n.clone();
        }
        let g = self.g;
        let l = self.latex;
        match g.node(id) {
            Node::Const(b) => {
                let v = f64::from_bits(*b);
                let t = if l { latex_number(v) } else { text_number(v) };
                if (t.starts_with('-') && prec >= 1) || (prec >= 1 && !l && top_level_slash(&t)) {
                    format!("({t})")
                } else {
                    t
                }
            }
            Node::Mean(i) => {
                if l {
                    format!("\\mu_{{{}}}", i + 1)
                } else {
                    format!("μ{}", i + 1)
                }
            }
            Node::Cov(i, j) => {
                if l {
                    format!("C_{{{}{}}}", i + 1, j + 1)
                } else {
                    format!("C{}{}", i + 1, j + 1)
                }
            }
            Node::Add(_) | Node::CondMean(..) => {
                // constants first, then by creation order (a conditional mean prints as its sum)
                let mut terms: Vec<Id> = match g.node(id) {
                    Node::CondMean(a, b, _) => vec![*a, *b],
                    _ => g.children(id),
                };
                terms.sort_by_key(|&t| (g.as_const(t).is_none(), t));
                let mut s = String::new();
                for (i, &t) in terms.iter().enumerate() {
                    let part = self.expr(t, 0, false);
                    if i > 0 {
                        match part.strip_prefix('-') {
                            Some(rest) => {
                                s.push_str(" - ");
                                s.push_str(rest);
                                continue;
                            }
                            None => s.push_str(" + "),
                        }
                    }
                    s.push_str(&part);
                }
                self.paren(s, prec >= 1)
            }
            Node::Mul(v) => {
                let mut coef = 1.0;
                let mut num: Vec<String> = Vec::new();
                let mut den: Vec<String> = Vec::new();
                for &f in v {
                    if let Some(c) = g.as_const(f) {
                        coef *= c;
                        continue;
                    }
                    match g.node(f) {
                        Node::Pow(b, h) if *h < 0 && !self.names.contains_key(&f) => {
                            den.push(self.power(*b, -h, den.len() + 1 < v.len()))
                        }
                        _ => num.push(self.expr(f, 1, false)),
                    }
                }
                let s = self.product(coef, num, den);
                self.paren(s, prec >= 2 || (prec >= 1 && coef < 0.0))
            }
            Node::Pow(b, h) => {
                if *h < 0 {
                    let d = self.power(*b, -h, false);
                    let s = if l {
                        format!("\\frac{{1}}{{{d}}}")
                    } else {
                        format!("1/{d}")
                    };
                    self.paren(s, prec >= 1)
                } else {
                    self.power(*b, *h, prec >= 2)
                }
            }
            Node::Exp(x) => self.call(if l { "\\exp" } else { "exp" }, *x),
            Node::Erf(x) => self.call(if l { "\\operatorname{erf}" } else { "erf" }, *x),
            Node::Asin(x) => self.call(if l { "\\arcsin" } else { "asin" }, *x),
            Node::Phi(x) => self.call(if l { "\\phi" } else { "φ" }, *x),
            Node::FloorVar(x)
            | Node::CondVar(x, _)
            | Node::CondCov(x, ..)
            | Node::ThresholdVar(x, ..) => self.expr(*x, prec, false),
            Node::ThresholdCov(v) => self.expr(v[0], prec, false),
            Node::Orientation(c, ..) => self.expr(*c, prec, false),
            // (display graphs spell it out with the simplifier's operations, Graph::rebuild)
            Node::Schur(a, b, c, d) => {
                let times = if l { " " } else { "·" };
                let s = format!(
                    "{} - {}{times}{}/{}",
                    self.expr(*a, 0, false),
                    self.expr(*b, 1, false),
                    self.expr(*c, 1, false),
                    self.expr(*d, 2, false)
                );
                self.paren(s, prec >= 1)
            }
            Node::Corr(a, b, c) => {
                let s = self.ratio_sqrt(*a, &[*b, *c]);
                self.paren(s, prec >= 1)
            }
            Node::Orthant1(m, s) => {
                let arg = self.ratio_sqrt(*m, &[*s]);
                if l {
                    format!("\\Phi\\left({arg}\\right)")
                } else {
                    format!("Φ({arg})")
                }
            }
            Node::Orthant3(v) => {
                let h: Vec<String> = (0..3).map(|i| self.ratio_sqrt(v[i], &[v[3 + i]])).collect();
                let r = [
                    self.ratio_sqrt(v[6], &[v[3], v[4]]),
                    self.ratio_sqrt(v[7], &[v[3], v[5]]),
                    self.ratio_sqrt(v[8], &[v[4], v[5]]),
                ];
                if l {
                    format!("\\Phi_3\\left({}; {}\\right)", h.join(", "), r.join(", "))
                } else {
                    format!("Φ₃({}; {})", h.join(", "), r.join(", "))
                }
            }
            Node::Orthant4(v) => {
                let h: Vec<String> = (0..4)
                    .map(|i| {
                        if g.is_zero(v[i]) {
                            "0".to_string()
                        } else {
                            self.ratio_sqrt(v[i], &[v[4 + i]])
                        }
                    })
                    .collect();
                let r: Vec<String> = crate::kernels::PAIRS4
                    .iter()
                    .enumerate()
                    .map(|(n, &(i, j))| self.ratio_sqrt(v[8 + n], &[v[4 + i], v[4 + j]]))
                    .collect();
                if l {
                    format!(
                        "\\Phi_4^{{\\mathrm{{num}}}}\\left({}; {}\\right)",
                        h.join(", "),
                        r.join(", ")
                    )
                } else {
                    format!("Φ₄[numerical, ≤ 1e-10]({}; {})", h.join(", "), r.join(", "))
                }
            }
            Node::Orthant2(v) => {
                let h = self.ratio_sqrt(v[0], &[v[2]]);
                let k = self.ratio_sqrt(v[1], &[v[3]]);
                let r = self.ratio_sqrt(v[4], &[v[2], v[3]]);
                if l {
                    format!("\\Phi_2\\left({h}, {k}; {r}\\right)")
                } else {
                    format!("Φ₂({h}, {k}; {r})")
                }
            }
        }
    }

    fn paren(&self, s: String, yes: bool) -> String {
        match (yes, self.latex) {
            (false, _) => s,
            (true, true) => format!("\\left({s}\\right)"),
            (true, false) => format!("({s})"),
        }
    }

    fn call(&self, f: &str, x: Id) -> String {
        let a = self.expr(x, 0, false);
        if self.latex {
            format!("{f}\\left({a}\\right)")
        } else {
            format!("{f}({a})")
        }
    }

    /// `b^(h/2)` for h > 0.
    fn power(&self, b: Id, h: i32, as_factor: bool) -> String {
        let base_is_atom =
            matches!(self.g.node(b), Node::Mean(_) | Node::Cov(..)) || self.names.contains_key(&b);
        let l = self.latex;
        let s = match h {
            2 => self.expr(b, 1, false),
            1 => {
                let x = self.expr(b, 0, false);
                if l {
                    format!("\\sqrt{{{x}}}")
                } else if base_is_atom {
                    format!("√{x}")
                } else {
                    format!("√({x})")
                }
            }
            h if h % 2 == 0 => {
                let x = self.expr(b, 2, false);
                if l {
                    format!("{{{x}}}^{{{}}}", h / 2)
                } else {
                    format!("{x}^{}", h / 2)
                }
            }
            h => {
                let x = self.expr(b, 2, false);
                if l {
                    format!("{{{x}}}^{{{h}/2}}")
                } else {
                    format!("{x}^({h}/2)")
                }
            }
        };
        let _ = as_factor;
        s
    }

    fn product(&self, coef: f64, num: Vec<String>, den: Vec<String>) -> String {
        let l = self.latex;
        let join = |parts: &[String]| {
            if l {
                latex_product(parts)
            } else {
                parts.join("·")
            }
        };
        let neg = coef < 0.0;
        let c = coef.abs();
        let mut numer = join(&num);
        let ctext = if l { latex_number(c) } else { text_number(c) };
        if c != 1.0 {
            let ct = if !l && top_level_slash(&ctext) && !numer.is_empty() {
                format!("({ctext})")
            } else {
                ctext
            };
            numer = if numer.is_empty() {
                ct
            } else {
                join(&[ct, numer])
            };
        }
        if numer.is_empty() {
            numer = "1".into();
        }
        let s = if den.is_empty() {
            numer
        } else if l {
            format!("\\frac{{{numer}}}{{{}}}", join(&den))
        } else if den.len() == 1 {
            format!("{numer}/{}", den[0])
        } else {
            format!("{numer}/({})", join(&den))
        };
        if neg { format!("-{s}") } else { s }
    }

    /// `a/√(b1·b2…)`
    fn ratio_sqrt(&self, a: Id, under: &[Id]) -> String {
        let l = self.latex;
        let a_t = self.expr(a, 1, false);
        let parts: Vec<String> = under.iter().map(|&u| self.expr(u, 1, false)).collect();
        if l {
            format!("\\frac{{{a_t}}}{{\\sqrt{{{}}}}}", latex_product(&parts))
        } else if parts.len() == 1 && is_atom_text(&parts[0]) {
            format!("{a_t}/√{}", parts[0])
        } else if under.len() == 1 {
            format!("{a_t}/√({})", self.expr(under[0], 0, false))
        } else {
            format!("{a_t}/√({})", parts.join("·"))
        }
    }
}

/// LaTeX factors side by side, separated by a space (juxtaposition is multiplication), or by
/// `\cdot` before a factor that shows a number first (`\sqrt{2} \cdot 3`, not √23;
/// `2 \cdot \frac{1}{3}`, not 2⅓). A thin space `\,` per product would be a macro expansion each,
/// which KaTeX caps at 1000 per formula.
pub fn latex_product(factors: &[String]) -> String {
    let numeric_start = |f: &str| {
        let after = |prefix: &str| {
            f.strip_prefix(prefix)
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        };
        f.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            || after("\\frac{")
            || after("\\tfrac{")
    };
    let mut s = String::new();
    for f in factors {
        if !s.is_empty() {
            s.push_str(if numeric_start(f) { " \\cdot " } else { " " });
        }
        s.push_str(f);
    }
    s
}

/// Whether rendered text is one atom — a name (`u8`, `C12`, `μ1`) or a plain number — that `√`
/// may take without parentheses: `√u8·u21` would read as `(√u8)·u21`.
fn is_atom_text(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '.')
}

/// Whether `s` has a `/` outside parentheses (then it needs parentheses as a factor).
fn top_level_slash(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '/' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_root_of_a_product_keeps_its_parentheses() {
        // Φ₂'s standardised means m/√s with s = C11·C22: `√C11·C22` would read as (√C11)·C22
        let mut g = Graph::new();
        let (m1, m2) = (g.mean(0), g.mean(1));
        let (c11, c22, c12) = (g.cov(0, 0), g.cov(1, 1), g.cov(0, 1));
        let s = g.mul(vec![c11, c22]);
        let p = g.orthant2(m1, m2, s, c22, c12);
        let text = formula(&g, p, false);
        assert!(text.starts_with("Φ₂(μ1/√(C11·C22), μ2/√C22; "), "{text}");
        assert!(is_atom_text("u8") && is_atom_text("C12") && is_atom_text("0.5"));
        assert!(!is_atom_text("u8·u21") && !is_atom_text("1 + C11") && !is_atom_text(""));
    }

    #[test]
    fn text_of_a_small_formula() {
        let mut g = Graph::new();
        let (c11, c12) = (g.cov(0, 0), g.cov(0, 1));
        let one = g.one();
        let s = g.add(vec![one, c11]);
        let r = g.pow(s, -3);
        let f = g.mul(vec![c12, r]);
        let f = g.scale((2.0 / std::f64::consts::PI).sqrt(), f);
        assert_eq!(formula(&g, f, false), "√(2/π)·C12/(1 + C11)^(3/2)");
        assert_eq!(
            formula(&g, f, true),
            "\\frac{\\sqrt{2/\\pi} C_{12}}{{\\left(1 + C_{11}\\right)}^{3/2}}"
        );
        let v = eval(&g, f, &[0.0; 2], &[vec![0.5, 0.3], vec![0.3, 1.0]]);
        let want = (2.0 / std::f64::consts::PI).sqrt() * 0.3 / 1.5f64.powf(1.5);
        assert!((v - want).abs() < 1e-15);
    }
}

/// One instruction of a [`Program`]: a node with its children as slots of earlier instructions.
#[derive(Clone, Debug)]
enum Op {
    Const(f64),
    Mean(usize),
    Cov(usize, usize),
    Add(Vec<usize>),
    Mul(Vec<usize>),
    Pow(usize, i32),
    Exp(usize),
    Erf(usize),
    Asin(usize),
    Phi(usize),
    FloorVar(usize),
    CondVar(usize, usize),
    Schur(usize, usize, usize, usize),
    CondCov(usize, usize, usize),
    CondMean(usize, usize, usize),
    ThresholdVar(usize, usize, usize),
    ThresholdCov([usize; 7]),
    Orientation(usize, usize, usize),
    Corr(usize, usize, usize),
    Orthant1(usize, usize),
    Orthant2([usize; 5]),
    Orthant3([usize; 9]),
    Orthant4([usize; 14]),
}

/// A closed form compiled to straight-line instructions for fast repeated evaluation at run time
/// (the evaluator of activations written as expressions). Same operations, same order as
/// [`eval`] and the emitted Rust code.
#[derive(Clone, Debug)]
pub struct Program {
    ops: Vec<Op>,
    /// slots of the roots, in order
    outputs: Vec<usize>,
}

impl Program {
    /// Compiles the nodes `root` depends on.
    pub fn new(g: &Graph, root: Id) -> Program {
        Self::many(g, &[root])
    }

    /// Compiles several roots into one program (shared subexpressions evaluated once).
    pub fn many(g: &Graph, roots: &[Id]) -> Program {
        let order = g.reachable(roots);
        let slot: HashMap<Id, usize> = order.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let s = |c: &Id| slot[c];
        let ops = order
            .iter()
            .map(|&id| match g.node(id) {
                Node::Const(b) => Op::Const(f64::from_bits(*b)),
                Node::Mean(i) => Op::Mean(*i as usize),
                Node::Cov(i, j) => Op::Cov(*i as usize, *j as usize),
                Node::Add(v) => Op::Add(v.iter().map(s).collect()),
                Node::Mul(v) => Op::Mul(v.iter().map(s).collect()),
                Node::Pow(b, h) => Op::Pow(s(b), *h),
                Node::Exp(x) => Op::Exp(s(x)),
                Node::Erf(x) => Op::Erf(s(x)),
                Node::Asin(x) => Op::Asin(s(x)),
                Node::Phi(x) => Op::Phi(s(x)),
                Node::FloorVar(x) => Op::FloorVar(s(x)),
                Node::CondVar(x, sc) => Op::CondVar(s(x), s(sc)),
                Node::Schur(a, b, c, d) => Op::Schur(s(a), s(b), s(c), s(d)),
                Node::CondCov(c, a, b) => Op::CondCov(s(c), s(a), s(b)),
                Node::CondMean(a, b, v) => Op::CondMean(s(a), s(b), s(v)),
                Node::ThresholdVar(v, m, o) => Op::ThresholdVar(s(v), s(m), s(o)),
                Node::ThresholdCov(v) => Op::ThresholdCov(v.map(|x| slot[&x])),
                Node::Orientation(c, p, d) => Op::Orientation(s(c), s(p), s(d)),
                Node::Corr(a, b, c) => Op::Corr(s(a), s(b), s(c)),
                Node::Orthant1(a, b) => Op::Orthant1(s(a), s(b)),
                Node::Orthant2(v) => {
                    Op::Orthant2([s(&v[0]), s(&v[1]), s(&v[2]), s(&v[3]), s(&v[4])])
                }
                Node::Orthant3(v) => Op::Orthant3(v.map(|x| slot[&x])),
                Node::Orthant4(v) => Op::Orthant4(v.map(|x| slot[&x])),
            })
            .collect();
        let outputs = roots.iter().map(|r| slot[r]).collect();
        Program { ops, outputs }
    }

    /// Number of instructions (the scratch length [`Program::eval_with`] needs).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The value at `(mean, cov)` (3×3 embedding; entries beyond the arity unused), using
    /// `scratch` (resized as needed, so repeated calls do not allocate).
    pub fn eval_with(&self, mean: &[f64; 3], cov: &[[f64; 3]; 3], scratch: &mut Vec<f64>) -> f64 {
        self.run(mean, cov.as_flattened(), 3, scratch);
        scratch[self.outputs[0]]
    }

    /// The values of all roots at `(mean, cov)` into `out`.
    pub fn eval_many(
        &self,
        mean: &[f64; 3],
        cov: &[[f64; 3]; 3],
        scratch: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        self.run(mean, cov.as_flattened(), 3, scratch);
        for (o, &slot) in out.iter_mut().zip(&self.outputs) {
            *o = scratch[slot];
        }
    }

    /// The value over a Gaussian of any dimension `n`: `mean` has `n` entries, `cov` is the
    /// row-major `n × n` covariance.
    pub fn eval_n(&self, mean: &[f64], cov: &[f64], n: usize, scratch: &mut Vec<f64>) -> f64 {
        self.run(mean, cov, n, scratch);
        scratch[self.outputs[0]]
    }

    fn run(&self, mean: &[f64], cov: &[f64], n: usize, scratch: &mut Vec<f64>) {
        scratch.clear();
        for op in &self.ops {
            let v = |i: &usize| scratch[*i];
            let x = match op {
                Op::Const(c) => *c,
                Op::Mean(i) => mean[*i],
                Op::Cov(i, j) => cov[*i * n + *j],
                Op::Add(t) => {
                    let mut it = t.iter();
                    let first = it.next().map(v).unwrap_or(0.0);
                    it.fold(first, |acc, c| acc + v(c))
                }
                Op::Mul(t) => {
                    let mut it = t.iter();
                    let first = it.next().map(v).unwrap_or(1.0);
                    it.fold(first, |acc, c| acc * v(c))
                }
                Op::Pow(b, h) => {
                    let b = v(b);
                    match *h {
                        1 => b.sqrt(),
                        -1 => 1.0 / b.sqrt(),
                        -2 => 1.0 / b,
                        h if h % 2 == 0 => b.powi(h / 2),
                        h => b.sqrt().powi(h),
                    }
                }
                Op::Exp(x) => v(x).exp(),
                Op::Erf(x) => k::erf(v(x)),
                Op::Asin(x) => k::asin(v(x)),
                Op::Phi(x) => k::phi(v(x)),
                Op::FloorVar(x) => k::floor_var(v(x)),
                Op::CondVar(x, sc) => k::cond_var(v(x), v(sc)),
                Op::Schur(a, b, c, d) => k::schur(v(a), v(b), v(c), v(d)),
                Op::CondCov(c, a, b) => k::cond_cov(v(c), v(a), v(b)),
                Op::CondMean(a, b, w) => k::cond_mean(v(a), v(b), v(w)),
                Op::ThresholdVar(a, m, o) => k::threshold_var(v(a), v(m), v(o)),
                Op::Orientation(c, p, d) => k::orientation(v(c), v(p), v(d)),
                Op::ThresholdCov(t) => k::threshold_cov(
                    v(&t[0]),
                    v(&t[1]),
                    v(&t[2]),
                    v(&t[3]),
                    v(&t[4]),
                    v(&t[5]),
                    v(&t[6]),
                ),
                Op::Corr(a, b, c) => k::corr(v(a), v(b), v(c)),
                Op::Orthant1(a, b) => k::orthant1(v(a), v(b)),
                Op::Orthant2(t) => k::orthant2(v(&t[0]), v(&t[1]), v(&t[2]), v(&t[3]), v(&t[4])),
                Op::Orthant3(t) => k::orthant3(
                    [v(&t[0]), v(&t[1]), v(&t[2])],
                    [v(&t[3]), v(&t[4]), v(&t[5])],
                    [v(&t[6]), v(&t[7]), v(&t[8])],
                ),
                Op::Orthant4(t) => k::orthant4(
                    [v(&t[0]), v(&t[1]), v(&t[2]), v(&t[3])],
                    [v(&t[4]), v(&t[5]), v(&t[6]), v(&t[7])],
                    [
                        v(&t[8]),
                        v(&t[9]),
                        v(&t[10]),
                        v(&t[11]),
                        v(&t[12]),
                        v(&t[13]),
                    ],
                ),
            };
            scratch.push(x);
        }
    }
}
