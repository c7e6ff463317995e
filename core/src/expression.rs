//! Activations written as expressions at run time (`activation = "x * erf(x)"` in a config,
//! `aedyn integrals 'EXPR'`): derived by the same library as `#[activation]`
//! (`aedyn-symbolic`), evaluated by compiled straight-line programs of the same closed forms
//! (equal to the attribute's generated code to 1e-14; tested over every declared activation).

use crate::activation::{
    Activation, Formula, Gauss3, Integral, Method, default_pair_kernels, default_unit_kernels,
};
use crate::error::{Error, Result};
use aedyn_symbolic::activation::{
    ActivationDerivation, Outcome, derive_activation, latex_trace, parse_expression,
};
use aedyn_symbolic::catalogue::{CATALOGUE, Piece};
use aedyn_symbolic::expr::{self, Expr};
use aedyn_symbolic::render::Program;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;

/// An activation derived at run time. Instances live for the whole process (they are leaked,
/// like the `'static` data the attribute generates) and are cached by (expression, quadrature).
pub struct ExprActivation {
    name: &'static str,
    pointwise: [Expr; 4],
    /// per catalogue entry: the compiled closed form, if any
    programs: Vec<Option<Program>>,
    outcomes: Vec<Method>,
    formulas: &'static [Formula],
    texts: [&'static str; 4],
    /// Gauss–Hermite rules for the 1-, 2- and 3-variable fallbacks
    rules: Vec<(Vec<f64>, Vec<f64>)>,
    /// fused ODE kernels (general means, zero means), as the attribute generates them
    fused: Option<Fused>,
    /// declared with `quadrature = true`
    quadrature: bool,
}

/// Compiled fused kernels: unit and pair, general and zero-mean.
struct Fused {
    unit: Program,
    pair: Program,
    unit_zero: Program,
    pair_zero: Program,
}

thread_local! {
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

type Cache = Mutex<HashMap<(String, bool), &'static ExprActivation>>;

fn cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl ExprActivation {
    /// Parses and derives `src` (an expression in `x`). Errors name the offending part.
    pub fn derive(src: &str, quadrature: bool) -> Result<&'static ExprActivation> {
        let key = (src.trim().to_string(), quadrature);
        if let Some(hit) = cache().lock().ok().and_then(|c| c.get(&key).copied()) {
            return Ok(hit);
        }
        let err = |message: String| Error::Expression {
            expression: src.to_string(),
            message,
        };
        let g = parse_expression(src).map_err(err)?;
        let d = derive_activation(g, quadrature).map_err(|r| err(r.message))?;
        let act: &'static ExprActivation =
            Box::leak(Box::new(Self::from_derivation(src, d, quadrature)));
        if let Ok(mut c) = cache().lock() {
            c.insert(key, act);
        }
        Ok(act)
    }

    fn from_derivation(src: &str, mut d: ActivationDerivation, quadrature: bool) -> Self {
        let fused = d.ode_kernels().map(|k| Fused {
            unit: Program::many(&d.graph, &k.unit),
            pair: Program::many(&d.graph, &k.pair),
            unit_zero: Program::many(&d.graph, &k.unit_zero),
            pair_zero: Program::many(&d.graph, &k.pair_zero),
        });
        let mut programs = Vec::new();
        let mut outcomes = Vec::new();
        let mut formulas = Vec::new();
        for (i, integral) in d.integrals.iter().enumerate() {
            let spec = integral.spec;
            let (method, program, trace) = match &integral.outcome {
                Outcome::Closed(root) => (
                    Method::ClosedForm,
                    Some(Program::new(&d.graph, *root)),
                    integral.trace.join("\n"),
                ),
                Outcome::Quadrature(why) => (
                    Method::Quadrature,
                    None,
                    format!("no closed form ({why}); Gauss–Hermite quadrature"),
                ),
                Outcome::Undefined(why) => (Method::Undefined, None, format!("undefined: {why}")),
            };
            let printed = integral.printed.clone().unwrap_or_default();
            formulas.push(Formula {
                integral: Integral::ALL[i],
                definition: spec.definition,
                method,
                derivation_latex: leak(latex_trace(&trace)),
                derivation: leak(trace),
                latex: spec.latex,
                general: leak(printed.general),
                zero_mean: leak(printed.zero_mean),
                general_latex: leak(printed.general_latex),
                zero_mean_latex: leak(printed.zero_mean_latex),
            });
            programs.push(program);
            outcomes.push(method);
        }
        let texts = d.derivatives_text().map(leak);
        let rules = aedyn_symbolic::hermite::ORDERS
            .iter()
            .map(|&n| aedyn_symbolic::hermite::rule(n))
            .collect();
        ExprActivation {
            name: leak(src.trim().to_string()),
            pointwise: d.pointwise,
            programs,
            outcomes,
            formulas: Box::leak(formulas.into_boxed_slice()),
            texts,
            rules,
            fused,
            quadrature,
        }
    }

    fn piece(&self, k: usize, x: f64) -> f64 {
        expr::eval(&self.pointwise[k], x)
    }

    /// Gauss–Hermite value of catalogue entry `i` (the attribute's fallback, same orders).
    fn quadrature(&self, i: usize, n: &Gauss3) -> f64 {
        let spec = &CATALOGUE[i];
        let value = |xs: [f64; 3]| -> f64 {
            spec.pieces
                .iter()
                .map(|p| match *p {
                    Piece::G(v, k) => self.piece(k, xs[v]),
                    Piece::X(v, p) => xs[v].powi(p as i32),
                })
                .product()
        };
        let (z2, w2) = &self.rules[1];
        if spec.variant == "I3" {
            return crate::quad::gh_linear_middle(z2, w2, n, |x0, x2| {
                self.piece(1, x0) * self.piece(0, x2)
            });
        }
        match spec.arity {
            1 => {
                let (z, w) = &self.rules[0];
                crate::quad::gh1(z, w, n, |x| value([x, 0.0, 0.0]))
            }
            2 => crate::quad::gh2(z2, w2, n, |x, y| value([x, y, 0.0])),
            _ => {
                let (z, w) = &self.rules[2];
                crate::quad::gh3(z, w, n, |x, y, u| value([x, y, u]))
            }
        }
    }
}

impl Activation for ExprActivation {
    fn name(&self) -> &'static str {
        self.name
    }
    fn expression(&self) -> &'static str {
        self.name
    }
    fn allows_quadrature(&self) -> bool {
        self.quadrature
    }
    fn g(&self, x: f64) -> f64 {
        self.piece(0, x)
    }
    fn dg(&self, x: f64) -> f64 {
        self.piece(1, x)
    }
    fn d2g(&self, x: f64) -> f64 {
        self.piece(2, x)
    }
    fn d3g(&self, x: f64) -> f64 {
        self.piece(3, x)
    }
    fn integral(&self, which: Integral, n: &Gauss3) -> f64 {
        let i = which.index();
        match (&self.programs[i], self.outcomes[i]) {
            (Some(p), _) => SCRATCH.with(|s| p.eval_with(&n.mean, &n.cov, &mut s.borrow_mut())),
            (None, Method::Quadrature) => self.quadrature(i, n),
            _ => f64::NAN,
        }
    }
    fn formulas(&self) -> &'static [Formula] {
        self.formulas
    }
    fn unit_kernels(&self, mean: f64, var: f64, bias: bool) -> [f64; 7] {
        let Some(f) = &self.fused else {
            return default_unit_kernels(self, mean, var, bias);
        };
        let m = [mean, 0.0, 0.0];
        let c = [[var, 0.0, 0.0], [0.0; 3], [0.0; 3]];
        let p = if mean == 0.0 { &f.unit_zero } else { &f.unit };
        let mut out = [0.0; 7];
        SCRATCH.with(|s| p.eval_many(&m, &c, &mut s.borrow_mut(), &mut out));
        out
    }
    fn pair_kernels(&self, n: &Gauss3, bias: bool) -> [f64; 6] {
        let Some(f) = &self.fused else {
            return default_pair_kernels(self, n, bias);
        };
        let p = if n.mean[0] == 0.0 && n.mean[1] == 0.0 {
            &f.pair_zero
        } else {
            &f.pair
        };
        let mut out = [0.0; 6];
        SCRATCH.with(|s| p.eval_many(&n.mean, &n.cov, &mut s.borrow_mut(), &mut out));
        out
    }
    fn derivatives_text(&self) -> [&'static str; 4] {
        self.texts
    }
}
