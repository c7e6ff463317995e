//! Expectations of arbitrary products over a Gaussian of any small dimension: the integrand
//! `Π_f factor_f(x_{v_f})` with each factor an activation's derivative (as a normal-form series) or
//! a power of the variable. The catalogue's integrals are such products of one activation; the
//! teacher–student model's (docs/theory.md §8) mix a student's and a teacher's activation and
//! reach four variables, e.g. `I4 = E[g'(x1) g'(x2) g(x3) g*(x4)]`. Same rules, same IR.

use crate::closed::{Graph, Id};
use crate::derive::{DeriveError, Deriver, MTerm};
use crate::series::{Series, Term};

/// One factor of a product integrand.
#[derive(Clone, Copy, Debug)]
pub enum Factor<'s> {
    /// a function of the variable (an activation or one of its derivatives, in normal form)
    Series(&'s Series),
    /// `xᵖ`
    Power(u32),
}

/// The product `Π (v, factor)` over `dim` variables, expanded into multi-variable terms (several
/// factors may act on one variable; they are multiplied and normalised).
pub fn product_terms(dim: usize, factors: &[(usize, Factor)]) -> Vec<MTerm> {
    let mut terms = vec![MTerm::one(dim)];
    for &(v, factor) in factors {
        let power;
        let series: &[Term] = match factor {
            Factor::Series(s) => s,
            Factor::Power(p) => {
                power = [Term {
                    p,
                    ..Term::constant(1.0)
                }];
                &power
            }
        };
        let mut next = Vec::new();
        for t in &terms {
            for f in series {
                if let Some(m) = t.clone().times(v, f) {
                    next.push(m);
                }
            }
        }
        terms = next;
    }
    terms
}

/// `E[Π factor(x_v)]` for `x ~ N(μ, C)` over `dim` variables, as a node of `graph` whose leaves
/// are `μ_i` and `C_ij`: closed form where the algebra reaches, the numerical orthant base cases
/// where it must, an error otherwise. With a trace of the rules applied.
pub fn expect_product(
    graph: &mut Graph,
    dim: usize,
    factors: &[(usize, Factor)],
) -> (Result<Id, DeriveError>, Vec<String>) {
    let mut d = Deriver::new(graph, dim);
    let mut parts = Vec::new();
    for t in &product_terms(dim, factors) {
        match d.expect(t, 0, 0) {
            Ok(id) => parts.push(id),
            Err(e) => return (Err(e), std::mem::take(&mut d.trace)),
        }
    }
    let trace = std::mem::take(&mut d.trace);
    (Ok(d.graph.add(parts)), trace)
}
