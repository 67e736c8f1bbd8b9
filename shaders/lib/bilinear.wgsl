// lib/bilinear.wgsl — the buffers of an op that is bilinear in its input x
// and its weights w (dense, conv2d), bound as the host's `BilinearGpu`
// passes name them: the point (x, w), the output y, its cotangent ȳ and the
// cotangents (x̄, w̄), and the tangent of each (ẋ, ẇ, ẏ, ȳ̇, x̄̇, w̄̇).
// Binding 0 is the op's own uniform parameters, declared by the op; each
// pass binds only the buffers it reads or writes.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> y_bar: array<f32>;
@group(0) @binding(5) var<storage, read_write> x_bar: array<f32>;
@group(0) @binding(6) var<storage, read_write> w_bar: array<f32>;
@group(0) @binding(7) var<storage, read> x_dot: array<f32>;
@group(0) @binding(8) var<storage, read> w_dot: array<f32>;
@group(0) @binding(9) var<storage, read_write> y_dot: array<f32>;
@group(0) @binding(10) var<storage, read> y_bar_dot: array<f32>;
@group(0) @binding(11) var<storage, read_write> x_bar_dot: array<f32>;
@group(0) @binding(12) var<storage, read_write> w_bar_dot: array<f32>;
