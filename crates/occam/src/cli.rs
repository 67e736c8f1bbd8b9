//! Command-line interface: global adapter options and the subcommands.

use clap::{Args, Parser, Subcommand};
use occam_gpu::{AdapterSelection, Backend};

/// Occam meta-learns the inductive bias of small neural circuits on any GPU
/// (Vulkan, Metal, DX12, OpenGL; software adapters on machines without one).
#[derive(Parser, Debug)]
#[command(name = "occam", version, about)]
pub struct Cli {
    /// Only use adapters of this backend: vulkan, gl, metal or dx12.
    #[arg(long, global = true, env = "OCCAM_BACKEND", value_parser = parse_backend)]
    pub backend: Option<Backend>,
    /// Only use adapters whose name or driver contains this text (case-insensitive).
    #[arg(long, global = true, env = "OCCAM_ADAPTER", value_name = "SUBSTRING")]
    pub adapter: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every adapter (name, backend, device type, driver) and mark the one Occam would use.
    Devices(DevicesArgs),
    /// Run a meta-learning experiment from a TOML file and write its results into an output folder.
    Run(RunArgs),
    /// Check one meta-step's GPU meta-gradient against a CPU f64 reference and finite differences.
    Gradcheck(GradcheckArgs),
    /// Time meta-steps of an experiment and split one meta-step into its phases (JSON).
    Bench(BenchArgs),
    /// Run a sweep (an experiment over grids or lists of settings and seeds),
    /// or one shard of it: finished runs are skipped, interrupted ones resumed.
    Sweep(SweepArgs),
    /// Collect every run below a folder into one table (CSV and JSON), with
    /// the mean ± sd of each figure over the seeds of each setting.
    Collect(CollectArgs),
    /// Run the reproduction report's figures over their seeds (finished runs
    /// skipped, interrupted ones resumed) and write its page: the paper's
    /// values beside Occam's mean ± sd, with a verdict and seed 0's picture.
    Report(ReportArgs),
}

/// Options of `occam report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The report file (TOML): `out`, `document`, `seeds`, `[set]`, `[[figure]]`.
    pub report: std::path::PathBuf,
    /// Print the runs (index, name, folder, status) and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run nothing: write the page from the runs already complete.
    #[arg(long)]
    pub no_run: bool,
    /// Run only shard i of n (run k belongs to shard k mod n), then write
    /// the page from what is complete. Defaults to the SLURM job-array task.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// How many runs share the device at once (on threads; at least 1).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub jobs: usize,
}

/// Options of `occam sweep`.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The sweep file (TOML): `experiment`, `seeds`, `out`, `[set]`, `[grid]`, `[[points]]`.
    pub sweep: std::path::PathBuf,
    /// Print the runs (index, name, folder, status) and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run only shard i of n (run k belongs to shard k mod n). Defaults to
    /// the SLURM job-array task (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of
    /// SLURM_ARRAY_TASK_COUNT); otherwise every run.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// How many of the shard's runs share the device at once (on threads; at least 1).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub jobs: usize,
}

/// Options of `occam collect`.
#[derive(Args, Debug)]
pub struct CollectArgs {
    /// The folder holding the runs (a sweep's `out`, a --seeds folder, runs/).
    pub dir: std::path::PathBuf,
    /// Plot this figure (a summary.json path, e.g. analysis.heldout.meta_loss_reduction) …
    #[arg(long, requires = "against", value_name = "FIGURE")]
    pub figure: Option<String>,
    /// … against this swept key (mean ± sd over seeds; one line per setting of the other keys),
    /// or against another figure (its mean over seeds, e.g. learner_usage.0.total; one line per
    /// setting of the varying keys other than meta_steps).
    #[arg(long, requires = "figure", value_name = "KEY")]
    pub against: Option<String>,
    /// Where to write the plot (default DIR/FIGURE_vs_KEY.png).
    #[arg(long, requires = "figure", value_name = "PNG")]
    pub plot: Option<std::path::PathBuf>,
}

/// Options of `occam bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The experiment file (TOML).
    pub experiment: std::path::PathBuf,
    /// Meta-steps to time, after the warm-up.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed meta-steps first (pipeline compilation, caches).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Write a Chrome-trace JSON of one profiled meta-step (open it in
    /// chrome://tracing or ui.perfetto.dev).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<std::path::PathBuf>,
    /// Override any key of the file, e.g. --set tasks=16.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Options of `occam gradcheck`.
