//! Composite Gauss–Legendre expectations over Gaussians of any width: the quadrature of smooth
//! activations without closed forms (`#[activation(quadrature)]`, `quadrature = true`) in the
//! autoencoder's ODE (docs/integrals.md §Quadrature).
//!
//! `E[f(x)] = ∫ φ_σ(x − m) f(x) dx` over `m ± 9σ` (the tail beyond holds < 3e-19 of the mass), cut
//! into panels with [`NODES`]-point Gauss–Legendre each. A panel is no wider than `4.5σ` (the
//! Gaussian's own scale) and no wider than the activation's [`Rule`] allows where its derivatives
//! vary: `p` inside the window `|x| ≤ W` where g'''' is not negligible, `p + (|x| − W)/2` outside.
//! A rule with fixed Gauss–Hermite nodes resolves g only while the Gaussian is not much wider than
//! g's features (tanh's E[g'''] with 96 nodes: 1e-8 relative at variance 1, 7e-3 at 4); these
//! panels follow g's features at any variance and any mean. Two variables are nested: x₁'s
//! panels also follow x₂'s features through the conditional mean `m₂ + β(x₁ − m₁)`.

use super::dirac::{self, Break, Conditioned, Diracs, Factor};
use crate::activation::{Activation, Gauss3, Integral};
use crate::kernels::phi;
use aedyn_symbolic::catalogue::{CATALOGUE, Piece};
use std::sync::OnceLock;

/// Gauss–Legendre nodes per panel.
pub const NODES: usize = 16;
/// Half-width of the integration range in standard deviations.
const RANGE: f64 = 9.0;
/// Widest panel in standard deviations of the Gaussian (16 nodes integrate its moments up to
/// z⁶ on panels of 4.5 to 1e-13).
const GAUSS_PANEL: f64 = 4.5;
/// Growth of the panel width per unit of distance outside the feature window.
const GROWTH: f64 = 0.5;
/// Panels of one one-dimensional expectation beyond which it gives up (NaN).
const MAX_PANELS: usize = 20_000;
/// The accuracy [`Rule::resolve`] demands of the rule against one three times finer, relative to
/// `E|f|`, for g, g', g'', g''' over a set of Gaussians.
pub const SELF_CHECK_TOL: f64 = 1e-12;
/// Absolute floor of the self-check, relative to a piece's largest size in the window: the
/// rounding of its pointwise formula (`1 − tanh²(x)` at |x| = 13 is 1e-11 with error 1e-16).
const ROUNDING_FLOOR: f64 = 1e-13;
/// Half-width of the range over which [`Rule::resolve`] looks for g's features.
pub const PROBE_RANGE: f64 = 100.0;
/// Half-width of the range searched for a pole of g (beyond it, exponentials may just overflow).
const POLE_RANGE: f64 = 20.0;
/// |g| at a pole's nearest probe over |g| half a unit away (a pole: ≥ 1e8 at the probe's 1e-9).
const POLE_RATIO: f64 = 1e6;

/// Gauss–Legendre nodes (ascending) and weights on [−1, 1].
fn legendre() -> &'static ([f64; NODES], [f64; NODES]) {
    static RULE: OnceLock<([f64; NODES], [f64; NODES])> = OnceLock::new();
    RULE.get_or_init(crate::kernels::gauss_legendre::<NODES>)
}

/// Where an activation's derivatives vary and how finely panels must follow them there.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// g'''' is below 1e-9 of its largest value for |x| > `window` (within ±[`PROBE_RANGE`]).
    pub window: f64,
    /// Panel width inside the window (infinite when g has no features: a polynomial of degree ≤ 3).
    pub panel: f64,
    /// Why the activation cannot be resolved (its integrals are then NaN), if it cannot.
    pub refusal: Option<String>,
    /// Where g or a derivative jumps (panel edges; their Dirac terms are added exactly).
    pub breaks: Vec<Break>,
    /// Per catalogue entry, the Dirac parts of its factors in each variable (`[x₁, x₂]`; for I3
    /// `[x₁, x₃]`), or why the integrand is not a distribution (the integral is then undefined).
    pub diracs: Vec<Result<[Diracs; 2], String>>,
    /// Exponential growth rate a of g's pieces far out (`|g⁽ᵏ⁾(x)| ~ e^{a|x|}`; 0 when they grow
    /// at most like a polynomial): the integrand's mass moves out by up to 2a·s standard
    /// deviations (two such factors), and the integration range with it.
    pub growth: f64,
    /// Extra half-width of the integration range in standard deviations (the self-check's finer
    /// rule reaches 3 further, so a range too short shows as a disagreement).
    pub extra_reach: f64,
    /// g … g''' evaluate to finite numbers for |x| ≤ `finite_to` (infinite: everywhere scanned,
    /// [`finite_extent`]). Somewhere beyond it the written formula overflows — `1/(1 + exp(−x))`
    /// has g' = e^{−x}/(1 + e^{−x})² = ∞/∞ for x < −709 — so the self-check covers only Gaussians
    /// whose integration range stays inside; an expectation reaching further is unchecked, and NaN
    /// wherever a node meets the overflow (non-finite values are never dropped).
    pub finite_to: f64,
}

impl Rule {
    /// A rule for a function without features (panels follow the Gaussian only).
    pub fn featureless() -> Self {
        Self {
            window: 0.0,
            panel: f64::INFINITY,
            refusal: None,
            breaks: Vec::new(),
            diracs: Vec::new(),
            growth: 0.0,
            extra_reach: 0.0,
            finite_to: f64::INFINITY,
        }
    }

    /// Half-width of the integration range, in standard deviations, for a Gaussian of standard
    /// deviation `s`: 9 (the tail holds < 3e-19 of the mass) plus the shift `2a·s` of a growing
    /// integrand's mass.
    fn reach(&self, s: f64) -> f64 {
        RANGE + self.extra_reach + 2.0 * self.growth * s
    }

    /// Why catalogue entry `index` is undefined for this g (a Dirac term against another at the
    /// same point, or against a factor that jumps there), if it is.
    pub fn undefined(&self, index: usize) -> Option<&str> {
        match self.diracs.get(index) {
            Some(Err(why)) => Some(why),
            _ => None,
        }
    }

