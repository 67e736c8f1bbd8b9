//! A run's progress as a bar on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use occam_experiment::run::Progress;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first SIGINT / SIGTERM: runs stop after their current
/// meta-step, write a checkpoint and exit with code 130.
static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the signal handler: the first SIGINT or SIGTERM asks runs to stop
/// after the current meta-step; a second one exits at once.
pub fn install_stop_handler() {
    let installed = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\noccam: stopped at once (exit 130); resume from the last checkpoint");
            std::process::exit(130);
        }
        eprintln!(
            "\noccam: stopping after this meta-step to write a checkpoint (signal again to stop at once)"
        );
    });
    if let Err(e) = installed {
        eprintln!(
            "occam: warning: no signal handler ({e}); an interrupt stops the run without a checkpoint"
        );
    }
}

/// Whether a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

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

    fn resumed(&self, done: u64) {
        self.0.set_position(done);
    }

    fn should_stop(&self) -> bool {
        stop_requested()
    }
}

/// Reports nothing, but stops on a signal (for runs side by side).
pub struct StopOnly;

impl Progress for StopOnly {
    fn should_stop(&self) -> bool {
        stop_requested()
    }
}
