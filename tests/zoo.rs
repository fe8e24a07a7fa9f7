//! The Inception zoo: the six builders against the reference implementations' parameter and
//! multiply-accumulate counts, seeded networks running in tract (fp32 and int8), ONNX export,
//! weights by layer name, and bad specifications.

mod common;

use std::collections::HashMap;

use inception_edge::Engine;
use inception_edge_compiler::zoo::{Arch, Network, Spec, Weights};
use inception_edge_compiler::{
    compile, cosine, to_nnef_bytes, Calibrator, CompileError, FloatModel, Int8Model, Options,
};
use tract_onnx::prelude::*;

/// Expected counts at the standard input size: (arch, params, MACs, tolerance, source).
/// A tolerance of 0 means the reference gives an exact figure and ours must equal it.
const REFERENCES: &[(Arch, u64, u64, f64, &str)] = &[
    (
        Arch::GoogLeNet,
        6_998_552,
        1_582_671_872,
        0.0,
        "ONNX model zoo light_inception_v1.onnx (BVLC GoogLeNet), counted by \
         tools/zoo_reference.py with caffe's ceil-mode pooling restored",
    ),
    (
        Arch::BnInception,
        11_194_984,
        2_018_851_840,
        0.0,
        "ONNX model zoo light_inception_v2.onnx (caffe2 BN-Inception), tools/zoo_reference.py",
    ),
    (
        Arch::InceptionV3,
        23_834_568,
        5_713_000_000,
        0.005,
        "torchvision inception_v3 without the auxiliary head: 23,834,568 parameters \
         (27,161,264 with it), 5.713 GFLOPS (multiply-adds) in its weights metadata",
    ),
    (
        Arch::InceptionV4,
        42_680_000,
        12_280_000_000,
        0.005,
        "timm inception_v4 model card: 42.68 M parameters, 12.28 GMACs",
    ),
    (
        Arch::InceptionResNetV2,
        55_840_000,
        13_180_000_000,
        0.005,
        "timm inception_resnet_v2 model card: 55.84 M parameters, 13.18 GMACs",
    ),
];

fn within(ours: u64, reference: u64, tolerance: f64) -> bool {
    if tolerance == 0.0 {
        ours == reference
    } else {
        (ours as f64 - reference as f64).abs() <= tolerance * reference as f64
    }
}

#[test]
fn parameter_and_mac_counts_match_the_reference_implementations() {
    for &(arch, params, macs, tolerance, source) in REFERENCES {
        let net = arch.build(&Spec::counts_only(arch)).unwrap();
        println!(
            "{arch}: params {} (ref {params}), MACs {} (ref {macs})",
            net.params, net.macs
        );
        assert!(
            within(net.params, params, tolerance),
            "{arch}: {} parameters, reference {params} ({source})",
            net.params
        );
        assert!(
            within(net.macs, macs, tolerance),
            "{arch}: {} MACs, reference {macs} ({source})",
            net.macs
        );
    }
}

#[test]
fn inception_resnet_v1_has_the_paper_s_block_counts_and_widths() {
    // No reference implementation publishes ImageNet-head counts for v1; check the structure
    // (5 × Block35, 10 × Block17, 5 + 1 × Block8, 1792 channels at the end) and that it sits
    // between Inception-v3 and Inception-ResNet-v2 as the paper says ("cost similar to v3").
    let v1 = Arch::InceptionResNetV1
        .build(&Spec::counts_only(Arch::InceptionResNetV1))
        .unwrap();
    let count = |p: &str| {
        v1.layers
            .iter()
            .filter(|l| l.starts_with(p) && l.ends_with(".conv2d"))
            .count()
    };
    assert_eq!(
        (count("repeat."), count("repeat_1."), count("repeat_2.")),
        (5, 10, 5)
    );
    assert_eq!(count("block8"), 1);
    let fc = v1
        .proto
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .find(|t| t.name == "classif.weight")
        .unwrap();
    assert_eq!(fc.dims, vec![1000, 1792]);
    let v3 = Arch::InceptionV3
        .build(&Spec::counts_only(Arch::InceptionV3))
        .unwrap();
    let v2 = Arch::InceptionResNetV2
        .build(&Spec::counts_only(Arch::InceptionResNetV2))
        .unwrap();
    assert!(v1.macs > v3.macs && v1.macs < v2.macs);
}

