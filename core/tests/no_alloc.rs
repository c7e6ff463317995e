//! The SGD step allocates nothing: a counting global allocator sees zero allocations over
//! 10 000 steps (vanilla, truncated, tied, with bias). Only allocations made on the test's own
//! thread while it runs the steps are counted (the test harness's threads allocate at any time).

use aedyn::builtins::ScaledErf;
use aedyn::model::{Algorithm, Training, Weights};
use aedyn::sim::{EigenbasisGaussian, Sgd};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted.
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if TRACKED.try_with(Cell::get).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn sgd_steps_do_not_allocate() {
    let d = 300;
    let rho: Vec<f64> = (0..d).map(|i| if i < 2 { 100.0 } else { 0.1 }).collect();
    let sampler = EigenbasisGaussian::new(&rho);
    for (algorithm, tied, bias) in [
        (Algorithm::Vanilla, false, false),
        (Algorithm::Truncated, false, true),
        (Algorithm::Vanilla, true, true),
        (Algorithm::Sanger, true, false),
    ] {
        let tr = Training {
            k: 4,
            lr: 0.5,
            tied,
            bias,
            algorithm,
        };
        let mut s = Sgd::new(Weights::init(4, d, 0.1, tied, 1), tr, &ScaledErf, 2);
        s.run(&sampler, 10);
        let before = ALLOCS.load(Ordering::SeqCst);
        TRACKED.set(true);
        s.run(&sampler, 10_000);
        TRACKED.set(false);
        let after = ALLOCS.load(Ordering::SeqCst);
        assert_eq!(after - before, 0, "{algorithm:?} tied={tied} bias={bias}");
    }
}
