//! The one table of integrals: for each, its definition, integrand, arity, names, LaTeX and where
//! the ODE uses it (docs/theory.md §5). The macro, the run-time derivation, `aedyn integrals` and
//! the tests all read this table; `aedyn::Integral` lists the same variants in the same order.

/// What one integral multiplies, per integration variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    /// `g⁽ᵏ⁾(x_v)`: (variable, derivative order)
    G(usize, usize),
    /// `x_vᵖ`: (variable, power)
    X(usize, u32),
}

/// One integral of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The `aedyn::Integral` variant.
    pub variant: &'static str,
    /// Short name used in formulas and the ODE text (e.g. `E_dg`).
    pub name: &'static str,
    /// Name of the generated method.
    pub fn_name: &'static str,
    /// Definition as plain text.
    pub definition: &'static str,
    /// Definition in LaTeX.
    pub latex: &'static str,
    /// Number of integration variables.
    pub arity: usize,
    /// The integrand as a product of pieces.
    pub pieces: &'static [Piece],
    /// Where the ODE right-hand side (or the error) uses it.
    pub ode_use: &'static str,
}

use Piece::{G, X};

/// All integrals, in the order of `aedyn::Integral::ALL`.
pub const CATALOGUE: [Spec; 16] = [
    Spec {
        variant: "I2",
        name: "I2",
        fn_name: "i2",
        definition: "E[g(x1) g(x2)]",
        latex: "\\mathbb{E}[g(x_1)\\,g(x_2)]",
        arity: 2,
        pieces: &[G(0, 0), G(1, 0)],
        ode_use: "decoder drift −Σ_m I2(λ^k, λ^m) v̂^m_τ and the error (k ≠ m)",
    },
    Spec {
        variant: "J2",
        name: "J2",
        fn_name: "j2",
        definition: "E[x1 g(x2)]",
        latex: "\\mathbb{E}[x_1\\,g(x_2)]",
        arity: 2,
        pieces: &[X(0, 1), G(1, 0)],
        ode_use: "the paper's regression form: E[ν^k g(λ^l)]",
    },
    Spec {
        variant: "I21",
        name: "I21",
        fn_name: "i21",
        definition: "E[g'(x1) x1 x2]",
        latex: "\\mathbb{E}[g'(x_1)\\,x_1 x_2]",
        arity: 2,
        pieces: &[G(0, 1), X(0, 1), X(1, 1)],
        ode_use: "the paper's regression form of the encoder drift",
    },
    Spec {
        variant: "I22",
        name: "I22",
        fn_name: "i22",
        definition: "E[g'(x1) x2²]",
        latex: "\\mathbb{E}[g'(x_1)\\,x_2^2]",
        arity: 2,
        pieces: &[G(0, 1), X(1, 2)],
        ode_use: "the paper's regression form of the encoder drift",
    },
    Spec {
        variant: "I3",
        name: "I3",
        fn_name: "i3",
        definition: "E[g'(x1) x2 g(x3)]",
        latex: "\\mathbb{E}[g'(x_1)\\,x_2\\,g(x_3)]",
        arity: 3,
        pieces: &[G(0, 1), X(1, 1), G(2, 0)],
        ode_use: "the paper's regression form of the encoder drift",
    },
    Spec {
        variant: "G",
        name: "E_g",
        fn_name: "e_g",
        definition: "E[g(x)]",
        latex: "\\mathbb{E}[g(x)]",
        arity: 1,
        pieces: &[G(0, 0)],
        ode_use: "mean activity (reports)",
    },
    Spec {
        variant: "Dg",
        name: "E_dg",
        fn_name: "e_dg",
        definition: "E[g'(x)]",
        latex: "\\mathbb{E}[g'(x)]",
        arity: 1,
        pieces: &[G(0, 1)],
        ode_use: "A^k = E[g'(λ^k)] in both drifts and the error",
    },
    Spec {
        variant: "D2g",
        name: "E_d2g",
        fn_name: "e_d2g",
        definition: "E[g''(x)]",
        latex: "\\mathbb{E}[g''(x)]",
        arity: 1,
        pieces: &[G(0, 2)],
        ode_use: "bias drift R^kk E[g''(λ^k)]",
    },
    Spec {
        variant: "D3g",
        name: "E_d3g",
        fn_name: "e_d3g",
        definition: "E[g'''(x)]",
        latex: "\\mathbb{E}[g'''(x)]",
        arity: 1,
        pieces: &[G(0, 3)],
        ode_use: "B^k ∋ R^kk E[g'''(λ^k)]",
    },
    Spec {
        variant: "GG1",
        name: "E_g_g",
        fn_name: "e_g_g",
        definition: "E[g(x)²]",
        latex: "\\mathbb{E}[g(x)^2]",
        arity: 1,
        pieces: &[G(0, 0), G(0, 0)],
        ode_use: "decoder drift and error, same unit (m = k)",
    },
    Spec {
        variant: "DgDg1",
        name: "E_dg_dg",
        fn_name: "e_dg_dg",
        definition: "E[g'(x)²]",
        latex: "\\mathbb{E}[g'(x)^2]",
        arity: 1,
        pieces: &[G(0, 1), G(0, 1)],
        ode_use: "B^k ∋ −T0^kk E[g'(λ^k)²]",
    },
    Spec {
        variant: "DgG1",
        name: "E_dg_g",
        fn_name: "e_dg_g",
        definition: "E[g'(x) g(x)]",
        latex: "\\mathbb{E}[g'(x)\\,g(x)]",
        arity: 1,
        pieces: &[G(0, 1), G(0, 0)],
        ode_use: "bias drift, same unit",
    },
    Spec {
        variant: "D2gG1",
        name: "E_d2g_g",
        fn_name: "e_d2g_g",
        definition: "E[g''(x) g(x)]",
        latex: "\\mathbb{E}[g''(x)\\,g(x)]",
        arity: 1,
        pieces: &[G(0, 2), G(0, 0)],
        ode_use: "B^k ∋ −T0^kk E[g''(λ^k) g(λ^k)]",
    },
    Spec {
        variant: "DgDg",
        name: "E_dg1_dg2",
        fn_name: "e_dg1_dg2",
        definition: "E[g'(x1) g'(x2)]",
        latex: "\\mathbb{E}[g'(x_1)\\,g'(x_2)]",
        arity: 2,
        pieces: &[G(0, 1), G(1, 1)],
        ode_use: "encoder drift −T0^km E[g'(λ^k)g'(λ^m)] w^m_τ (m ≠ k)",
    },
    Spec {
        variant: "DgG",
        name: "E_dg1_g2",
        fn_name: "e_dg1_g2",
        definition: "E[g'(x1) g(x2)]",
        latex: "\\mathbb{E}[g'(x_1)\\,g(x_2)]",
        arity: 2,
        pieces: &[G(0, 1), G(1, 0)],
        ode_use: "bias drift −T0^km E[g'(λ^k)g(λ^m)] (m ≠ k)",
    },
    Spec {
        variant: "D2gG",
        name: "E_d2g1_g2",
        fn_name: "e_d2g1_g2",
        definition: "E[g''(x1) g(x2)]",
        latex: "\\mathbb{E}[g''(x_1)\\,g(x_2)]",
        arity: 2,
        pieces: &[G(0, 2), G(1, 0)],
        ode_use: "B^k ∋ −T0^km E[g''(λ^k)g(λ^m)] (m ≠ k)",
    },
];

/// The catalogue entry of a variant name.
pub fn spec(variant: &str) -> Option<&'static Spec> {
    CATALOGUE.iter().find(|s| s.variant == variant)
}