#[test]
fn the_exported_tensors_hold_exactly_the_counted_weights() {
    // Folded BN: a BN layer's 2 parameters per channel become the convolution's bias (1 per
    // channel), so tensors = params − (BN channels).
    for arch in Arch::ALL {
        let net = arch.build(&Spec::counts_only(arch)).unwrap();
        let graph = net.proto.graph.as_ref().unwrap();
        let stored: u64 = graph
            .initializer
            .iter()
            .filter(|t| !t.dims.is_empty())
            .map(|t| t.dims.iter().product::<i64>() as u64)
            .sum();
        assert!(
            stored <= net.params && stored * 100 > net.params * 97,
            "{arch}: {stored} vs {}",
            net.params
        );
    }
}

fn images(seed: u64, n: usize, len: usize) -> Vec<Vec<f32>> {
    common::seeded_inputs(seed, n, len)
}

/// A reduced input size that keeps every grid valid and the test fast.
fn small(arch: Arch) -> Spec {
    Spec {
        size: match arch {
            Arch::GoogLeNet | Arch::BnInception => 96,
            _ => 107,
        },
        classes: 100,
        weights: Weights::Seeded(7),
    }
}

fn logits(engine: &mut Engine, x: &[f32]) -> Vec<f32> {
    let mut out = Vec::new();
    engine.run(x, &mut out).unwrap();
    out
}

#[test]
fn every_network_runs_in_tract_and_its_onnx_export_reloads_to_the_same_logits() {
    for arch in Arch::ALL {
        let net: Network = arch.build(&small(arch)).unwrap();
        let float = net.float_model().unwrap();
        let bytes = net.to_onnx_bytes();
        let reloaded = FloatModel::from_onnx_bytes(&bytes, "export", None).unwrap();
        let mut a = Engine::from_typed(float.model.clone(), arch.name()).unwrap();
        let mut b = Engine::from_typed(reloaded.model.clone(), "export").unwrap();
        let x = &images(3, 1, float.input_len())[0];
        let (la, lb) = (logits(&mut a, x), logits(&mut b, x));
        assert_eq!(la.len(), 100, "{arch}");
        assert!(la.iter().all(|v| v.is_finite()), "{arch}: {la:?}");
        let spread = la.iter().cloned().fold(f32::MIN, f32::max)
            - la.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread > 1e-3, "{arch}: constant logits {la:?}");
        assert_eq!(la, lb, "{arch}: export changed the logits");
    }
}

