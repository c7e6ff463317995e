//! Expression IR of an activation body, its parser from `syn::Expr`, symbolic differentiation,
//! simplification, and rendering (Rust code, text, LaTeX).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use std::fmt::Write as _;
use syn::spanned::Spanned;

/// Unary functions of the accepted syntax. `Delta(n)` is the n-th derivative of Dirac's delta,
/// produced only by differentiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    Erf,
    Exp,
    Tanh,
    Sigmoid,
    Softplus,
    Relu,
    Heaviside,
    Sign,
    Abs,
    Delta(u32),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Const(f64),
    X,
    Add(Vec<Expr>),
    Mul(Vec<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Powi(Box<Expr>, i32),
    Call(Func, Box<Expr>),
    /// `max(e, c)` with a constant c
    Max(Box<Expr>, f64),
    /// `min(e, c)` with a constant c
    Min(Box<Expr>, f64),
}

pub const SUPPORTED: &str = "supported: float/int literals, consts of std::f64::consts, the argument, \
`+ - * /`, unary `-`, parentheses, `.powi(N)`, `.abs()`, `.max(e)`, `.min(e)`, `.signum()`, `.exp()`, \
`.tanh()`, `.clamp(lo, hi)`, `(1.0 + u.exp()).ln()` and `u.exp().ln_1p()` (softplus), and erf, exp, relu, heaviside, sign, sigmoid, softplus applied to any sub-expression";

fn unsupported(span: Span, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!("#[activation]: unsupported {what}; {SUPPORTED}"),
    )
}