    /// Finds g's features from its pointwise derivatives: the window where the fourth derivative
    /// (central differences of g''') exceeds 1e-9 of its maximum over ±[`PROBE_RANGE`], and the
    /// length scale `ℓ = min_k (max|g⁽ᵏ⁾| / max|g''''|)^(1/(4−k))`, k = 1, 2, 3; panels `8ℓ`.
    /// Then checks the rule: over means and variances from 1e-4 to 1e5 the expectations of
    /// g … g''' must agree with a rule three times finer to [`SELF_CHECK_TOL`] of `E|f|`;
    /// (plus a rounding floor, [`ROUNDING_FLOOR`] of the piece's size in the window);
    /// the panel is halved until they do (five times at most, else a refusal).
    /// `breaks`: where g or a derivative jumps (ascending; empty for smooth g): the probe and the
    /// panels stop there, and the jumps' Dirac terms are added ([`dirac`]).
    pub fn resolve(pieces: &dyn Fn(usize, f64) -> f64, breaks: &[f64]) -> Self {
        let refused = |why: &str| Self {
            window: PROBE_RANGE,
            panel: 0.0,
            refusal: Some(why.into()),
            ..Self::featureless()
        };
        let breaks = probe_breaks(pieces, breaks);
        let Some(samples) = probe(pieces, &breaks) else {
            return refused(
                "g varies on scales too fine to resolve (its derivatives change between \
                 more than 200 000 probe points in |x| ≤ 100)",
            );
        };
        let finite = |v: f64| if v.is_finite() { v.abs() } else { 0.0 };
        let mut max = [0.0f64; 5];
        for (_, d) in &samples {
            for k in 0..4 {
                max[k] = max[k].max(finite(d[k]));
            }
        }
        // g'''' between neighbouring samples, by the difference quotient of g''' (changes within
        // its rounding left out)
        // (left end, right end, g'''' between)
        let fourth: Vec<(f64, f64, f64)> = samples
            .windows(2)
            .filter(|w| w[1].0 > w[0].0)
            .map(|w| {
                // (changes within the rounding of g''' there are not features)
                let change = (w[1].1[3] - w[0].1[3]).abs();
                let local = finite(w[0].1[3]).max(finite(w[1].1[3]));
                let d4 = if change > ROUNDING_FLOOR * local {
                    finite(change / (w[1].0 - w[0].0))
                } else {
                    0.0
                };
                (w[0].0, w[1].0, d4)
            })
            .collect();
        max[4] = fourth.iter().map(|f| f.2).fold(0.0, f64::max);
        let diracs = entry_diracs(&breaks);
        let growth = exponential_growth(pieces);
        let finite_to = finite_extent(pieces);
        if max[4] <= 0.0 {
            let mut rule = Self {
                breaks,
                diracs,
                growth,
                finite_to,
                ..Self::featureless()
            };
            if let Some(far) = far_feature(pieces, &rule, &max) {
                rule.refusal = Some(far.refusal());
            }
            return rule;
        }
        let window = fourth
            .iter()
            .filter(|f| f.2 > 1e-9 * max[4])
            .map(|f| f.0.abs().max(f.1.abs()))
            .fold(0.0, f64::max);
        let scale = local_scale(&samples, &fourth, window, 1e-9 * max[4]);
        let mut rule = Self {
            window,
            panel: 8.0 * scale.min(PROBE_RANGE),
            refusal: None,
            breaks,
            diracs,
            growth,
            extra_reach: 0.0,
            finite_to,
        };
        // rounding floor of each piece: its size in the window (1 − tanh² far out is all rounding)
        let mut floor = [0.0f64; 4];
        for (x, d) in &samples {
            if x.abs() <= window + 1.0 {
                for k in 0..4 {
                    floor[k] = floor[k].max(ROUNDING_FLOOR * finite(d[k]));
                }
            }
        }
        for _ in 0..=5 {
            match rule.worst_self_check(pieces, &floor) {
                Some(worst) if worst <= 1.0 => {
                    // the panels as the self-check left them, beyond the probe
                    if let Some(far) = far_feature(pieces, &rule, &max) {
                        rule.refusal = Some(far.refusal());
                    }
                    return rule;
                }
                _ => rule.panel /= 2.0,
            }
        }
        rule.panel *= 2.0;
        // a pole (`1/x`, `1/(x − 0.31)`) makes the expectations themselves diverge: say so
        let pole = samples
            .iter()
            .filter(|(x, _)| x.abs() <= POLE_RANGE)
            .max_by(|a, b| a.1[0].abs().total_cmp(&b.1[0].abs()))
            .and_then(|&(x, _)| pole_near(&|x| pieces(0, x), x))
            .map(|x| {
                format!(
                    "; g is unbounded near x = {x:.6} (a pole?), so its expectations do not exist"
                )
            })
            .unwrap_or_default();
        rule.refusal = Some(format!(
            "composite Gauss–Legendre quadrature does not resolve g (window |x| ≤ {:.3}, panels \
             {:.2e}: the expectations of g … g''' disagree with a finer rule beyond {:.0e}){pole}",
            rule.window, rule.panel, SELF_CHECK_TOL
        ));
        rule
    }

    /// [`Rule::resolve`] on an activation's pointwise g … g'''.
    pub fn of_activation<A: Activation + ?Sized>(act: &A) -> Self {
        Self::resolve(&|k, x| piece(act, k, x), act.break_points())
    }

    /// Largest disagreement of this rule with one three times finer, in units of its allowance
    /// `SELF_CHECK_TOL·E|f| + floor`.
    fn worst_self_check(
        &self,
        pieces: &dyn Fn(usize, f64) -> f64,
        floor: &[f64; 4],
    ) -> Option<f64> {
        let fine = Self {
            panel: self.panel / 3.0,
            extra_reach: self.extra_reach + 3.0,
            ..self.clone()
        };
        let w = self.window;
        let means = [0.0, 0.5, -1.3, 3.0, 0.5 * w, -w, w + 2.0];
        let vars: [f64; 7] = [1e-4, 0.05, 0.7, 3.0, 40.0, 1e3, 1e5];
        let mut worst = 0.0f64;
        for &m in &means {
            for &v in &vars {
                let s = v.sqrt();
                if self.growth * (m.abs() + fine.reach(s) * s) > 700.0 {
                    continue; // e^{a|x|} overflows within the range: no finite expectation
                }
                if m.abs() + fine.reach(s) * s > self.finite_to {
                    if v <= 3.0 && m.abs() <= 3.0 {
                        return None; // not even unit Gaussians stay where g is finite
                    }
                    continue; // the written formula overflows within the range
                }
                for k in 0..4 {
                    let f = |x: f64| pieces(k, x);
                    let a = expect1(self, m, v, 1.0, f);
                    let b = expect1(&fine, m, v, 1.0 / 3.0, f);
                    let l1 = expect1(&fine, m, v, 1.0 / 3.0, |x| f(x).abs());
                    let err = (a - b).abs() / (SELF_CHECK_TOL * l1 + floor[k]).max(1e-300);
                    if !err.is_finite() {
                        return None;
                    }
                    worst = worst.max(err);
                }
            }
        }
        Some(worst)
    }

    /// Widest panel at `x` for g's features: `p` in the window, growing by [`GROWTH`] per unit
    /// outside it.
    fn feature_width(&self, x: f64) -> f64 {
        self.panel + GROWTH * (x.abs() - self.window).max(0.0)
    }

    /// Widest panel at `x` for g's breaks seen through a conditional mean (a kink smoothed on
    /// the scale r of the inner expectation): growing by [`GROWTH`] per unit of distance from
    /// the nearest break (infinite without breaks). Callers bound it below by 4.5r.
    fn break_width(&self, x: f64) -> f64 {
        self.breaks
            .iter()
            .map(|b| GROWTH * (x - b.at).abs())
            .fold(f64::INFINITY, f64::min)
    }
}

/// How far out g … g''' stay finite: the largest `1.25^j` (up to 10⁶) such that every piece is
/// finite at ±x on a grid of 65 points over each interval `[1.25^i, 1.25^(i+1)]`, i < j (infinite
/// when all are). An exponential of the argument overflows near |x| = 709, where
/// a formula such as `e^{−x}/(1 + e^{−x})²` becomes ∞/∞ although its value is tiny.
fn finite_extent(pieces: &dyn Fn(usize, f64) -> f64) -> f64 {
    let finite_at = |x: f64| (0..4).all(|k| pieces(k, x).is_finite() && pieces(k, -x).is_finite());
    let mut inner = 1.0;
    while inner < 1e6 {
        let outer = 1.25 * inner;
        if !(0..=64).all(|i| finite_at(inner + (outer - inner) * i as f64 / 64.0)) {
            return inner;
        }
        inner = outer;
    }
    f64::INFINITY
}

