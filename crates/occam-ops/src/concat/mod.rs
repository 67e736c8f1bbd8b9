//! Two per-task tensors side by side (`shaders/concat.wgsl`): a `[tasks, m]`
//! and c `[tasks, k]` into z `[tasks, m + k]`, and the accumulating split
//! that is its adjoint — how the terms that read a task's training and test
//! labels together get them, and give their gradient back. CPU twins:
//! [`concat_cpu`] and [`split_add_cpu`].

use crate::error::{Result, check_len, to_u32};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/concat.wgsl` (its `ConcatParams`).
    pub(crate) struct ConcatParams in "concat" {
        tasks: u32,
        m: u32,
        k: u32,
        _pad: u32,
    }
}

/// `z[b] = [a[b], c[b]]` for `tasks` tasks of m and k values, on the GPU.
pub struct ConcatGpu {
    tasks: usize,
    m: usize,
    k: usize,
    params: wgpu::Buffer,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
}

impl ConcatGpu {
    /// The op for `tasks` tasks of `m` values from a and `k` from c.
    pub fn new(gpu: &Gpu, tasks: usize, m: usize, k: usize) -> Result<ConcatGpu> {
        to_u32("concat", "values", tasks * (m + k))?;
        let params = ConcatParams {
            tasks: to_u32("concat", "tasks", tasks)?,
            m: to_u32("concat", "m", m)?,
            k: to_u32("concat", "k", k)?,
            _pad: 0,
        };
        Ok(ConcatGpu {
            tasks,
            m,
            k,
            params: gpu.params("concat params", &params)?,
            forward: gpu.kernel(kernels::CONCAT_FORWARD, &[])?,
            backward: gpu.kernel(kernels::CONCAT_BACKWARD, &[])?,
        })
    }

    fn check(&self, a: &GpuTensor, c: &GpuTensor, z: &GpuTensor) -> Result<()> {
        check_len("concat", "a", a.len(), self.tasks * self.m)?;
        check_len("concat", "c", c.len(), self.tasks * self.k)?;
        check_len("concat", "z", z.len(), self.tasks * (self.m + self.k))
    }

    /// Records `z[b] = [a[b], c[b]]`.
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        a: &GpuTensor,
        c: &GpuTensor,
        z: &GpuTensor,
    ) -> Result<()> {
        self.check(a, c, z)?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("a", a.buffer()),
                ("c", c.buffer()),
                ("z", z.buffer()),
            ],
            [workgroups_for(z.len(), 64), 1, 1],
        )?;
        Ok(())
    }

    /// Records `ā[b] += z̄[b, ..m]` and `c̄[b] += z̄[b, m..]`.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        z_bar: &GpuTensor,
        a_bar: &GpuTensor,
        c_bar: &GpuTensor,
    ) -> Result<()> {
        self.check(a_bar, c_bar, z_bar)?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("z_bar", z_bar.buffer()),
                ("a_bar", a_bar.buffer()),
                ("c_bar", c_bar.buffer()),
            ],
            [workgroups_for(z_bar.len(), 64), 1, 1],
        )?;
        Ok(())
    }
}

/// The f64 twin of the forward pass: `z[b] = [a[b], c[b]]` for a `[tasks, m]`
/// and c `[tasks, k]`.
pub fn concat_cpu(a: &[f64], c: &[f64], tasks: usize) -> Vec<f64> {
    let (m, k) = (a.len() / tasks.max(1), c.len() / tasks.max(1));
    (0..tasks)
        .flat_map(|b| a[b * m..(b + 1) * m].iter().chain(&c[b * k..(b + 1) * k]))
        .copied()
        .collect()
}

/// The f64 twin of the backward pass: `ā[b] += z̄[b, ..m]`, `c̄[b] += z̄[b, m..]`.
pub fn split_add_cpu(z_bar: &[f64], a_bar: &mut [f64], c_bar: &mut [f64], tasks: usize) {
    let (m, k) = (a_bar.len() / tasks.max(1), c_bar.len() / tasks.max(1));
    for b in 0..tasks {
        let row = &z_bar[b * (m + k)..(b + 1) * (m + k)];
        for (x, g) in a_bar[b * m..(b + 1) * m].iter_mut().zip(&row[..m]) {
            *x += g;
        }
        for (x, g) in c_bar[b * k..(b + 1) * k].iter_mut().zip(&row[m..]) {
            *x += g;
        }
    }
}

/// The concatenation in the registry: both passes against the twins, and the
/// twins against the transpose identity ⟨concat(a, c), z̄⟩ = ⟨(a, c), split(z̄)⟩.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "concat",
    entry_points: &["concat_forward", "concat_backward"],
    params: &[crate::registry::params::<ConcatParams>],
    twin: "occam_ops::concat::{concat_cpu, split_add_cpu}",
    check: |gpu| {
        use crate::check::dot;
        use crate::registry::{self, Checks, DOT_TOL, ELEMENTWISE_TOL};
        let mut c = Checks::new(0xCC);
        let (tasks, m, k) = (3, 7, 12);
        let a = c.uniform(tasks * m, -1.0, 1.0);
        let cc = c.uniform(tasks * k, -1.0, 1.0);
        let z_bar = c.uniform(tasks * (m + k), -1.0, 1.0);
        let (a0, c0) = (c.uniform(tasks * m, -1.0, 1.0), c.uniform(tasks * k, -1.0, 1.0));
        let op = ConcatGpu::new(gpu, tasks, m, k)?;
        let t = registry::upload(gpu, "concat", &[&a, &cc, &z_bar, &a0, &c0])?;
        let z = gpu.zeros("concat z", tasks * (m + k))?;
        let got = registry::run(gpu, &[&z, &t[3], &t[4]], |enc| {
            op.forward(enc, &t[0], &t[1], &z)?;
            op.backward(enc, &t[2], &t[3], &t[4])
        })?;
        let z_want = concat_cpu(&a, &cc, tasks);
        let (mut a_bar, mut c_bar) = (a0.clone(), c0.clone());
        split_add_cpu(&z_bar, &mut a_bar, &mut c_bar, tasks);
        c.compare("concat forward: GPU vs twin", &got[..1], std::slice::from_ref(&z_want), 0.0);
        c.compare(
            "concat backward: GPU vs twin",
            &got[1..],
            &[a_bar, c_bar],
            ELEMENTWISE_TOL,
        );
        let (mut sa, mut sc) = (vec![0.0; a.len()], vec![0.0; cc.len()]);
        split_add_cpu(&z_bar, &mut sa, &mut sc, tasks);
        let lhs = dot(&[z_want], std::slice::from_ref(&z_bar));
        let rhs = dot(&[a.clone(), cc.clone()], &[sa, sc]);
        c.record(
            "concat twin: ⟨concat(a, c), z̄⟩ = ⟨(a, c), split(z̄)⟩",
            (lhs - rhs).abs() / lhs.abs().max(rhs.abs()).max(1e-300),
            DOT_TOL,
        );
        Ok(c.finish())
    },
};
