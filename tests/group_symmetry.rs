//! Why Figure 7E's function need not be a function of the group sums: the
//! grouped mushroom-body learner of `experiments/mushroom_grouped.toml`
//! (sign-free weights) cannot tell x0 + x1 from x0 − x1. Its initial weights
//! are symmetric about 0 and the masks ignore signs, and the uniform inputs
//! on S⁴ are symmetric under x1 → −x1, so labels g(x0 + x1) and g(x0 − x1)
//! are generalised equally well in distribution. Only Figure 7F's positive
//! weights (`signs = "positive"`) break the symmetry in favour of the sum.
//!
//! Measured here with the learner's f64 twin on the experiments' own task
//! draws, the two labellings paired on the same tasks.

use occam_experiment::config::Experiment;
use occam_meta::sampling::{Purpose, stream};
use std::path::Path;

/// Held-out MSE of the experiment's learner on labels c·(x0 + s·x1), for
/// s = +1 and −1, on the same `tasks` tasks: (per-task sum errors, per-task
/// difference errors).
fn sum_and_difference(file: &str, tasks: usize) -> (Vec<f64>, Vec<f64>) {
    let exp = Experiment::load(Path::new(file), &[]).expect(file);
    let r = exp.resolve().expect(file);
    let d = r.problem.meta.d_in();
    let learner = &r.problem.learners[0];
    let mut rng = stream(7, Purpose::Heldout, 0);
    let (mut plus, mut minus) = (Vec::new(), Vec::new());
    for _ in 0..tasks {
        let task = r.sampler.draw(&mut rng);
        for (sign, out) in [(1.0, &mut plus), (-1.0, &mut minus)] {
            // Scaled so the labels span about [−1, 1], as the meta-loss's U does.
            let label = |x: &[f64]| -> Vec<f64> {
                x.chunks(d).map(|p| 1.2 * (p[0] + sign * p[1])).collect()
            };
            let (z_tr, z_te) = (label(&task.x_tr), label(&task.x_te));
            let fit = learner
                .fit_cpu(&task.x_tr, &z_tr, &task.x_te, &task.learners[0])
                .expect("fit");
            let y = fit.test_predictions();
            let mse = y
                .iter()
                .zip(&z_te)
                .map(|(y, z)| (y - z).powi(2))
                .sum::<f64>()
                / y.len() as f64;
            out.push(mse);
        }
    }
    (plus, minus)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean and standard error of the paired differences a − b.
fn paired(a: &[f64], b: &[f64]) -> (f64, f64) {
    let diff: Vec<f64> = a.iter().zip(b).map(|(a, b)| a - b).collect();
    let m = mean(&diff);
    let var = diff.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (diff.len() - 1) as f64;
    (m, (var / diff.len() as f64).sqrt())
}

#[test]
fn sign_free_grouped_weights_generalise_a_groups_sum_and_difference_alike() {
    let tasks = 96;
    let (plus, minus) = sum_and_difference("experiments/mushroom_grouped.toml", tasks);
    let (gap, se) = paired(&plus, &minus);
    println!(
        "7E (sign-free): held-out MSE on 1.2·(x0 + x1) {:.5}, on 1.2·(x0 − x1) {:.5}; paired gap {gap:.5} ± {se:.5} over {tasks} tasks",
        mean(&plus),
        mean(&minus)
    );
    assert!(
        gap.abs() < 3.0 * se,
        "the sign-free learner prefers one labelling: gap {gap} against standard error {se}"
    );

    let (plus, minus) = sum_and_difference("experiments/mushroom_grouped_positive.toml", tasks);
    let (gap, se) = paired(&plus, &minus);
    println!(
        "7F (positive): held-out MSE on 1.2·(x0 + x1) {:.5}, on 1.2·(x0 − x1) {:.5}; paired gap {gap:.5} ± {se:.5}",
        mean(&plus),
        mean(&minus)
    );
    assert!(
        mean(&plus) < 0.7 * mean(&minus) && gap < -3.0 * se,
        "positive weights should make the group's sum clearly easier than its difference"
    );
}
