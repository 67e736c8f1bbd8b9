//! The GPU side of a learner that fits on the host (an external program, a
//! simulated animal): between the engine's submissions it reads the tasks'
//! inputs and labels back, fits each task with the learner's own
//! [`Learner::fit_cpu`], and uploads the predictions. Such a learner cannot
//! be differentiated, so it only ever runs inside a black box.

use super::{
    Execution, FitPurpose, GpuLearner, HostStage, Learner, LearnerData, LearnerIo, LearnerShape,
    invalid,
};
use crate::MetaError;
use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use std::sync::Mutex;

/// A host-fitted learner on the GPU.
pub struct HostGpu<L: Learner> {
    learner: L,
    /// What fits, for the execution report and the refusal to differentiate
    /// ("the program `…`", "the simulated animal").
    what: String,
    shape: LearnerShape,
    data: Mutex<Vec<LearnerData>>,
    y: GpuTensor,
}

impl<L: Learner> HostGpu<L> {
    /// `learner` fitting tasks of `shape`; `what` names it in messages.
    pub fn new(gpu: &Gpu, learner: L, what: String, shape: LearnerShape) -> Result<HostGpu<L>> {
        Ok(HostGpu {
            learner,
            what,
            shape,
            data: Mutex::new(Vec::new()),
            y: gpu.zeros("host-fitted predictions", shape.tasks * shape.test)?,
        })
    }
}

/// The pullback of a learner that cannot be differentiated (`what`): an
/// error saying so (a black box never asks).
pub fn no_pullback(what: &str) -> MetaError {
    invalid(format!(
        "{what} cannot be differentiated; use it inside kind = \"blackbox\""
    ))
}

impl<L: Learner> GpuLearner for HostGpu<L> {
    fn load(&self, _gpu: &Gpu, data: &[&LearnerData]) -> Result<()> {
        *self.data.lock().unwrap_or_else(|e| e.into_inner()) =
            data.iter().map(|d| (*d).clone()).collect();
        Ok(())
    }

    fn record_fit(&self, _enc: &mut Encoder<'_>, _io: &LearnerIo<'_>) -> Result<()> {
        Ok(())
    }

    fn record_predict<'s>(
        &'s self,
        _enc: &mut Encoder<'_>,
        _io: &LearnerIo<'_>,
    ) -> Result<&'s GpuTensor> {
        Ok(&self.y)
    }

    fn record_adjoint(
        &self,
        _enc: &mut Encoder<'_>,
        _io: &LearnerIo<'_>,
        _y_bar: &GpuTensor,
    ) -> Result<()> {
        Err(invalid(format!(
            "{} cannot be differentiated; use it inside kind = \"blackbox\"",
            self.what
        )))
    }

    fn execution(&self) -> Execution {
        Execution::PerStep {
            reason: format!("{} fits on the host", self.what),
        }
    }

    /// Nothing to check: a failed fit on the host stops in [`HostStage::fit`].
    fn check<'a>(&'a self, _gpu: &'a Gpu) -> crate::error::ReadFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn host_stage(&self) -> Option<&dyn HostStage> {
        Some(self)
    }
}

impl<L: Learner> HostStage for HostGpu<L> {
    fn report(&self) -> Option<String> {
        self.learner.counter().map(|c| c.report())
    }

    /// Nothing to form: the learner has no pullback, and
    /// [`GpuLearner::record_adjoint`] refuses.
    fn adjoint(&self, _gpu: &Gpu, _io: &LearnerIo<'_>, _y_bar: &GpuTensor) -> Result<()> {
        Ok(())
    }

    fn fit(&self, gpu: &Gpu, io: &LearnerIo<'_>, _purpose: FitPurpose) -> Result<()> {
        let LearnerShape {
            train: m,
            test: big_m,
            input_len: d,
            ..
        } = self.shape;
        let f64s = |t: &GpuTensor| -> Result<Vec<f64>> {
            Ok(gpu.read(t)?.iter().map(|&v| f64::from(v)).collect())
        };
        let (x_tr, x_te, z_tr) = (f64s(io.x_tr)?, f64s(io.x_te)?, f64s(io.z_tr)?);
        let data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let mut y = Vec::with_capacity(data.len() * big_m);
        for (b, task) in data.iter().enumerate() {
            let fit = self.learner.fit_cpu(
                &x_tr[b * m * d..(b + 1) * m * d],
                &z_tr[b * m..(b + 1) * m],
                &x_te[b * big_m * d..(b + 1) * big_m * d],
                task,
            )?;
            y.extend(fit.test_predictions().iter().map(|&v| v as f32));
        }
        Ok(gpu.write(&self.y, &y)?)
    }
}
