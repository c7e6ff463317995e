//! Pointwise expressions compiled to straight-line code for the run-time activations' quadrature:
//! every distinct subexpression once (hash-consed, so `|x|` in both numerator and denominator of
//! softsign's g' is computed once), evaluated in order into a register file. The value is that of
//! [`crate::expr::eval`] to the bit: the same operations in the same order, the same conventions
//! (Dirac terms 0, Θ(0) = ½, a product with a vanishing gate factor 0 even where another factor
//! overflows); only the tree walk is gone.

use crate::expr::{Expr, Func, eval_func, is_gate};
use std::collections::HashMap;

/// One instruction; operands are earlier registers, `args[start..start + len]` for sums and
/// products (a product's gate factors flagged by [`GATE`]).
#[derive(Clone, Copy, Debug)]
enum Op {
    Const(f64),
    X,
    Add { start: u32, len: u32 },
    Mul { start: u32, len: u32 },
    Div(u32, u32),
    Powi(u32, i32),
    Max(u32, f64),
    Min(u32, f64),
    Call(Func, u32),
}

/// High bit of a product's operand: the factor is a gate (Θ, relu, δ), whose zero makes the
/// product zero.
const GATE: u32 = 1 << 31;

/// Structural key of an instruction, for sharing equal subexpressions (constants by their bits).
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    X,
    Add(Vec<u32>),
    Mul(Vec<u32>),
    Div(u32, u32),
    Powi(u32, i32),
    Max(u32, u64),
    Min(u32, u64),
    Call(Func, u32),
}

/// A compiled expression ([`Tape::new`], [`Tape::eval`]).
#[derive(Clone, Debug)]
pub struct Tape {
    ops: Vec<Op>,
    args: Vec<u32>,
}

impl Tape {
    /// Compiles `e`; its value is the last register.
    pub fn new(e: &Expr) -> Tape {
        let mut b = Builder {
            ops: Vec::new(),
            args: Vec::new(),
            seen: HashMap::new(),
        };
        b.emit(e);
        Tape {
            ops: b.ops,
            args: b.args,
        }
    }

    /// Registers [`Tape::eval`] needs.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the tape is empty (never: an expression has at least one node).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The expression at `x`, with `regs` as the register file (resized as needed; reuse it
    /// across calls to avoid allocation).
    pub fn eval(&self, x: f64, regs: &mut Vec<f64>) -> f64 {
        if regs.len() < self.ops.len() {
            regs.resize(self.ops.len(), 0.0);
        }
        let regs = &mut regs[..self.ops.len()];
        for i in 0..self.ops.len() {
            let (done, rest) = regs.split_at_mut(i);
            rest[0] = match self.ops[i] {
                Op::Const(v) => v,
                Op::X => x,
                Op::Add { start, len } => self.operands(start, len).map(|a| done[a as usize]).sum(),
                Op::Mul { start, len } => {
                    let mut p = 1.0;
                    for a in self.operands(start, len) {
                        let f = done[(a & !GATE) as usize];
                        if f == 0.0 && a & GATE != 0 {
                            p = 0.0;
                            break;
                        }
                        p *= f;
                    }
                    // (a gate's zero after an infinite factor: the tree returns 0 as well)
                    p
                }
                Op::Div(a, b) => done[a as usize] / done[b as usize],
                Op::Powi(a, n) => done[a as usize].powi(n),
                Op::Max(a, c) => done[a as usize].max(c),
                Op::Min(a, c) => done[a as usize].min(c),
                Op::Call(f, a) => eval_func(f, done[a as usize]),
            };
        }
        regs[self.ops.len() - 1]
    }

    fn operands(&self, start: u32, len: u32) -> impl Iterator<Item = u32> + '_ {
        self.args[start as usize..(start + len) as usize]
            .iter()
            .copied()
    }
}

struct Builder {
    ops: Vec<Op>,
    args: Vec<u32>,
    seen: HashMap<Key, u32>,
}

