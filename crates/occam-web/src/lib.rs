//! Occam in a web page: an experiment's TOML, meta-learned live on the
//! visitor's GPU through WebGPU.
//!
//! The page runs the CLI's engine and shaders, not a copy of them: a
//! [`Session`] resolves the experiment with `occam-experiment`, opens the
//! adapter with [`occam_gpu::Gpu::open`], and meta-learns with
//! [`occam_meta::engine::GpuMetaEngine`] exactly as `occam run` does (the
//! same task streams, held-out tasks and evaluation points for a seed).
//! Only the read-backs differ in how they are waited for: a page awaits
//! them (`*_async`), native code drives the same futures with `pollster`.
//! So `crates/occam/tests/web_session.rs` can hold a session to the CLI's
//! outputs natively, bit for bit on one adapter.
//!
//! [`view`] gives the points the page draws the function on; `bindings`
//! (wasm32 only) is the JavaScript API the page in `web/` calls.

pub mod view;

#[cfg(target_arch = "wasm32")]
mod bindings;

use occam_experiment::Error;
use occam_experiment::config::{Experiment, Resolved};
use occam_experiment::run::{diagnose_async, heldout_async, heldout_tasks};
use occam_gpu::{AdapterDescription, AdapterSelection, Gpu};
use occam_meta::engine::GpuMetaEngine;
use occam_meta::loss::TermValues;
use occam_meta::problem::{Orthogonality, TaskData};
use occam_meta::sampling::{InputDomain, Purpose, stream};
use serde_json::{Value, json};
use std::path::Path;

/// One experiment meta-learning in a page (or natively, in tests).
pub struct Session {
    gpu: Gpu,
    exp: Experiment,
    r: Resolved,
    engine: GpuMetaEngine,
    orth: Orthogonality,
    theta0: Vec<f64>,
    heldout_data: Vec<TaskData>,
    pub(crate) eval_points: Vec<f64>,
    step: usize,
    last: Option<TermValues>,
    initial_heldout: Option<TermValues>,
}

/// Where a session stands after [`Session::advance`].
#[derive(Clone, Debug)]
pub struct Progress {
    /// Meta-steps done.
    pub step: usize,
    /// The loss terms of the last of them (averaged over its tasks).
    pub terms: TermValues,
}

impl Progress {
    /// As the page reads it: `{ step, meta_loss, terms: { name: value } }`.
    pub fn to_json(&self) -> Value {
        let mut terms = json!({});
        for t in &self.terms.terms {
            terms[t.name] = json!(t.value);
        }
        json!({ "step": self.step, "meta_loss": self.terms.total(), "terms": terms })
    }
}

impl Session {
    /// Resolves the experiment in `text` (`name` names it in errors, as a
    /// path does for the CLI) and opens the adapter `selection` picks —
    /// in a browser, the page's one WebGPU adapter. A bad key is refused
    /// as the CLI refuses it, naming the key; so are what a page cannot
    /// run: a series, and learners that read back in the middle of a
    /// meta-step (programs, animals, black boxes). `files` are data files
    /// in memory by file name (an image set's IDX files), read instead of
    /// the paths the experiment names.
    pub async fn open(
        text: &str,
        name: &str,
        files: &[(&str, &[u8])],
        selection: &AdapterSelection,
    ) -> Result<Session, Error> {
        let mut exp = Experiment::from_text(text, Path::new(name), &[])?;
        exp.files = files
            .iter()
            .map(|(n, b)| (n.to_string(), std::sync::Arc::new(b.to_vec())))
            .collect();
        let r = exp.resolve()?;
        if exp.series.is_some() {
            return Err(Error::input(format!(
                "{name}: series: a page learns one function; run a series with the CLI"
            )));
        }
        let gpu = Gpu::open(selection, true).await?;
        let orth = Orthogonality {
            x: Vec::new(),
            earlier: Vec::new(),
        };
        let theta0 = r.initial_theta(exp.seed, 0);
        let engine = GpuMetaEngine::new(
            &gpu,
            &r.problem,
            r.step_sizes(exp.tasks),
            &theta0,
            r.optimizer,
            &orth,
        )?;
        if engine.has_host_stage() {
            return Err(Error::input(format!(
                "{name}: learner.kind: {} fits on the host between a meta-step's phases, \
                 which a page cannot wait for; run it with the CLI",
                r.problem.learners[0].kind()
            )));
        }
        let heldout_data = heldout_tasks(&exp, &r);
        // As `occam run`: every image of an image set, else fresh points.
        let eval_points = match &r.sampler.pool {
            Some(pool) => pool.to_vec(),
            None => r.sampler.domain.sample(
                &mut stream(exp.seed, Purpose::Evaluation, 0),
                exp.analysis.eval_points,
            ),
        };
        Ok(Session {
            gpu,
            exp,
            r,
            engine,
            orth,
            theta0,
            heldout_data,
            eval_points,
            step: 0,
            last: None,
            initial_heldout: None,
        })
    }

    /// The adapter it runs on.
    pub fn adapter(&self) -> &AdapterDescription {
        self.gpu.adapter()
    }

    /// The input domain (the page picks its picture by it).
    pub fn domain(&self) -> InputDomain {
        self.r.sampler.domain
    }

    /// Meta-steps done so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// Meta-steps the experiment asks for (`meta_steps`).
    pub fn meta_steps(&self) -> usize {
        self.exp.meta_steps
    }

