//! `#[activation]`: declare an activation function, get its closed-form Gaussian integrals and
//! the kernels of the exact ODEs of online SGD, derived symbolically at compile time.
//!
//! This crate is a thin entry point; the work is in plain modules: [`expr`] (IR, parser,
//! differentiation), [`series`] (normal form), [`derive`] (Gaussian-integral derivation and code
//! emission), [`hermite`] (quadrature rules for the opt-in fallback) and [`expand`].
// Numerical kernels index several arrays with one loop variable; iterator chains read worse.
#![allow(clippy::needless_range_loop)]

mod derive;
mod expand;
mod expr;
mod hermite;
mod series;

/// Declares an activation. See the `aedyn` crate documentation (contract 1 of ARCHITECTURE.md).
///
/// `#[activation]` requires closed forms; `#[activation(quadrature)]` allows Gauss–Hermite
/// quadrature where none exists; `#[activation(name = "erf")]` sets the run-time name.
#[proc_macro_attribute]
pub fn activation(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::expand(attr.into(), item.into())
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}
