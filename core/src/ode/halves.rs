//! A large vector-form system integrated in two parts on two threads, in lock-step.
//!
//! The right-hand side of the vector form (docs/theory.md §5.2) is separable over the modes but
//! for a few sums: every mode's drift `dy_τ = M(ρ_τ) y_τ + μ_τ c` depends on the others only
//! through the order parameters, which are sums over the modes. So each thread owns half of the
//! modes, in all of the Dormand–Prince buffers, and runs the same integrator
//! ([`Dopri5::run`]) on them; per right-hand side the threads exchange their parts of the sums
//! once (`2n² + 3K` numbers: [`OdeSystem::part_sums`]), and per step their parts of the error
//! norm. Both add the two parts in the same order, so both see bit-identical totals, take the same
//! steps and make the same decisions. Each thread's buffers are half as large, which also lets
//! them fit its core's cache (the eleven state-sized buffers of the full CIFAR-10 spectrum are
//! 704 KB). At output times part 1 hands its components to part 0, which calls the caller's
//! output with the whole state.
//!
//! The result differs from the one-thread integration only by the order in which a few sums are
//! added (test `halves_agree_with_one_thread` in `core/tests/engine.rs`).

use super::dopri5::{Control, Dopri5, Dopri5Failure, Dopri5Options, Dopri5Stats, Reduction, State};
use super::system::OdeSystem;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What the two threads share: their published parts of each exchange (two buffers per
/// thread, used alternately), how many exchanges each has published, and part 1's components
/// at an output time.
struct Exchange {
    slots: [[Vec<AtomicU64>; 2]; 2],
    published: [OwnLine<AtomicU64>; 2],
    /// Set when a thread unwinds, so that its partner stops waiting.
    abandoned: OwnLine<AtomicBool>,
    handed_over: Mutex<Vec<f64>>,
}

/// A value on a cache line (pair) of its own, so that one thread's writes to it do not evict
/// what its partner spins on.
#[repr(align(128))]
struct OwnLine<T>(T);

impl<T> std::ops::Deref for OwnLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Exchange {
    fn new(width: usize, part1_len: usize) -> Self {
        let slot = || (0..width).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        Exchange {
            slots: [[slot(), slot()], [slot(), slot()]],
            published: [OwnLine(AtomicU64::new(0)), OwnLine(AtomicU64::new(0))],
            abandoned: OwnLine(AtomicBool::new(false)),
            handed_over: Mutex::new(vec![0.0; part1_len]),
        }
    }
}

/// One thread's end of the [`Exchange`].
struct Side<'e> {
    ex: &'e Exchange,
    part: usize,
    count: u64,
}

impl Side<'_> {
    /// Replaces `values` (this part's sums) by the sums of both parts, part 0's plus part 1's.
    /// Exchange number c uses buffer c mod 2: a thread can be at most one exchange ahead of its
    /// partner, so the buffer it writes was read by the partner before.
    fn total(&mut self, values: &mut [f64]) {
        debug_assert!(values.len() <= self.ex.slots[0][0].len(), "exchange width");
        let parity = (self.count % 2) as usize;
        for (slot, v) in self.ex.slots[self.part][parity].iter().zip(values.iter()) {
            slot.store(v.to_bits(), Ordering::Relaxed);
        }
        self.count += 1;
        self.ex.published[self.part].store(self.count, Ordering::Release);
        let partner = &self.ex.published[1 - self.part];
        let mut spins = 0u32;
        while partner.load(Ordering::Acquire) < self.count {
            if self.ex.abandoned.load(Ordering::Relaxed) {
                panic!("the partner thread of a two-part ODE integration stopped");
            }
            spins = spins.saturating_add(1);
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let [a, b] = &self.ex.slots;
        for ((v, a), b) in values.iter_mut().zip(&a[parity]).zip(&b[parity]) {
            *v = f64::from_bits(a.load(Ordering::Relaxed))
                + f64::from_bits(b.load(Ordering::Relaxed));
        }
    }
}