/// How far beyond the probe [`far_feature`] looks for features (or up to where g stops being
/// finite).
pub const FAR_RANGE: f64 = 2000.0;

/// Relative disagreement, of `∫|g⁽ᵏ⁾|` over a far panel, at which [`far_feature`] sees a feature.
const FAR_TOL: f64 = 1e-7;

/// Widest sub-panel of [`far_feature`]'s reference rule (16 nodes each: about 20 nodes per unit
/// length, resolving features of width ≳ 0.1).
const FAR_REFERENCE_PANEL: f64 = 0.8;

/// What [`far_feature`] found beyond the probe.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Far {
    /// the rule's panels there miss how g varies in `lo < x < hi` (a feature, a pole, growth)
    Feature(f64, f64),
    /// a piece is not finite in `lo < x < hi` (a pole or singularity the probe did not see)
    NotFinite(f64, f64),
}

impl Far {
    fn refusal(self) -> String {
        match self {
            Far::Feature(lo, hi) => format!(
                "g varies in {lo:.1} < x < {hi:.1}, beyond the probed |x| ≤ {PROBE_RANGE}, on a \
                 scale the panels there do not follow (a feature, a pole or growth there: shift \
                 or rescale g so that its features lie within |x| ≤ {PROBE_RANGE})"
            ),
            Far::NotFinite(lo, hi) => format!(
                "g or a derivative is not finite in {lo:.1} < x < {hi:.1}, beyond the probed \
                 |x| ≤ {PROBE_RANGE} (a pole?), so its expectations do not exist there"
            ),
        }
    }
}

/// Where g varies beyond the probe's ±[`PROBE_RANGE`] out to ±[`FAR_RANGE`] (or
/// `rule.finite_to`) on a scale the rule does not follow, if it does: over the panels the rule
/// puts there (as wide as [`Rule::feature_width`], split at g's breaks), each piece's 16-node
/// Gauss–Legendre integral must agree with a reference — the same rule on sub-panels at most
/// [`FAR_REFERENCE_PANEL`] wide — to [`FAR_TOL`] of `∫|g⁽ᵏ⁾|` plus [`ROUNDING_FLOOR`] of the
/// piece's largest probed value `size[k]` per unit length. Smooth tails (tanh's, a polynomial's,
/// softsign's, sigmoid's e^x far below its size) pass; a step or bump of width ≳ 0.1 far out
/// (`tanh(10(x − 150))`) does not. Unchecked for g growing exponentially (their panels follow
/// the growing integrand's mass instead, [`Rule::reach`]).
fn far_feature(pieces: &dyn Fn(usize, f64) -> f64, rule: &Rule, size: &[f64; 5]) -> Option<Far> {
    if rule.growth > 0.0 {
        return None;
    }
    let (nodes, weights) = legendre();
    let limit = FAR_RANGE.min(rule.finite_to);
    // ∫_a^b f by the 16-node rule on `parts` equal sub-panels, and ∫_a^b |f| alike
    let integral = |f: &dyn Fn(f64) -> f64, a: f64, b: f64, parts: usize| {
        let width = (b - a) / parts as f64;
        let (mut sum, mut abs) = (0.0, 0.0);
        for p in 0..parts {
            let (half, mid) = (0.5 * width, a + width * (p as f64 + 0.5));
            for (t, w) in nodes.iter().zip(weights) {
                let v = f(mid + half * t);
                sum += half * w * v;
                abs += half * w * v.abs();
            }
        }
        (sum, abs)
    };
    for side in [1.0, -1.0] {
        let mut a = PROBE_RANGE;
        while a < limit {
            let mut b = (a + rule.feature_width(a)).min(limit);
            // a break inside ends the panel there (the quadrature's panels have an edge at it;
            // Gauss–Legendre nodes are interior, so each side's own piece is evaluated)
            if let Some(e) = rule
                .breaks
                .iter()
                .map(|br| br.at * side)
                .filter(|&e| e > a && e < b)
                .min_by(f64::total_cmp)
            {
                b = e;
            }
            let parts = ((b - a) / FAR_REFERENCE_PANEL).ceil().max(1.0) as usize;
            let at = || {
                let (lo, hi) = (side * a, side * b);
                (lo.min(hi), lo.max(hi))
            };
            for k in 0..4 {
                let f = |x: f64| pieces(k, side * x);
                let (coarse, _) = integral(&f, a, b, 1);
                let (fine, l1) = integral(&f, a, b, parts);
                if !(coarse.is_finite() && fine.is_finite()) {
                    let (lo, hi) = at();
                    return Some(Far::NotFinite(lo, hi));
                }
                // (a tail far below the piece's size — sigmoid's e^x at x = −170 — is rounding
                // for every expectation)
                let floor = ROUNDING_FLOOR * size[k] * (b - a);
                if (coarse - fine).abs() > FAR_TOL * l1 + floor {
                    let (lo, hi) = at();
                    return Some(Far::Feature(lo, hi));
                }
            }
            a = b;
        }
    }
    None
}

/// The exponential growth rate of g far out: `(ln|g(±100)| − ln|g(±75)|)/25`, counted where it
/// exceeds 0.06 (e^{x/2} gives 0.5) and agrees within 25 % with the rate over [50, 75] on the same
/// side (steady exponential growth: not a polynomial, whose rates differ by 41 %, nor oscillation).
fn exponential_growth(pieces: &dyn Fn(usize, f64) -> f64) -> f64 {
    let mut a = 0.0f64;
    for side in [-1.0, 1.0] {
        let ln = |x: f64| pieces(0, x * side).abs().ln();
        let (outer, inner) = ((ln(100.0) - ln(75.0)) / 25.0, (ln(75.0) - ln(50.0)) / 25.0);
        // e^{ax}: equal rates; a polynomial: inner/outer = ln(3/2)/ln(4/3) = 1.41
        if outer.is_finite() && outer > 0.06 && inner > 0.8 * outer && inner < 1.25 * outer {
            a = a.max(outer);
        }
    }
    a
}

/// g's length scale: the smallest over windows of width 3 (unit bins and their neighbours)
/// within |x| ≤ `window` + 1 of `min_k (max|g⁽ᵏ⁾| / max|g''''|)^(1/(4−k))`, k = 1, 2, 3, the
/// maxima taken in that window — where g'''' exceeds `floor` there. Local maxima, not global
/// ones: a g that grows (x⁴·tanh x) has its largest derivatives far out, where they say nothing
/// about the scale of its feature at 0.
fn local_scale(
    samples: &[(f64, [f64; 4])],
    fourth: &[(f64, f64, f64)],
    window: f64,
    floor: f64,
) -> f64 {
    let bins = (2.0 * (window + 1.0)).ceil() as usize + 1;
    let bin = |x: f64| ((x + window + 1.0).max(0.0) as usize).min(bins - 1);
    let mut derivs = vec![[0.0f64; 3]; bins];
    let mut d4 = vec![0.0f64; bins];
    for (x, d) in samples {
        if x.abs() <= window + 1.0 {
            let b = &mut derivs[bin(*x)];
            for k in 0..3 {
                if d[k + 1].is_finite() {
                    b[k] = b[k].max(d[k + 1].abs());
                }
            }
        }
    }
    for &(a, b, v) in fourth {
        for x in [a, b] {
            if x.abs() <= window + 1.0 {
                let i = bin(x);
                d4[i] = d4[i].max(v);
            }
        }
    }
    let mut scale = f64::INFINITY;
    for i in 0..bins {
        let near = i.saturating_sub(1)..(i + 2).min(bins);
        let top4 = d4[near.clone()].iter().copied().fold(0.0, f64::max);
        if top4 <= floor {
            continue;
        }
        for k in 0..3 {
            let top = derivs[near.clone()]
                .iter()
                .map(|d| d[k])
                .fold(0.0, f64::max);
            if top > 0.0 {
                scale = scale.min((top / top4).powf(1.0 / (3 - k) as f64));
            }
        }
    }
    scale
}

