//! Recording and submitting a meta-step: in one submission, phase by phase
//! with wall times, or with every dispatch timed by the profiler.

use super::{GpuMetaEngine, Phase};
use occam_gpu::Gpu;
use occam_ops::Result;

impl GpuMetaEngine {
    /// Records and submits one meta-step on the loaded data: the meta-loss and
    /// ∂L/∂θ, followed by the optimiser step when `update` is true. One
    /// command submission, no read-back.
    pub fn step(&mut self, gpu: &Gpu, update: bool) -> Result<()> {
        self.prepare(gpu, update);
        let mut enc = gpu.encoder();
        for phase in Phase::ALL {
            self.record(&mut enc, phase, update)?;
        }
        enc.submit()?;
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
        for phase in Phase::ALL {
            let start = std::time::Instant::now();
            let mut enc = gpu.encoder();
            self.record(&mut enc, phase, update)?;
            enc.submit()?;
            gpu.wait(phase.name())?;
            times.push((phase, start.elapsed().as_secs_f64()));
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
