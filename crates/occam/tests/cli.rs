//! The `occam` binary end to end: bad input exits 2 with a message naming the
//! key or path; a tiny run writes every output; gradcheck passes. These use the
//! GPU (software adapter in CI), so they run wherever the GPU tests run.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{TINY, experiment, occam, stderr, wait_for};

#[test]
fn bad_configuration_values_exit_2_naming_the_key() {
    let q = experiment("quickstart.toml");
    for (set, key) in [
        ("learner.stepz=3", "learner.stepz"),
        ("learner.steps=-3", "learner.steps"),
        ("learner.steps=\"ten\"", "learner.steps"),
        ("learner.hidden=[20, 0]", "learner.hidden[1]"),
        ("meta_learner.output=sigmoid", "meta_learner.output"),
        ("optimizer.kind=lbfgs", "optimizer.kind"),
        ("data.train=0", "data.train"),
        ("name=\"../../x\"", "name: \"../../x\""),
        ("name=\"a/b\"", "name: \"a/b\""),
        ("name=\"\"", "name"),
        ("name=\".hidden\"", "name"),
    ] {
        let o = occam(&[
            "run",
            &q,
            "--set",
            set,
            "--out",
            "/nonexistent/never-written",
        ]);
        assert_eq!(o.status.code(), Some(2), "--set {set}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(key),
            "--set {set}: message should name {key}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let o = occam(&["run", "no/such/experiment.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no/such/experiment.toml"),
        "{}",
        stderr(&o)
    );
    let o = occam(&["--backend", "cuda", "devices"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("vulkan, gl, metal, dx12"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_tiny_run_writes_every_output_and_is_reproducible() {
    let base = std::env::temp_dir().join(format!("occam-cli-test-{}", std::process::id()));
    let quickstart = experiment("quickstart.toml");
    let run = |dir: &PathBuf| {
        let dir = dir.display().to_string();
        let mut args = vec![
            "run",
            quickstart.as_str(),
            "--steps",
            "3",
            "--out",
            dir.as_str(),
        ];
        args.extend(TINY);
        let o = occam(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let (a, b) = (base.join("a"), base.join("b"));
    run(&a);
    run(&b);
    for f in [
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "function.npy",
        "eval_inputs.npy",
        "loss.png",
        "function.png",
        "theta.npy",
        "meta_learner.json",
        "learner_weights.npy",
    ] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    // θ has as many values as the layout's blocks, and is the same in both runs.
    let layout: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("meta_learner.json")).unwrap())
            .unwrap();
    let params: u64 = layout["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["block_shape"].as_array())
        .map(|b| b[0].as_u64().unwrap() * b[1].as_u64().unwrap())
        .sum();
    let theta = npyz::NpyFile::new(std::fs::File::open(a.join("theta.npy")).unwrap()).unwrap();
    assert_eq!(theta.shape(), &[params]);
    let theta: Vec<f64> = theta.into_vec().unwrap();
    assert!(theta.iter().all(|v| v.is_finite()) && theta.iter().any(|&v| v != 0.0));
    assert_eq!(
        std::fs::read(a.join("theta.npy")).unwrap(),
        std::fs::read(b.join("theta.npy")).unwrap()
    );
    // The learner's w_T on each of the 2 held-out tasks: 3-20-20-1 has 521 parameters.
    let w =
        npyz::NpyFile::new(std::fs::File::open(a.join("learner_weights.npy")).unwrap()).unwrap();
    assert_eq!(w.shape(), &[2, 521]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    for key in [
        "experiment",
        "seed",
        "adapter",
        "meta_steps",
        "wall_s",
        "meta_steps_per_s",
        "final",
        "analysis",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    for key in [
        "meta_loss",
        "generalisation_mse",
        "distribution_loss",
        "orthogonality",
    ] {
        assert!(
            summary["final"].get(key).is_some(),
            "summary.json final lacks {key}"
        );
    }
    assert_eq!(
        summary["analysis"]["harmonic_degree_fractions"]
            .as_array()
            .map(|a| a.len()),
        Some(5)
    );
    // Same seed, config and adapter: the same numbers.
    let metrics = |d: &PathBuf| std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    let strip = |s: String| -> Vec<serde_json::Value> {
        s.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("wall_s");
                v
            })
            .collect()
    };
    assert_eq!(strip(metrics(&a)), strip(metrics(&b)));
    assert_eq!(
        std::fs::read(a.join("function.npy")).unwrap(),
        std::fs::read(b.join("function.npy")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn gradcheck_passes_and_dumps_the_meta_step() {
    let dump = std::env::temp_dir().join(format!("occam-gradcheck-test-{}", std::process::id()));
    let q = experiment("quickstart.toml");
    let mut args = vec![
        "gradcheck",
        q.as_str(),
        "--set",
        "learner.batch=7",
        "--set",
        "tasks=2",
    ];
    args.extend(TINY);
    let dump_s = dump.display().to_string();
    args.extend(["--dump", dump_s.as_str()]);
    let o = occam(&args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.contains("GPU vs CPU f64") && out.contains("PASS"),
        "{out}"
    );
    for f in [
        "manifest.json",
        "theta.npy",
        "theta_grad_gpu.npy",
        "theta_grad_cpu.npy",
        "x_train.npy",
        "labels.npy",
        "learner_batches.npy",
        "learner_w0.npy",
    ] {
        assert!(dump.join(f).is_file(), "{f} missing from the dump");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dump.join("manifest.json")).unwrap())
            .unwrap();
    let terms = manifest["meta_loss"]["terms"].as_array().unwrap();
    let names: Vec<&str> = terms.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["generalisation", "distribution"], "{manifest}");
    assert_eq!(terms[0]["weight"], 1000.0);
    assert!(terms[0]["value_gpu"].as_f64().unwrap() > 0.0);
    let _ = std::fs::remove_dir_all(&dump);
}

/// gradcheck on a spiking learner whose pullback counts (the learner's part
/// of ∂L/∂θ is about three times the whole): in Heaviside mode the part is
/// compared on its own, finite differences are declared not to apply and
/// the exact variant's command is given; that variant passes finite
/// differences; the manifest holds every resolved learner key; and a
/// surrogate whose second derivative is dropped on the GPU (a planted
/// shaders/snn.wgsl through OCCAM_SHADER_DIR) fails the learner's part.
#[test]
fn gradcheck_holds_the_spiking_learners_pullback_to_the_reference_on_its_own() {
    let e = experiment("spiking_pullback.toml");
    let dump = std::env::temp_dir().join(format!("occam-gradcheck-paths-{}", std::process::id()));
    let dump_s = dump.display().to_string();
    let o = occam(&["gradcheck", &e, "--dump", &dump_s]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let learner_line = out
        .lines()
        .find(|l| l.contains("through the learner's fit"))
        .unwrap_or_else(|| panic!("no learner part: {out}"));
    assert!(learner_line.ends_with("PASS"), "{out}");
    let share: f64 = learner_line
        .split_whitespace()
        .nth(5)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        share > 1.0,
        "the variant's learner part should count: {out}"
    );
    assert!(out.contains("finite differences do not apply"), "{out}");
    assert!(!out.contains("direction 0"), "{out}");
    assert!(
        out.contains("--set learner.spike=sigmoid --set learner.reset_gradient=through"),
        "{out}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dump.join("manifest.json")).unwrap())
            .unwrap();
    let keys = &manifest["resolved_learners"]["learner"];
    // Set in the file, defaulted, and defaulted from another key.
    assert_eq!(keys["spike"], "fast_sigmoid", "{manifest}");
    assert_eq!(keys["threshold"], 1.0, "{manifest}");
    assert_eq!(keys["encoding"], "current", "{manifest}");
    assert_eq!(keys["slope"], 5.0, "{manifest}");
    let _ = std::fs::remove_dir_all(&dump);

    let smooth = [
        "--set",
        "learner.spike=sigmoid",
        "--set",
        "learner.reset_gradient=through",
    ];
    let mut args = vec!["gradcheck", e.as_str()];
    args.extend(smooth);
    let o = occam(&args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.contains("direction 2") && out.contains("finite differences: worst"),
        "{out}"
    );

    // The fast sigmoid's s'' dropped on the GPU only.
    let shader = include_str!("../../../shaders/snn.wgsl");
    let exact = "case 0u: { let q = 1.0 + p.slope * abs(u); return -2.0 * p.slope * sign(u) / (q * q * q); }";
    assert!(
        shader.contains(exact),
        "shaders/snn.wgsl changed: update the plant"
    );
    let planted = shader.replace(exact, "case 0u: { return 0.0; }");
    let dir = std::env::temp_dir().join(format!("occam-planted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("snn.wgsl"), planted).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_occam"))
        .args(["gradcheck", &e])
        .env("OCCAM_SHADER_DIR", &dir)
        .env(
            "XDG_RUNTIME_DIR",
            std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()),
        )
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(&o));
    assert!(
        stderr(&o).contains("replaces the built-in shaders/snn.wgsl"),
        "{}",
        stderr(&o)
    );
    assert!(
        out.contains("the learner's part")
            && out
                .lines()
                .any(|l| l.contains("learner's part") && l.ends_with("FAIL")),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The dump holds whatever each learner drew and a series' fixed data:
/// a wiring mask and signs, both learners' random features, the
/// orthogonality points and earlier functions.
#[test]
fn gradcheck_dumps_masks_adversary_features_and_series_data() {
    let cases: [(&str, &[&str], &[&str]); 3] = [
        (
            "mushroom_grouped_positive.toml",
            &["learner.steps=3", "data.test=30", "meta_learner.hidden=[8]"],
            &["learner_mask.npy", "learner_signs.npy", "learner_w0.npy"],
        ),
        (
            "adversarial.toml",
            &["data.test=30", "meta_learner.hidden=[8]"],
            &["learner_features.npy"],
        ),
        (
            "ridge_series.toml",
            &["series.points=50", "meta_learner.hidden=[8]"],
            &["orthogonality_points.npy", "earlier_functions.npy"],
        ),
    ];
    for (i, (file, sets, want)) in cases.into_iter().enumerate() {
        let dump = std::env::temp_dir().join(format!("occam-dump-{i}-{}", std::process::id()));
        let e = experiment(file);
        let dump_s = dump.display().to_string();
        let mut args = vec!["gradcheck", e.as_str(), "--dump", dump_s.as_str()];
        for set in sets {
            args.extend(["--set", set]);
        }
        let o = occam(&args);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        for f in want {
            assert!(dump.join(f).is_file(), "{file}: {f} missing from the dump");
        }
        let manifest = std::fs::read_to_string(dump.join("manifest.json")).unwrap();
        if file == "adversarial.toml" {
            assert!(manifest.contains("\"adversary\""), "{manifest}");
            let linear = manifest.contains("adversary_features.npy");
            assert!(
                !linear,
                "the linear adversary draws no features: {manifest}"
            );
        }
        let _ = std::fs::remove_dir_all(&dump);
    }
}

#[test]
fn a_diverging_run_stops_naming_the_meta_step_and_the_term() {
    let q = experiment("quickstart.toml");
    let out = std::env::temp_dir().join(format!("occam-diverge-test-{}", std::process::id()));
    let out_s = out.display().to_string();
    // An inner rate that makes the learner's fit overflow at once; a meta
    // rate that blows θ up in the last meta-step, so the labels it gives
    // overflow (this used to write a finite summary and then hang plotting).
    for (set, steps, what) in [
        ("learner.lr=1000", "2", "the generalisation term is"),
        ("optimizer.lr=1e30", "1", "labels f_θ(x) are not finite"),
    ] {
        let mut args = vec!["run", q.as_str(), "--steps", steps, "--set", set];
        args.extend(["--set", "log_every=1"]);
        args.extend(TINY);
        args.extend(["--out", out_s.as_str()]);
        let o = occam(&args);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let msg = stderr(&o);
        assert!(
            msg.contains("diverged") && msg.contains("meta-step 0") && msg.contains(what),
            "{set}: {msg}"
        );
        assert!(!msg.contains("panicked"), "{msg}");
        let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
        assert!(summary.contains("\"status\": \"diverged\""), "{summary}");
        assert!(summary.contains(what), "{summary}");
        assert!(!out.join("function.png").exists() && !out.join("function.npy").exists());
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn a_kernel_ridge_series_reports_the_kernel_and_each_functions_overlap() {
    let q = experiment("kernel_series.toml");
    let out = std::env::temp_dir().join(format!("occam-kernel-test-{}", std::process::id()));
    let out_s = out.display().to_string();
    let o = occam(&[
        "run",
        q.as_str(),
        "--steps",
        "3",
        "--out",
        out_s.as_str(),
        "--set",
        "series.functions=2",
        "--set",
        "learner.features=12",
        "--set",
        "analysis.heldout_tasks=2",
        "--set",
        "analysis.eval_points=600",
        "--set",
        "data.test=20",
        "--set",
        "data.samples=20",
        "--set",
        "series.distribution=[1.0, 1000.0]",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let a = &summary["analysis"];
    // Each function's distribution term carries its own weight.
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    for line in metrics.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let weight = v["distribution"].as_f64().unwrap() / v["distribution_loss"].as_f64().unwrap();
        let want = [1.0, 1000.0][v["function"].as_u64().unwrap() as usize];
        assert!((weight / want - 1.0).abs() < 1e-9, "{line}");
    }
    // The notebooks' score of each function against the closed-form learner.
    let scores = a["eval_fit_notebook_mse"].as_array().unwrap();
    assert_eq!(scores.len(), 2);
    assert!(
        scores.iter().all(|m| m.as_f64().is_some_and(|m| m >= 0.0)),
        "{a}"
    );
    assert!(
        a["kernel"]["eigenvalues"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "{a}"
    );
    assert!(a["kernel"]["eigenvalues_by_degree"].is_object(), "{a}");
    let functions = a["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 2);
    for f in functions {
        assert!(
            f["analysis"]["kernel_eigen_overlap"]["top_1"].is_number(),
            "{f}"
        );
        assert!(f["analysis"]["linear_fit"]["r2"].is_number(), "{f}");
        assert!(
            f["analysis"]["learner_error"]["in_sample_mse"].is_number(),
            "{f}"
        );
    }
    assert_eq!(
        a["normalised_inner_products"].as_array().map(|m| m.len()),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&out);

    // One weight per function, or exit 2 naming the key.
    let o = occam(&[
        "run",
        q.as_str(),
        "--out",
        out_s.as_str(),
        "--set",
        "series.distribution=[1.0]",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("series.distribution: lists 1 weights for series.functions = 6"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_connectome_file_with_an_out_of_range_input_exits_2_naming_the_line() {
    let dir = std::env::temp_dir().join(format!("occam-connectome-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("connectome.csv");
    std::fs::write(&csv, "unit,input,sign\n0,1,+\n1,7,+\n").unwrap();
    // mushroom_random with its wiring read from the file (a path relative
    // to the experiment file).
    let text = std::fs::read_to_string(experiment("mushroom_random.toml")).unwrap();
    let text = text.replace(
        "scheme = \"random\"\ninputs_per_unit = 2",
        "scheme = \"file\"\nfile = \"connectome.csv\"",
    );
    assert!(text.contains("connectome.csv"));
    std::fs::write(dir.join("exp.toml"), text).unwrap();
    let q = dir.join("exp.toml").display().to_string();
    let o = occam(&[
        "run",
        q.as_str(),
        "--steps",
        "1",
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(
        msg.contains("connectome.csv:3") && msg.contains("input index 7 is out of range"),
        "{msg}"
    );
    // A well-formed file runs, with its per-synapse signs.
    std::fs::write(&csv, "0,1,+\n0,2,-\n1,0\n1,4,+\n").unwrap();
    let o = occam(&[
        "run",
        q.as_str(),
        "--steps",
        "2",
        "--out",
        dir.join("out").to_str().unwrap(),
        "--set",
        "learner.hidden=[2]",
        "--set",
        "learner.steps=3",
        "--set",
        "analysis.heldout_tasks=2",
        "--set",
        "meta_learner.hidden=[8]",
        "--set",
        "data.test=20",
        "--set",
        "data.samples=20",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap())
            .unwrap();
    assert!(
        summary["analysis"]["group_fit"]["affine_r2"].is_number(),
        "{summary}"
    );
    assert!(dir.join("out/function_inputs.png").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// mnist01 in miniature: tasks of 50 images, a 2-channel CNN meta-learner
/// and a 3-step CNN learner.
const TINY_MNIST: [&str; 14] = [
    "--set",
    "data.train=20",
    "--set",
    "data.test=30",
    "--set",
    "learner.steps=3",
    "--set",
    "learner.batch=5",
    "--set",
    "meta_learner.layers=[\"conv 2 5x5 pad 2\", \"relu\", \"pool\", \"pool\", \"dense 1\", \"relu6/6\"]",
    "--set",
    "learner.layers=[\"conv 2 3x3 pad 1\", \"relu\", \"pool\", \"dense 1\"]",
    "--set",
    "analysis.heldout_tasks=1",
];

#[test]
fn a_tiny_image_run_reports_digit_agreement_and_gradchecks() {
    let out = std::env::temp_dir().join(format!("occam-cli-mnist-{}", std::process::id()));
    let m = experiment("mnist01.toml");
    let mut args = vec!["run", &m, "--steps", "2", "--out", out.to_str().unwrap()];
    args.extend(TINY_MNIST);
    let o = occam(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let agreement = &summary["analysis"]["digit_agreement"];
    assert_eq!(agreement["images"], 2000, "{summary}");
    let within = agreement["within_0_5"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&within));
    for file in [
        "images.png",
        "digits.npy",
        "function.npy",
        "loss.png",
        "config.toml",
    ] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    // The resolved configuration names the image files by full path.
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("mnist01-images-idx3-ubyte.gz") && config.contains("/assets/"));

    let mut args = vec!["gradcheck", &m];
    args.extend(TINY_MNIST);
    let o = occam(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("PASS") || String::from_utf8_lossy(&o.stdout).contains("PASS"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn bad_image_inputs_and_layer_lists_exit_2_naming_the_key() {
    let m = experiment("mnist01.toml");
    for (set, key) in [
        (
            "meta_learner.layers=[\"conv 16 5x5\", \"sigmoid\"]",
            "meta_learner.layers[1]",
        ),
        ("learner.layers=[\"dense 2\"]", "learner.layers"),
        ("inputs.digits=[7]", "inputs.digits"),
        ("inputs.count=5000", "inputs.count"),
        ("inputs.images=\"missing.idx\"", "inputs.images"),
        ("data.test=1500", "data.train"),
        ("learner.hidden=[4]", "learner.hidden"),
    ] {
        // A folder of this process's own, so no folder left by an earlier
        // run can answer for the key; a refused run must not create it.
        let out = std::env::temp_dir().join(format!("occam-never-written-{}", std::process::id()));
        let o = occam(&["run", &m, "--set", set, "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "{set}: {}", stderr(&o));
        assert!(
            !out.exists(),
            "{set}: a refused run created {}",
            out.display()
        );
    }
}

#[test]
fn bench_reports_kernels_with_flops_and_writes_a_chrome_trace() {
    let q = experiment("quickstart.toml");
    let dir = std::env::temp_dir().join(format!("occam-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("trace.json");
    for fused in [true, false] {
        let mut args = vec![
            "--backend",
            "vulkan",
            "bench",
            &q,
            "--steps",
            "2",
            "--warmup",
            "1",
        ];
        let set = format!("learner.fused={fused}");
        let trace_arg = trace.display().to_string();
        args.extend(["--set", &set, "--trace", &trace_arg]);
        args.extend(TINY);
        let o = occam(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["fused"], fused, "{report}");
        let m = &report["meta_step_s"];
        assert!(m["min"].as_f64().unwrap() <= m["median"].as_f64().unwrap());
        assert!(m["median"].as_f64().unwrap() <= m["max"].as_f64().unwrap());
        // The host's share (drawing and loading the data) lies inside a step.
        let host = &report["host_s"];
        let (draw, load) = (
            host["draw_median"].as_f64().unwrap(),
            host["load_median"].as_f64().unwrap(),
        );
        assert!(draw > 0.0 && load > 0.0, "{host}");
        assert!(draw + load < m["max"].as_f64().unwrap(), "{host}");
        let kernels = report["per_kernel"]["kernels"].as_array().unwrap();
        let names: Vec<&str> = kernels
            .iter()
            .map(|k| k["kernel"].as_str().unwrap())
            .collect();
        // lavapipe offers subgroups, so `auto` gives the quickstart's small
        // learner the lanes layout there.
        let layout = &report["fused_layout"];
        assert_eq!(
            layout.as_str(),
            fused.then_some("lanes"),
            "{}",
            report["unroll"]
        );
        assert_eq!(
            names.contains(&"unroll_lanes::unroll_lanes_forward"),
            fused,
            "{names:?}"
        );
        // The meta-learner's layers run the dense kernels generated for
        // their shapes (lavapipe has subgroups).
        assert!(
            names.contains(&"dense_lanes::dense_lanes_forward"),
            "{names:?}"
        );
        assert!(report["per_kernel"]["counted_flops"].as_f64().unwrap() > 1e5);
        for k in kernels {
            assert!(k["gpu_ms"].as_f64().unwrap() >= 0.0, "{k}");
        }
        let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
        let events = t["traceEvents"].as_array().unwrap();
        let spans: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        // Every dispatch of the profiled step, plus one span per phase.
        let dispatches: u64 = kernels
            .iter()
            .map(|k| k["dispatches"].as_u64().unwrap())
            .sum();
        assert_eq!(spans.len() as u64, dispatches + 5, "{t}");
        assert!(spans.iter().all(|e| e["dur"].as_f64().unwrap() >= 0.0));
    }
}

#[test]
fn seeds_run_side_by_side_each_in_its_own_folder_with_the_single_run_numbers() {
    let q = experiment("quickstart.toml");
    let base = std::env::temp_dir().join(format!("occam-seeds-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let together = base.join("together");
    let alone = base.join("alone");
    let mut args = vec!["run", &q, "--steps", "3", "--seeds", "3..5", "--jobs", "2"];
    let together_arg = together.display().to_string();
    args.extend(["--out", &together_arg]);
    args.extend(TINY);
    let o = occam(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let alone_arg = alone.display().to_string();
    let mut single = vec![
        "run", &q, "--steps", "3", "--seed", "4", "--out", &alone_arg,
    ];
    single.extend(TINY);
    let o = occam(&single);
    assert!(o.status.success(), "{}", stderr(&o));
    for seed in [3, 4, 5] {
        let dir = together.join(format!("quickstart-seed{seed}"));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["seed"], seed);
        assert!(dir.join("config.toml").exists() && dir.join("loss.png").exists());
    }
    let read = |d: &Path| std::fs::read(d.join("function.npy")).unwrap();
    assert_eq!(read(&together.join("quickstart-seed4")), read(&alone));
    assert_ne!(
        read(&together.join("quickstart-seed3")),
        read(&together.join("quickstart-seed4"))
    );
    let o = occam(&["run", &q, "--seeds", "5..2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--seeds"), "{}", stderr(&o));
}

#[test]
fn bad_spiking_keys_exit_2_naming_the_key() {
    let e = experiment("spiking_sphere.toml");
    for (set, key) in [
        ("learner.spike=\"relu\"", "learner.spike"),
        (
            "learner.reset_gradient=\"sometimes\"",
            "learner.reset_gradient",
        ),
        ("learner.tau_mem=0", "learner.tau_mem"),
        ("learner.tau_syn=-2", "learner.tau_syn"),
        ("learner.readout_window=100", "learner.readout_window"),
        ("learner.sim_steps=0", "learner.sim_steps"),
        ("learner.slope=nan", "learner.slope"),
        ("learner.hidden=0", "learner.hidden"),
        ("learner.layers=[\"dense 1\"]", "learner.layers"),
        ("learner.dt=\"fast\"", "learner.dt"),
        ("learner.encoding=\"rate\"", "learner.encoding"),
        (
            "learner.time_checkpoint_every=-1",
            "learner.time_checkpoint_every",
        ),
    ] {
        let o = occam(&[
            "run",
            &e,
            "--set",
            set,
            "--out",
            "/nonexistent/never-written",
        ]);
        assert_eq!(o.status.code(), Some(2), "--set {set}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "--set {set}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

#[test]
fn bad_blackbox_keys_exit_2_naming_the_key() {
    let e = experiment("blackbox_mlp.toml");
    for (set, key) in [
        ("learner.population=0", "learner.population"),
        ("learner.sigma=0", "learner.sigma"),
        ("learner.sigma=nan", "learner.sigma"),
        ("learner.sigmaa=0.1", "learner.sigmaa"),
        ("learner.inner.stepz=3", "learner.inner.stepz"),
        ("learner.inner.kind=\"blackbox\"", "learner.inner.kind"),
        ("learner.inner.kind=\"svm\"", "learner.inner.kind"),
        ("learner.inner=3", "learner.inner"),
    ] {
        let o = occam(&[
            "run",
            &e,
            "--set",
            set,
            "--out",
            "/nonexistent/never-written",
        ]);
        assert_eq!(o.status.code(), Some(2), "--set {set}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "--set {set}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

#[test]
fn a_tiny_blackbox_run_is_reproducible_and_reports_its_execution() {
    let base = std::env::temp_dir().join(format!("occam-cli-blackbox-{}", std::process::id()));
    let e = experiment("blackbox_mlp.toml");
    let run = |dir: &PathBuf| {
        let dir = dir.display().to_string();
        let o = occam(&[
            "run",
            &e,
            "--steps",
            "3",
            "--out",
            &dir,
            "--set",
            "meta_learner.hidden=[16]",
            "--set",
            "learner.population=3",
            "--set",
            "learner.inner.steps=5",
            "--set",
            "data.test=20",
            "--set",
            "data.samples=20",
            "--set",
            "analysis.heldout_tasks=2",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let (a, b) = (base.join("a"), base.join("b"));
    run(&a);
    run(&b);
    for f in ["function.npy", "theta.npy", "learner_weights.npy"] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert_eq!(x, y, "{f} differs between two runs of the same seed");
    }
    let summary = std::fs::read_to_string(a.join("summary.json")).unwrap();
    assert!(
        summary.contains("black box: 7 fits per task"),
        "summary.json should say how the black box ran: {summary}"
    );
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn an_external_learner_runs_in_a_black_box_and_only_there() {
    let e = experiment("blackbox_external.toml");
    let python = ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import numpy"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("a python3 with numpy (install python3-numpy)");
    let command = format!("learner.inner.command=[\"{python}\", \"external/ridge_learner.py\"]");
    let dir = std::env::temp_dir().join(format!("occam-cli-external-{}", std::process::id()));
    let dir_s = dir.display().to_string();
    let o = occam(&[
        "run",
        &e,
        "--steps",
        "3",
        "--out",
        &dir_s,
        "--set",
        &command,
        "--set",
        "learner.population=4",
        "--set",
        "data.test=20",
        "--set",
        "analysis.heldout_tasks=2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(summary.contains("external/ridge_learner.py"), "{summary}");
    // A run killed before its first checkpoint (only its config.toml in the
    // folder) starts over on --resume, with the program run in the
    // experiment file's folder as on the first start, not the run folder.
    let restart = dir.join("restart");
    std::fs::create_dir_all(&restart).unwrap();
    std::fs::copy(dir.join("config.toml"), restart.join("config.toml")).unwrap();
    let o = occam(&["run", "--resume", &restart.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(restart.join("function.npy")).unwrap(),
        std::fs::read(dir.join("function.npy")).unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
    // Not differentiable, so not a learner of its own.
    for (set, key) in [
        (
            "learner={ kind = \"external\", command = [\"python3\"] }",
            "learner.kind",
        ),
        ("learner.inner.command=[]", "learner.inner.command"),
        ("learner.inner.timeout_s=0", "learner.inner.timeout_s"),
    ] {
        let o = occam(&[
            "run",
            &e,
            "--set",
            set,
            "--out",
            "/nonexistent/never-written",
        ]);
        assert_eq!(o.status.code(), Some(2), "--set {set}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "--set {set}: {}", stderr(&o));
    }
    // A program that cannot start stops the run with its name.
    let o = occam(&[
        "run",
        &e,
        "--steps",
        "1",
        "--out",
        &dir_s,
        "--set",
        "learner.inner.command=[\"/no/such/learner\"]",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/no/such/learner"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_animal_runs_in_a_black_box_reporting_its_trials() {
    let e = experiment("animal_kernel.toml");
    let dir = std::env::temp_dir().join(format!("occam-cli-animal-{}", std::process::id()));
    let dir_s = dir.display().to_string();
    let o = occam(&[
        "run",
        &e,
        "--steps",
        "3",
        "--out",
        &dir_s,
        "--set",
        "learner.population=4",
        "--set",
        "analysis.heldout_tasks=2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = summary_of(&dir);
    let report = summary["learner_report"][0].as_str().unwrap();
    assert!(report.contains("trials used of a budget of"), "{report}");
    // Every trial is charged to what it was spent on. A fit shows m = 20
    // training labels and asks M = 80 queries 5 times each: 420 trials; a
    // black box of population 4 fits 1 + 2·4 = 9 times per task.
    let usage = &summary["learner_usage"][0];
    let n = |k: &str| usage[k].as_u64().unwrap();
    let (fit, fits) = (20 + 80 * 5, 9);
    assert_eq!(
        n("meta_learning"),
        3 * fits * fit,
        "3 meta-steps of 1 task: {usage}"
    );
    // A held-out evaluation needs no gradient: one fit a task, not 9.
    assert_eq!(
        n("heldout"),
        2 * 2 * fit,
        "2 held-out tasks at the initial and final θ: {usage}"
    );
    // The analysis fits each held-out task, then asks about its 20 training points.
    assert_eq!(n("analysis"), 2 * (fit + 20 + 20 * 5), "{usage}");
    assert_eq!(
        n("total"),
        n("meta_learning") + n("heldout") + n("analysis")
    );
    assert!(
        report.starts_with(&format!("{} trials used", n("total"))),
        "{report}"
    );
    assert!(summary["analysis"]["kernel_eigen_overlap"]["top_4"].is_number());
    std::fs::remove_dir_all(&dir).ok();
    // The budgeted animal: one session a meta-step (refresh 2: every other
    // one, the first step of a set never seen included), one fit a held-out task.
    let o = occam(&[
        "run",
        &experiment("animal_budget.toml"),
        "--steps",
        "5",
        "--out",
        &dir_s,
        "--set",
        "learner.refresh=2",
        "--set",
        "analysis.heldout_tasks=2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = summary_of(&dir);
    let usage = &summary["learner_usage"][0];
    let n = |k: &str| usage[k].as_u64().unwrap();
    assert_eq!(n("meta_learning"), 3 * fit, "steps 0, 2 and 4: {usage}");
    assert_eq!(n("heldout"), 2 * 2 * fit, "{usage}");
    assert_eq!(n("analysis"), 2 * (fit + 20 + 20 * 5), "{usage}");
    let an = &summary["analysis"];
    for key in [
        "kernel_eigen_overlap_centred",
        "kernel_eigen_overlap_initial",
        "kernel_eigen_overlap_centred_initial",
    ] {
        assert!(an[key]["top_4"].is_number(), "{key}");
    }
    std::fs::remove_dir_all(&dir).ok();
    // Its meta-step checks against the f64 twin, which fits the same model.
    let o = occam(&["gradcheck", &experiment("animal_budget.toml")]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (set, key) in [
        ("learner.inner.lapse=1.0", "learner.inner.lapse"),
        (
            "learner.inner.response_noise=0",
            "learner.inner.response_noise",
        ),
        ("learner.inner.repeats=0", "learner.inner.repeats"),
        (
            "learner={ kind = \"animal\", features = 5, lambda = 0.1, lapse = 0.1, response_noise = 0.1 }",
            "learner.kind",
        ),
    ] {
        let o = occam(&[
            "run",
            &e,
            "--set",
            set,
            "--out",
            "/nonexistent/never-written",
        ]);
        assert_eq!(o.status.code(), Some(2), "--set {set}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "--set {set}: {}", stderr(&o));
    }
    // A budget too small for the run stops it, naming the budget.
    let o = occam(&[
        "run",
        &e,
        "--steps",
        "3",
        "--out",
        &dir_s,
        "--set",
        "learner.inner.trial_budget=1000",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("trial budget of 1000"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gradcheck_options_under_which_it_could_not_fail_exit_2() {
    let q = experiment("quickstart.toml");
    for (flag, value) in [
        ("--step", "0"),
        ("--step", "nan"),
        ("--step", "-1e-6"),
        ("--directions", "0"),
        ("--tolerance", "inf"),
        ("--fd-tolerance", "0"),
    ] {
        let arg = format!("{flag}={value}");
        let o = occam(&["gradcheck", &q, &arg]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{flag} {value}: {}", stderr(&o));
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("PASS"),
            "{flag} {value}"
        );
    }
}

#[test]
fn an_earlier_run_in_the_output_folder_is_refused_unless_forced() {
    let dir = std::env::temp_dir().join(format!("occam-cli-force-{}", std::process::id()));
    let dir_s = dir.display().to_string();
    let q = experiment("quickstart.toml");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", q.as_str(), "--steps", "2", "--out", dir_s.as_str()];
        args.extend(TINY);
        args.extend(extra);
        occam(&args)
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["--seed", "7"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&dir_s) && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(
        config.contains("seed = 0"),
        "the refused run touched config.toml: {config}"
    );
    // --force replaces the earlier run, leaving none of its files behind.
    std::fs::write(dir.join("function_inputs_old.png"), b"stale").unwrap();
    let o = run(&["--seed", "7", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dir.join("function_inputs_old.png").exists());
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(
        config.contains("seed = 7") && summary.contains("\"seed\": 7"),
        "{summary}"
    );
    // No temporary files are left behind by the atomic writes.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "{name} left behind");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Waits until `path` holds `needle` (a run in progress has got that far).
/// The files of a run folder with wall-clock times taken out.
fn run_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let strip = |t: &str| -> Vec<u8> {
                t.lines()
                    .filter(|l| !l.contains("\"wall_s\": ") && !l.contains("\"meta_steps_per_s\""))
                    .map(|l| {
                        // metrics.jsonl: drop the wall_s field of each line.
                        match l.find(",\"wall_s\":") {
                            Some(i) => format!("{}}}", &l[..i]),
                            None => l.to_string(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes()
            };
            let bytes = match n.as_str() {
                "metrics.jsonl" | "summary.json" => strip(&text),
                _ => bytes,
            };
            (n, bytes)
        })
        .collect()
}

#[test]
fn interrupted_and_killed_runs_resume_to_the_uninterrupted_files() {
    let q = experiment("quickstart.toml");
    let base = std::env::temp_dir().join(format!("occam-signal-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let args = |out: &Path| -> Vec<String> {
        let mut a: Vec<String> = [
            "run",
            q.as_str(),
            "--steps",
            "120",
            "--set",
            "log_every=1",
            "--set",
            "checkpoint_every=5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(TINY.iter().map(|s| s.to_string()));
        a.extend(["--out".to_string(), out.display().to_string()]);
        a
    };
    let spawn = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_occam"))
            .args(args(out))
            .env("XDG_RUNTIME_DIR", "/tmp")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("occam starts")
    };
    let signal = |child: &std::process::Child, sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let whole = base.join("whole");
    let a: Vec<String> = args(&whole);
    let o = occam(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));

    // SIGINT: the run finishes its meta-step, checkpoints, says so, exits 130.
    let sigint = base.join("sigint");
    let mut child = spawn(&sigint);
    wait_for(
        &sigint.join("metrics.jsonl"),
        "\"meta_step\":12,",
        &mut child,
    );
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    let summary = std::fs::read_to_string(sigint.join("summary.json")).unwrap();
    assert!(summary.contains("\"status\": \"interrupted\""), "{summary}");
    assert!(sigint.join("checkpoint.json").is_file());

    // SIGKILL after a checkpoint: the folder says the run did not end.
    let killed = base.join("sigkill");
    let mut child = spawn(&killed);
    wait_for(
        &killed.join("metrics.jsonl"),
        "\"meta_step\":13,",
        &mut child,
    );
    signal(&child, "-KILL");
    child.wait().unwrap();
    let summary = std::fs::read_to_string(killed.join("summary.json")).unwrap();
    assert!(summary.contains("\"status\": \"running\""), "{summary}");

    for dir in [&sigint, &killed] {
        let d = dir.display().to_string();
        let o = occam(&["run", "--resume", &d]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!dir.join("checkpoint.json").exists());
        let (x, y) = (run_files(&whole), run_files(dir));
        assert_eq!(
            x.iter().map(|f| &f.0).collect::<Vec<_>>(),
            y.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        for ((name, a), (_, b)) in x.iter().zip(&y) {
            assert!(a == b, "{name} differs after resuming {d}");
        }
        // A complete run is left as it is.
        let o = occam(&["run", "--resume", &d]);
        assert!(
            o.status.success() && stderr(&o).contains("complete"),
            "{}",
            stderr(&o)
        );
    }
    // Resuming a folder without a run names it; --resume takes no experiment.
    let missing = base.join("nothing").display().to_string();
    let o = occam(&["run", "--resume", &missing]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no config.toml"), "{}", stderr(&o));
    let o = occam(&["run", q.as_str(), "--resume", &missing]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn legal_but_pointless_rates_run_with_a_warning() {
    let q = experiment("quickstart.toml");
    let base = std::env::temp_dir().join(format!("occam-warn-test-{}", std::process::id()));
    for (set, key) in [
        ("learner.lr=0", "learner.lr"),
        ("optimizer.lr=0", "optimizer.lr"),
    ] {
        let out = base.join(key).display().to_string();
        let mut args = vec!["run", q.as_str(), "--steps", "1", "--set", set];
        args.extend(TINY);
        args.extend(["--out", out.as_str()]);
        let o = occam(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let msg = stderr(&o);
        assert!(msg.contains(&format!("warning: {key}: is 0")), "{msg}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// The report's generator on a tiny report (two figures, two seeds, three
/// meta-steps): it runs what is missing, writes the page with each row's
/// mean ± sd over the seeds and its verdict, copies seed 0's picture, skips
/// finished runs when run again, and refuses a bad figure naming it.
#[test]
fn a_report_runs_its_figures_over_seeds_and_writes_the_page() {
    let base = std::env::temp_dir().join(format!("occam-report-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let s = |p: &Path| p.display().to_string();
    let (out, page) = (base.join("runs"), base.join("docs").join("report.md"));
    let tiny = r#"meta_steps = 3
"meta_learner.hidden" = [16]
"data.test" = 20
"data.samples" = 20
"analysis.heldout_tasks" = 2
"analysis.eval_points" = 300"#;
    let file = base.join("report.toml");
    let write = |figures: &str| {
        std::fs::write(
            &file,
            format!(
                "out = {:?}\ndocument = {:?}\nseeds = 2\n[set]\n{tiny}\n{figures}",
                s(&out),
                s(&page)
            ),
        )
        .unwrap();
    };
    let figures = format!(
        r#"
[[figure]]
id = "quick"
figure = "1Q"
title = "The quickstart"
experiment = {:?}
image = "function.png"
[figure.set]
"learner.steps" = 5
[[figure.quantity]]
name = "meta-loss reduction"
key = "analysis.heldout.meta_loss_reduction"
paper = "> 0"
at_least = 0.0
[[figure.quantity]]
name = "a bound no run meets"
key = "analysis.heldout.meta_loss_reduction"
paper = "impossible"
at_least = 1e30
[[figure.quantity]]
name = "a key no run has"
key = "analysis.no_such_figure"
paper = "—"

[[figure]]
id = "disk"
figure = "2B"
title = "Linear ridge on the disk"
experiment = {:?}
seeds = 1
note = "Ridge on the disk: *linear*, as theory says."
[[figure.quantity]]
name = "affine-fit R²"
key = "analysis.linear_fit.r2"
paper = "≈ 1"
[[figure.quantity]]
name = "the notebooks' fit score"
key = "analysis.eval_fit.0.notebook_mse"
paper = "≈ 0.002"
"#,
        experiment("quickstart.toml"),
        experiment("ridge_disk.toml")
    );
    write(&figures);

    let o = occam(&["report", &s(&file), "--list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(names, ["quick/seed0", "quick/seed1", "disk/seed0"]);

    let o = occam(&["report", &s(&file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&page).unwrap();
    // The quickstart's row: its mean ± sd over both seeds, from the runs' summaries.
    let value = |seed: u64| -> f64 {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("quick/seed{seed}/summary.json"))).unwrap(),
        )
        .unwrap();
        v["analysis"]["heldout"]["meta_loss_reduction"]
            .as_f64()
            .unwrap()
    };
    let (a, b) = (value(0), value(1));
    assert_ne!(a, b, "two seeds, two results");
    let mean = (a + b) / 2.0;
    let sd = ((a - mean).powi(2) + (b - mean).powi(2)).sqrt();
    let row =
        format!("| 1Q | meta-loss reduction | > 0 | {mean:.4} ± {sd:.4} | 2 of 2 | matches |");
    assert!(text.contains(&row), "no row {row} in:\n{text}");
    assert!(
        text.contains("| 1Q | a bound no run meets | impossible | "),
        "{text}"
    );
    assert!(text.contains("| 2 of 2 | short of the paper |"), "{text}");
    assert!(
        text.contains("| 1Q | a key no run has | — | — | 0 of 2 | not run |"),
        "{text}"
    );
    assert!(text.contains("| 2B | affine-fit R² | ≈ 1 | "), "{text}");
    assert!(text.contains("| 1 of 1 | reported |"), "{text}");
    // The closed-form learner's fit on every evaluation point is in the summary.
    assert!(
        text.contains(
            "| the notebooks' fit score (`analysis.eval_fit.0.notebook_mse`) | ≈ 0.002 | "
        ),
        "{text}"
    );
    assert!(
        text.contains("\nRidge on the disk: *linear*, as theory says.\n"),
        "{text}"
    );
    // Seed 0's picture beside the page, linked from the figure's section.
    assert!(page.with_extension("").join("quick.png").is_file());
    assert!(
        text.contains("![Figure 1Q at seed 0](report/quick.png)"),
        "{text}"
    );

    // Run again: every run is complete and skipped; the page is the same.
    let o = occam(&["report", &s(&file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("complete, skipped").count(),
        3,
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&page).unwrap(), text);

    // A figure with a key its experiment refuses: exit 2, naming figure and key.
    write(&figures.replace("\"learner.steps\" = 5", "\"learner.nonsense\" = 5"));
    let o = occam(&["report", &s(&file), "--no-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("figure[0]") && stderr(&o).contains("nonsense"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&base);
}

/// A tiny sweep file: `grid` over the meta learning rate, seeds 0 and 1.
fn tiny_sweep(dir: &Path, out: &Path) -> PathBuf {
    let file = dir.join("sweep.toml");
    std::fs::write(
        &file,
        format!(
            r#"experiment = {:?}
seeds = "0..1"
out = {:?}
[set]
meta_steps = 3
"meta_learner.hidden" = [16]
"learner.steps" = 5
"data.test" = 20
"data.samples" = 20
"analysis.heldout_tasks" = 2
"analysis.eval_points" = 300
[grid]
"optimizer.lr" = [0.003, 0.01]
"#,
            experiment("quickstart.toml"),
            out.display().to_string()
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_sweep_runs_in_shards_skips_finished_runs_and_collects() {
    let base = std::env::temp_dir().join(format!("occam-sweep-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let (whole, sharded) = (base.join("whole"), base.join("sharded"));
    let (f_whole, f_sharded) = (
        tiny_sweep(&base, &whole),
        tiny_sweep(&base.join("s").tap_mkdir(), &sharded),
    );
    let s = |p: &Path| p.display().to_string();

    // The list: 4 runs with stable names, in order.
    let o = occam(&["sweep", &s(&f_whole), "--list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "optimizer.lr=0.003/seed0",
            "optimizer.lr=0.003/seed1",
            "optimizer.lr=0.01/seed0",
            "optimizer.lr=0.01/seed1"
        ]
    );

    // Shard 1/2 from the SLURM variables (ids 1..2), then shard 0 by flag.
    let o = Command::new(env!("CARGO_BIN_EXE_occam"))
        .args(["sweep", &s(&f_sharded)])
        .env("XDG_RUNTIME_DIR", "/tmp")
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("shard 1/2: 2 of 4 runs"),
        "{}",
        stderr(&o)
    );
    assert!(
        sharded
            .join("optimizer.lr=0.003/seed1/summary.json")
            .is_file()
    );
    assert!(
        !sharded
            .join("optimizer.lr=0.003/seed0/config.toml")
            .exists()
    );
    // A batch log gets progress lines.
    assert!(
        stderr(&o).contains("optimizer.lr=0.003/seed1: meta-step 3/3"),
        "{}",
        stderr(&o)
    );
    let o = occam(&["sweep", &s(&f_sharded), "--shard", "0/2"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A run killed before its first checkpoint (its summary still says
    // running) is run again; finished ones are skipped. (Resuming from a
    // checkpoint is tests/resume.rs's and the signal test's.)
    let victim = sharded.join("optimizer.lr=0.01/seed1");
    std::fs::write(victim.join("summary.json"), "{\"status\": \"running\"}").unwrap();
    std::fs::remove_file(victim.join("function.npy")).unwrap();
    let o = occam(&["sweep", &s(&f_sharded)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("complete, skipped").count(),
        3,
        "{}",
        stderr(&o)
    );
    assert_eq!(
        occam_status(&victim).as_deref(),
        Some("complete"),
        "the interrupted run was finished"
    );

    // The same sweep in one go, two runs at a time, gives the same numbers.
    let o = occam(&["sweep", &s(&f_whole), "--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for n in &names {
        for f in ["function.npy", "theta.npy"] {
            assert!(
                std::fs::read(whole.join(n).join(f)).unwrap()
                    == std::fs::read(sharded.join(n).join(f)).unwrap(),
                "{n}/{f} differs between the sharded and the whole sweep"
            );
        }
    }

    // Collected: 4 rows, 2 settings of 2 seeds, a plot.
    let o = occam(&[
        "collect",
        &s(&whole),
        "--figure",
        "analysis.heldout.meta_loss_reduction",
        "--against",
        "optimizer.lr",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = std::fs::read_to_string(whole.join("collected.csv")).unwrap();
    assert_eq!(rows.lines().count(), 5, "{rows}");
    assert!(
        rows.lines()
            .next()
            .unwrap()
            .starts_with("run,status,seed,optimizer.lr,")
    );
    let by = std::fs::read_to_string(whole.join("collected_by_setting.csv")).unwrap();
    let lines: Vec<&str> = by.lines().collect();
    assert_eq!(lines.len(), 3, "{by}");
    assert!(
        lines[1].starts_with("0.003,2,") && lines[2].starts_with("0.01,2,"),
        "{by}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("collected.json")).unwrap())
            .unwrap();
    let m = &json["settings"][0]["figures"]["analysis.heldout.meta_loss_reduction"];
    assert!(m["mean"].is_number() && m["sd"].is_number(), "{m}");
    assert!(
        whole
            .join("analysis.heldout.meta_loss_reduction_vs_optimizer.lr.png")
            .is_file()
    );
    // Bad input names what is wrong.
    let o = occam(&[
        "collect",
        &s(&whole),
        "--figure",
        "nope",
        "--against",
        "optimizer.lr",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--figure nope"), "{}", stderr(&o));
    // Against another figure (its mean over seeds), into a named file.
    let png = whole.join("reduction_vs_final_loss.png");
    let o = occam(&[
        "collect",
        &s(&whole),
        "--figure",
        "analysis.heldout.meta_loss_reduction",
        "--against",
        "analysis.heldout.final_meta_loss",
        "--plot",
        &s(&png),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(png.is_file());
    let o = occam(&[
        "collect",
        &s(&whole),
        "--figure",
        "analysis.heldout.meta_loss_reduction",
        "--against",
        "nothing.like.this",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--against nothing.like.this"),
        "{}",
        stderr(&o)
    );
    let o = occam(&["sweep", &s(&f_whole), "--shard", "2/2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--shard"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&base);
}

/// A run folder's summary.json.
fn summary_of(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn occam_status(dir: &Path) -> Option<String> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).ok()?).ok()?;
    v["status"].as_str().map(str::to_string)
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}