/// Step of the probe's grid.
const PROBE_STEP: f64 = 0.05;

/// Where `g` has a pole within one probe step of `x`: |g| maximised there by ternary search (a
/// non-finite value is replaced by those 1e-9 to either side, so that `tanh(x)/x` at 0, a
/// removable singularity, is not a pole), and a pole if the largest |g| is [`POLE_RATIO`] times
/// |g| half a unit to either side, or not finite.
fn pole_near(g: &dyn Fn(f64) -> f64, x: f64) -> Option<f64> {
    let size = |x: f64| {
        let v = g(x);
        if v.is_finite() {
            v.abs()
        } else {
            g(x - 1e-9).abs().max(g(x + 1e-9).abs())
        }
    };
    let (mut lo, mut hi) = (x - PROBE_STEP, x + PROBE_STEP);
    let (mut at, mut peak) = (x, size(x));
    for _ in 0..80 {
        let (m1, m2) = (lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0);
        let (s1, s2) = (size(m1), size(m2));
        for (m, s) in [(m1, s1), (m2, s2)] {
            if s.total_cmp(&peak).is_gt() {
                (at, peak) = (m, s);
            }
        }
        if s1.total_cmp(&s2).is_gt() {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    let around = size(at - 0.5).max(size(at + 0.5));
    (!peak.is_finite() || peak > POLE_RATIO * around).then_some(at)
}

/// The breaks at `points` with their one-sided limits and jumps ([`dirac::breaks_of`]).
fn probe_breaks(pieces: &dyn Fn(usize, f64) -> f64, points: &[f64]) -> Vec<Break> {
    // ascending, distinct and finite, whatever an `Activation::break_points` returns
    let mut at: Vec<f64> = points.iter().copied().filter(|b| b.is_finite()).collect();
    at.sort_by(f64::total_cmp);
    at.dedup();
    dirac::breaks_of(pieces, &at)
}

/// The Dirac parts of every catalogue entry's factors at `breaks` ([`Rule::diracs`]).
fn entry_diracs(breaks: &[Break]) -> Vec<Result<[Diracs; 2], String>> {
    CATALOGUE
        .iter()
        .map(|spec| {
            let factors = |var: usize| -> Vec<Factor> {
                spec.pieces
                    .iter()
                    .filter_map(|p| match *p {
                        Piece::G(v, k) if v == var => Some(Factor::G(k)),
                        Piece::X(v, p) if v == var => Some(Factor::X(p)),
                        _ => None,
                    })
                    .collect()
            };
            // I3's middle variable enters linearly (by regression): its pair is (x₁, x₃)
            let second = if spec.variant == "I3" { 2 } else { 1 };
            Ok([
                dirac::split(breaks, &factors(0))?,
                dirac::split(breaks, &factors(second))?,
            ])
        })
        .collect()
}

/// g … g''' sampled over ±[`PROBE_RANGE`]: a grid of step 0.05, each interval bisected (down to
/// 1e-9) while it hides a feature by the mean value theorem — a change of g⁽ᵏ⁾ across it larger
/// than twice its length times the larger |g⁽ᵏ⁺¹⁾| at its ends (k = 0, 1, 2), as a step of width
/// 1e-3 between two grid points does.
///
/// At a break the samples hold the one-sided limits (two samples at the same x, no interval
/// across it).
fn probe(pieces: &dyn Fn(usize, f64) -> f64, breaks: &[Break]) -> Option<Vec<(f64, [f64; 4])>> {
    const STEP: f64 = PROBE_STEP;
    const FINEST: f64 = 1e-9;
    const MAX_SAMPLES: usize = 200_000;
    let at = |x: f64| (x, std::array::from_fn(|k| pieces(k, x)));
    let count = (2.0 * PROBE_RANGE / STEP) as usize;
    let near_break = |x: f64| breaks.iter().any(|b| (b.at - x).abs() < 1e-6);
    let mut grid: Vec<_> = (0..=count)
        .map(|i| -PROBE_RANGE + STEP * i as f64)
        .filter(|&x| !near_break(x))
        .map(at)
        .collect();
    for b in breaks.iter().filter(|b| b.at.abs() <= PROBE_RANGE) {
        let side =
            |s: f64| -> [f64; 4] { std::array::from_fn(|k| b.value[k] + s * 0.5 * b.jump[k]) };
        grid.push((b.at, side(-1.0)));
        grid.push((b.at, side(1.0)));
    }
    // a stable sort: each left limit stays before its right one
    grid.sort_by(|a, b| a.0.total_cmp(&b.0));
    // changes below the rounding of a piece's size are not features
    let mut size = [0.0f64; 4];
    for (_, d) in &grid {
        for k in 0..4 {
            if d[k].is_finite() {
                size[k] = size[k].max(d[k].abs());
            }
        }
    }
    let hides = |a: &(f64, [f64; 4]), b: &(f64, [f64; 4])| {
        let h = b.0 - a.0;
        (0..3).any(|k| {
            let change = (b.1[k] - a.1[k]).abs();
            let bound = 2.0 * h * a.1[k + 1].abs().max(b.1[k + 1].abs()) + ROUNDING_FLOOR * size[k];
            change > bound
        })
    };
    let mut out = Vec::with_capacity(count + 1);
    out.push(grid[0]);
    for next in &grid[1..] {
        // depth-first bisection of [last, next], samples pushed in order
        let mut stack = vec![*next];
        while let Some(b) = stack.pop() {
            let a = out[out.len() - 1];
            if b.0 - a.0 > FINEST && hides(&a, &b) {
                if out.len() + stack.len() > MAX_SAMPLES {
                    return None;
                }
                stack.push(b);
                stack.push(at(0.5 * (a.0 + b.0)));
            } else {
                out.push(b);
            }
        }
    }
    Some(out)
}

/// Visits the nodes `(x, weight)` of panels covering [lo, hi], each no wider than `width` on it
/// (`width` a minimum of V shapes of slope [`GROWTH`]), `NODES` Gauss–Legendre nodes each, with
/// a panel edge at every point of `edges` (ascending) inside (lo, hi): g's breaks, where the
/// integrand is not smooth. False when more than [`MAX_PANELS`] would be needed.
fn for_each_node(
    lo: f64,
    hi: f64,
    width: impl Fn(f64) -> f64,
    edges: impl IntoIterator<Item = f64>,
    visit: impl FnMut(f64, f64),
) -> bool {
    let (nodes, weights) = legendre();
    for_each_panel_node(nodes, weights, lo, hi, width, edges, visit)
}

/// [`for_each_node`] with the Gauss–Legendre rule `(nodes, weights)` on [−1, 1] given (the
/// teacher–student model's piecewise levels use 16 and 8 nodes).
pub(crate) fn for_each_panel_node(
    nodes: &[f64],
    weights: &[f64],
    lo: f64,
    hi: f64,
    width: impl Fn(f64) -> f64,
    edges: impl IntoIterator<Item = f64>,
    mut visit: impl FnMut(f64, f64),
) -> bool {
    let mut edges = edges.into_iter().peekable();
    let mut a = lo;
    for _ in 0..MAX_PANELS {
        if a >= hi {
            return true;
        }
        // the width function is a minimum of V shapes with slope GROWTH: checking the far end
        // twice keeps panels that approach a window no wider than the window allows
        let mut w = width(a);
        w = w.min(width(a + w));
        w = w.min(width(a + w));
        let mut b = a + w;
        while edges.next_if(|&e| e <= a).is_some() {}
        if let Some(&e) = edges.peek()
            && e < b + 1e-3 * w
        {
            b = e;
        }
        if b > hi - 1e-3 * w {
            b = hi;
        }
        let (half, mid) = (0.5 * (b - a), 0.5 * (a + b));
        for (t, wt) in nodes.iter().zip(weights) {
            visit(mid + half * t, half * wt);
        }
        a = b;
    }
    false
}

/// `∫_lo^hi f(x) dx` on the panels of [`for_each_node`]; NaN beyond [`MAX_PANELS`].
fn composite(
    lo: f64,
    hi: f64,
    width: impl Fn(f64) -> f64,
    edges: impl IntoIterator<Item = f64>,
    mut f: impl FnMut(f64) -> f64,
) -> f64 {
    let mut acc = 0.0;
    if for_each_node(lo, hi, width, edges, |x, w| acc += w * f(x)) {
        acc
    } else {
        f64::NAN
    }
}

/// `E[f(x)]`, x ~ N(m, var), panels refined by `refine` (1 = the rule's own).
fn expect1(rule: &Rule, m: f64, var: f64, refine: f64, mut f: impl FnMut(f64) -> f64) -> f64 {
    if var.is_nan() {
        return f64::NAN;
    }
    if var <= 0.0 {
        return f(m);
    }
    expect_standard(rule, m, var.sqrt(), refine, |x, _| f(x))
}

/// `E[f(x, z)]` with `x = m + s z`, z ~ N(0, 1), `s > 0`: panels in the standard coordinate,
/// whose weights φ(z) carry no rounding of x − m, with edges at g's breaks.
pub(super) fn expect_standard(
    rule: &Rule,
    m: f64,
    s: f64,
    refine: f64,
    mut f: impl FnMut(f64, f64) -> f64,
) -> f64 {
    let width = |z: f64| GAUSS_PANEL.min(rule.feature_width(m + s * z) / s) * refine;
    let edges = rule.breaks.iter().map(|b| (b.at - m) / s);
    let reach = rule.reach(s);
    composite(-reach, reach, width, edges, |z| phi(z) * f(m + s * z, z))
}

/// The standardised coordinates of a pair: `x₁ = m₁ + s₁z₁`, `x₂ = m₂ + β(x₁ − m₁) + r z₂` with
/// `z₁, z₂` independent standard normals (the Cholesky factor of the covariance, a vanishing
/// conditional variance taken as zero).
#[derive(Clone, Copy, Debug)]
struct Pair {
    s1: f64,
    beta: f64,
    r: f64,
}

impl Pair {
    /// Widest outer panel at z₁ (`s₁ > 0`): the Gaussian's, g's features at x₁, and x₂'s
    /// features seen along x₁ through the conditional mean `m₂ + β s₁ z₁` (the inner expectation
    /// smooths them on the scale r).
    fn outer_width<'a>(&'a self, rule: &'a Rule, m1: f64, m2: f64) -> impl Fn(f64) -> f64 + 'a {
        move |z1: f64| {
            let own = GAUSS_PANEL.min(rule.feature_width(m1 + self.s1 * z1) / self.s1);
            if self.beta == 0.0 {
                return own;
            }
            let mu = m2 + self.beta * self.s1 * z1;
            // (at r = 0 a break seen through μ is a kink of the integrand: an outer edge)
            let seen = if self.r > 0.0 {
                rule.feature_width(mu).min(rule.break_width(mu))
            } else {
                rule.feature_width(mu)
            };
            own.min(seen.max(GAUSS_PANEL * self.r) / (self.beta.abs() * self.s1))
        }
    }

    /// Edges of the outer panels in z₁ (ascending): g's breaks at x₁ and where the conditional
    /// mean of x₂ crosses one (the inner expectation bends there when r is small). Empty (no
    /// allocation) for smooth g.
    fn outer_edges(&self, rule: &Rule, m1: f64, m2: f64) -> Vec<f64> {
        if rule.breaks.is_empty() {
            return Vec::new();
        }
        let mut edges: Vec<f64> = rule.breaks.iter().map(|b| (b.at - m1) / self.s1).collect();
        if self.beta != 0.0 {
            let scale = self.beta * self.s1;
            edges.extend(rule.breaks.iter().map(|b| (b.at - m2) / scale));
        }
        edges.sort_by(f64::total_cmp);
        edges
    }

    fn of(c11: f64, c12: f64, c22: f64) -> Self {
        let c = Conditioned::of(0, [0.0, 0.0], c11, c12, c22);
        Self {
            s1: c.s,
            beta: c.beta,
            r: c.r,
        }
    }
}

/// `E[f(x₁, x₂, z₁, z₂)]` over the first two variables of `n` (z as in [`Pair`]).
fn expect2(rule: &Rule, n: &Gauss3, f: impl Fn(f64, f64, f64, f64) -> f64) -> f64 {
    let (m1, m2) = (n.mean[0], n.mean[1]);
    let p = Pair::of(n.cov[0][0], n.cov[0][1], n.cov[1][1]);
    if !(p.s1.is_finite() && p.beta.is_finite() && p.r.is_finite()) {
        return f64::NAN;
    }
    let inner = |x1: f64, z1: f64| {
        let mu = m2 + p.beta * p.s1 * z1;
        if p.r == 0.0 {
            return f(x1, mu, z1, 0.0);
        }
        expect_standard(rule, mu, p.r, 1.0, |x2, z2| f(x1, x2, z1, z2))
    };
    if p.s1 == 0.0 {
        return inner(m1, 0.0);
    }
    let s1 = p.s1;
    let reach = rule.reach(s1 * (1.0 + p.beta.abs()));
    composite(
        -reach,
        reach,
        p.outer_width(rule, m1, m2),
        p.outer_edges(rule, m1, m2),
        |z1| phi(z1) * inner(m1 + s1 * z1, z1),
    )
}

/// Panels of the shared inner grid beyond which [`expect2_product`] integrates x₂ per outer node.
const MAX_GRID_PANELS: f64 = 4000.0;

thread_local! {
    /// The shared inner grid of [`expect2_product`]: (x₂, weight, b(x₂)).
    static GRID: std::cell::RefCell<Vec<(f64, f64, f64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `E[a₀(x₁, z₁) b(x₂) + a₁(x₁, z₁) b(x₂) z₂]` over the first two variables of `n` (coordinates as
/// in [`Pair`]; `a` returns `(a₀, a₁)`; `with_z2` false when a₁ ≡ 0). The conditional variance r²
/// of x₂ is the same for every x₁, so the inner expectations of all outer nodes share one grid in
/// x₂ (panels ≤ 4.5r and following g's features, over every conditional mean's ±9r): b is
/// evaluated once per grid node and each outer node only reweights it by φ((x₂ − μ)/r)/r.
/// Degenerate pairs (r = 0, s₁ = 0) and grids of more than [`MAX_GRID_PANELS`] panels (nearly
/// aligned fields: r tiny against the spread of μ) take [`expect2`].
fn expect2_product(
    rule: &Rule,
    n: &Gauss3,
    a: impl Fn(f64, f64) -> (f64, f64),
    b: impl Fn(f64) -> f64,
    with_z2: bool,
) -> f64 {
    let (m1, m2) = (n.mean[0], n.mean[1]);
    let finite = n.mean[..2].iter().all(|v| v.is_finite())
        && n.cov[..2]
            .iter()
            .all(|row| row[..2].iter().all(|v| v.is_finite()));
    if !finite {
        return f64::NAN;
    }
    let p = Pair::of(n.cov[0][0], n.cov[0][1], n.cov[1][1]);
    let general = || {
        expect2(rule, n, |x1, x2, z1, z2| {
            let (a0, a1) = a(x1, z1);
            b(x2) * if with_z2 { a0 + a1 * z2 } else { a0 }
        })
    };
    if !(p.s1.is_finite() && p.beta.is_finite() && p.r.is_finite()) {
        return f64::NAN;
    }
    let (s1, beta, r) = (p.s1, p.beta, p.r);
    // outer reach: x₁'s own growth and x₂'s seen through the conditional mean
    let (reach1, reach2) = (rule.reach(s1 * (1.0 + beta.abs())), rule.reach(r));
    let spread = reach1 * beta.abs() * s1;
    if r == 0.0 || s1 == 0.0 || spread > MAX_GRID_PANELS * GAUSS_PANEL * r {
        return general();
    }
    let (lo, hi) = (m2 - spread - reach2 * r, m2 + spread + reach2 * r);
    GRID.with(|grid| {
        let Ok(mut grid) = grid.try_borrow_mut() else {
            return general();
        };
        grid.clear();
        let width2 = |x2: f64| (GAUSS_PANEL * r).min(rule.feature_width(x2));
        let edges2 = rule.breaks.iter().map(|b| b.at);
        if !for_each_node(lo, hi, width2, edges2, |x2, w| grid.push((x2, w, b(x2)))) {
            drop(grid);
            return general();
        }
        let inv_r = 1.0 / r;
        composite(
            -reach1,
            reach1,
            p.outer_width(rule, m1, m2),
            p.outer_edges(rule, m1, m2),
            |z1| {
                let (a0, a1) = a(m1 + s1 * z1, z1);
                if a0 == 0.0 && a1 == 0.0 {
                    return 0.0;
                }
                let mu = m2 + beta * s1 * z1;
                let start = grid.partition_point(|g| g.0 < mu - reach2 * r);
                let (mut s0, mut sz) = (0.0, 0.0);
                for &(x2, w, bv) in &grid[start..] {
                    if x2 > mu + reach2 * r {
                        break;
                    }
                    let z2 = (x2 - mu) * inv_r;
                    let term = w * phi(z2) * inv_r * bv;
                    s0 += term;
                    sz += term * z2;
                }
                phi(z1) * if with_z2 { a0 * s0 + a1 * sz } else { a0 * s0 }
            },
        )
    })
}

/// Catalogue entry `which` of an activation without closed forms by composite Gauss–Legendre
/// under `rule` (pointwise parts piecewise, Dirac terms at g's breaks exactly: [`dirac`]);
/// `I3 = E[g'(x₁) x₂ g(x₃)]` is exact in x₂ (its conditional mean given x₁, x₃ is linear).
/// NaN when the rule is a refusal or the integral is undefined for g ([`Rule::undefined`]).
pub fn expectation<A: Activation + ?Sized>(
    act: &A,
    rule: &Rule,
    which: Integral,
    n: &Gauss3,
) -> f64 {
    expectation_of(&|k, x| piece(act, k, x), rule, which.index(), n)
}

#[inline]
fn piece<A: Activation + ?Sized>(act: &A, k: usize, x: f64) -> f64 {
    match k {
        0 => act.g(x),
        1 => act.dg(x),
        2 => act.d2g(x),
        _ => act.d3g(x),
    }
}

/// [`expectation`] for catalogue entry `index` with g⁽ᵏ⁾(x) = `pieces(k, x)` (pointwise: the
/// Dirac terms of g's derivatives are zero there).
pub fn expectation_of(
    pieces: &impl Fn(usize, f64) -> f64,
    rule: &Rule,
    index: usize,
    n: &Gauss3,
) -> f64 {
    if rule.refusal.is_some() {
        return f64::NAN;
    }
    let no_diracs = [Diracs::default(), Diracs::default()];
    let diracs = match rule.diracs.get(index) {
        Some(Ok(d)) => d,
        Some(Err(_)) => return f64::NAN,
        None => &no_diracs,
    };
    let spec = &CATALOGUE[index];
    let c = &n.cov;
    if spec.variant == "I3" {
        // pair (x₁, x₃); E[x₂ | z₁, z₂] = m₂ + L₃₁ z₁ + L₃₂ z₂
        let pair = Gauss3 {
            mean: [n.mean[0], n.mean[2], 0.0],
            cov: [[c[0][0], c[0][2], 0.0], [c[2][0], c[2][2], 0.0], [0.0; 3]],
        };
        let p = Pair::of(c[0][0], c[0][2], c[2][2]);
        let l31 = if p.s1 > 0.0 { c[1][0] / p.s1 } else { 0.0 };
        let l32 = if p.r > 0.0 {
            (c[1][2] - p.beta * c[1][0]) / p.r
        } else {
            0.0
        };
        let m2 = n.mean[1];
        let smooth = expect2_product(
            rule,
            &pair,
            |x1, z1| {
                let d = pieces(1, x1);
                (d * (m2 + l31 * z1), d * l32)
            },
            |x3| pieces(0, x3),
            true,
        );
        return smooth + i3_diracs(pieces, rule, &diracs[0], n);
    }
    // the integrand is a product of factors in x₁ and factors in x₂
    let factor = |var: usize, x: f64| -> f64 {
        spec.pieces
            .iter()
            .filter_map(|p| match *p {
                Piece::G(v, k) if v == var => Some(pieces(k, x)),
                Piece::X(v, p) if v == var => Some(x.powi(p as i32)),
                _ => None,
            })
            .product()
    };
    match spec.arity {
        1 => {
            expect1(rule, n.mean[0], c[0][0], 1.0, |x| factor(0, x))
                + dirac::point(&diracs[0], n.mean[0], c[0][0])
        }
        _ => {
            let smooth = expect2_product(
                rule,
                n,
                |x1, _| (factor(0, x1), 0.0),
                |x2| factor(1, x2),
                false,
            );
            let [d1, d2] = diracs;
            if d1.0.is_empty() && d2.0.is_empty() {
                return smooth;
            }
            let m = [n.mean[0], n.mean[1]];
            let from1 = Conditioned::of(0, m, c[0][0], c[0][1], c[1][1]);
            let from2 = Conditioned::of(1, m, c[0][0], c[0][1], c[1][1]);
            smooth
                + dirac::line(rule, d1, &from1, &|x2| factor(1, x2))
                + dirac::line(rule, d2, &from2, &|x1| factor(0, x1))
                + dirac::double(d1, d2, &from1)
        }
    }
}

/// The Dirac terms of I3 = E[g'(x₁) x₂ g(x₃)] (g' = g'_pw + Σ J⁰δ(x₁ − b), g has none):
/// `Σ J⁰ p₁(b) E[x₂ g(x₃) | x₁ = b]`, the conditional expectation by regression of x₂ on x₃:
/// `μ₂ E[g(x₃)] + (c₂₃/r₃) E[w g(μ₃ + r₃ w)]` (x₃ | x₁ ~ N(μ₃, r₃²), c₂₃ the conditional
/// covariance).
fn i3_diracs(pieces: &impl Fn(usize, f64) -> f64, rule: &Rule, d: &Diracs, n: &Gauss3) -> f64 {
    if d.0.is_empty() {
        return 0.0;
    }
    let (m, c) = (&n.mean, &n.cov);
    let x3 = Conditioned::of(0, [m[0], m[2]], c[0][0], c[0][2], c[2][2]);
    if x3.s.is_nan() || x3.s <= 0.0 {
        return f64::NAN;
    }
    let g = |x: f64| pieces(0, x);
    let mut total = 0.0;
    for &(b, j, coef) in &d.0 {
        if j != 0 {
            return f64::NAN;
        }
        let mu2 = m[1] + c[1][0] / c[0][0] * (b - m[0]);
        let mu3 = x3.m_o + x3.beta * (b - x3.m);
        let conditional = if x3.r > 0.0 {
            let c23 = c[1][2] - c[1][0] * c[2][0] / c[0][0];
            expect_standard(rule, mu3, x3.r, 1.0, |x, w| (mu2 + c23 / x3.r * w) * g(x))
        } else {
            match dirac::aligned_value(rule, mu3, x3.identical(), &g) {
                Some(v) => mu2 * v,
                None => return f64::NAN,
            }
        };
        total += coef * phi((b - x3.m) / x3.s) / x3.s * conditional;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Poles are found off the probe grid; a removable singularity and steep but bounded g are not
    /// poles.
    #[test]
    fn poles_are_told_from_removable_singularities() {
        let at = |g: &dyn Fn(f64) -> f64, x: f64| pole_near(g, x);
        let pole = at(&|x: f64| 1.0 / (x - 0.31), 0.3).expect("pole at 0.31");
        assert!((pole - 0.31).abs() < 1e-6, "{pole}");
        assert!(at(&|x: f64| (x + 0.02).powi(-2), -0.05).is_some());
        assert!(at(&|x: f64| x.tanh() / x, 0.0).is_none());
        assert!(at(&|x: f64| 1.0 / (x.abs() + 0.001), 0.0).is_none());
        assert!(at(&|x: f64| x.exp(), 20.0).is_none());
    }

    #[test]
    fn legendre_rule_integrates_polynomials_of_degree_31_exactly() {
        let (x, w) = legendre();
        for p in 0..32 {
            let q: f64 = x.iter().zip(w).map(|(x, w)| w * x.powi(p)).sum();
            let exact = if p % 2 == 1 {
                0.0
            } else {
                2.0 / (p as f64 + 1.0)
            };
            assert!((q - exact).abs() < 1e-14, "degree {p}: {q} vs {exact}");
        }
    }

    /// Moments of N(m, v) of a featureless integrand, at widths from 1e-6 to 1e8.
    #[test]
    fn gaussian_moments_at_any_width() {
        let rule = Rule::featureless();
        for &v in &[1e-6, 1e-2, 1.0, 37.0, 1e4, 1e8] {
            for &m in &[0.0, -2.5, 40.0] {
                let e2 = expect1(&rule, m, v, 1.0, |x| x * x);
                let e4 = expect1(&rule, m, v, 1.0, |x| (x - m).powi(4));
                assert!(
                    (e2 - (m * m + v)).abs() < 1e-14 * (m * m + v),
                    "{m} {v}: {e2}"
                );
                // (x − m)⁴ itself loses 4e-12 to the rounding of x = m + s z at m/s = 4e4
                assert!((e4 - 3.0 * v * v).abs() < 1e-10 * v * v, "{m} {v}: {e4}");
            }
        }
    }

    /// tanh's rule is found and checked, and its E[g'], E[g'''] equal an independent Simpson sum
    /// on a fine grid at variances where fixed Gauss–Hermite rules fail (96 nodes: 7e-3 off for
    /// E[g'''] at variance 4).
    #[test]
    fn tanh_rule_resolves_wide_gaussians() {
        let pieces = |k: usize, x: f64| {
            let t = x.tanh();
            let s = 1.0 - t * t;
            match k {
                0 => t,
                1 => s,
                2 => -2.0 * t * s,
                _ => s * (6.0 * t * t - 2.0),
            }
        };
        let rule = Rule::resolve(&pieces, &[]);
        assert!(rule.refusal.is_none(), "{rule:?}");
        assert!(rule.window > 8.0 && rule.window < 15.0, "{rule:?}");
        for &(m, v) in &[(0.0f64, 4.0f64), (0.7, 30.0), (-3.0, 400.0), (2.0, 1e4)] {
            let s: f64 = v.sqrt();
            // Simpson on [m − 10s, m + 10s] with steps of at most 1e-3 (E[g'''] at variance 1e4
            // is 8e-7, cancelled from E|g'''| ≈ 1e-2: agreement to 1e-16 absolute is 1e-14 of that)
            let (lo, hi) = (m - 10.0 * s, m + 10.0 * s);
            let steps = (((hi - lo) / 1e-3) as usize + 2) & !1;
            let h = (hi - lo) / steps as f64;
            for (k, index) in [(1usize, Integral::Dg.index()), (3, Integral::D3g.index())] {
                let f = |x: f64| pieces(k, x) * phi((x - m) / s) / s;
                let mut sum = f(lo) + f(hi);
                for i in 1..steps {
                    sum += if i % 2 == 1 { 4.0 } else { 2.0 } * f(lo + h * i as f64);
                }
                let want = sum * h / 3.0;
                let n = Gauss3 {
                    mean: [m, 0.0, 0.0],
                    cov: [[v, 0.0, 0.0], [0.0; 3], [0.0; 3]],
                };
                let got = expectation_of(&pieces, &rule, index, &n);
                assert!(
                    (got - want).abs() < 1e-11 * want.abs().max(1e-5),
                    "k = {k}, m = {m}, v = {v}: {got:e} vs {want:e}"
                );
            }
        }
    }

    /// A step of width 1e-3 between two probe grid points is found, resolved, and integrated:
    /// `E[a sech²(a(x − c))]` at x ~ N(c, 1) is `φ(0)(2 − π²/(12a²))` to O(a⁻⁴).
    #[test]
    fn a_feature_between_probe_points_is_found() {
        let (a, c) = (1e3, 0.0123);
        let pieces = |k: usize, x: f64| {
            let t = (a * (x - c)).tanh();
            let s = 1.0 - t * t;
            match k {
                0 => t,
                1 => a * s,
                2 => -2.0 * a * a * t * s,
                _ => a * a * a * s * (6.0 * t * t - 2.0),
            }
        };
        let rule = Rule::resolve(&pieces, &[]);
        assert!(rule.refusal.is_none() && rule.panel < 0.01, "{rule:?}");
        let n = Gauss3 {
            mean: [c, 0.0, 0.0],
            cov: [[1.0, 0.0, 0.0], [0.0; 3], [0.0; 3]],
        };
        let want = phi(0.0) * (2.0 - std::f64::consts::PI.powi(2) / (12.0 * a * a));
        let got = expectation_of(&pieces, &rule, Integral::Dg.index(), &n);
        assert!((got - want).abs() < 1e-11, "{got} vs {want}");
    }

    /// g whose derivatives change on scales below the probe's resolution everywhere is refused,
    /// and its integrals are NaN rather than wrong.
    #[test]
    fn an_unresolvable_function_is_refused() {
        let w = 1e7;
        let pieces = |k: usize, x: f64| {
            let (s, c) = (w * x).sin_cos();
            x.tanh()
                + 1e-3
                    * match k {
                        0 => s,
                        1 => w * c,
                        2 => -w * w * s,
                        _ => -w * w * w * c,
                    }
        };
        let rule = Rule::resolve(&pieces, &[]);
        assert!(rule.refusal.is_some(), "{rule:?}");
        let n = Gauss3 {
            mean: [0.0; 3],
            cov: [[1.0, 0.0, 0.0], [0.0; 3], [0.0; 3]],
        };
        assert!(expectation_of(&pieces, &rule, Integral::Dg.index(), &n).is_nan());
    }

    /// Smooth closed-form activations (erf, GELU) integrated by the composite rule equal their
    /// closed forms — an independent check — for all 16 integrals, at variances from 1e-6 to 1e6,
    /// means far out, and nearly aligned pairs.
    #[test]
    fn composite_quadrature_equals_the_closed_forms_of_smooth_activations() {
        use crate::builtins::{Gelu, ScaledErf};
        let gaussians = [
            (
                [0.0, 0.0, 0.0],
                [[1.0, 0.3, 0.2], [0.3, 0.8, 0.4], [0.2, 0.4, 0.9]],
            ),
            (
                [2.0, -1.0, 0.5],
                [[1e-6, 1e-7, 0.0], [1e-7, 4.0, 0.1], [0.0, 0.1, 1e3]],
            ),
            (
                [-30.0, 5.0, 1.0],
                [[1e6, 9.0e5, 10.0], [9.0e5, 1e6, 3.0], [10.0, 3.0, 2.0]],
            ),
            // nearly aligned fields: r² = 2e-6 of the variance
            (
                [0.3, 0.3, -0.2],
                [
                    [50.0, 49.99995, 1.0],
                    [49.99995, 50.0, 1.0],
                    [1.0, 1.0, 1.0],
                ],
            ),
        ];
        let acts: [&dyn Activation; 2] = [&ScaledErf, &Gelu];
        let mut failures = Vec::new();
        for act in acts {
            let rule = Rule::of_activation(act);
            assert!(rule.refusal.is_none(), "{}: {rule:?}", act.name());
            for which in Integral::ALL {
                for (m, c) in &gaussians {
                    let n = Gauss3::leading(which.arity(), *m, *c);
                    let want = act.integral(which, &n);
                    let got = expectation(act, &rule, which, &n);
                    // 1e-10 relative, 1e-13 absolute (zero integrals of odd g: rounding)
                    let allowed = 1e-10 * want.abs() + 1e-13;
                    let within = (got - want).abs() <= allowed;
                    if !within {
                        failures.push(format!(
                            "{} {}: {got:e} vs {want:e} (diff {:.1e}) at {:?} {:?}",
                            act.name(),
                            which.name(),
                            (got - want).abs(),
                            n.mean,
                            n.cov
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The quadrature of kinked and jumping activations — pointwise parts piecewise, Dirac terms
    /// at the breaks added exactly — equals their closed forms (an independent derivation) for
    /// all 16 integrals, and is undefined exactly where they are.
    #[test]
    fn dirac_terms_reproduce_the_closed_forms_of_kinked_activations() {
        use crate::expression::ExprActivation;
        let sources = [
            "relu(x)",
            "x.signum()",
            "heaviside(x - 0.2)",
            "(x + 0.3).max(0.0).min(1.2)",
            "relu(x).powi(2)",
            "x.abs().min(1.0)",
            "relu(x) + erf(x)",
            "x * relu(x - 0.5) - 0.5 * sign(x + 0.25)",
            "relu(x).powi(3) - x",
            // growing pieces: a jump is judged against g's size near the break, not at |x| = 100
            "relu(x) * (0.5 * x).exp()",
            "heaviside(x + 0.5) * (0.3 * x).exp()",
        ];
        let gaussians = [
            (
                [0.0, 0.0, 0.0],
                [[1.0, 0.3, 0.2], [0.3, 0.8, 0.4], [0.2, 0.4, 0.9]],
            ),
            (
                [0.4, -0.7, 0.25],
                [[1.2, -0.5, 0.3], [-0.5, 0.9, 0.1], [0.3, 0.1, 0.6]],
            ),
            (
                [-3.0, 5.0, 1.0],
                [[40.0, 30.0, 1.0], [30.0, 50.0, 3.0], [1.0, 3.0, 2.0]],
            ),
            (
                [0.1, 0.1, 0.0],
                [[1.0, 0.9995, 0.3], [0.9995, 1.0, 0.3], [0.3, 0.3, 1.0]],
            ),
            (
                [0.05, -0.02, 0.1],
                [[1e-2, 2e-3, 1e-3], [2e-3, 3e-2, 1e-3], [1e-3, 1e-3, 2e-2]],
            ),
        ];
        let mut failures = Vec::new();
        for src in sources {
            let act = ExprActivation::derive(src, false).expect("closed forms");
            let g = aedyn_symbolic::activation::parse_expression(src).expect("parses");
            let breaks =
                aedyn_symbolic::breaks::break_points(&g, aedyn_symbolic::breaks::BREAK_RANGE);
            let pieces = |k: usize, x: f64| piece(act, k, x);
            let rule = Rule::resolve(&pieces, &breaks);
            assert!(rule.refusal.is_none(), "{src}: {rule:?}");
            for which in Integral::ALL {
                let closed_undefined =
                    act.formulas()[which.index()].method == crate::activation::Method::Undefined;
                if closed_undefined != rule.undefined(which.index()).is_some() {
                    failures.push(format!(
                        "{src} {}: closed form undefined: {closed_undefined}, quadrature: {:?}",
                        which.name(),
                        rule.undefined(which.index())
                    ));
                    continue;
                }
                if closed_undefined {
                    continue;
                }
                for (m, c) in &gaussians {
                    let n = Gauss3::leading(which.arity(), *m, *c);
                    let want = act.integral(which, &n);
                    let got = expectation_of(&pieces, &rule, which.index(), &n);
                    let within = (got - want).abs() <= 1e-10 * want.abs() + 1e-12;
                    if !within {
                        failures.push(format!(
                            "{src} {}: {got:e} vs {want:e} (diff {:.1e}) at {:?} {:?}",
                            which.name(),
                            (got - want).abs(),
                            n.mean,
                            n.cov
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
