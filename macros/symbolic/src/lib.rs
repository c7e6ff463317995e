//! # aedyn-symbolic
//!
//! The derivation library behind `#[activation]` (used by the proc macro at compile time, by
//! `aedyn` at run time for activations written as expressions, and by the tests). See
//! `docs/integrals.md` for the algebra and the rules.
//!
//! - [`expr`]: the activation's expression IR, its parser from `syn::Expr`, pointwise derivatives;
//! - [`series`]: the normal form `Σ c·xᵖ·exp(−αx² + βx)·Π B(ax + b)` (piecewise-affine
//!   compositions rewritten exactly), and distributional derivatives of the normal form;
//! - [`derive`]: the rules (δ conditioning and integration by parts, tilt, Stein, orthants) into
//! - [`closed`]: the closed-form result IR, a simplifying hash-consed DAG;
//! - [`render`]: Rust tokens, evaluator, text, LaTeX; [`numbers`]: readable constants;
//! - [`catalogue`]: the one table of integrals; [`activation`]: the whole pipeline;
//! - [`product`]: expectations of any product of activations and powers over any small
//!   dimension (the teacher–student integrals);
//! - [`kernels`]: the run-time special functions the closed forms call;
//! - [`hermite`]: Gauss–Hermite rules (the teacher–student model's quadrature fallback).
// Numerical kernels index several arrays with one loop variable; iterator chains read worse.
#![allow(clippy::needless_range_loop)]

pub mod activation;
pub mod breaks;
pub mod catalogue;
pub mod closed;
pub mod derive;
pub mod expr;
pub mod hermite;
pub mod kernels;
pub mod latex;
pub mod numbers;
pub mod product;
pub mod render;
pub mod series;
pub mod tape;