#[test]
fn seeded_weights_are_deterministic_and_depend_on_the_seed() {
    let arch = Arch::BnInception;
    let a = arch.build(&small(arch)).unwrap().to_onnx_bytes();
    let b = arch.build(&small(arch)).unwrap().to_onnx_bytes();
    let c = arch
        .build(&Spec {
            weights: Weights::Seeded(8),
            ..small(arch)
        })
        .unwrap()
        .to_onnx_bytes();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// The weights of a built network, keyed as `Weights::Named` expects.
fn named(net: &Network) -> HashMap<String, Vec<f32>> {
    net.proto
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .filter(|t| t.name.ends_with(".weight") || t.name.ends_with(".bias"))
        .map(|t| {
            let v = t
                .raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (t.name.clone(), v)
        })
        .collect()
}

#[test]
fn weights_keyed_by_layer_name_rebuild_the_same_network() {
    let arch = Arch::InceptionResNetV1;
    let seeded = arch.build(&small(arch)).unwrap();
    let map = named(&seeded);
    assert_eq!(map.len(), 2 * seeded.layers.len());
    let rebuilt = arch
        .build(&Spec {
            weights: Weights::Named(map.clone()),
            ..small(arch)
        })
        .unwrap();
    assert_eq!(seeded.to_onnx_bytes(), rebuilt.to_onnx_bytes());

    let with = |m: HashMap<String, Vec<f32>>| {
        arch.build(&Spec {
            weights: Weights::Named(m),
            ..small(arch)
        })
        .unwrap_err()
        .to_string()
    };
    let mut missing = map.clone();
    missing.remove("repeat_1.3.branch1.1.conv.weight");
    assert!(with(missing).contains("repeat_1.3.branch1.1.conv.weight"));
    let mut short = map.clone();
    short.get_mut("conv2d_1a.conv.bias").unwrap().pop();
    let e = with(short);
    assert!(
        e.contains("conv2d_1a.conv.bias") && e.contains("31 values"),
        "{e}"
    );
    let mut extra = map;
    extra.insert("fc.weight".into(), vec![0.0; 4]);
    assert!(with(extra).contains("fc.weight"));
}

#[test]
fn bad_specifications_are_typed_errors() {
    let arch = Arch::InceptionV3;
    let err = |spec: Spec| match arch.build(&spec) {
        Err(e @ CompileError::Spec(_)) => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(err(Spec {
        classes: 0,
        ..Spec::counts_only(arch)
    })
    .contains("class"));
    assert!(err(Spec {
        size: 74,
        ..Spec::counts_only(arch)
    })
    .contains("74"));
    assert!(err(Spec {
        size: 100_000,
        ..Spec::counts_only(arch)
    })
    .contains("100000"));
    let shapes_only = arch.build(&Spec::counts_only(arch)).unwrap();
    assert!(matches!(
        shapes_only.float_model(),
        Err(CompileError::Spec(_))
    ));
    for size in [arch.min_input_size(), 75, 76, 77, 80] {
        arch.build(&Spec {
            size,
            ..Spec::counts_only(arch)
        })
        .unwrap();
    }
    assert_eq!(Arch::from_name("IRv2"), Some(Arch::InceptionResNetV2));
    assert_eq!(Arch::from_name("v1"), Some(Arch::GoogLeNet));
    assert_eq!(Arch::from_name("resnet50"), None);
}

/// Calibrates on 8 seeded images and compiles to int8.
fn calibrate_and_compile(float: &FloatModel) -> Result<Int8Model, CompileError> {
    let mut calibrator = Calibrator::new(float)?;
    for x in images(11, 8, float.input_len()) {
        calibrator.observe(&x)?;
    }
    compile(float, &calibrator.finish()?, &Options::default())
}

#[test]
fn every_network_compiles_to_int8_close_to_fp32_on_integer_kernels() {
    for arch in Arch::ALL {
        let net = arch.build(&small(arch)).unwrap();
        let float = net.float_model().unwrap();
        let int8 = calibrate_and_compile(&float).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let blob = to_nnef_bytes(&int8.model).unwrap();
        let mut q = Engine::from_nnef_bytes(&blob, "int8").unwrap();
        let optimized = int8.model.clone().into_optimized().unwrap();
        let ops: Vec<String> = optimized
            .nodes
            .iter()
            .map(|n| n.op.name().to_string())
            .collect();
        // the only f32 values: the final dequantization and the reshapes after it
        for node in &optimized.nodes {
            let float = node
                .outputs
                .iter()
                .any(|o| o.fact.datum_type == f32::datum_type());
            let allowed = ["Dequant", "IntoShape", "Const"].contains(&&*node.op.name());
            assert!(
                !float || allowed,
                "{arch}: float {} ({})",
                node.name,
                node.op.name()
            );
        }
        if arch == Arch::GoogLeNet {
            assert_eq!(ops.iter().filter(|o| *o == "QLrn").count(), 2, "{ops:?}");
        }
        // compiled in memory (tract's QI8 on the activations), the runtime's own packers and
        // pools are swapped in as for a model read from NNEF, with the same logits
        let mut fast = optimized.clone();
        inception_edge_ops::fast_ops(&mut fast).unwrap();
        let left = fast.nodes.iter().filter(|n| n.op.name() == "OptMatMulPack");
        assert_eq!(left.count(), 0, "{arch}: tract's packer left in memory");
        let mut m = Engine::from_typed(int8.model.clone(), "in memory").unwrap();
        let mut f = Engine::from_typed(float.model.clone(), "fp32").unwrap();
        let tests = images(12, 4, float.input_len());
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        for x in &tests {
            let (a, b) = (bits(logits(&mut m, x)), bits(logits(&mut q, x)));
            assert_eq!(a, b, "{arch}: in memory and from NNEF differ");
        }
        let mean = tests
            .iter()
            .map(|x| cosine(&logits(&mut f, x), &logits(&mut q, x)))
            .sum::<f64>()
            / tests.len() as f64;
        println!("{arch}: int8 vs fp32 logit cosine {mean:.4}");
        assert!(mean >= 0.95, "{arch}: {mean}");
    }
}

/// The onnxruntime goldens of `tools/zoo_ort.py`.
fn ort_goldens() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/zoo/ort_logits.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn tract_fp32_matches_onnxruntime_on_every_exported_network() {
    // Goldens: onnxruntime 1.32 (CPU, optimizations off) on the `incept zoo export` of each
    // network, from `python3 tools/zoo_ort.py`.
    let goldens = ort_goldens();
    let seed = goldens["seed"].as_u64().unwrap();
    let classes = goldens["classes"].as_u64().unwrap() as usize;
    let image_seed = goldens["image_seed"].as_u64().unwrap();
    let nets = goldens["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 6);
    for g in nets {
        let arch = Arch::from_name(g["name"].as_str().unwrap()).unwrap();
        let size = g["size"].as_u64().unwrap() as usize;
        let want: Vec<f32> = common::floats(&g["logits"]);
        let net = arch
            .build(&Spec {
                classes,
                size,
                weights: Weights::Seeded(seed),
            })
            .unwrap();
        let bytes = net.to_onnx_bytes();
        let float = FloatModel::from_onnx_bytes(&bytes, arch.name(), None).unwrap();
        let mut engine = Engine::from_typed(float.model.clone(), arch.name()).unwrap();
        let got = logits(&mut engine, &images(image_seed, 1, float.input_len())[0]);
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{arch}: max |tract − onnxruntime| = {diff:.2e} (logits up to {scale:.2})");
        assert!(diff <= 1e-4 * scale, "{arch}: {got:?} vs {want:?}");
    }
}

/// The `onnx` wheel's model-zoo files (installed by `.ci/install` from PyPI).
fn light_dir() -> std::path::PathBuf {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), \
             'backend', 'test', 'data', 'light'))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the onnx wheel is missing: pip install onnx"
    );
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn the_onnx_model_zoo_googlenet_and_bn_inception_run_and_quantize_with_seeded_weights() {
    use prost::Message;
    let goldens = ort_goldens();
    let seed = goldens["seed"].as_u64().unwrap();
    let image_seed = goldens["image_seed"].as_u64().unwrap();
    for g in goldens["onnx_zoo"].as_array().unwrap() {
        let file = g["file"].as_str().unwrap();
        let bytes = std::fs::read(light_dir().join(file)).unwrap();
        let mut proto = inception_edge_compiler::pb::ModelProto::decode(&*bytes).unwrap();
        // as shipped, the weights are placeholders
        assert!(proto
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .any(|n| n.op_type == "ConstantOfShape"));
        let n = inception_edge_compiler::zoo::materialize(&mut proto, seed).unwrap();
        assert!(n > 50, "{file}: {n}");
        let ops: std::collections::HashSet<&str> = proto
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .map(|n| n.op_type.as_str())
            .collect();
        for op in ["Gemm", "Softmax"] {
            assert!(ops.contains(op), "{file}: {ops:?}");
        }
        let float = FloatModel::from_proto(&proto, file, None).unwrap();
        let mut f = Engine::from_typed(float.model.clone(), file).unwrap();
        let x = &images(image_seed, 1, float.input_len())[0];
        let got = logits(&mut f, x);
        let want: Vec<f32> = common::floats(&g["probs"]);
        let diff = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{file}: fp32 max |tract − onnxruntime| = {diff:.2e}");
        assert!(diff <= 1e-5, "{file}: {diff}");

        let int8 = calibrate_and_compile(&float).unwrap_or_else(|e| panic!("{file}: {e}"));
        let blob = to_nnef_bytes(&int8.model).unwrap();
        let mut q = Engine::from_nnef_bytes(&blob, "int8").unwrap();
        let p8 = logits(&mut q, x);
        let argmax = |v: &[f32]| inception_edge_compiler::argmax(v);
        let c = cosine(&got, &p8);
        println!(
            "{file}: int8 vs fp32 probability cosine {c:.4}, top-1 {} vs {}",
            argmax(&p8),
            argmax(&got)
        );
        assert!(
            (p8.iter().sum::<f32>() - 1.0).abs() < 1e-3,
            "{file}: int8 output is not a softmax"
        );
        assert!(c >= 0.9, "{file}: {c}");
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// The bar for the rebuilt network's 2048-d features against the reference.
const FEATURE_TOLERANCE: f32 = 1e-3;

#[test]
fn the_2015_inception_v3_builder_with_googles_weights_reproduces_the_reference_features() {
    use inception_edge::decode::RgbImage;
    use inception_edge_compiler::zoo::{google_v3_weights, inception_v3_google};
    use prost::Message;
    // The reference: Google's inception-2015-12-05 graph as committed (BN folded; checked
    // against an independent float64 forward pass when it was made, 2.8e-6), and
    // onnxruntime's logits for it on the photos (tools/train_v3_head.py).
    let asset = common::root().join("models/inception-v3-fmnist/inception-v3-fmnist.onnx");
    let proto =
        inception_edge_compiler::pb::ModelProto::decode(&*std::fs::read(&asset).unwrap()).unwrap();
    let weights = google_v3_weights(&proto).unwrap();
    assert_eq!(weights.len(), 2 * 95, "94 convolutions and the head");
    let spec = Spec {
        classes: 10,
        size: 299,
        weights: Weights::Named(weights),
    };
    let ours = inception_v3_google(&spec).unwrap();
    // torchvision's definition with the same weights: same tensors, other pooling.
    let torchvision = Arch::InceptionV3.build(&spec).unwrap();
    let engine = |proto: &inception_edge_compiler::pb::ModelProto, output: Option<&str>| {
        let float = FloatModel::from_proto(proto, "v3", output).unwrap();
        Engine::from_typed(float.model, "v3").unwrap()
    };
    let mut reference = engine(&proto, Some("features"));
    let mut features = engine(&ours.proto, Some("features"));
    let mut classifier = engine(&ours.proto, None);
    let mut torch = engine(&torchvision.proto, Some("features"));

    let pre = *inception_edge::Classifier::from_manifest(
        common::root().join("models/inception-v3-fmnist/manifest.toml"),
    )
    .unwrap()
    .preprocess();
    let photos = common::read_json(&common::data("photos/reference.json"));
    let mut input = vec![0f32; 3 * 299 * 299];
    let mut worst_torch = 0f32;
    for photo in photos["images"].as_array().unwrap() {
        let file = photo["file"].as_str().unwrap();
        let img = RgbImage::open(common::data("photos").join(file)).unwrap();
        pre.run_f32(&img.frame().unwrap(), &mut input).unwrap();
        let want = logits(&mut reference, &input);
        let got = logits(&mut features, &input);
        assert_eq!(got.len(), 2048);
        let diff = max_abs_diff(&got, &want);
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let torch_diff = max_abs_diff(&logits(&mut torch, &input), &want);
        worst_torch = worst_torch.max(torch_diff);
        let logit_diff = max_abs_diff(
            &logits(&mut classifier, &input),
            &common::floats(&photo["logits"]),
        );
        println!(
            "{file}: features max |diff| {diff:.2e} (values up to {scale:.2}); logits vs \
             onnxruntime {logit_diff:.2e}; torchvision pooling {torch_diff:.2e}"
        );
        assert!(diff <= FEATURE_TOLERANCE, "{file}: {diff}");
        // onnxruntime's reference input came from PIL: identical for PNG, not for JPEG.
        if file.ends_with(".png") {
            assert!(logit_diff <= FEATURE_TOLERANCE, "{file}: {logit_diff}");
        }
    }
    // The comparison can fail: torchvision's pooling with the same weights is another function.
    assert!(worst_torch > 100.0 * FEATURE_TOLERANCE, "{worst_torch}");
}

#[test]
fn foreign_tensors_in_googles_weights_are_typed_errors() {
    use inception_edge_compiler::zoo::google_v3_weights;
    let tensor = |name: &str| inception_edge_compiler::pb::TensorProto {
        name: name.into(),
        dims: vec![1],
        data_type: 1,
        raw_data: vec![0; 4],
        ..Default::default()
    };
    let proto = |names: &[&str]| inception_edge_compiler::pb::ModelProto {
        graph: Some(inception_edge_compiler::pb::GraphProto {
            initializer: names.iter().map(|n| tensor(n)).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ok = google_v3_weights(&proto(&[
        "conv_4.bias",
        "mixed_10.tower_2_conv.weight",
        "head.weight",
    ]))
    .unwrap();
    let mut keys: Vec<&String> = ok.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "Conv2d_4a_3x3.conv.bias",
            "Mixed_7c.branch_pool.conv.weight",
            "fc.weight"
        ]
    );
    for bad in [
        "mixed_11.conv.weight",
        "conv_5.weight",
        "mixed_3.tower_2.conv.bias",
        "conv.scale",
    ] {
        let e = google_v3_weights(&proto(&[bad])).unwrap_err();
        assert!(
            matches!(e, CompileError::Spec(_)) && e.to_string().contains(bad),
            "{e}"
        );
    }
    let mut int8 = proto(&["conv.weight"]);
    int8.graph.as_mut().unwrap().initializer[0].data_type = 3;
    assert!(google_v3_weights(&int8)
        .unwrap_err()
        .to_string()
        .contains("not f32"));
    assert!(google_v3_weights(&Default::default()).is_err());
}

/// Inputs for the agreement test, preprocessed at `size` (Inception normalization, center
/// crop): the first `n` images of each set, in order.
fn real_inputs(size: usize, sets: &[(&str, usize)]) -> Vec<Vec<f32>> {
    use inception_edge::dataset::ImageSet;
    let mut pre = *inception_edge::Classifier::from_manifest(
        common::root().join("models/inception-v3-fmnist/manifest.toml"),
    )
    .unwrap()
    .preprocess();
    (pre.width, pre.height) = (size, size);
    let mut out = Vec::new();
    for &(set, n) in sets {
        let images = ImageSet::open(common::data(set)).unwrap();
        assert!(images.len() >= n, "{set}: {} images", images.len());
        for i in 0..n {
            let mut x = vec![0f32; 3 * size * size];
            images
                .with_frame(i, |f| pre.run_f32(f, &mut x))
                .unwrap()
                .unwrap();
            out.push(x);
        }
    }
    out
}

#[test]
fn every_network_calibrated_on_the_fixture_set_agrees_with_fp32_on_real_photos() {
    // Seeded weights (no ImageNet weights for five of the six here), real images: calibrated
    // on the 10 calibration photos and 22 Fashion-MNIST calibration images, compared on the 6
    // test photos and 50 held-out Fashion-MNIST test images. CI runs reduced inputs;
    // INCEPT_ZOO_FULL=1 runs the standard ones (the figures of the closing note).
    let full = std::env::var_os("INCEPT_ZOO_FULL").is_some();
    for arch in Arch::ALL {
        let size = match (full, arch.input_size()) {
            (true, s) => s,
            (false, 224) => 160,
            (false, _) => 171,
        };
        let net = arch
            .build(&Spec {
                size,
                ..Spec::seeded(arch)
            })
            .unwrap();
        let float = net.float_model().unwrap();
        let mut calibrator = Calibrator::new(&float).unwrap();
        for x in real_inputs(
            size,
            &[
                ("photos-calib", 10),
                ("fmnist-v3/calib-200-images-idx3-ubyte.gz", 22),
            ],
        ) {
            calibrator.observe(&x).unwrap();
        }
        let int8 = compile(&float, &calibrator.finish().unwrap(), &Options::default()).unwrap();
        let mut f = Engine::from_typed(float.model.clone(), "fp32").unwrap();
        let mut q = Engine::from_typed(int8.model, "int8").unwrap();
        let mut rows = Vec::new();
        for (what, set, n) in [
            ("photos", "photos", 6),
            ("fmnist", "fmnist-v3/test-1000-images-idx3-ubyte.gz", 50),
        ] {
            let (mut cos, mut top1, mut top5) = (0.0, 0, 0);
            for x in real_inputs(size, &[(set, n)]) {
                let (a, b) = (logits(&mut f, &x), logits(&mut q, &x));
                cos += cosine(&a, &b);
                let want = inception_edge_compiler::argmax(&a);
                top1 += usize::from(want == inception_edge_compiler::argmax(&b));
                // fp32's class among int8's five best
                top5 += usize::from(b.iter().filter(|&&v| v > b[want]).count() < 5);
            }
            let cos = cos / n as f64;
            rows.push(format!(
                "{what}: cosine {cos:.4}, top-1 {top1}/{n}, fp32 top-1 in int8 top-5 {top5}/{n}"
            ));
            // Top-1 is reported; the bar is the cosine and fp32's class in int8's top 5
            // (GoogLeNet at 224 keeps the top-1 of 4 of the 6 photos).
            assert!(cos >= 0.995, "{arch} at {size}, {what}: cosine {cos}");
            assert!(top5 == n, "{arch} at {size}, {what}: top-5 {top5}/{n}");
        }
        println!("{arch} at {size}: int8 vs fp32 {}", rows.join("; "));
    }
}