/// Parses the body expression; `arg` is the name of the function's argument.
pub fn parse(e: &syn::Expr, arg: &str) -> syn::Result<Expr> {
    use syn::Expr as E;
    match e {
        E::Paren(p) => parse(&p.expr, arg),
        E::Group(g) => parse(&g.expr, arg),
        E::Block(b) if b.block.stmts.len() == 1 => match &b.block.stmts[0] {
            syn::Stmt::Expr(inner, None) => parse(inner, arg),
            s => Err(unsupported(s.span(), "statement")),
        },
        E::Lit(l) => {
            // a suffix other than a float type is a typo for a product (`2x`, `0.5x` lex as the
            // literals 2 and 0.5 with the suffix `x`), never a number to keep silently
            let (value, suffix) = match &l.lit {
                syn::Lit::Float(f) => (f.base10_parse::<f64>()?, f.suffix()),
                syn::Lit::Int(i) => (i.base10_parse::<f64>()?, i.suffix()),
                other => return Err(unsupported(other.span(), "literal")),
            };
            if !matches!(suffix, "" | "f64") {
                return Err(syn::Error::new(
                    l.span(),
                    format!(
                        "#[activation]: literal `{}` has the suffix `{suffix}`; write a product \
                         with `*` (e.g. `2.0 * x`)",
                        l.lit.to_token_stream()
                    ),
                ));
            }
            if !value.is_finite() {
                return Err(syn::Error::new(
                    l.span(),
                    format!(
                        "#[activation]: literal `{}` is not a finite f64",
                        l.lit.to_token_stream()
                    ),
                ));
            }
            Ok(Expr::Const(value))
        }
        E::Path(p) => {
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let last = segs.last().map(String::as_str).unwrap_or("");
            if segs.len() == 1 && last == arg {
                return Ok(Expr::X);
            }
            named_const(last)
                .map(Expr::Const)
                .ok_or_else(|| unsupported(p.span(), &format!("name `{}`", segs.join("::"))))
        }
        E::Unary(u) => match u.op {
            syn::UnOp::Neg(_) => Ok(neg(parse(&u.expr, arg)?)),
            // `x ** 2` parses as `x * (*2)`
            syn::UnOp::Deref(_) => Err(unsupported(
                u.span(),
                "unary operator `*` (`**` is no power in Rust: write `.powi(N)`)",
            )),
            op => Err(unsupported(
                u.span(),
                &format!("unary operator `{}`", op.to_token_stream()),
            )),
        },
        E::Binary(b) => {
            let (l, r) = (parse(&b.left, arg)?, parse(&b.right, arg)?);
            match b.op {
                syn::BinOp::Add(_) => Ok(Expr::Add(vec![l, r])),
                syn::BinOp::Sub(_) => Ok(Expr::Add(vec![l, neg(r)])),
                syn::BinOp::Mul(_) => Ok(Expr::Mul(vec![l, r])),
                syn::BinOp::Div(_) => {
                    // a divisor that is identically 0 (`0.0`, `x - x`) is a division by zero,
                    // never a value: refused where it is written
                    if simplify(r.clone()) == Expr::Const(0.0) {
                        return Err(syn::Error::new(
                            b.right.span(),
                            format!(
                                "#[activation]: division by zero: the divisor `{}` is identically 0",
                                b.right.to_token_stream()
                            ),
                        ));
                    }
                    Ok(Expr::Div(Box::new(l), Box::new(r)))
                }
                op => Err(unsupported(
                    b.span(),
                    &format!("binary operator `{}`", op.to_token_stream()),
                )),
            }
        }
        E::Call(c) => {
            let name = match &*c.func {
                E::Path(p) => p
                    .path
                    .segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .unwrap_or_default(),
                other => return Err(unsupported(other.span(), "call")),
            };
            let func = match name.as_str() {
                "erf" => Func::Erf,
                "exp" => Func::Exp,
                "relu" => Func::Relu,
                "heaviside" => Func::Heaviside,
                "sign" => Func::Sign,
                "sigmoid" => Func::Sigmoid,
                "softplus" => Func::Softplus,
                "tanh" => Func::Tanh,
                _ => return Err(unsupported(c.func.span(), &format!("function `{name}`"))),
            };
            if c.args.len() != 1 {
                return Err(unsupported(c.span(), "number of arguments (expected one)"));
            }
            Ok(Expr::Call(func, Box::new(parse(&c.args[0], arg)?)))
        }
        E::MethodCall(m) => {
            let recv = parse(&m.receiver, arg)?;
            let method = m.method.to_string();
            let one_const = |what: &str| -> syn::Result<f64> {
                if m.args.len() != 1 {
                    return Err(unsupported(
                        m.span(),
                        &format!("`.{what}` arity (expected one argument)"),
                    ));
                }
                let a = parse(&m.args[0], arg)?;
                match simplify(a) {
                    Expr::Const(c) => Ok(c),
                    _ => Err(unsupported(
                        m.args[0].span(),
                        &format!("non-constant argument of `.{what}`"),
                    )),
                }
            };
            // a method of a constant (`(2.0 * PI).sqrt()`, `2.0_f64.ln()`) is a constant
            if let Some(folded) = constant_method(&method, &recv, &m.args, arg) {
                return folded.map_err(|why| unsupported(m.span(), &why));
            }
            match method.as_str() {
                "powi" => {
                    let n = one_const("powi")?;
                    if n.fract() != 0.0 || n.abs() > 64.0 {
                        return Err(unsupported(
                            m.args[0].span(),
                            "exponent of `.powi` (an integer up to 64)",
                        ));
                    }
                    Ok(Expr::Powi(Box::new(recv), n as i32))
                }
                "max" | "min" => {
                    if m.args.len() != 1 {
                        return Err(unsupported(
                            m.span(),
                            &format!("`.{method}` arity (expected one argument)"),
                        ));
                    }
                    let other = simplify(parse(&m.args[0], arg)?);
                    Ok(match (method.as_str(), other) {
                        ("max", Expr::Const(c)) => Expr::Max(Box::new(recv), c),
                        ("min", Expr::Const(c)) => Expr::Min(Box::new(recv), c),
                        // max(a, b) = b + relu(a − b), min(a, b) = a − relu(a − b)
                        (which, b) => {
                            let diff = Expr::Add(vec![recv.clone(), neg(b.clone())]);
                            let r = Expr::Call(Func::Relu, Box::new(diff));
                            if which == "max" {
                                Expr::Add(vec![b, r])
                            } else {
                                Expr::Add(vec![recv, neg(r)])
                            }
                        }
                    })
                }
                "clamp" => {
                    if m.args.len() != 2 {
                        return Err(unsupported(
                            m.span(),
                            "`.clamp` arity (expected two constant arguments)",
                        ));
                    }
                    let bound = |i: usize| -> syn::Result<f64> {
                        match simplify(parse(&m.args[i], arg)?) {
                            Expr::Const(c) => Ok(c),
                            _ => Err(unsupported(
                                m.args[i].span(),
                                "non-constant argument of `.clamp`",
                            )),
                        }
                    };
                    let (lo, hi) = (bound(0)?, bound(1)?);
                    if lo > hi || lo.is_nan() || hi.is_nan() {
                        return Err(unsupported(m.span(), "`.clamp(lo, hi)` with lo > hi"));
                    }
                    Ok(Expr::Min(Box::new(Expr::Max(Box::new(recv), lo)), hi))
                }
                "abs" | "signum" | "exp" | "tanh" | "ln" | "ln_1p" if !m.args.is_empty() => Err(
                    unsupported(m.span(), &format!("arguments of `.{method}()`")),
                ),
                // the logarithms of softplus: ln(1 + e^u) and ln_1p(e^u) are softplus(u)
                "ln" | "ln_1p" => softplus_of(&method, simplify(recv)).ok_or_else(|| {
                    unsupported(
                        m.span(),
                        &format!(
                            "`.{method}()` of this argument (only `(1.0 + u.exp()).ln()` and \
                             `u.exp().ln_1p()`, which are softplus(u), are supported)"
                        ),
                    )
                }),
                "abs" => Ok(Expr::Call(Func::Abs, Box::new(recv))),
                "signum" => Ok(Expr::Call(Func::Sign, Box::new(recv))),
                "exp" => Ok(Expr::Call(Func::Exp, Box::new(recv))),
                "tanh" => Ok(Expr::Call(Func::Tanh, Box::new(recv))),
                _ => Err(unsupported(m.method.span(), &format!("method `.{method}`"))),
            }
        }
        other => Err(unsupported(other.span(), "expression")),
    }
}