#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// The experiment file (TOML).
    pub experiment: std::path::PathBuf,
    /// Run seed (overrides the file's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override any key of the file, e.g. --set tasks=2.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write every tensor of the meta-step (.npy) and a manifest.json into this folder.
    #[arg(long)]
    pub dump: Option<std::path::PathBuf>,
    /// Largest accepted relative error of the GPU against the CPU f64 reference.
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f64,
    /// Largest accepted relative error of the GPU's part of ∂L/∂θ through
    /// the learner's pullback against the reference's, relative to that
    /// part's own largest entry (it is checked on its own because another
    /// part can dwarf it in the whole).
    #[arg(long, default_value_t = 1e-3)]
    pub learner_tolerance: f64,
    /// Largest accepted relative error of the reference against finite differences.
    /// The meta-loss is only piecewise smooth (relu, |·| in the energy distance),
    /// so differences across a kink are off by the kink's jump: a small step
    /// keeps crossings rare.
    #[arg(long, default_value_t = 1e-3)]
    pub fd_tolerance: f64,
    /// Random directions for the finite-difference check.
    #[arg(long, default_value_t = 3)]
    pub directions: usize,
    /// Finite-difference step (central differences in f64).
    #[arg(long, default_value_t = 1e-8)]
    pub step: f64,
}

/// Options of `occam run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The experiment file (TOML), e.g. experiments/mlp_gd.toml.
    #[arg(required_unless_present = "resume")]
    pub experiment: Option<std::path::PathBuf>,
    /// Continue the interrupted or killed run in this folder from its
    /// checkpoint (its config.toml is the experiment), to the numbers an
    /// uninterrupted run gives; a complete run there is left as it is.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["experiment", "out", "force", "seed", "seeds", "steps", "set"])]
    pub resume: Option<std::path::PathBuf>,
    /// Output folder (default: runs/NAME-seedSEED; with --seeds, the folder
    /// that holds one NAME-seedS folder per seed).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Replace an earlier run in the output folder (by default such a
    /// folder is refused, so that old and new results never mix).
    #[arg(long)]
    pub force: bool,
    /// Run seed (overrides the file's `seed`).
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Several independent runs together on one device: `A..B` (both
    /// included) or `3,7,11`; each writes OUT/NAME-seedS (OUT defaults to runs).
    #[arg(long, value_name = "A..B")]
    pub seeds: Option<String>,
    /// With --seeds: how many runs share the device at once (at least 1).
    #[arg(long, default_value_t = 4, requires = "seeds", value_parser = at_least_one)]
    pub jobs: usize,
    /// Meta-steps (overrides the file's `meta_steps`).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Override any key of the file, e.g. --set learner.steps=50 --set tasks=4.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Options of `occam devices`.
#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl GradcheckArgs {
    /// The library's options.
    pub fn options(&self) -> occam_experiment::gradcheck::GradcheckOptions {
        occam_experiment::gradcheck::GradcheckOptions {
            dump: self.dump.clone(),
            tolerance: self.tolerance,
            learner_tolerance: self.learner_tolerance,
            file: Some(self.experiment.display().to_string()),
            fd_tolerance: self.fd_tolerance,
            directions: self.directions,
            step: self.step,
        }
    }
}

impl BenchArgs {
    /// The library's options.
    pub fn options(&self) -> occam_experiment::bench::BenchOptions {
        occam_experiment::bench::BenchOptions {
            steps: self.steps,
            warmup: self.warmup,
            trace: self.trace.clone(),
        }
    }
}

impl Cli {
    /// The adapter filters from `--backend` / `--adapter` (or their env vars).
    pub fn selection(&self) -> AdapterSelection {
        AdapterSelection {
            backend: self.backend,
            adapter: self.adapter.clone().filter(|a| !a.trim().is_empty()),
        }
    }
}

fn parse_backend(value: &str) -> Result<Backend, String> {
    Backend::parse(value, "--backend / OCCAM_BACKEND").map_err(|e| e.to_string())
}

/// Errors of every command: the experiment layer's, which map to exit codes.
pub use occam_experiment::Error as Failure;

/// A count of at least 1 (`--jobs`): 0 would run nothing, and is refused
/// rather than read as 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1 (0 runs nothing)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{text:?} is not a count: {e}")),
    }
}