    /// Runs up to `steps` more meta-steps (never past `meta_steps`), the
    /// same tasks `occam run` draws for each, and reads the loss terms of
    /// the last. The CLI's divergence check follows: a non-finite term, θ
    /// or label stops the session with the CLI's message.
    pub async fn advance(&mut self, steps: usize) -> Result<Progress, Error> {
        // The initial θ's held-out figures, before θ moves.
        if self.initial_heldout.is_none() {
            self.initial_heldout = Some(self.heldout_at(&self.theta0.clone()).await?);
        }
        let end = (self.step + steps).min(self.exp.meta_steps);
        while self.step < end {
            let tasks = self
                .r
                .sampler
                .meta_step(self.exp.seed, self.step as u64, self.exp.tasks);
            self.engine.load(&self.gpu, &tasks)?;
            self.engine.step(&self.gpu, true)?;
            self.step += 1;
        }
        let terms = self.engine.read_terms_async(&self.gpu).await?;
        let last = self.step.saturating_sub(1);
        if let Some(d) = diagnose_async(&self.gpu, &self.engine, &terms, 0, last).await? {
            return Err(Error::internal(d.message()));
        }
        self.last = Some(terms.clone());
        Ok(Progress {
            step: self.step,
            terms,
        })
    }

    /// The meta-learner's function at `points` (n × d, row-major).
    pub async fn evaluate(&self, points: &[f64]) -> Result<Vec<f64>, Error> {
        Ok(self.engine.evaluate_async(&self.gpu, points).await?)
    }

    async fn heldout_at(&self, theta: &[f64]) -> Result<TermValues, Error> {
        heldout_async(&self.gpu, &self.r, &self.heldout_data, theta, &self.orth).await
    }

    /// `analysis.heldout` as `summary.json` has it: the meta-loss on the
    /// run's held-out tasks at the initial and the current θ.
    pub async fn heldout(&self) -> Result<Value, Error> {
        let initial = match &self.initial_heldout {
            Some(t) => t.clone(),
            None => self.heldout_at(&self.theta0).await?,
        };
        let theta = self.engine.read_theta_async(&self.gpu).await?;
        let last = self.heldout_at(&theta).await?;
        Ok(json!({
            "initial_meta_loss": initial.total(),
            "final_meta_loss": last.total(),
            "meta_loss_reduction": initial.total() / last.total(),
            "generalisation_mse": last.term("generalisation").and_then(|t| t.raw()),
        }))
    }

    /// `function.npy`: the function on the run's evaluation points (the
    /// CLI's `eval_inputs.npy`, drawn from the seed).
    pub async fn function_npy(&self) -> Result<Vec<u8>, Error> {
        let values = self.evaluate(&self.eval_points).await?;
        npy(&[values.len() as u64], &values)
    }

    /// What the function is evaluated on, as the CLI writes it: for an
    /// image set `digits.npy` (each image's class; `function.npy` holds
    /// every image's label), else `eval_inputs.npy` (the points).
    pub fn inputs_npy(&self) -> Result<(&'static str, Vec<u8>), Error> {
        if let Some(classes) = &self.r.image_labels {
            let digits: Vec<f64> = classes.iter().map(|&c| f64::from(c)).collect();
            return Ok(("digits.npy", npy(&[digits.len() as u64], &digits)?));
        }
        let d = self.r.sampler.domain.dim();
        Ok((
            "eval_inputs.npy",
            npy(
                &[(self.eval_points.len() / d) as u64, d as u64],
                &self.eval_points,
            )?,
        ))
    }

    /// How the page draws the function and the points to evaluate it at:
    /// [`view::picture`] for a geometric domain; for an image set, its first
    /// [`view::GRID_IMAGES`] images.
    pub fn picture(&self) -> (view::Picture, Vec<f64>) {
        match self.r.sampler.domain {
            InputDomain::Images {
                channels,
                height,
                width,
            } => {
                let per = channels * height * width;
                let count = (self.eval_points.len() / per).min(view::GRID_IMAGES);
                (
                    view::Picture::Images {
                        count,
                        height,
                        width,
                    },
                    self.eval_points[..count * per].to_vec(),
                )
            }
            domain => view::picture(domain),
        }
    }

    /// `theta.npy`: the meta-learner's parameters now.
    pub async fn theta_npy(&self) -> Result<Vec<u8>, Error> {
        let theta = self.engine.read_theta_async(&self.gpu).await?;
        npy(&[theta.len() as u64], &theta)
    }

    /// `config.toml`: the resolved configuration, as the CLI writes it.
    pub fn config_toml(&self) -> String {
        self.exp.to_toml()
    }

    /// `summary.json`: the CLI's keys that a page's run has — the
    /// experiment, seed, adapter, meta-steps done, the last terms
    /// (`final`) and `analysis.heldout`.
    pub async fn summary(&self) -> Result<Value, Error> {
        let info = self.gpu.adapter();
        let mut fin = json!({ "meta_loss": null });
        if let Some(last) = &self.last {
            fin["meta_loss"] = json!(last.total());
            for t in &last.terms {
                fin[t.raw_key] = json!(t.raw());
            }
        }
        Ok(json!({
            "experiment": self.exp.name,
            "seed": self.exp.seed,
            "status": if self.step == self.exp.meta_steps { "complete" } else { "stopped" },
            "adapter": { "name": info.name, "backend": info.backend.to_string(), "device_type": info.device_type },
            "meta_steps": self.step,
            "tasks": self.exp.tasks,
            "written_by": "occam-web",
            "final": fin,
            "analysis": { "heldout": self.heldout().await? },
        }))
    }
}

fn npy(shape: &[u64], data: &[f64]) -> Result<Vec<u8>, Error> {
    occam_experiment::output::npy_bytes(shape, data)
        .map_err(|e| Error::internal(format!("writing a .npy: {e}")))
}