/// The value of `recv.method(args)` when `recv` and `args` are constants and `method` is one of
/// f64's elementary functions (`None` otherwise: the method is parsed as a function of x, or
/// refused); an error when the value is not a finite number.
fn constant_method(
    method: &str,
    recv: &Expr,
    args: &syn::punctuated::Punctuated<syn::Expr, syn::Token![,]>,
    arg: &str,
) -> Option<Result<Expr, String>> {
    let Expr::Const(c) = simplify(recv.clone()) else {
        return None;
    };
    let consts: Vec<f64> = args
        .iter()
        .map(|a| match parse(a, arg).ok().map(simplify) {
            Some(Expr::Const(v)) => Some(v),
            _ => None,
        })
        .collect::<Option<Vec<f64>>>()?;
    let value = match (method, consts.as_slice()) {
        ("sqrt", []) => c.sqrt(),
        ("cbrt", []) => c.cbrt(),
        ("ln", []) => c.ln(),
        ("log2", []) => c.log2(),
        ("log10", []) => c.log10(),
        ("ln_1p", []) => c.ln_1p(),
        ("exp", []) => c.exp(),
        ("exp2", []) => c.exp2(),
        ("exp_m1", []) => c.exp_m1(),
        ("sin", []) => c.sin(),
        ("cos", []) => c.cos(),
        ("tan", []) => c.tan(),
        ("asin", []) => c.asin(),
        ("acos", []) => c.acos(),
        ("atan", []) => c.atan(),
        ("sinh", []) => c.sinh(),
        ("cosh", []) => c.cosh(),
        ("tanh", []) => c.tanh(),
        ("abs", []) => c.abs(),
        // the project's sign: sign(0) = 0 (f64::signum gives ±1 at ±0)
        ("signum", []) => crate::kernels::sign(c),
        ("recip", []) => c.recip(),
        ("powi", [n]) if n.fract() == 0.0 && n.abs() <= 1024.0 => c.powi(*n as i32),
        ("powf", [p]) => c.powf(*p),
        ("max", [b]) => c.max(*b),
        ("min", [b]) => c.min(*b),
        _ => return None,
    };
    Some(if value.is_finite() {
        Ok(Expr::Const(value))
    } else {
        Err(format!(
            "constant `.{method}()` of {c}: not a finite number ({value})"
        ))
    })
}

/// `softplus(u)` when `recv` is `1 + e^u` (for `.ln()`) or `e^u` (for `.ln_1p()`).
fn softplus_of(method: &str, recv: Expr) -> Option<Expr> {
    let exp_arg = |e: &Expr| match e {
        Expr::Call(Func::Exp, u) => Some((**u).clone()),
        _ => None,
    };
    let u = match (method, &recv) {
        ("ln_1p", e) => exp_arg(e)?,
        ("ln", Expr::Add(terms)) if terms.len() == 2 => match (&terms[0], &terms[1]) {
            (Expr::Const(c), e) | (e, Expr::Const(c)) if *c == 1.0 => exp_arg(e)?,
            _ => return None,
        },
        _ => return None,
    };
    Some(Expr::Call(Func::Softplus, Box::new(u)))
}

fn named_const(name: &str) -> Option<f64> {
    use std::f64::consts::*;
    Some(match name {
        "PI" => PI,
        "E" => E,
        "TAU" => TAU,
        "SQRT_2" => SQRT_2,
        "FRAC_1_SQRT_2" => FRAC_1_SQRT_2,
        "FRAC_2_SQRT_PI" => FRAC_2_SQRT_PI,
        "FRAC_1_PI" => FRAC_1_PI,
        "FRAC_2_PI" => FRAC_2_PI,
        "FRAC_PI_2" => FRAC_PI_2,
        "FRAC_PI_3" => FRAC_PI_3,
        "FRAC_PI_4" => FRAC_PI_4,
        "FRAC_PI_6" => FRAC_PI_6,
        "FRAC_PI_8" => FRAC_PI_8,
        "LN_2" => LN_2,
        "LN_10" => LN_10,
        "LOG2_E" => LOG2_E,
        "LOG10_E" => LOG10_E,
        "LOG2_10" => LOG2_10,
        "LOG10_2" => LOG10_2,
        _ => return None,
    })
}

pub fn neg(e: Expr) -> Expr {
    Expr::Mul(vec![Expr::Const(-1.0), e])
}

fn c(v: f64) -> Expr {
    Expr::Const(v)
}

fn call(f: Func, e: Expr) -> Expr {
    Expr::Call(f, Box::new(e))
}

/// d/dx of an expression (distributional: Θ' = δ, δ⁽ⁿ⁾' = δ⁽ⁿ⁺¹⁾), simplified.
pub fn diff(e: &Expr) -> Expr {
    simplify(diff_raw(e))
}

fn diff_raw(e: &Expr) -> Expr {
    match e {
        Expr::Const(_) => c(0.0),
        Expr::X => c(1.0),
        Expr::Add(v) => Expr::Add(v.iter().map(diff_raw).collect()),
        Expr::Mul(v) => Expr::Add(
            (0..v.len())
                .map(|i| {
                    let mut f = v.clone();
                    f[i] = diff_raw(&v[i]);
                    Expr::Mul(f)
                })
                .collect(),
        ),
        Expr::Div(a, b) => Expr::Div(
            Box::new(Expr::Add(vec![
                Expr::Mul(vec![diff_raw(a), (**b).clone()]),
                neg(Expr::Mul(vec![(**a).clone(), diff_raw(b)])),
            ])),
            Box::new(Expr::Powi(b.clone(), 2)),
        ),
        Expr::Powi(a, n) => Expr::Mul(vec![
            c(*n as f64),
            Expr::Powi(a.clone(), n - 1),
            diff_raw(a),
        ]),
        Expr::Max(a, k) => Expr::Mul(vec![
            call(Func::Heaviside, Expr::Add(vec![(**a).clone(), c(-k)])),
            diff_raw(a),
        ]),
        Expr::Min(a, k) => Expr::Mul(vec![
            call(Func::Heaviside, Expr::Add(vec![c(*k), neg((**a).clone())])),
            diff_raw(a),
        ]),
        Expr::Call(f, a) => {
            let inner = diff_raw(a);
            let a = (**a).clone();
            let outer = match f {
                Func::Erf => Expr::Mul(vec![
                    c(std::f64::consts::FRAC_2_SQRT_PI),
                    call(Func::Exp, neg(Expr::Powi(Box::new(a), 2))),
                ]),
                Func::Exp => call(Func::Exp, a),
                Func::Tanh => Expr::Add(vec![
                    c(1.0),
                    neg(Expr::Powi(Box::new(call(Func::Tanh, a)), 2)),
                ]),
                Func::Sigmoid => Expr::Mul(vec![
                    call(Func::Sigmoid, a.clone()),
                    Expr::Add(vec![c(1.0), neg(call(Func::Sigmoid, a))]),
                ]),
                Func::Softplus => call(Func::Sigmoid, a),
                Func::Relu => call(Func::Heaviside, a),
                Func::Heaviside => call(Func::Delta(0), a),
                Func::Sign => Expr::Mul(vec![c(2.0), call(Func::Delta(0), a)]),
                Func::Abs => call(Func::Sign, a),
                Func::Delta(n) => call(Func::Delta(n + 1), a),
            };
            Expr::Mul(vec![outer, inner])
        }
    }
}

