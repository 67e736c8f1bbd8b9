//! Recording and submitting a meta-step: in one submission, phase by phase
//! with wall times, or with every dispatch timed by the profiler.

use super::{GpuMetaEngine, Phase};
use crate::error::Result;
use crate::learners::FitPurpose;
use occam_gpu::Gpu;

impl GpuMetaEngine {
    /// Records and submits one meta-step on the loaded data: the meta-loss and
    /// ∂L/∂θ, followed by the optimiser step when `update` is true. One
    /// command submission, no read-back.
    ///
    /// With a learner that needs the host ([`GpuMetaEngine::needs_host`]),
    /// three submissions: the labels; the fits and the meta-loss; the
    /// adjoints and the rest, with the learner's host stages in between.
    pub fn step(&mut self, gpu: &Gpu, update: bool) -> Result<()> {
        self.prepare(gpu, update);
        let mut enc = gpu.encoder();
        for phase in Phase::ALL {
            self.record(&mut enc, phase, update)?;
            if self.needs_host() && matches!(phase, Phase::Labels | Phase::Loss) {
                enc.submit()?;
                self.host_stage(gpu, phase, update)?;
                enc = gpu.encoder();
            }
        }
        enc.submit()?;
        Ok(())
    }

    /// Records and submits one meta-step whose meta-loss alone is wanted
    /// (a held-out evaluation): like [`GpuMetaEngine::step`] without the
    /// update, but a black box runs only the fits the loss needs, so ∂L/∂θ
    /// misses its estimated share.
    pub fn step_loss(&mut self, gpu: &Gpu) -> Result<()> {
        self.gradient = false;
        let done = self.step(gpu, false);
        self.gradient = true;
        done
    }

    /// Whether a learner needs the host between phases (a black box).
    pub fn needs_host(&self) -> bool {
        self.learners.iter().any(|l| l.host_stage().is_some())
    }

    /// The learners' host stages after `phase` (submitted).
    fn host_stage(&self, gpu: &Gpu, phase: Phase, update: bool) -> Result<()> {
        let io = self.io();
        for (learner, y_bar) in self.learners.iter().zip(&self.y_bar) {
            let Some(host) = learner.host_stage() else {
                continue;
            };
            match phase {
                Phase::Labels => {
                    let gradient = self.gradient;
                    host.fit(gpu, &io, FitPurpose { gradient, update })?
                }
                Phase::Loss => host.adjoint(gpu, &io, y_bar)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Like [`GpuMetaEngine::step`], but submits each phase on its own and
    /// waits for it, returning each phase's wall time in seconds (on a
    /// software adapter that is its GPU time; elsewhere it includes a
    /// submission's latency).
    pub fn step_timed(&mut self, gpu: &Gpu, update: bool) -> Result<Vec<(Phase, f64)>> {
        self.prepare(gpu, update);
        gpu.wait("before a timed meta-step")?;
        let mut times = Vec::new();
        let mut host_time = 0.0;
        for phase in Phase::ALL {
            // A host stage is timed with the phase it serves (the fits with
            // the unroll, the pullback with the adjoint sweep).
            let start = std::time::Instant::now() - std::time::Duration::from_secs_f64(host_time);
            let mut enc = gpu.encoder();
            self.record(&mut enc, phase, update)?;
            enc.submit()?;
            gpu.wait(phase.name())?;
            times.push((phase, start.elapsed().as_secs_f64()));
            let host = std::time::Instant::now();
            self.host_stage(gpu, phase, update)?;
            host_time = host.elapsed().as_secs_f64();
        }
        Ok(times)
    }

    /// Like [`GpuMetaEngine::step`] (one submission), with every dispatch
    /// timed by `profiler` and scoped by its phase; waits and returns each
    /// dispatch's GPU time and counted FLOPs.
    pub fn step_profiled(
        &mut self,
        gpu: &Gpu,
        update: bool,
        profiler: &mut occam_gpu::Profiler,
    ) -> Result<Vec<occam_gpu::KernelTime>> {
        if self.needs_host() {
            return Err(crate::MetaError::Unsupported(
                "a black-box learner's meta-step spans three submissions; \
                 time it by phase (step_timed), not by dispatch"
                    .to_string(),
            ));
        }
        self.prepare(gpu, update);
        {
            let mut enc = gpu.profiled_encoder(profiler);
            for phase in Phase::ALL {
                enc.set_scope(phase.name());
                self.record(&mut enc, phase, update)?;
            }
            enc.submit()?;
        }
        Ok(profiler.read(gpu)?)
    }

    fn prepare(&mut self, gpu: &Gpu, update: bool) {
        if update {
            self.meta_step_count += 1;
            for opt in &self.meta_opt {
                opt.set_step(gpu, self.meta_step_count);
            }
        }
    }
}
