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
use aedyn_symbolic::render::Program;
use aedyn_symbolic::tape::Tape;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;

/// An activation derived at run time. Instances live for the whole process (they are leaked,
/// like the `'static` data the attribute generates) and are cached by (expression, quadrature).
pub struct ExprActivation {
    name: &'static str,
    /// per catalogue entry: the compiled closed form, if any
    programs: Vec<Option<Program>>,
    outcomes: Vec<Method>,
    formulas: &'static [Formula],
    texts: [&'static str; 4],
    /// the composite quadrature's rule, when some integral has no closed form
    rule: Option<crate::quad::Rule>,
    /// where g or a derivative jumps (quadrature only)
    breaks: Vec<f64>,
    /// fused ODE kernels (general means, zero means), as the attribute generates them
    fused: Option<Fused>,
    /// declared with `quadrature = true`
    quadrature: bool,
    /// g … g''' compiled to straight-line code (their pointwise values, bit for bit)
    tapes: [Tape; 4],
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
    /// the registers of [`ExprActivation::piece`]'s tapes
    static POINT: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// A compiled pointwise piece at `x`, its registers in this thread's buffer (a fresh one if that
/// is in use).
fn at_point(tape: &Tape, x: f64) -> f64 {
    POINT.with(|regs| match regs.try_borrow_mut() {
        Ok(mut regs) => tape.eval(x, &mut regs),
        Err(_) => tape.eval(x, &mut Vec::new()),
    })
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
                    format!("no closed form ({why}); composite Gauss–Legendre quadrature"),
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
        let tapes: [Tape; 4] = std::array::from_fn(|k| Tape::new(&d.pointwise[k]));
        let rule = outcomes
            .contains(&Method::Quadrature)
            .then(|| crate::quad::Rule::resolve(&|k, x| at_point(&tapes[k], x), &d.breaks));
        ExprActivation {
            tapes,
            breaks: std::mem::take(&mut d.breaks),
            name: leak(src.trim().to_string()),
            programs,
            outcomes,
            formulas: Box::leak(formulas.into_boxed_slice()),
            texts,
            rule,
            fused,
            quadrature,
        }
    }

    /// g (k = 0) … g''' (k = 3) at x, pointwise (Dirac terms 0).
    fn piece(&self, k: usize, x: f64) -> f64 {
        at_point(&self.tapes[k], x)
    }

    /// Composite-quadrature value of catalogue entry `i` (as the attribute's fallback).
    fn quadrature(&self, i: usize, n: &Gauss3) -> f64 {
        match &self.rule {
            Some(rule) => {
                crate::quad::composite::expectation_of(&|k, x| self.piece(k, x), rule, i, n)
            }
            None => f64::NAN,
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
    fn quadrature_rule(&self) -> Option<&crate::quad::Rule> {
        self.rule.as_ref()
    }
    fn break_points(&self) -> &[f64] {
        &self.breaks
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
