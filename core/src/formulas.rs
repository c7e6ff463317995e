//! Text rendering of an activation's derived formulas and of its specialised ODE right-hand side
//! (what `aedyn integrals NAME` prints; snapshotted in the tests).

use crate::activation::{Activation, Method};
use std::fmt::Write;

/// The derived integrals, how each was obtained, and the ODE in terms of them.
pub fn render(act: &dyn Activation) -> String {
    let mut s = String::new();
    let [g, dg, d2g, d3g] = act.derivatives_text();
    let _ = writeln!(s, "activation `{}`", act.name());
    let _ = writeln!(
        s,
        "  g(x)    = {g}\n  g'(x)   = {dg}\n  g''(x)  = {d2g}\n  g'''(x) = {d3g}"
    );
    let _ = writeln!(
        s,
        "\nGaussian integrals (x ~ N(μ, C); means may be non-zero). Derivation rules (INTEGRALS.md):"
    );
    let _ = writeln!(
        s,
        "  tilt: absorb exp(−½xᵀAx + bᵀx) into (μ, C); condition: E[δ(x_v − c)F] = p_v(c)E[F | x_v = c];"
    );
    let _ = writeln!(
        s,
        "  Stein: E[x_v F] = μ_v E[F] + Σ_j C_vj E[∂_j F]; orthant: erf(u) = 2P[u − ξ/√2 > 0] − 1, Θ(u) = P[u > 0],"
    );
    let _ = writeln!(
        s,
        "  P0 = 1, P1 = Φ(m/√s), P2 = Φ2(m1/√s11, m2/√s22; ρ) (bivariate normal via Owen's T)."
    );
    for f in act.formulas() {
        let how = match f.method {
            Method::ClosedForm => "closed form",
            Method::Quadrature => "Gauss–Hermite quadrature",
            Method::Undefined => "undefined",
        };
        let _ = writeln!(s, "\n{} = {}   [{how}]", f.integral.name(), f.definition);
        let _ = writeln!(s, "  LaTeX: {}", f.latex);
        for line in f.derivation.lines() {
            let _ = writeln!(s, "  | {line}");
        }
    }
    let _ = writeln!(
        s,
        "\nODE right-hand side (vector form, SPEC §5), with λ^k ~ N(β^k, Q^kk), all expectations above:"
    );
    let _ = writeln!(s, "  A^k = E_dg(λ^k)");
    let _ = writeln!(
        s,
        "  B^k = R^kk E_d3g(λ^k) − Σ_{{m∈S_k, m≠k}} T0^km E_d2g1_g2(λ^k, λ^m) − T0^kk (E_d2g_g(λ^k) + E_dg_dg(λ^k))"
    );
    let _ = writeln!(
        s,
        "  dw^k_τ/dt = η (ρ_τ/D) [A^k v̂^k_τ + B^k w^k_τ − Σ_{{m∈S_k, m≠k}} T0^km E_dg1_dg2(λ^k, λ^m) w^m_τ]"
    );
    let _ = writeln!(
        s,
        "  dv̂^k_τ/dt = η [(ρ_τ/D) A^k w^k_τ − E_g_g(λ^k) v̂^k_τ − Σ_{{m∈S_k, m≠k}} I2(λ^k, λ^m) v̂^m_τ]"
    );
    let _ = writeln!(
        s,
        "  dβ^k/dt   = η [R^kk E_d2g(λ^k) − T0^kk E_dg_g(λ^k) − Σ_{{m∈S_k, m≠k}} T0^km E_dg1_g2(λ^k, λ^m)]"
    );
    let _ = writeln!(
        s,
        "  ε = TrΩ/2D − Σ_k R^kk A^k + ½ Σ_k T0^kk E_g_g(λ^k) + ½ Σ_{{k≠l}} T0^kl I2(λ^k, λ^l)"
    );
    let _ = writeln!(
        s,
        "  (S_k = all units for vanilla SGD, m ≤ k for truncated SGD)"
    );
    let undefined: Vec<&str> = act
        .formulas()
        .iter()
        .filter(|f| f.method == Method::Undefined)
        .map(|f| f.integral.name())
        .collect();
    if !undefined.is_empty() {
        let _ = writeln!(
            s,
            "  note: {} undefined (products of distributions): the encoder ODE of this activation does not exist",
            undefined.join(", ")
        );
    }
    s
}
