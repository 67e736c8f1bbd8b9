//! Elementwise activations a = σ(s) (see `shaders/activation.wgsl` for the
//! math of all four passes).

mod cpu;
pub(crate) mod gpu;

pub use cpu::ActivationCpu;
pub use gpu::ActivationGpu;

use std::fmt;
use std::str::FromStr;

/// The activation functions of Occam's learners and meta-learners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// σ(s) = s.
    Identity,
    /// σ(s) = max(s, 0).
    Relu,
    /// σ(s) = tanh s.
    Tanh,
    /// σ(s) = cos s.
    Cos,
    /// σ(s) = min(max(s, 0), 6) / 6, the paper's bounded output for MNIST.
    Relu6Over6,
}

impl Activation {
    /// Every activation, in the order of the shader's `ACT` codes.
    pub const ALL: [Activation; 5] = [
        Activation::Identity,
        Activation::Relu,
        Activation::Tanh,
        Activation::Cos,
        Activation::Relu6Over6,
    ];

    /// The value of the shader's `ACT` override constant.
    pub fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Tanh => 2,
            Activation::Cos => 3,
            Activation::Relu6Over6 => 4,
        }
    }

    /// Configuration name: `identity`, `relu`, `tanh`, `cos`, `relu6/6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Cos => "cos",
            Activation::Relu6Over6 => "relu6/6",
        }
    }

    /// (σ(s), σ'(s), σ''(s)) in f64. Kinks of relu and relu6 take derivative 0.
    pub fn eval(self, s: f64) -> (f64, f64, f64) {
        match self {
            Activation::Identity => (s, 1.0, 0.0),
            Activation::Relu => (s.max(0.0), if s > 0.0 { 1.0 } else { 0.0 }, 0.0),
            Activation::Tanh => {
                let t = s.tanh();
                let d = 1.0 - t * t;
                (t, d, -2.0 * t * d)
            }
            Activation::Cos => (s.cos(), -s.sin(), -s.cos()),
            Activation::Relu6Over6 => (
                s.clamp(0.0, 6.0) / 6.0,
                if s > 0.0 && s < 6.0 { 1.0 / 6.0 } else { 0.0 },
                0.0,
            ),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Activation, String> {
        Activation::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown activation {s:?}; accepted: {}",
                    Activation::ALL.map(Activation::as_str).join(", ")
                )
            })
    }
}

/// The activation op in the registry: every activation's four passes against
/// the twin, on a length that fills no workgroup exactly.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "activation",
    entry_points: &[
        "activation_forward",
        "activation_backward",
        "activation_tangent_forward",
        "activation_tangent_backward",
    ],
    params: &[crate::registry::params::<gpu::ActParams>],
    twin: "occam_ops::activation::ActivationCpu",
    check: |gpu| {
        let mut c = crate::registry::Checks::new(0xAC);
        for act in Activation::ALL {
            let len = 133;
            let op = crate::OnGpu {
                gpu,
                op: ActivationGpu::new(gpu, act, len)?,
            };
            let twin = ActivationCpu { act, len };
            c.four_passes("", &op, &twin, crate::registry::ELEMENTWISE_TOL)?;
            c.twin_identities(&twin)?;
        }
        Ok(c.finish())
    },
};
