//! The web page's session is the CLI's run: the same engine, task streams,
//! held-out tasks and evaluation points. Driven natively (its futures run
//! with pollster, as the CLI's reads do), a session on the CLI's own
//! `config.toml` gives the CLI's outputs bit for bit on the same adapter;
//! in a browser only the adapter differs.

mod support;

use occam_gpu::AdapterSelection;
use occam_web::Session;
use support::{TINY, experiment, occam, stderr};

#[test]
fn a_web_session_gives_the_clis_outputs_bit_for_bit_on_one_adapter() {
    let out = std::env::temp_dir().join(format!("occam-web-session-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let q = experiment("quickstart.toml");
    let o_s = out.display().to_string();
    let mut args = vec!["run", q.as_str(), "--steps", "4", "--out", o_s.as_str()];
    args.extend(TINY);
    let o = occam(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&read("summary.json")).unwrap();

    // The session reads the run's resolved configuration, as a page would
    // read an edited TOML.
    let config = String::from_utf8(read("config.toml")).unwrap();
    let selection = AdapterSelection::from_env().unwrap();
    let mut session =
        pollster::block_on(Session::open(&config, "config.toml", &[], &selection)).expect("opens");
    assert_eq!(session.adapter().name, summary["adapter"]["name"]);
    // In two calls, as a page advances a few meta-steps between redraws.
    let p = pollster::block_on(session.advance(3)).unwrap();
    assert_eq!(p.step, 3);
    let p = pollster::block_on(session.advance(10)).unwrap();
    assert_eq!(p.step, 4, "never past meta_steps");
    assert_eq!(
        p.terms.total(),
        summary["final"]["meta_loss"].as_f64().unwrap(),
        "the last meta-step's loss"
    );

    let heldout = pollster::block_on(session.heldout()).unwrap();
    for key in ["initial_meta_loss", "final_meta_loss", "generalisation_mse"] {
        assert_eq!(
            heldout[key], summary["analysis"]["heldout"][key],
            "analysis.heldout.{key}"
        );
    }
    assert_eq!(
        pollster::block_on(session.function_npy()).unwrap(),
        read("function.npy")
    );
    assert_eq!(
        pollster::block_on(session.theta_npy()).unwrap(),
        read("theta.npy")
    );
    let (name, inputs) = session.inputs_npy().unwrap();
    assert_eq!((name, inputs), ("eval_inputs.npy", read("eval_inputs.npy")));
    let page_summary = pollster::block_on(session.summary()).unwrap();
    assert_eq!(page_summary["analysis"]["heldout"], heldout);
    assert_eq!(page_summary["status"], "complete");
    // The page's downloads make a run folder the CLI's tools read.
    let page_run = out.join("page/seed0");
    std::fs::create_dir_all(&page_run).unwrap();
    std::fs::write(page_run.join("config.toml"), session.config_toml()).unwrap();
    std::fs::write(
        page_run.join("summary.json"),
        serde_json::to_string_pretty(&page_summary).unwrap(),
    )
    .unwrap();
    let page_dir = out.join("page").display().to_string();
    let o = occam(&["collect", page_dir.as_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = std::fs::read_to_string(out.join("page/collected.csv")).unwrap();
    assert!(
        table.contains("complete") && table.contains("analysis.heldout.final_meta_loss"),
        "{table}"
    );

    // What a page cannot run is refused with the key, as the CLI refuses.
    let bad = config.replace("[learner]", "[learner]\nnonsense = 1");
    let e = pollster::block_on(Session::open(&bad, "edited.toml", &[], &selection))
        .err()
        .expect("a bad key is refused");
    assert!(e.to_string().contains("nonsense"), "{e}");
    assert_eq!(e.exit_code(), 2);
    let series = std::fs::read_to_string(experiment("ridge_series.toml")).unwrap();
    let e = pollster::block_on(Session::open(&series, "ridge_series.toml", &[], &selection))
        .err()
        .expect("a series is refused");
    assert!(e.to_string().contains("series:"), "{e}");
    let _ = std::fs::remove_dir_all(&out);
}

/// An image set read from memory (as the page holds MNIST): the session's
/// labels of every image equal the CLI's, which reads the files.
#[test]
fn a_web_session_reads_an_image_set_from_memory_like_the_cli_from_files() {
    let out = std::env::temp_dir().join(format!("occam-web-images-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let q = experiment("mnist01.toml");
    let o_s = out.display().to_string();
    let small = [
        "--set",
        "inputs.count=100",
        "--set",
        "data.train=30",
        "--set",
        "data.test=70",
        "--set",
        "learner.steps=3",
        "--set",
        "learner.batch=10",
        "--set",
        "analysis.heldout_tasks=1",
    ];
    let mut args = vec!["run", q.as_str(), "--steps", "1", "--out", o_s.as_str()];
    args.extend(small);
    let o = occam(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();

    // The same configuration with image paths that name no file on disk:
    // only the bytes given in memory can be read.
    let config = String::from_utf8(read("config.toml"))
        .unwrap()
        .lines()
        .map(|l| match l.split_once(" = ") {
            Some(("images" | "labels", v)) => {
                let file = v.trim_matches('"').rsplit('/').next().unwrap().to_string();
                format!(
                    "{} = \"not/on/disk/{file}\"",
                    l.split_once(" = ").unwrap().0
                )
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/mnist01");
    let images = std::fs::read(assets.join("mnist01-images-idx3-ubyte.gz")).unwrap();
    let labels = std::fs::read(assets.join("mnist01-labels-idx1-ubyte.gz")).unwrap();
    let files: [(&str, &[u8]); 2] = [
        ("mnist01-images-idx3-ubyte.gz", &images),
        ("mnist01-labels-idx1-ubyte.gz", &labels),
    ];
    let selection = AdapterSelection::from_env().unwrap();
    let e = pollster::block_on(Session::open(&config, "mnist01.toml", &[], &selection))
        .err()
        .expect("without the bytes the files are missing");
    assert!(e.to_string().contains("not/on/disk"), "{e}");
    let mut session =
        pollster::block_on(Session::open(&config, "mnist01.toml", &files, &selection)).unwrap();
    pollster::block_on(session.advance(1)).unwrap();
    assert_eq!(
        pollster::block_on(session.function_npy()).unwrap(),
        read("function.npy")
    );
    let (name, digits) = session.inputs_npy().unwrap();
    assert_eq!((name, digits), ("digits.npy", read("digits.npy")));
    let (picture, points) = session.picture();
    assert!(
        matches!(
            picture,
            occam_web::view::Picture::Images {
                count: 64,
                height: 28,
                width: 28
            }
        ),
        "{picture:?}"
    );
    assert_eq!(points.len(), 64 * 28 * 28);
    let _ = std::fs::remove_dir_all(&out);
}
