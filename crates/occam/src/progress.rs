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

/// A progress bar with the last logged meta-loss and an ETA on a terminal;
/// in a batch log (stderr not a terminal) a line every tenth of the run and
/// at least every minute, so a cluster job's log shows where it is.
pub struct Bar {
    bar: ProgressBar,
    lines: Option<Lines>,
}

/// The line mode's state.
struct Lines {
    label: String,
    start: std::time::Instant,
    state: std::sync::Mutex<LineState>,
}

#[derive(Default)]
struct LineState {
    total: u64,
    done: u64,
    meta_loss: Option<f64>,
    last_line: Option<std::time::Instant>,
}

impl Bar {
    /// A bar drawn on stderr, or progress lines when stderr is not a terminal.
    pub fn new() -> Bar {
        Bar::labelled("")
    }

    /// The same, with `label` (a run's name) at the start of each line.
    pub fn labelled(label: &str) -> Bar {
        Bar::with(label, ProgressBar::new(0))
    }

    /// No bar (runs side by side share the terminal), but the lines in a
    /// batch log.
    pub fn lines_only(label: &str) -> Bar {
        Bar::with(label, ProgressBar::hidden())
    }

    fn with(label: &str, bar: ProgressBar) -> Bar {
        use std::io::IsTerminal;
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} meta-loss {msg} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let lines = (!std::io::stderr().is_terminal()).then(|| Lines {
            label: if label.is_empty() {
                String::new()
            } else {
                format!("{label}: ")
            },
            start: std::time::Instant::now(),
            state: Default::default(),
        });
        Bar { bar, lines }
    }

    fn line(&self, force: bool) {
        let Some(l) = &self.lines else { return };
        let mut st = l.state.lock().unwrap_or_else(|e| e.into_inner());
        let every = (st.total / 10).max(1);
        let due = st.last_line.is_none_or(|t| t.elapsed().as_secs() >= 60);
        if force || st.done % every == 0 || due {
            let loss = st.meta_loss.map_or("-".into(), |v| format!("{v:.4e}"));
            eprintln!(
                "occam: {}meta-step {}/{} meta-loss {loss} after {:.1} s",
                l.label,
                st.done,
                st.total,
                l.start.elapsed().as_secs_f64()
            );
            st.last_line = Some(std::time::Instant::now());
        }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.bar.set_length(total);
        if let Some(l) = &self.lines {
            l.state.lock().unwrap_or_else(|e| e.into_inner()).total = total;
        }
    }

    fn advance(&self) {
        self.bar.inc(1);
        if let Some(l) = &self.lines {
            l.state.lock().unwrap_or_else(|e| e.into_inner()).done += 1;
            self.line(false);
        }
    }

    fn logged(&self, meta_loss: f64) {
        self.bar.set_message(format!("{meta_loss:.4e}"));
        if let Some(l) = &self.lines {
            l.state.lock().unwrap_or_else(|e| e.into_inner()).meta_loss = Some(meta_loss);
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn resumed(&self, done: u64) {
        self.bar.set_position(done);
        if let Some(l) = &self.lines {
            l.state.lock().unwrap_or_else(|e| e.into_inner()).done = done;
            self.line(true);
        }
    }

    fn should_stop(&self) -> bool {
        stop_requested()
    }
}