/// Constant folding and flattening: drops zeros and ones, merges constants, flattens nested sums
/// and products, folds functions of constants.
pub fn simplify(e: Expr) -> Expr {
    match e {
        Expr::Add(v) => {
            let mut terms = Vec::new();
            let mut k = 0.0;
            for t in v.into_iter().map(simplify) {
                match t {
                    Expr::Const(x) => k += x,
                    Expr::Add(inner) => {
                        for u in inner {
                            if let Expr::Const(x) = u {
                                k += x
                            } else {
                                terms.push(u)
                            }
                        }
                    }
                    other => terms.push(other),
                }
            }
            let mut terms = merge_like_terms(terms);
            if k != 0.0 {
                terms.push(Expr::Const(k));
            }
            match terms.len() {
                0 => c(0.0),
                1 => terms.pop().unwrap_or(c(0.0)),
                _ => Expr::Add(terms),
            }
        }
        Expr::Mul(v) => {
            let mut factors = Vec::new();
            let mut k = 1.0;
            for f in v.into_iter().map(simplify) {
                match f {
                    Expr::Const(x) => k *= x,
                    Expr::Mul(inner) => {
                        for u in inner {
                            if let Expr::Const(x) = u {
                                k *= x
                            } else {
                                factors.push(u)
                            }
                        }
                    }
                    other => factors.push(other),
                }
            }
            if k == 0.0 {
                return c(0.0);
            }
            let mut factors = merge_powers(factors);
            // canonical order, so that like terms compare equal (x·e and e·x)
            factors.sort_by_cached_key(|f| format!("{f:?}"));
            if factors.is_empty() {
                return c(k);
            }
            if k != 1.0 {
                factors.insert(0, c(k));
            }
            if factors.len() == 1 {
                factors.pop().unwrap_or(c(0.0))
            } else {
                Expr::Mul(factors)
            }
        }
        Expr::Div(a, b) => match (simplify(*a), simplify(*b)) {
            (Expr::Const(x), Expr::Const(y)) if y != 0.0 => c(x / y),
            (Expr::Const(0.0), _) => c(0.0),
            (a, Expr::Const(y)) if y != 0.0 => simplify(Expr::Mul(vec![c(1.0 / y), a])),
            (a, b) => Expr::Div(Box::new(a), Box::new(b)),
        },
        Expr::Powi(a, n) => match (simplify(*a), n) {
            (_, 0) => c(1.0),
            (a, 1) => a,
            (Expr::Const(x), n) => c(x.powi(n)),
            // (a^m)^n = a^(mn) for integer m, n
            (Expr::Powi(b, m), n) if m.checked_mul(n).is_some() => simplify(Expr::Powi(b, m * n)),
            (a, n) => Expr::Powi(Box::new(a), n),
        },
        Expr::Max(a, k) => match simplify(*a) {
            Expr::Const(x) => c(x.max(k)),
            a => Expr::Max(Box::new(a), k),
        },
        Expr::Min(a, k) => match simplify(*a) {
            Expr::Const(x) => c(x.min(k)),
            a => Expr::Min(Box::new(a), k),
        },
        Expr::Call(f, a) => match (f, simplify(*a)) {
            (Func::Delta(_), Expr::Const(x)) if x != 0.0 => c(0.0),
            (Func::Delta(n), a) => Expr::Call(Func::Delta(n), Box::new(a)),
            (f, Expr::Const(x)) => c(eval_func(f, x)),
            (f, a) => Expr::Call(f, Box::new(a)),
        },
        other => other,
    }
}

/// `a·a^n → a^(n+1)`: equal bases in a product are collected into one power.
fn merge_powers(factors: Vec<Expr>) -> Vec<Expr> {
    let mut acc: Vec<(Expr, i32)> = Vec::new();
    for f in factors {
        let (base, n) = match f {
            Expr::Powi(b, n) => (*b, n),
            other => (other, 1),
        };
        if let Some(slot) = acc.iter_mut().find(|(b, _)| *b == base) {
            slot.1 += n;
        } else {
            acc.push((base, n));
        }
    }
    acc.into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(b, n)| {
            if n == 1 {
                b
            } else {
                Expr::Powi(Box::new(b), n)
            }
        })
        .collect()
}

