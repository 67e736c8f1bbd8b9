//! How a network's parameters are laid out in a flat vector, as JSON (for
//! `theta.npy` in run folders and for gradcheck dumps).

use occam_ops::net::{Layer, NetSpec};
use serde_json::{Value, json};

/// The flat layout of every network's parameters.
pub const PARAMETER_LAYOUT: &str = "each dense layer is a row-major [d_out, d_in + 1] block and each conv layer a [c_out, c_in*k*k + 1] block (bias in the last column; kernel values in (c_in, ky, kx) order); blocks are concatenated at their offsets";

/// Each layer of `spec`: its kind, input shape, and, for layers with
/// parameters, the offset and shape of its block.
pub fn layers(spec: &NetSpec) -> Vec<Value> {
    let shapes = spec.shapes();
    let mut offset = 0;
    spec.layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let (c, h, w) = shapes[l];
            let (kind, block) = match *layer {
                Layer::Conv {
                    c_out,
                    kernel,
                    padding,
                } => (
                    json!({ "conv": { "c_out": c_out, "kernel": kernel, "padding": padding } }),
                    Some(json!([c_out, c * kernel * kernel + 1])),
                ),
                Layer::Dense { d_out } => (
                    json!({ "dense": d_out }),
                    Some(json!([d_out, c * h * w + 1])),
                ),
                Layer::Pool => (json!("maxpool 2x2"), None),
                Layer::Act(a) => (json!(a.as_str()), None),
            };
            let mut v = json!({ "layer": kind, "input_shape": [c, h, w] });
            if let Some(block) = block {
                let len = block[0].as_u64().unwrap_or(0) * block[1].as_u64().unwrap_or(0);
                v["offset"] = json!(offset);
                v["block_shape"] = block;
                offset += len;
            }
            v
        })
        .collect()
}
