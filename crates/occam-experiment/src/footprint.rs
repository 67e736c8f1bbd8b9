//! Sizes an experiment asks of the adapter and the host, checked before
//! anything is allocated: each large buffer against the adapter's limits
//! (naming the keys to lower), each large host array against a fixed cap.

use crate::Error;
use crate::config::{Experiment, Resolved};
use occam_gpu::wgpu;
use occam_meta::learners::{Footprint, LearnerShape};

/// The most f64 values one host array may hold (4 GiB): beyond it a run
/// would abort on allocation or take hours to fill it.
const HOST_VALUES: u128 = 1 << 29;

/// Every large buffer of `exp` with its keys (fully qualified).
fn buffers(exp: &Experiment, r: &Resolved) -> Vec<(Footprint, Vec<String>)> {
    let meta = &r.problem.meta;
    let (m, big_m) = (r.sampler.train, r.sampler.test);
    let d = meta.d_in();
    let points = exp.series.as_ref().map_or(0, |s| s.points);
    let heldout = if r.image_labels.is_some() {
        1
    } else {
        exp.analysis.heldout_tasks
    };
    let mut out = Vec::new();
    let mut add = |f: Footprint, prefix: Option<&str>, tasks_key: &'static str| {
        let mut keys: Vec<String> = f
            .shared
            .iter()
            .map(|k| if *k == "tasks" { tasks_key } else { k }.to_string())
            .collect();
        if let Some(p) = prefix {
            keys.extend(f.own.iter().map(|k| format!("{p}.{k}")));
        }
        out.push((f, keys));
    };
    for (tasks, tasks_key) in [(exp.tasks, "tasks"), (heldout, "analysis.heldout_tasks")] {
        let rows = [tasks, m + big_m];
        let meta_rows = tasks.saturating_mul(m + big_m).saturating_add(points);
        // A series labels its orthogonality points with the tasks' rows.
        let meta_keys: &[&'static str] = if exp.series.is_some() {
            &[
                "tasks",
                "data.train",
                "data.test",
                "series.points",
                "meta_learner.hidden",
            ]
        } else {
            &["tasks", "data.train", "data.test", "meta_learner.hidden"]
        };
        add(
            Footprint::new(
                "the meta-learner's activations",
                &[],
                meta_keys,
                &[meta_rows, meta.widest()],
            ),
            None,
            tasks_key,
        );
        add(
            Footprint::new(
                "the tasks' inputs",
                &[],
                &["tasks", "data.train", "data.test", "inputs.dim"],
                &[rows[0], rows[1], d],
            ),
            None,
            tasks_key,
        );
        let shape = LearnerShape {
            tasks,
            train: m,
            test: big_m,
            input_len: d,
        };
        for (i, learner) in r.problem.learners.iter().enumerate() {
            let prefix = if i == 0 { "learner" } else { "adversary" };
            for f in learner.footprint(shape) {
                add(f, Some(prefix), tasks_key);
            }
        }
    }
    add(
        Footprint::new(
            "the meta-learner's largest weight block",
            &[],
            &["meta_learner.hidden", "inputs.dim"],
            &[meta.largest_block()],
        ),
        None,
        "tasks",
    );
    out
}

fn human(bytes: u128) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Refuses sizes the adapter (its `limits`) or the host cannot hold, naming
/// the keys that set them; call before allocating anything.
pub fn check(exp: &Experiment, r: &Resolved, limits: &wgpu::Limits) -> Result<(), Error> {
    let d = r.problem.meta.d_in() as u128;
    let host = [
        (
            (exp.analysis.eval_points as u128).saturating_mul(d),
            "the evaluation points",
            "analysis.eval_points, inputs.dim",
        ),
        (
            (exp.analysis.heldout_tasks as u128)
                .saturating_mul((r.sampler.train + r.sampler.test) as u128)
                .saturating_mul(d),
            "the held-out tasks' inputs",
            "analysis.heldout_tasks, data.train, data.test, inputs.dim",
        ),
        (
            r.problem.meta.n_params() as u128,
            "the meta-learner's parameters θ",
            "meta_learner.hidden, inputs.dim",
        ),
    ];
    for (values, what, keys) in host {
        if values > HOST_VALUES {
            return Err(Error::input(format!(
                "{keys}: {what} would take {} in host memory, over the {} a run may use for one array (it grows with {keys})",
                human(values * 8),
                human(HOST_VALUES * 8)
            )));
        }
    }
    let binding = u128::from(limits.max_storage_buffer_binding_size);
    let buffer = u128::from(limits.max_buffer_size);
    let (limit, name) = if binding <= buffer {
        (binding, "max_storage_buffer_binding_size")
    } else {
        (buffer, "max_buffer_size")
    };
    for (f, keys) in buffers(exp, r) {
        let bytes = f.values.saturating_mul(4);
        if bytes > limit {
            let keys = keys.join(", ");
            return Err(Error::input(format!(
                "{keys}: {} would need a buffer of {}, over this adapter's limit of {} ({name}); it grows with {keys}",
                f.what,
                human(bytes),
                human(limit)
            )));
        }
    }
    Ok(())
}
