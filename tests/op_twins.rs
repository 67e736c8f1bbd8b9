//! The CPU f64 twin of every op against itself: the dot-product test
//! ⟨u, VJP(v)⟩ = ⟨JVP(u), v⟩, the JVP against central finite differences of the
//! forward pass, and the tangent-backward pass against central finite
//! differences of the VJP.

mod support;

use occam_ops::check::{
    dot_product_test, jvp_vs_central_difference, tangent_backward_vs_central_difference,
};
use occam_ops::{
    Activation, ActivationCpu, Conv2dCpu, DenseCpu, DenseShape, MaxPoolCpu, MaxPoolShape, MseCpu,
    MseShape, Passes,
};

/// Rounding-level agreement expected of the exact adjoint identity in f64.
const DOT_TOL: f64 = 1e-12;
/// Central differences with h = 1e-5 on smooth maps: O(h²) truncation plus O(ε/h) rounding.
const FD_TOL: f64 = 1e-7;
const H: f64 = 1e-5;

fn check_op(op: &dyn Passes, seed: u64) {
    let mut rng = support::rng(seed);
    let x = support::tensors(&mut rng, &op.input_lens());
    let u = support::tensors(&mut rng, &op.input_lens());
    let v = support::tensors(&mut rng, &op.output_lens());
    let v_dot = support::tensors(&mut rng, &op.output_lens());
    let name = op.name();

    let dp = dot_product_test(op, &x, &u, &v).unwrap();
    assert!(dp < DOT_TOL, "{name}: dot-product test error {dp:e}");
    let jvp = jvp_vs_central_difference(op, &x, &u, H).unwrap();
    assert!(
        jvp < FD_TOL,
        "{name}: JVP vs finite differences error {jvp:e}"
    );
    let tb = tangent_backward_vs_central_difference(op, &x, &v, &u, &v_dot, H).unwrap();
    assert!(
        tb < FD_TOL,
        "{name}: tangent backward vs finite differences error {tb:e}"
    );
}

#[test]
fn dense_cpu_twin_derivatives() {
    for (i, &(batch, rows, d_in, d_out)) in
        [(1, 1, 1, 1), (2, 7, 5, 3), (1, 33, 7, 4), (3, 4, 9, 2)]
            .iter()
            .enumerate()
    {
        let shape = DenseShape {
            batch,
            rows,
            d_in,
            d_out,
        };
        check_op(&DenseCpu { shape }, 100 + i as u64);
    }
}

#[test]
fn activation_cpu_twin_derivatives() {
    for (i, act) in Activation::ALL.into_iter().enumerate() {
        check_op(&ActivationCpu { act, len: 57 }, 200 + i as u64);
    }
}

#[test]
fn relu6_over_6_derivatives_hold_on_both_sides_of_its_upper_kink() {
    // Inputs in [−1, 1) never reach the kink at 6; shift them to straddle it.
    let op = ActivationCpu {
        act: Activation::Relu6Over6,
        len: 40,
    };
    let mut rng = support::rng(7);
    let x = vec![support::uniform(&mut rng, 40, 4.0, 8.0)];
    let u = vec![support::uniform(&mut rng, 40, -1.0, 1.0)];
    let v = vec![support::uniform(&mut rng, 40, -1.0, 1.0)];
    assert!(dot_product_test(&op, &x, &u, &v).unwrap() < DOT_TOL);
    assert!(jvp_vs_central_difference(&op, &x, &u, H).unwrap() < FD_TOL);
}

#[test]
fn mse_cpu_twin_derivatives() {
    for (i, &(batch, count, weight)) in [(1, 1, 1.0), (3, 30, 1.0), (2, 300, 1000.0)]
        .iter()
        .enumerate()
    {
        check_op(
            &MseCpu {
                shape: MseShape {
                    batch,
                    count,
                    weight,
                },
            },
            300 + i as u64,
        );
    }
}

#[test]
fn cpu_twins_reject_tensors_of_the_wrong_size() {
    let op = DenseCpu {
        shape: DenseShape {
            batch: 1,
            rows: 2,
            d_in: 3,
            d_out: 4,
        },
    };
    let err = op.forward(&[vec![0.0; 5], vec![0.0; 16]]).unwrap_err();
    assert!(err.to_string().contains("x has 5 values"), "{err}");
}

#[test]
fn conv2d_cpu_twin_derivatives() {
    for (i, &sizes) in [
        (1, 1, 1, 1, 3, 3, 1, 0),
        (2, 2, 2, 3, 5, 4, 3, 1),
        (1, 3, 1, 2, 6, 6, 5, 2),
        (1, 1, 3, 1, 4, 7, 2, 0),
    ]
    .iter()
    .enumerate()
    {
        let shape = support::conv_shape(sizes);
        check_op(&Conv2dCpu { shape }, 400 + i as u64);
    }
}

#[test]
fn maxpool_cpu_twin_derivatives() {
    for (i, &(planes, height, width)) in [(1, 2, 2), (3, 5, 7), (2, 8, 6)].iter().enumerate() {
        check_op(
            &MaxPoolCpu {
                shape: MaxPoolShape {
                    planes,
                    height,
                    width,
                },
            },
            500 + i as u64,
        );
    }
}

#[test]
fn maxpool_ties_go_to_the_first_maximum_of_the_window() {
    let op = MaxPoolCpu {
        shape: MaxPoolShape {
            planes: 1,
            height: 2,
            width: 2,
        },
    };
    let grads = op
        .backward(&[vec![0.5, 0.5, 0.5, 0.5]], &[vec![1.0]])
        .unwrap();
    assert_eq!(grads[0], vec![1.0, 0.0, 0.0, 0.0]);
}
