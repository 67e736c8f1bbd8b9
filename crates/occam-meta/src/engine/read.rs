//! Reading results back: the loss terms, θ and ∂L/∂θ, the labels, and the
//! meta-learner evaluated at any points.

use super::{GpuMetaEngine, UnrollExecution};
use crate::error::Result;
use crate::gpu_net::GpuNet;
use crate::loss::TermValues;
use occam_gpu::{Gpu, GpuTensor};

impl GpuMetaEngine {
    /// Reads back the meta-loss terms of the last step (averaged over tasks).
    /// Fails when a learner reports a failed fit (a singular system).
    pub fn read_terms(&self, gpu: &Gpu) -> Result<TermValues> {
        occam_gpu::block_on(self.read_terms_async(gpu))
    }

    /// The same, as a future: the one read-back path, which native code
    /// drives with [`GpuMetaEngine::read_terms`] and a browser awaits.
    pub async fn read_terms_async(&self, gpu: &Gpu) -> Result<TermValues> {
        for learner in &self.learners {
            learner.check(gpu).await?;
        }
        let mut values = TermValues::zeros(&self.problem.terms);
        for (v, term) in values.terms.iter_mut().zip(&self.terms) {
            v.value = term.read(gpu).await?;
        }
        Ok(values)
    }

    /// Reads back ∂L/∂θ of the last step, flat in the [`occam_ops::net::NetSpec`] layout.
    pub fn read_theta_bar(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        occam_gpu::block_on(read_layers(gpu, &self.theta_bar))
    }

    /// Reads back θ, flat.
    pub fn read_theta(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        occam_gpu::block_on(self.read_theta_async(gpu))
    }

    /// The same, as a future (a browser awaits it).
    pub async fn read_theta_async(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        read_layers(gpu, &self.theta).await
    }

    /// Evaluates the meta-learner f_θ at arbitrary points (n × d, row-major).
    pub fn evaluate(&self, gpu: &Gpu, points: &[f64]) -> Result<Vec<f64>> {
        occam_gpu::block_on(self.evaluate_async(gpu, points))
    }

    /// The same, as a future (a browser awaits it).
    pub async fn evaluate_async(&self, gpu: &Gpu, points: &[f64]) -> Result<Vec<f64>> {
        let spec = &self.problem.meta;
        let d = spec.d_in();
        let n = points.len() / d;
        if n == 0 {
            return Ok(Vec::new());
        }
        // In chunks, so that no layer's values exceed 2^25 floats.
        let per_row = spec
            .shapes()
            .iter()
            .map(|(c, h, w)| c * h * w)
            .max()
            .unwrap_or(1);
        let chunk = ((1usize << 25) / per_row).clamp(1, n);
        let mut out = Vec::with_capacity(n);
        for rows in points.chunks(chunk * d) {
            let net = GpuNet::new(gpu, spec, 1, rows.len() / d, false, "evaluation")?;
            let x: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
            let x = gpu.upload("evaluation points", &x)?;
            let mut enc = gpu.encoder();
            net.forward(&mut enc, &self.theta, &x)?;
            enc.submit()?;
            out.extend(
                gpu.read_async(net.output())
                    .await?
                    .into_iter()
                    .map(f64::from),
            );
        }
        Ok(out)
    }

    /// How the (first) learner runs on this adapter.
    pub fn unroll_execution(&self) -> UnrollExecution {
        self.learners[0].execution()
    }

    /// Whether a learner fits on the host between the meta-step's phases
    /// (a program, an animal, a black box): its steps read back midway.
    pub fn has_host_stage(&self) -> bool {
        self.learners.iter().any(|l| l.host_stage().is_some())
    }

    /// What the learners' GPU sides report (e.g. an animal's trials used).
    pub fn learner_reports(&self) -> Vec<String> {
        self.learners
            .iter()
            .filter_map(|l| l.host_stage().and_then(|h| h.report()))
            .collect()
    }

    /// Evaluates the meta-learner f_θ on the loaded points (train then test,
    /// task by task) and reads the labels back.
    pub fn read_labels(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        occam_gpu::block_on(self.read_labels_async(gpu))
    }

    /// The same, as a future (a browser awaits it).
    pub async fn read_labels_async(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        let mut enc = gpu.encoder();
        self.meta.forward(&mut enc, &self.theta, &self.x_all)?;
        enc.submit()?;
        Ok(gpu
            .read_async(self.meta.output())
            .await?
            .into_iter()
            .map(f64::from)
            .collect())
    }
}

async fn read_layers(gpu: &Gpu, layers: &[GpuTensor]) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for t in layers {
        out.extend(gpu.read_async(t).await?.into_iter().map(f64::from));
    }
    Ok(out)
}
