//! Tasks of a meta-step are drawn on threads: any number of threads gives the
//! same tasks, and task 0 is what the step's own generator draws (so runs of
//! one task per meta-step keep their numbers).

use occam_experiment::config::Experiment;
use occam_meta::sampling::{Purpose, stream};
use std::path::Path;

fn sampler(file: &str) -> occam_meta::sampling::TaskSampler {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(file);
    Experiment::load(&path, &[])
        .unwrap()
        .resolve()
        .unwrap()
        .sampler
}

#[test]
fn any_number_of_threads_draws_the_same_tasks() {
    // A GD learner (inits and minibatches), a black box (seeds), an animal,
    // connectivity masks: every learner's own draws come along.
    for file in [
        "quickstart.toml",
        "mushroom_grouped.toml",
        "animal_kernel.toml",
    ] {
        let s = sampler(file);
        let one = s.meta_step_on(7, 3, 37, 1);
        for threads in [2, 3, 8] {
            assert!(
                s.meta_step_on(7, 3, 37, threads) == one,
                "{file}: {threads} threads"
            );
        }
        assert!(
            s.meta_step(7, 3, 37) == one,
            "{file}: the machine's threads"
        );
        assert_eq!(
            s.meta_step_on(7, 3, 1, 1)[0],
            s.draw(&mut stream(7, Purpose::Step, 3))
        );
        assert!(
            one[0] == s.draw(&mut stream(7, Purpose::Step, 3)),
            "{file}: task 0"
        );
        assert!(one[1] != one[2], "{file}: tasks differ");
    }
}
