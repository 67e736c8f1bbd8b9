//! The JavaScript API of the page (wasm32 only). Values cross as JSON
//! strings and typed arrays; every long call returns a Promise, and a
//! failure rejects it with the CLI's message for the same failure. Calls
//! that overlap (a click while meta-steps are in flight) wait their turn on
//! an async lock, so none sees the session half-way through another.

use crate::Session;
use crate::view::Picture;
use futures_util::lock::Mutex;
use occam_gpu::AdapterSelection;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The data files shipped with Occam, in memory by file name (an
/// experiment's image set is read from these when its file names match).
const FILES: [(&str, &[u8]); 2] = [
    (
        "mnist01-images-idx3-ubyte.gz",
        include_bytes!("../../../assets/mnist01/mnist01-images-idx3-ubyte.gz"),
    ),
    (
        "mnist01-labels-idx1-ubyte.gz",
        include_bytes!("../../../assets/mnist01/mnist01-labels-idx1-ubyte.gz"),
    ),
];

/// The experiments shipped with Occam that a page can run, by file name.
const EXPERIMENTS: [(&str, &str); 7] = [
    (
        "quickstart.toml",
        include_str!("../../../experiments/quickstart.toml"),
    ),
    (
        "kernel_sphere.toml",
        include_str!("../../../experiments/kernel_sphere.toml"),
    ),
    (
        "ridge_disk.toml",
        include_str!("../../../experiments/ridge_disk.toml"),
    ),
    (
        "mlp_gd.toml",
        include_str!("../../../experiments/mlp_gd.toml"),
    ),
    (
        "adversarial.toml",
        include_str!("../../../experiments/adversarial.toml"),
    ),
    (
        "mushroom_random.toml",
        include_str!("../../../experiments/mushroom_random.toml"),
    ),
    (
        "mnist01.toml",
        include_str!("../../../experiments/mnist01.toml"),
    ),
];

fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// `[[name, toml], …]` of the shipped experiments, as JSON.
#[wasm_bindgen]
pub fn experiments() -> String {
    serde_json::to_string(&EXPERIMENTS).expect("strings serialise")
}

/// Opens a session on the experiment in `text` (`name` names it in
/// errors): resolves it, opens the page's WebGPU adapter and builds the
/// engine. Rejects with the CLI's message (a bad key names the key).
#[wasm_bindgen]
pub async fn open_session(text: String, name: String) -> Result<WebSession, JsValue> {
    let session = Session::open(&text, &name, &FILES, &AdapterSelection::default())
        .await
        .map_err(js_error)?;
    let (picture, points) = session.picture();
    let (inputs_name, inputs) = session.inputs_npy().map_err(js_error)?;
    let a = session.adapter();
    let name = if a.name.trim().is_empty() {
        "an adapter the browser does not name"
    } else {
        a.name.as_str()
    };
    let adapter = format!(
        "{name} ({}, {}, driver: {})",
        a.backend, a.device_type, a.driver
    );
    Ok(WebSession {
        adapter,
        meta_steps: session.meta_steps(),
        config: session.config_toml(),
        inputs_name,
        inputs,
        step: Rc::new(Cell::new(0)),
        inner: Rc::new(Mutex::new(session)),
        picture,
        points: Rc::new(points),
    })
}

/// A session as the page holds it.
#[wasm_bindgen]
pub struct WebSession {
    inner: Rc<Mutex<Session>>,
    adapter: String,
    meta_steps: usize,
    config: String,
    inputs_name: &'static str,
    inputs: Vec<u8>,
    step: Rc<Cell<usize>>,
    picture: Picture,
    points: Rc<Vec<f64>>,
}

#[wasm_bindgen]
impl WebSession {
    /// The adapter as the browser describes it, e.g. `"… (webgpu, Cpu)"`
    /// (browsers may withhold the name).
    pub fn adapter(&self) -> String {
        self.adapter.clone()
    }

    /// Meta-steps done.
    pub fn step(&self) -> usize {
        self.step.get()
    }

    /// Meta-steps the experiment asks for.
    pub fn meta_steps(&self) -> usize {
        self.meta_steps
    }

    /// Runs up to `steps` more meta-steps; resolves to the progress as JSON
    /// (`{ step, meta_loss, terms }`).
    pub fn advance(&self, steps: usize) -> js_sys::Promise {
        let (inner, step) = (self.inner.clone(), self.step.clone());
        future_to_promise(async move {
            let mut s = inner.lock().await;
            let p = s.advance(steps).await.map_err(js_error)?;
            step.set(p.step);
            Ok(JsValue::from_str(&p.to_json().to_string()))
        })
    }

    /// How to draw the function, as JSON: `{ kind: "map" | "heat", width,
    /// height, inside }`, `{ kind: "images", count, height, width }` or
    /// `{ kind: "scatter" }`.
    pub fn picture(&self) -> String {
        match &self.picture {
            Picture::Grid {
                width,
                height,
                inside,
                kind,
            } => serde_json::json!({ "kind": kind, "width": width, "height": height, "inside": inside }),
            Picture::Scatter => serde_json::json!({ "kind": "scatter" }),
            Picture::Images {
                count,
                height,
                width,
            } => serde_json::json!({ "kind": "images", "count": count, "height": height, "width": width }),
        }
        .to_string()
    }

    /// The function at the picture's inside pixels, in order; for a scatter,
    /// input 0 of the first 2000 evaluation points then the function there.
    pub fn draw(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        let points = self.points.clone();
        let scatter = self.picture == Picture::Scatter;
        future_to_promise(async move {
            let s = inner.lock().await;
            let values = if scatter {
                let d = s.domain().dim();
                let pts: Vec<f64> = s.eval_points.iter().copied().take(2000 * d).collect();
                let f = s.evaluate(&pts).await.map_err(js_error)?;
                pts.chunks(d).map(|p| p[0]).chain(f).collect()
            } else {
                s.evaluate(&points).await.map_err(js_error)?
            };
            Ok(js_sys::Float64Array::from(values.as_slice()).into())
        })
    }

    /// `analysis.heldout` as JSON (the CLI's held-out figures).
    pub fn heldout(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let s = inner.lock().await;
            let h = s.heldout().await.map_err(js_error)?;
            Ok(JsValue::from_str(&h.to_string()))
        })
    }

    /// `summary.json`'s text.
    pub fn summary(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let s = inner.lock().await;
            let v = s.summary().await.map_err(js_error)?;
            Ok(JsValue::from_str(
                &(serde_json::to_string_pretty(&v).map_err(js_error)? + "\n"),
            ))
        })
    }

    /// `function.npy`'s bytes.
    pub fn function_npy(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let s = inner.lock().await;
            let bytes = s.function_npy().await.map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// `theta.npy`'s bytes.
    pub fn theta_npy(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let s = inner.lock().await;
            let bytes = s.theta_npy().await.map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// The name of the inputs file: `eval_inputs.npy`, or `digits.npy` for
    /// an image set.
    pub fn inputs_name(&self) -> String {
        self.inputs_name.to_string()
    }

    /// The inputs file's bytes.
    pub fn inputs_npy(&self) -> js_sys::Uint8Array {
        js_sys::Uint8Array::from(self.inputs.as_slice())
    }

    /// The points the picture shows (for an image set, its images' pixels,
    /// for the page to draw them).
    pub fn picture_inputs(&self) -> js_sys::Float64Array {
        js_sys::Float64Array::from(self.points.as_slice())
    }

    /// `config.toml`'s text.
    pub fn config_toml(&self) -> String {
        self.config.clone()
    }
}
