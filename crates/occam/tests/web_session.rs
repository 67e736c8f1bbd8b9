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
        pollster::block_on(Session::open(&config, "config.toml", &selection)).expect("opens");
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
    assert_eq!(session.eval_inputs_npy().unwrap(), read("eval_inputs.npy"));
    let page_summary = pollster::block_on(session.summary()).unwrap();
    assert_eq!(page_summary["analysis"]["heldout"], heldout);
    assert_eq!(page_summary["status"], "complete");

    // What a page cannot run is refused with the key, as the CLI refuses.
    let bad = config.replace("[learner]", "[learner]\nnonsense = 1");
    let e = pollster::block_on(Session::open(&bad, "edited.toml", &selection))
        .err()
        .expect("a bad key is refused");
    assert!(e.to_string().contains("nonsense"), "{e}");
    assert_eq!(e.exit_code(), 2);
    let series = std::fs::read_to_string(experiment("ridge_series.toml")).unwrap();
    let e = pollster::block_on(Session::open(&series, "ridge_series.toml", &selection))
        .err()
        .expect("a series is refused");
    assert!(e.to_string().contains("series:"), "{e}");
    let _ = std::fs::remove_dir_all(&out);
}
