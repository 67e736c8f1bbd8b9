//! A run's progress as a bar on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use occam_experiment::run::Progress;

/// A progress bar with the last logged meta-loss and an ETA.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar drawn on stderr (hidden when it is not a terminal).
    pub fn new() -> Bar {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} meta-loss {msg} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }

    fn advance(&self) {
        self.0.inc(1);
    }

    fn logged(&self, meta_loss: f64) {
        self.0.set_message(format!("{meta_loss:.4e}"));
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