impl Builder {
    /// The register holding `e`'s value, emitting what is not there yet.
    fn emit(&mut self, e: &Expr) -> u32 {
        let (key, op) = match e {
            Expr::Const(v) => (Key::Const(v.to_bits()), Op::Const(*v)),
            Expr::X => (Key::X, Op::X),
            Expr::Add(v) => {
                let regs: Vec<u32> = v.iter().map(|t| self.emit(t)).collect();
                let (start, len) = self.push_args(&regs);
                (Key::Add(regs), Op::Add { start, len })
            }
            Expr::Mul(v) => {
                let regs: Vec<u32> = v
                    .iter()
                    .map(|t| self.emit(t) | if is_gate(t) { GATE } else { 0 })
                    .collect();
                let (start, len) = self.push_args(&regs);
                (Key::Mul(regs), Op::Mul { start, len })
            }
            Expr::Div(a, b) => {
                let (a, b) = (self.emit(a), self.emit(b));
                (Key::Div(a, b), Op::Div(a, b))
            }
            Expr::Powi(a, n) => {
                let a = self.emit(a);
                (Key::Powi(a, *n), Op::Powi(a, *n))
            }
            Expr::Max(a, c) => {
                let a = self.emit(a);
                (Key::Max(a, c.to_bits()), Op::Max(a, *c))
            }
            Expr::Min(a, c) => {
                let a = self.emit(a);
                (Key::Min(a, c.to_bits()), Op::Min(a, *c))
            }
            Expr::Call(f, a) => {
                let a = self.emit(a);
                (Key::Call(*f, a), Op::Call(*f, a))
            }
        };
        if let Some(&r) = self.seen.get(&key) {
            // an operand list pushed for a sum or product already there is dropped again
            if let Op::Add { start, .. } | Op::Mul { start, .. } = op {
                self.args.truncate(start as usize);
            }
            return r;
        }
        let r = self.ops.len() as u32;
        self.ops.push(op);
        self.seen.insert(key, r);
        r
    }

    /// Appends a sum's or product's operands: their `(start, len)` in `args`.
    fn push_args(&mut self, regs: &[u32]) -> (u32, u32) {
        let start = self.args.len() as u32;
        self.args.extend_from_slice(regs);
        (start, regs.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::eval;

    fn parse(src: &str) -> Expr {
        crate::activation::parse_expression(src).expect("supported")
    }

    /// Bit for bit the tree's value (or both NaN), on a grid through 0, the breaks and far out,
    /// for g and its pointwise derivatives.
    #[test]
    fn the_tape_is_the_tree_to_the_bit() {
        let xs: Vec<f64> = (-400..=400)
            .map(|i| f64::from(i) * 0.0375)
            .chain([
                0.0,
                -0.0,
                0.3,
                -0.3,
                1.2,
                710.0,
                -710.0,
                1e300,
                -1e300,
                f64::INFINITY,
            ])
            .collect();
        let mut regs = Vec::new();
        for src in [
            "x / (1.0 + x.abs())",
            "x * sigmoid(x)",
            "relu(x).powi(2) * erf(x)",
            "(x + 0.3).max(0.0).min(1.2)",
            "1.0 / (1.0 + (-x).exp())",
            "(x.exp() - (-x).exp()) / (x.exp() + (-x).exp())",
            "exp(x) * heaviside(2.0 - exp(x))",
            "softplus(x) - 0.5 * sign(x) * x.powi(3)",
            "0.5 * x * (1.0 + erf(x / SQRT_2))",
        ] {
            let g = parse(src);
            let mut parts = vec![g];
            for k in 0..3 {
                let d = crate::expr::diff(&parts[k]);
                parts.push(d);
            }
            for (k, e) in parts.iter().enumerate() {
                let tape = Tape::new(e);
                for &x in &xs {
                    let (a, b) = (eval(e, x), tape.eval(x, &mut regs));
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{src}, derivative {k} at {x}: tree {a}, tape {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn equal_subexpressions_are_computed_once() {
        // softsign's g' = (|x| − sign(x)·x + 1)/(|x| + 1)²: x, |x| and 1 each once
        let e = parse("(x.abs() - sign(x) * x + 1.0) / (x.abs() + 1.0).powi(2)");
        let tape = Tape::new(&e);
        let xs = tape.ops.iter().filter(|o| matches!(o, Op::X)).count();
        let abs = tape
            .ops
            .iter()
            .filter(|o| matches!(o, Op::Call(Func::Abs, _)))
            .count();
        assert_eq!((xs, abs), (1, 1), "{:?}", tape.ops);
    }
}
