//! `#[activation]`: declare an activation function, get its closed-form Gaussian integrals and
//! the kernels of the exact ODEs of online SGD, derived symbolically at compile time.
//!
//! This crate is a thin entry point: [`expand`] parses the attribute and the function, calls the
//! derivation library `aedyn-symbolic` (normal form, rules, closed-form IR, renderers) and emits
//! the generated items.
// Numerical kernels index several arrays with one loop variable; iterator chains read worse.
#![allow(clippy::needless_range_loop)]

mod expand;

/// Declares an activation. See the `aedyn` crate documentation (docs/architecture.md §4).
///
/// `#[activation]` requires closed forms; `#[activation(quadrature)]` allows numerical
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
