//! The exact ODEs of online SGD as D → ∞ (docs/theory.md §5) and their integration.
//!
//! Problem definition ([`system`]) and solver ([`integrate`]) are separate. Per eigenmode τ the
//! dynamics is linear, `d/dt y_τ = M(ρ_τ) y_τ`, with a matrix that depends only on the global
//! order parameters: the vector form (a) integrates `y_τ = (w_τ, v̂_τ)` (or `w_τ` when tied), the
//! density form (b) integrates `P_τ = y_τ y_τᵀ` with `dP/dt = MP + PMᵀ`. Both may be mixed: the
//! spike+bulk reduction keeps the spikes as vectors and all bulk modes of one eigenvalue as one
//! aggregated density block, which is exact when the bulk eigenvalue is shared.

pub mod departure;
pub mod dopri5;
pub mod drift;
pub mod driven;
pub mod escape;
pub mod fixed_points;
mod halves;
pub mod integrate;
mod modes;
pub mod regression;
pub mod restricted;
pub mod system;

pub use integrate::{Flow, IntegratorOptions, integrate};
pub use system::{OdeState, OdeSystem};