/// Busy-waiting rounds before a waiting thread yields its core (an exchange normally completes
/// within a microsecond; yielding keeps an oversubscribed machine moving).
const SPINS_BEFORE_YIELD: u32 = 4000;

/// Tells the partner to stop waiting when this thread unwinds.
struct AbandonOnPanic<'e>(&'e Exchange);

impl Drop for AbandonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abandoned.store(true, Ordering::Relaxed);
        }
    }
}

/// What a two-part integration returns: the integrator's result (identical on both parts) and
/// the right-hand side's failure, if one stopped it.
pub(crate) struct HalvesOutcome {
    pub result: Result<f64, Dopri5Failure>,
    pub failure: Option<String>,
}

/// Integrates `sys` (split at `split`, [`OdeSystem::halves_split`]) from `y0` through `times`
/// with Dopri5 on two threads; `output` is called on this thread with the whole state at each
/// output time, as [`Dopri5::integrate`] calls it.
pub(crate) fn integrate_halves(
    sys: &OdeSystem<'_>,
    split: usize,
    y0: &[f64],
    times: &[f64],
    opts: Dopri5Options,
    mut output: impl FnMut(usize, f64, &State, Dopri5Stats) -> Control,
) -> HalvesOutcome {
    let len = y0.len();
    let width = sys.part_sums_len().max(2);
    let ex = Exchange::new(width, len - split);
    let (y0_part0, y0_part1) = y0.split_at(split);
    std::thread::scope(|scope| {
        let ex = &ex;
        let part1 = scope.spawn(move || {
            let _guard = AbandonOnPanic(ex);
            let mut side = Side {
                ex,
                part: 1,
                count: 0,
            };
            run_part(
                sys,
                1,
                y0_part1,
                times,
                opts,
                len,
                &mut side,
                |side, _, _, y, _| {
                    // hand the components over, then learn part 0's verdict
                    ex.handed_over
                        .lock()
                        .expect("not poisoned")
                        .copy_from_slice(y.as_slice());
                    side.total(&mut [0.0]);
                    let mut verdict = [0.0];
                    side.total(&mut verdict);
                    verdict[0]
                },
            )
        });
        let _guard = AbandonOnPanic(ex);
        let mut side = Side {
            ex,
            part: 0,
            count: 0,
        };
        let mut whole = State::zeros(len);
        let outcome = run_part(
            sys,
            0,
            y0_part0,
            times,
            opts,
            len,
            &mut side,
            |side, i, t, y, stats| {
                side.total(&mut [0.0]);
                whole.as_mut_slice()[..split].copy_from_slice(y.as_slice());
                whole.as_mut_slice()[split..]
                    .copy_from_slice(&ex.handed_over.lock().expect("not poisoned"));
                let stop = output(i, t, &whole, stats) == Control::Stop;
                let mut verdict = [if stop { 1.0 } else { 0.0 }];
                side.total(&mut verdict);
                verdict[0]
            },
        );
        let other = part1
            .join()
            .expect("the part-1 thread of the ODE integration panicked");
        debug_assert_eq!(
            outcome.result.is_ok(),
            other.result.is_ok(),
            "both parts end alike"
        );
        outcome
    })
}

