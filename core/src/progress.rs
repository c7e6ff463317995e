//! Progress bars on stderr for long runs (with the default `cli` feature, through indicatif);
//! without the feature the library has no terminal dependency and these do nothing.

/// A progress bar of `len` units with a short message.
pub struct Progress {
    #[cfg(feature = "cli")]
    bar: indicatif::ProgressBar,
}

impl Progress {
    pub fn new(len: u64, msg: &'static str) -> Self {
        #[cfg(feature = "cli")]
        {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(len),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>5} [{bar:40}] {percent}% ({elapsed})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(msg);
            // redrawn twice a second, so the elapsed time moves during a long step (a dense
            // spectrum of thousands of components takes a minute between two updates)
            bar.enable_steady_tick(std::time::Duration::from_millis(500));
            Progress { bar }
        }
        #[cfg(not(feature = "cli"))]
        {
            let _ = (len, msg);
            Progress {}
        }
    }

    pub fn set_position(&self, pos: u64) {
        #[cfg(feature = "cli")]
        self.bar.set_position(pos);
        #[cfg(not(feature = "cli"))]
        let _ = pos;
    }

    pub fn inc(&self, delta: u64) {
        #[cfg(feature = "cli")]
        self.bar.inc(delta);
        #[cfg(not(feature = "cli"))]
        let _ = delta;
    }

    pub fn finish_and_clear(&self) {
        #[cfg(feature = "cli")]
        self.bar.finish_and_clear();
    }
}
