//! `occam`: meta-learns the inductive bias of small neural circuits on any GPU.
//!
//! Exit codes: 0 success, 1 internal failure, 2 bad input or machine setup
//! (unknown backend, no adapter, a size over the adapter's limits, …).

mod cli;
mod devices;
mod figures;
mod plots;
mod progress;

use clap::Parser;
use occam_experiment::config::Experiment;
use occam_experiment::output::FolderLock;
use occam_experiment::run::Outcome;
use occam_experiment::{bench, gradcheck, run, seeds};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Devices(args) => devices::run(&cli.selection(), args),
        cli::Command::Run(args) => run_command(&cli, args),
        cli::Command::Gradcheck(args) => gradcheck_command(&cli, args),
        cli::Command::Bench(args) => bench_command(&cli, args),
        cli::Command::Sweep(args) => sweep_command(&cli, args),
        cli::Command::Collect(args) => collect_command(args),
        cli::Command::Report(args) => report_command(&cli, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ occam_experiment::Error::Interrupted(_)) => {
            eprintln!("occam: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("occam: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Resolves `exp` (every key checked) and prints its warnings.
fn checked(exp: &Experiment) -> Result<(), cli::Failure> {
    for w in exp.resolve()?.warnings {
        eprintln!("occam: warning: {w}");
    }
    Ok(())
}

fn open_gpu(cli: &cli::Cli) -> Result<occam_gpu::Gpu, cli::Failure> {
    Ok(occam_gpu::Gpu::new(&cli.selection(), false)?)
}

fn run_command(cli: &cli::Cli, args: &cli::RunArgs) -> Result<(), cli::Failure> {
    if let Some(dir) = &args.resume {
        return resume_command(cli, dir);
    }
    let experiment = args
        .experiment
        .as_deref()
        .expect("clap requires the experiment without --resume");
    let mut overrides = args.set.clone();
    if let Some(seed) = args.seed {
        overrides.push(format!("seed={seed}"));
    }
    if let Some(steps) = args.steps {
        overrides.push(format!("meta_steps={steps}"));
    }
    if let Some(spec) = &args.seeds {
        let mut runs = Vec::new();
        let mut locks = Vec::new();
        for seed in seeds::parse(spec)? {
            let mut o = overrides.clone();
            o.push(format!("seed={seed}"));
            let exp = Experiment::load(experiment, &o)?;
            checked(&exp)?;
            let out = seeds::folder(args.out.as_deref(), &exp.name, seed);
            locks.push(FolderLock::acquire(&out)?);
            occam_experiment::output::claim(&out, args.force)?;
            runs.push((exp, out));
        }
        let gpu = open_gpu(cli)?;
        progress::install_stop_handler();
        let bar =
            |label: &str| -> Box<dyn run::Progress> { Box::new(progress::Bar::lines_only(label)) };
        return seeds::run_all(&gpu, &runs, args.jobs, &bar, &|exp, outcome| {
            figures::draw(&gpu, exp, outcome)
        });
    }
    let exp = Experiment::load(experiment, &overrides)?;
    checked(&exp)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(format!("runs/{}-seed{}", exp.name, exp.seed)));
    let _lock = FolderLock::acquire(&out)?;
    occam_experiment::output::claim(&out, args.force)?;
    let gpu = open_gpu(cli)?;
    progress::install_stop_handler();
    let plots = |o: &Outcome| figures::draw(&gpu, &exp, o);
    let outcome = run::run_with_outputs(&gpu, &exp, &out, &progress::Bar::new(), &plots)?;
    report(&gpu, &exp, &outcome);
    Ok(())
}

/// `occam run --resume DIR`.
fn resume_command(cli: &cli::Cli, dir: &std::path::Path) -> Result<(), cli::Failure> {
    let (exp, checkpoint) = run::load_resumable(dir)?;
    let _lock = FolderLock::acquire(dir)?;
    if occam_experiment::output::status(dir).as_deref() == Some("complete") {
        eprintln!(
            "occam: the run in {} is complete; nothing to resume",
            dir.display()
        );
        return Ok(());
    }
    checked(&exp)?;
    let gpu = open_gpu(cli)?;
    progress::install_stop_handler();
    let plots = |o: &Outcome| figures::draw(&gpu, &exp, o);
    let outcome =
        run::resume_with_outputs(&gpu, &exp, dir, checkpoint, &progress::Bar::new(), &plots)?;
    report(&gpu, &exp, &outcome);
    Ok(())
}

/// The closing line of a run.
fn report(gpu: &occam_gpu::Gpu, exp: &Experiment, outcome: &Outcome) {
    let first = &outcome.functions[0];
    eprintln!(
        "occam: {} function(s) × {} meta-steps in {:.1} s on {}; held-out meta-loss {:.4e} → {:.4e}; results in {}",
        outcome.functions.len(),
        exp.meta_steps,
        outcome.wall_s,
        gpu.adapter().name,
        first.initial_heldout.total(),
        first.final_heldout.total(),
        outcome.dir.display()
    );
}

fn gradcheck_command(cli: &cli::Cli, args: &cli::GradcheckArgs) -> Result<(), cli::Failure> {
    let mut overrides = args.set.clone();
    if let Some(seed) = args.seed {
        overrides.push(format!("seed={seed}"));
    }
    let exp = Experiment::load(&args.experiment, &overrides)?;
    checked(&exp)?;
    let gpu = open_gpu(cli)?;
    gradcheck::gradcheck(&gpu, &exp, &args.options(), &mut std::io::stdout().lock())
}

fn bench_command(cli: &cli::Cli, args: &cli::BenchArgs) -> Result<(), cli::Failure> {
    let exp = Experiment::load(&args.experiment, &args.set)?;
    checked(&exp)?;
    let gpu = open_gpu(cli)?;
    let report = bench::bench(&gpu, &exp, &args.options())?;
    println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
    Ok(())
}

/// `occam sweep`.
fn sweep_command(cli: &cli::Cli, args: &cli::SweepArgs) -> Result<(), cli::Failure> {
    use occam_experiment::sweep;
    let sweep = sweep::Sweep::load(&args.sweep)?;
    let (index, count) = match &args.shard {
        Some(spec) => sweep::parse_shard(spec)?,
        None => sweep::shard_from_env(|k| std::env::var(k).ok())?.unwrap_or((0, 1)),
    };
    if args.list {
        for (k, r) in sweep.runs.iter().enumerate() {
            println!(
                "{k}\t{}\t{}\t{}",
                r.name(),
                r.dir.display(),
                occam_experiment::output::status(&r.dir).unwrap_or_else(|| "not started".into())
            );
        }
        return Ok(());
    }
    let runs = sweep.shard(index, count);
    eprintln!(
        "occam: sweep {}: shard {index}/{count}: {} of {} runs, in {}",
        args.sweep.display(),
        runs.len(),
        sweep.runs.len(),
        sweep.out.display()
    );
    let labelled: Vec<(String, Experiment, std::path::PathBuf)> = runs
        .iter()
        .map(|r| Ok((r.name(), sweep.experiment_of(r)?, r.dir.clone())))
        .collect::<Result<_, cli::Failure>>()?;
    run_labelled(cli, &labelled, args.jobs, &format!("shard {index}/{count}"))
}

/// Runs each (name, experiment, folder) on one device, `jobs` at a time:
/// complete runs are skipped, interrupted ones resumed, and each finished
/// one's figures drawn. Errors carry `context`.
fn run_labelled(
    cli: &cli::Cli,
    labelled: &[(String, Experiment, std::path::PathBuf)],
    jobs: usize,
    context: &str,
) -> Result<(), cli::Failure> {
    let gpu = open_gpu(cli)?;
    progress::install_stop_handler();
    let bar = |name: &str| -> Box<dyn run::Progress> {
        if jobs > 1 {
            Box::new(progress::Bar::lines_only(name))
        } else {
            Box::new(progress::Bar::labelled(name))
        }
    };
    let run_one =
        |gpu: &occam_gpu::Gpu,
         exp: &Experiment,
         dir: &std::path::Path,
         p: &dyn run::Progress,
         outputs: run::Outputs<'_>| { run::run_or_resume(gpu, exp, dir, p, outputs) };
    seeds::run_each(&gpu, labelled, jobs, &bar, &run_one, &|exp, outcome| {
        figures::draw(&gpu, exp, outcome)?;
        report(&gpu, exp, outcome);
        Ok(())
    })
    .map_err(|e| e.context(context))
}

/// `occam report`.
fn report_command(cli: &cli::Cli, args: &cli::ReportArgs) -> Result<(), cli::Failure> {
    use occam_experiment::{reproduction, sweep};
    let report = reproduction::Report::load(&args.report)?;
    let all = report.runs();
    if args.list {
        for (k, (_, r, name)) in all.iter().enumerate() {
            println!(
                "{k}\t{name}\t{}\t{}",
                r.dir.display(),
                occam_experiment::output::status(&r.dir).unwrap_or_else(|| "not started".into())
            );
        }
        return Ok(());
    }
    if !args.no_run {
        let (index, count) = match &args.shard {
            Some(spec) => sweep::parse_shard(spec)?,
            None => sweep::shard_from_env(|k| std::env::var(k).ok())?.unwrap_or((0, 1)),
        };
        let labelled: Vec<(String, Experiment, std::path::PathBuf)> = all
            .iter()
            .enumerate()
            .filter(|(k, _)| k % count == index)
            .map(|(_, (s, r, name))| Ok((name.clone(), s.experiment_of(r)?, r.dir.clone())))
            .collect::<Result<_, cli::Failure>>()?;
        eprintln!(
            "occam: report {}: shard {index}/{count}: {} of {} runs",
            args.report.display(),
            labelled.len(),
            all.len()
        );
        run_labelled(cli, &labelled, args.jobs, &format!("shard {index}/{count}"))?;
    }
    report.write()?;
    eprintln!(
        "occam: wrote {} from the complete runs",
        report.document.display()
    );
    Ok(())
}

/// `occam collect`.
fn collect_command(args: &cli::CollectArgs) -> Result<(), cli::Failure> {
    use occam_experiment::collect;
    let c = collect::collect(&args.dir)?;
    let write = |name: &str, text: &str| -> Result<(), cli::Failure> {
        let path = args.dir.join(name);
        occam_experiment::output::atomic(&path, |tmp| std::fs::write(tmp, text))
            .map_err(|e| cli::Failure::input(format!("{}: {e}", path.display())))
    };
    write("collected.csv", &c.csv())?;
    write("collected_by_setting.csv", &c.settings_csv())?;
    write(
        "collected.json",
        &(serde_json::to_string_pretty(&c.json()).expect("JSON") + "\n"),
    )?;
    let settings = c.settings();
    eprintln!(
        "occam: {} runs, {} settings (varying: {}); wrote collected.csv, collected_by_setting.csv, collected.json in {}",
        c.rows.len(),
        settings.len(),
        if c.varying.is_empty() {
            "nothing".into()
        } else {
            c.varying.join(", ")
        },
        args.dir.display()
    );
    if let (Some(figure), Some(against)) = (&args.figure, &args.against) {
        let path = figures::collected(&args.dir, &c, figure, against, args.plot.as_deref())?;
        eprintln!(
            "occam: plotted {figure} against {against} in {}",
            path.display()
        );
    }
    Ok(())
}