/// One part's integration: [`Dopri5::run`] on the part's components with the sums exchanged
/// through `side`; `at_output(side, i, t, y_part, stats)` returns a non-zero verdict to stop.
#[allow(clippy::too_many_arguments)]
fn run_part(
    sys: &OdeSystem<'_>,
    part: usize,
    y0: &[f64],
    times: &[f64],
    opts: Dopri5Options,
    len: usize,
    side: &mut Side<'_>,
    mut at_output: impl FnMut(&mut Side<'_>, usize, f64, &State, Dopri5Stats) -> f64,
) -> HalvesOutcome {
    let mut ws = sys.workspace();
    let mut sums = vec![0.0; sys.part_sums_len()];
    let mut stepper = Dopri5::new(y0.len());
    // the right-hand side and the outputs both exchange through `side`, one after the other
    let side = std::cell::RefCell::new(side);
    let result = stepper.run(
        y0,
        times,
        0.0,
        opts,
        |y, dy| {
            sys.part_sums(part, y.as_slice(), &mut sums);
            side.borrow_mut().total(&mut sums);
            sys.drift_from_sums(&sums, &mut ws);
            if ws.failure.is_some() {
                return Control::Stop;
            }
            sys.part_rhs(part, y.as_slice(), dy.as_mut_slice(), &ws);
            Control::Continue
        },
        |i, t, y, stats| {
            if at_output(&mut side.borrow_mut(), i, t, y, stats) != 0.0 {
                Control::Stop
            } else {
                Control::Continue
            }
        },
        |_, _, _| Control::Continue,
        Reduction {
            total: &mut |values| side.borrow_mut().total(values),
            len,
        },
    );
    HalvesOutcome {
        result,
        failure: ws.failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::Gelu;
    use crate::model::{Algorithm, Training, Weights};
    use crate::ode::system::{Form, Reduction};

    /// The two-thread driver itself (whatever the machine's cores): a K = 4 gelu autoencoder
    /// with a bias and an input mean over 512 modes, its states at every output time equal to
    /// the one-thread integration's within 1e-10 of their size, and an output's stop verdict
    /// ends both threads there.
    #[test]
    fn two_parts_follow_the_one_thread_integration() {
        let d = 512;
        let rho: Vec<f64> = (0..d)
            .map(|i| d as f64 * 0.5 * (-(i as f64) / 2.0).exp() + 0.3)
            .collect();
        let mean: Vec<f64> = (0..d).map(|i| 0.5 / (1.0 + i as f64)).collect();
        let tr = Training {
            k: 4,
            lr: 0.7,
            tied: false,
            bias: true,
            algorithm: Algorithm::Vanilla,
        };
        let sys = OdeSystem::new(&Gelu, tr, &rho, Form::Vector, Reduction::Full)
            .expect("system")
            .with_input_mean(&mean)
            .expect("vector form");
        let split = sys.halves_split().expect("large enough to split");
        let w = Weights::init(4, d, 0.3, false, 2);
        let y0 = sys.state_from_weights(&w.w, &w.v, &[0.05; 4]);
        let times: Vec<f64> = (0..=10).map(|i| 0.1 * 2f64.powi(i)).collect();
        let opts = Dopri5Options {
            rtol: 1e-10,
            atol: 1e-13,
            max_steps: 100_000,
            n_stiff: Some(1000),
        };
        let mut one = Vec::new();
        let mut ws = sys.workspace();
        Dopri5::new(y0.len())
            .integrate(
                y0.as_slice(),
                &times,
                0.0,
                opts,
                |y, dy| {
                    sys.rhs_with(y, dy, &mut ws);
                    Control::Continue
                },
                |_, _, y, _| {
                    one.push(y.clone());
                    Control::Continue
                },
            )
            .expect("one thread");
        let mut two = Vec::new();
        let outcome = integrate_halves(&sys, split, y0.as_slice(), &times, opts, |_, _, y, _| {
            two.push(y.clone());
            Control::Continue
        });
        assert!(outcome.result.is_ok() && outcome.failure.is_none());
        assert_eq!(two.len(), times.len());
        for (a, b) in one.iter().zip(&two) {
            let diff = (a - b).amax() / a.amax();
            assert!(diff < 1e-10, "two parts differ by {diff:e}");
        }
        // a stop at the fourth output ends both parts there
        let mut seen = 0;
        let stopped = integrate_halves(&sys, split, y0.as_slice(), &times, opts, |i, _, _, _| {
            seen += 1;
            if i == 3 {
                Control::Stop
            } else {
                Control::Continue
            }
        });
        assert_eq!(seen, 4);
        assert!(matches!(stopped.result, Err(Dopri5Failure::Stopped { .. })));
    }
}
