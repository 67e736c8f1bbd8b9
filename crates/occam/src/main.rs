//! `occam`: meta-learns the inductive bias of small neural circuits on any GPU.
//!
//! Exit codes: 0 success, 1 internal failure, 2 bad input or machine setup
//! (unknown backend, no adapter, a size over the adapter's limits, …).

mod bench;
mod cli;
mod config;
mod devices;
mod gradcheck;
mod layout;
mod output;
mod plots;
mod run;
mod seeds;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Devices(args) => devices::run(&cli.selection(), args),
        cli::Command::Run(args) => run_command(&cli, args),
        cli::Command::Gradcheck(args) => gradcheck_command(&cli, args),
        cli::Command::Bench(args) => bench_command(&cli, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("occam: error: {}", e.message);
            ExitCode::from(e.exit_code)
        }
    }
}

fn open_gpu(cli: &cli::Cli) -> Result<occam_gpu::Gpu, cli::Failure> {
    Ok(occam_gpu::Gpu::new(&cli.selection(), false)?)
}

fn run_command(cli: &cli::Cli, args: &cli::RunArgs) -> Result<(), cli::Failure> {
    let mut overrides = args.set.clone();
    if let Some(seed) = args.seed {
        overrides.push(format!("seed={seed}"));
    }
    if let Some(steps) = args.steps {
        overrides.push(format!("meta_steps={steps}"));
    }
    if let Some(spec) = &args.seeds {
        let mut runs = Vec::new();
        for seed in seeds::parse(spec)? {
            let mut o = overrides.clone();
            o.push(format!("seed={seed}"));
            let exp = config::Experiment::load(&args.experiment, &o)?;
            exp.resolve()?;
            let out = seeds::folder(args.out.as_deref(), &exp.name, seed);
            runs.push((exp, out));
        }
        let gpu = open_gpu(cli)?;
        return seeds::run_all(&gpu, &runs, args.jobs);
    }
    let exp = config::Experiment::load(&args.experiment, &overrides)?;
    exp.resolve()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(format!("runs/{}-seed{}", exp.name, exp.seed)));
    let gpu = open_gpu(cli)?;
    run::run(&gpu, &exp, &out, true)
}

fn gradcheck_command(cli: &cli::Cli, args: &cli::GradcheckArgs) -> Result<(), cli::Failure> {
    let mut overrides = args.set.clone();
    if let Some(seed) = args.seed {
        overrides.push(format!("seed={seed}"));
    }
    let exp = config::Experiment::load(&args.experiment, &overrides)?;
    exp.resolve()?;
    let gpu = open_gpu(cli)?;
    gradcheck::gradcheck(&gpu, &exp, args)
}

fn bench_command(cli: &cli::Cli, args: &cli::BenchArgs) -> Result<(), cli::Failure> {
    let exp = config::Experiment::load(&args.experiment, &args.set)?;
    exp.resolve()?;
    let gpu = open_gpu(cli)?;
    bench::bench(&gpu, &exp, args)
}
