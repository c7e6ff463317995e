//! The teacher–student model (docs/theory.md §8): a two-layer student learning from a two-layer
//! teacher with online SGD — the soft committee machine of Saad & Solla (1995) and the trained
//! second layer and output noise of Goldt et al. (2019) — with its exact ODEs (including the η²
//! term, from the four-point integral I4) for any activation the derivation library reaches, and
//! the matching SGD simulator.

pub mod integrals;
pub mod ode;
pub mod run;
pub mod sgd;

pub use integrals::TsIntegrals;
pub use ode::{TsOrder, TsParams, TsSystem};