/// `c1·t + c2·t → (c1 + c2)·t` for structurally equal non-constant parts.
fn merge_like_terms(terms: Vec<Expr>) -> Vec<Expr> {
    let mut acc: Vec<(f64, Expr)> = Vec::new();
    for t in terms {
        let (k, rest) = match t {
            Expr::Mul(mut v) if matches!(v.first(), Some(Expr::Const(_))) => {
                let Expr::Const(k) = v.remove(0) else {
                    unreachable!("checked")
                };
                (
                    k,
                    if v.len() == 1 {
                        v.pop().unwrap_or(c(1.0))
                    } else {
                        Expr::Mul(v)
                    },
                )
            }
            other => (1.0, other),
        };
        if let Some(slot) = acc.iter_mut().find(|(_, r)| *r == rest) {
            slot.0 += k;
        } else {
            acc.push((k, rest));
        }
    }
    acc.into_iter()
        .filter(|(k, _)| *k != 0.0)
        .map(|(k, r)| {
            if k == 1.0 {
                r
            } else {
                match r {
                    Expr::Mul(mut v) => {
                        v.insert(0, c(k));
                        Expr::Mul(v)
                    }
                    other => Expr::Mul(vec![c(k), other]),
                }
            }
        })
        .collect()
}

/// Pointwise value of a function (δ is zero pointwise; Θ(0) = ½).
pub fn eval_func(f: Func, x: f64) -> f64 {
    match f {
        Func::Erf => libm::erf(x),
        Func::Exp => x.exp(),
        Func::Tanh => x.tanh(),
        Func::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Func::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        Func::Relu => x.max(0.0),
        Func::Heaviside => crate::kernels::heaviside(x),
        Func::Sign => crate::kernels::sign(x),
        Func::Abs => x.abs(),
        Func::Delta(_) => 0.0,
    }
}

/// A Dirac term, or a product with one: zero pointwise.
fn pointwise_zero(e: &Expr) -> bool {
    match e {
        Expr::Call(Func::Delta(_), _) => true,
        Expr::Mul(v) => v.iter().any(pointwise_zero),
        Expr::Powi(a, n) => *n > 0 && pointwise_zero(a),
        _ => false,
    }
}

/// A factor that is exactly zero on a region: Θ, relu, δ (pointwise 0).
pub(crate) fn is_gate(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Call(Func::Heaviside | Func::Relu | Func::Delta(_), _)
    )
}

/// Evaluates the expression at `x` (pointwise: Dirac terms are 0, Θ(0) = ½).
pub fn eval(e: &Expr, x: f64) -> f64 {
    match e {
        Expr::Const(v) => *v,
        Expr::X => x,
        Expr::Add(v) => v.iter().map(|t| eval(t, x)).sum(),
        Expr::Mul(v) => {
            // a factor that vanishes on a region (Θ, relu, δ) makes the product 0 there, even
            // where another factor overflows (exp(x)·Θ(2 − exp(x)) at x = 800)
            let mut p = 1.0;
            for t in v {
                let f = eval(t, x);
                if f == 0.0 && is_gate(t) {
                    return 0.0;
                }
                p *= f;
            }
            p
        }
        Expr::Div(a, b) => eval(a, x) / eval(b, x),
        Expr::Powi(a, n) => eval(a, x).powi(*n),
        Expr::Max(a, k) => eval(a, x).max(*k),
        Expr::Min(a, k) => eval(a, x).min(*k),
        Expr::Call(f, a) => eval_func(*f, eval(a, x)),
    }
}

fn lit(v: f64) -> TokenStream {
    let v = if v == 0.0 { 0.0 } else { v };
    proc_macro2::Literal::f64_suffixed(v).into_token_stream_compat()
}

trait LitCompat {
    fn into_token_stream_compat(self) -> TokenStream;
}
impl LitCompat for proc_macro2::Literal {
    fn into_token_stream_compat(self) -> TokenStream {
        let t = proc_macro2::TokenTree::Literal(self);
        let s: TokenStream = t.into();
        s
    }
}

/// A float literal token with full precision (negative values parenthesised).
pub fn float_tokens(v: f64) -> TokenStream {
    if v < 0.0 {
        let p = lit(-v);
        quote!((-#p))
    } else {
        lit(v)
    }
}

/// `(t1 op t2 op ...)`
pub fn join(t: &[TokenStream], op: TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for (i, x) in t.iter().enumerate() {
        if i > 0 {
            out.extend(op.clone());
        }
        out.extend(x.clone());
    }
    quote!((#out))
}

/// Rust code evaluating the expression at the variable `x`.
pub fn to_tokens(e: &Expr) -> TokenStream {
    match e {
        Expr::Const(v) => float_tokens(*v),
        Expr::X => quote!(x),
        Expr::Add(v) => {
            let t: Vec<_> = v
                .iter()
                .filter(|t| !pointwise_zero(t))
                .map(to_tokens)
                .collect();
            if t.is_empty() {
                return quote!(0.0_f64);
            }
            join(&t, quote!(+))
        }
        Expr::Mul(_) | Expr::Powi(..) if pointwise_zero(e) => quote!(0.0_f64),
        Expr::Mul(v) => {
            let (gates, rest): (Vec<&Expr>, Vec<&Expr>) = v.iter().partition(|t| is_gate(t));
            // constants and powers of x stay finite where a gate is 0: a plain product
            let finite = |t: &&Expr| match t {
                Expr::Const(_) | Expr::X => true,
                Expr::Powi(a, _) => matches!(**a, Expr::X),
                _ => false,
            };
            if gates.is_empty() || rest.iter().all(finite) {
                let t: Vec<_> = v.iter().map(to_tokens).collect();
                return join(&t, quote!(*));
            }
            let g: Vec<_> = gates.into_iter().map(to_tokens).collect();
            let r: Vec<_> = rest.into_iter().map(to_tokens).collect();
            let (g, r) = (join(&g, quote!(*)), join(&r, quote!(*)));
            quote!({
                let gate = #g;
                if gate == 0.0 { 0.0 } else { gate * #r }
            })
        }
        Expr::Div(a, b) => {
            let (a, b) = (to_tokens(a), to_tokens(b));
            quote!((#a / #b))
        }
        Expr::Powi(a, n) => {
            let a = to_tokens(a);
            quote!(#a.powi(#n))
        }
        Expr::Max(a, k) => {
            let (a, k) = (to_tokens(a), float_tokens(*k));
            quote!(#a.max(#k))
        }
        Expr::Min(a, k) => {
            let (a, k) = (to_tokens(a), float_tokens(*k));
            quote!(#a.min(#k))
        }
        Expr::Call(f, a) => {
            let a = to_tokens(a);
            match f {
                Func::Erf => quote!(::aedyn::prelude::erf(#a)),
                Func::Exp => quote!(#a.exp()),
                Func::Tanh => quote!(#a.tanh()),
                Func::Sigmoid => quote!(::aedyn::prelude::sigmoid(#a)),
                Func::Softplus => quote!(::aedyn::prelude::softplus(#a)),
                Func::Relu => quote!(::aedyn::prelude::relu(#a)),
                Func::Heaviside => quote!(::aedyn::prelude::heaviside(#a)),
                Func::Sign => quote!(::aedyn::prelude::sign(#a)),
                Func::Abs => quote!(#a.abs()),
                Func::Delta(_) => quote!({ let _ = #a; 0.0_f64 }),
            }
        }
    }
}

/// Short human-readable rendering of a number: recognises common constants.
pub fn num_text(v: f64) -> String {
    use std::f64::consts::*;
    let named: [(f64, &str); 10] = [
        (FRAC_1_SQRT_2, "1/√2"),
        (SQRT_2, "√2"),
        (FRAC_2_SQRT_PI, "2/√π"),
        (FRAC_2_SQRT_PI * FRAC_1_SQRT_2, "√(2/π)"),
        (PI, "π"),
        (FRAC_1_PI, "1/π"),
        (FRAC_2_PI, "2/π"),
        (0.5 * FRAC_2_SQRT_PI * FRAC_1_SQRT_2, "1/√(2π)"),
        (2.0 * FRAC_2_SQRT_PI, "4/√π"),
        (FRAC_2_SQRT_PI * SQRT_2, "2√(2/π)"),
    ];
    for (val, name) in named {
        if (v - val).abs() < 1e-13 * val {
            return name.to_string();
        }
        if (v + val).abs() < 1e-13 * val {
            return format!("-{name}");
        }
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn func_name(f: Func) -> String {
    match f {
        Func::Erf => "erf".into(),
        Func::Exp => "exp".into(),
        Func::Tanh => "tanh".into(),
        Func::Sigmoid => "sigmoid".into(),
        Func::Softplus => "softplus".into(),
        Func::Relu => "relu".into(),
        Func::Heaviside => "Θ".into(),
        Func::Sign => "sign".into(),
        Func::Abs => "abs".into(),
        Func::Delta(0) => "δ".into(),
        Func::Delta(n) => format!("δ{}", "'".repeat(n as usize)),
    }
}

/// Plain-text rendering, e.g. `2/√π*exp(-(1/√2*x)^2)`.
pub fn to_text(e: &Expr) -> String {
    let mut s = String::new();
    write_text(e, &mut s, 0);
    s
}

fn write_text(e: &Expr, s: &mut String, prec: u8) {
    match e {
        Expr::Const(v) => {
            let t = num_text(*v);
            if prec > 1 && t.starts_with('-') {
                let _ = write!(s, "({t})");
            } else {
                s.push_str(&t)
            }
        }
        Expr::X => s.push('x'),
        Expr::Add(v) => {
            if prec > 0 {
                s.push('(');
            }
            for (i, t) in v.iter().enumerate() {
                let mut part = String::new();
                write_text(t, &mut part, 1);
                if i > 0 {
                    if let Some(rest) = part.strip_prefix('-') {
                        let _ = write!(s, " - {rest}");
                        continue;
                    }
                    s.push_str(" + ");
                }
                s.push_str(&part);
            }
            if prec > 0 {
                s.push(')');
            }
        }
        Expr::Mul(_) if prec > 2 => {
            s.push('(');
            write_text(e, s, 0);
            s.push(')');
        }
        Expr::Mul(v) => {
            let mut start = 0;
            if let (Some(Expr::Const(k)), true) = (v.first(), v.len() > 1)
                && *k < 0.0
            {
                s.push('-');
                if *k == -1.0 {
                    start = 1;
                } else {
                    s.push_str(&num_text(-k));
                    s.push('*');
                    start = 1;
                }
            }
            for (i, t) in v.iter().enumerate().skip(start) {
                if i > start {
                    s.push('*');
                }
                write_text(t, s, 2);
            }
        }
        Expr::Div(a, b) => {
            write_text(a, s, 2);
            s.push('/');
            write_text(b, s, 3);
        }
        Expr::Powi(a, n) => {
            // a power of a power (when not merged) is parenthesised: (a^m)^n
            let nested = matches!(**a, Expr::Powi(..));
            if nested {
                s.push('(');
            }
            write_text(a, s, 3);
            if nested {
                s.push(')');
            }
            let _ = write!(s, "^{n}");
        }
        Expr::Max(a, k) => {
            s.push_str("max(");
            write_text(a, s, 0);
            let _ = write!(s, ", {})", num_text(*k));
        }
        Expr::Min(a, k) => {
            s.push_str("min(");
            write_text(a, s, 0);
            let _ = write!(s, ", {})", num_text(*k));
        }
        Expr::Call(f, a) => {
            s.push_str(&func_name(*f));
            s.push('(');
            write_text(a, s, 0);
            s.push(')');
        }
    }
}

/// The largest magnitude of a constant in `e` (literals, folded products, clamp bounds).
pub fn largest_constant(e: &Expr) -> f64 {
    match e {
        Expr::Const(v) => v.abs(),
        Expr::X => 0.0,
        Expr::Add(v) | Expr::Mul(v) => v.iter().map(largest_constant).fold(0.0, f64::max),
        Expr::Div(a, b) => largest_constant(a).max(largest_constant(b)),
        Expr::Powi(a, _) | Expr::Call(_, a) => largest_constant(a),
        Expr::Max(a, k) | Expr::Min(a, k) => largest_constant(a).max(k.abs()),
    }
}

/// LaTeX rendering.
pub fn to_latex(e: &Expr) -> String {
    match e {
        Expr::Const(v) => latex_num(*v),
        Expr::X => "x".into(),
        Expr::Add(v) => {
            let parts: Vec<String> = v.iter().map(to_latex).collect();
            let mut s = String::from("\\left(");
            for (i, p) in parts.iter().enumerate() {
                if i > 0 && !p.starts_with('-') {
                    s.push_str(" + ");
                }
                s.push_str(p);
            }
            s.push_str("\\right)");
            s
        }
        Expr::Mul(v) => crate::render::latex_product(&v.iter().map(to_latex).collect::<Vec<_>>()),
        Expr::Div(a, b) => format!("\\frac{{{}}}{{{}}}", to_latex(a), to_latex(b)),
        Expr::Powi(a, n) => format!("{{{}}}^{{{n}}}", to_latex(a)),
        Expr::Max(a, k) => format!("\\max\\left({}, {}\\right)", to_latex(a), latex_num(*k)),
        Expr::Min(a, k) => format!("\\min\\left({}, {}\\right)", to_latex(a), latex_num(*k)),
        Expr::Call(f, a) => {
            let name = match f {
                Func::Erf => "\\operatorname{erf}".to_string(),
                Func::Exp => "\\exp".into(),
                Func::Tanh => "\\tanh".into(),
                Func::Sigmoid => "\\sigma".into(),
                Func::Softplus => "\\operatorname{softplus}".into(),
                Func::Relu => "\\operatorname{relu}".into(),
                Func::Heaviside => "\\Theta".into(),
                Func::Sign => "\\operatorname{sign}".into(),
                Func::Abs => "\\operatorname{abs}".into(),
                Func::Delta(0) => "\\delta".into(),
                Func::Delta(n) => format!("\\delta^{{({n})}}"),
            };
            format!("{name}\\left({}\\right)", to_latex(a))
        }
    }
}

fn latex_num(v: f64) -> String {
    num_text(v)
        .replace("√(2/π)", "\\sqrt{2/\\pi}")
        .replace("1/√(2π)", "\\frac{1}{\\sqrt{2\\pi}}")
        .replace("2/√π", "\\frac{2}{\\sqrt{\\pi}}")
        .replace("1/√2", "\\frac{1}{\\sqrt{2}}")
        .replace("√2", "\\sqrt{2}")
        .replace("π", "\\pi")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Expr {
        let e: syn::Expr = syn::parse_str(src).expect("valid rust");
        simplify(parse(&e, "x").expect("supported"))
    }

    /// `2x` and `0.5x` lex as literals with the suffix `x`: refused, naming the literal, not
    /// read as the constants 2 and 0.5; a literal beyond f64 is refused too.
    #[test]
    fn suffixed_and_infinite_literals_are_refused() {
        for (src, token) in [
            ("0.5x + relu(x)", "0.5x"),
            ("2x", "2x"),
            ("1e-3x * erf(x)", "1e-3x"),
            ("x * 2u8", "2u8"),
            ("1e400 * x", "1e400"),
        ] {
            let e: syn::Expr = syn::parse_str(src).expect("valid rust");
            let err = parse(&e, "x").expect_err(src).to_string();
            assert!(err.contains(&format!("`{token}`")), "{src}: {err}");
        }
        assert_eq!(eval(&p("2.0f64 * x + 3"), 1.5), 6.0);
    }

    /// `.max(e)`, `.min(e)` with a non-constant e: `b + relu(a − b)`, `a − relu(a − b)`.
    #[test]
    fn max_and_min_of_two_expressions() {
        let leaky = p("x.max(0.01 * x)");
        let lower = p("x.min(x.tanh())");
        for x in [-2.0f64, -0.3, 0.0, 0.7, 3.1] {
            assert!((eval(&leaky, x) - x.max(0.01 * x)).abs() < 1e-15, "{x}");
            assert!((eval(&lower, x) - x.min(x.tanh())).abs() < 1e-15, "{x}");
        }
        assert!(matches!(p("x.max(0.5)"), Expr::Max(..)));
    }

    /// Powers of powers merge, `(a^m)^n = a^(mn)`, so derivatives of quotients print without
    /// the ambiguous `a^2^2` (read as a^(2^2) = a^4 by some, (a^2)^2 by others: here both are a^4,
    /// but `(x^2 + 1)^2^3` would not be).
    #[test]
    fn powers_of_powers_merge_and_print_unambiguously() {
        let g = p("1.0 / (x*x + 1.0)");
        let d2 = simplify(diff(&simplify(diff(&g))));
        assert!(!to_text(&d2).contains("^2^"), "{}", to_text(&d2));
        assert_eq!(
            to_text(&p("(x.powi(2) + 1.0).powi(3).powi(2)")),
            "(x^2 + 1)^6"
        );
        assert_eq!(to_text(&p("x.powi(-1).powi(-1)")), "x");
        for x in [-1.1f64, 0.3, 2.0] {
            let want = (-2.0 * (x * x + 1.0).powi(2) + 8.0 * (x * x + 1.0) * x * x)
                / (x * x + 1.0).powi(4);
            assert!((eval(&d2, x) - want).abs() < 1e-13, "{x}");
        }
        // a power of a power that does not merge (overflowing exponent) keeps its parentheses
        let big = Expr::Powi(Box::new(Expr::Powi(Box::new(Expr::X), i32::MAX)), 2);
        assert_eq!(to_text(&big), format!("(x^{})^2", i32::MAX));
    }

    #[test]
    fn derivative_of_erf_is_gaussian() {
        let g = p("erf(x / SQRT_2)");
        let d = diff(&g);
        for x in [-1.3f64, 0.0, 0.4, 2.2] {
            let want = (2.0 / std::f64::consts::PI).sqrt() * (-x * x / 2.0).exp();
            assert!((eval(&d, x) - want).abs() < 1e-15);
        }
        assert_eq!(to_text(&d), "√(2/π)*exp(-(1/√2*x)^2)");
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for src in [
            "0.5 * x * (1.0 + erf(x / SQRT_2))",
            "x.tanh()",
            "sigmoid(2.0*x) - x.powi(3)/3.0",
            "softplus(x)",
            "(x*x + 1.0).exp() / (x.exp() + 2.0)",
        ] {
            let g = p(src);
            let d = diff(&g);
            for x in [-1.1, 0.3, 0.9] {
                let h = 1e-6;
                let fd = (eval(&g, x + h) - eval(&g, x - h)) / (2.0 * h);
                assert!(
                    (eval(&d, x) - fd).abs() < 1e-7,
                    "{src} at {x}: {} vs {fd}",
                    eval(&d, x)
                );
            }
        }
    }

    #[test]
    fn kinks_become_distributions() {
        assert_eq!(to_text(&diff(&p("relu(x)"))), "Θ(x)");
        assert_eq!(to_text(&diff(&diff(&p("relu(x)")))), "δ(x)");
        assert_eq!(to_text(&diff(&p("x.signum()"))), "2*δ(x)");
        assert_eq!(to_text(&diff(&p("x.max(0.1)"))), "Θ(x - 0.1)");
    }

    /// Softplus written through its logarithm is softplus; other logarithms are refused, naming
    /// `.ln()`.
    #[test]
    fn logarithms_of_softplus_are_softplus() {
        for src in [
            "(1.0 + x.exp()).ln()",
            "(x.exp() + 1.0).ln()",
            "x.exp().ln_1p()",
        ] {
            assert_eq!(p(src), p("softplus(x)"), "{src}");
        }
        assert_eq!(p("(1.0 + (2.0 * x).exp()).ln()"), p("softplus(2.0 * x)"));
        for src in ["(2.0 + x.exp()).ln()", "x.ln()", "x.ln_1p()"] {
            let e: syn::Expr = syn::parse_str(src).expect("valid rust");
            let err = parse(&e, "x").expect_err("not softplus");
            assert!(err.to_string().contains("of this argument"), "{src}: {err}");
        }
    }

    #[test]
    fn unsupported_syntax_is_an_error_at_the_subexpression() {
        let e: syn::Expr = syn::parse_str("x + x.sin()").expect("valid rust");
        let err = parse(&e, "x").expect_err("sin unsupported");
        assert!(err.to_string().contains("method `.sin`"), "{err}");
        let e: syn::Expr = syn::parse_str("y * 2.0").expect("valid rust");
        assert!(
            parse(&e, "x")
                .expect_err("unknown name")
                .to_string()
                .contains("name `y`")
        );
        // operators are named; `**` is explained
        for (src, want) in [
            ("x ** 2", "`**` is no power"),
            ("!x", "unary operator `!`"),
            ("x % 2.0", "binary operator `%`"),
        ] {
            let err = parse_error(src);
            assert!(err.contains(want), "{src}: {err}");
        }
    }

    /// The message of `src`'s parse error in x (valid Rust that the attribute refuses).
    fn parse_error(src: &str) -> String {
        let e: syn::Expr = syn::parse_str(src).expect("valid rust");
        parse(&e, "x").expect_err(src).to_string()
    }

    #[test]
    fn division_by_an_identically_zero_divisor_is_refused_where_written() {
        for (src, divisor) in [
            ("x / 0.0", "`0.0`"),
            ("(x - x) / (x - x)", "`(x - x)`"),
            ("1.0 + x / (2.0 - 2.0)", "`(2.0 - 2.0)`"),
        ] {
            let err = parse_error(src);
            assert!(
                err.contains("division by zero") && err.contains(divisor),
                "{src}: {err}"
            );
        }
        // a divisor that vanishes only somewhere is no such division
        let e: syn::Expr = syn::parse_str("x / (x + 2.0)").expect("valid rust");
        assert!(parse(&e, "x").is_ok());
    }
}
