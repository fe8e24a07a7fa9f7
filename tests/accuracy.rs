//! Accuracy regression: the bundled model through tract on the whole Fashion-MNIST test set
//! reproduces the top-1 accuracy its manifest records (measured with onnxruntime), and the
//! committed thresholds file `tests/accuracy.toml` holds (fp32 and int8, golden top-k).

mod common;

use inception_edge::core::{Frame, PixelFormat};
use inception_edge::{Classifier, Manifest};

/// Named tolerance: fp32 tract vs fp32 onnxruntime may flip a handful of near-ties.
const TOP1_TOLERANCE: f64 = 0.002;

#[test]
fn tract_reproduces_the_manifest_accuracy_on_fashion_mnist_test() {
    let manifest = Manifest::from_file(common::mini_manifest()).unwrap();
    let recorded = manifest.accuracy.as_ref().expect("accuracy recorded");
    let mut classifier = Classifier::from_manifest(common::mini_manifest()).unwrap();
    let (dims, images) = common::fashion_mnist("t10k-images-idx3-ubyte.gz");
    let (_, labels) = common::fashion_mnist("t10k-labels-idx1-ubyte.gz");
    assert_eq!(dims, [10_000, 28, 28]);
    assert_eq!(recorded.images, 10_000);
    let mut correct = 0usize;
    for (img, &label) in images.chunks_exact(28 * 28).zip(&labels) {
        let frame = Frame::new(img, 28, 28, PixelFormat::Gray8).unwrap();
        let c = classifier.classify(&frame, 1).unwrap();
        correct += usize::from(usize::from(c.top[0].class) == usize::from(label));
    }
    let top1 = correct as f64 / labels.len() as f64;
    println!("tract top-1 {top1:.4}, manifest {:.4}", recorded.top1);
    assert!(
        (top1 - recorded.top1).abs() <= TOP1_TOLERANCE,
        "tract top-1 {top1:.4} vs recorded {:.4}",
        recorded.top1
    );
    assert!(
        top1 >= 0.85,
        "the bundled model should be a usable classifier: {top1}"
    );
}

/// The committed thresholds file: every suite (Inception-v3 fp32 and the embedded int8 on 500
/// fixtures, the mini model fp32 and int8 on 1,000; golden top-k on the photos) keeps its
/// baseline. This is what `incept eval --check tests/accuracy.toml` runs.
#[test]
fn the_committed_accuracy_thresholds_hold() {
    use inception_edge::eval::suite::SuiteFile;
    use inception_edge::eval::Options;
    let file = SuiteFile::open(common::root().join("tests/accuracy.toml")).unwrap();
    assert!(
        file.suites().iter().all(|s| s.baseline.is_some()),
        "every suite has a blessed baseline"
    );
    let runs = file.run(&Options::default(), &|_, _, _| {}).unwrap();
    let check = file.check(&runs);
    println!("{}", check.render());
    assert!(check.passed(), "{}", check.render());
    // the suites really ran what they claim
    let v3 = &runs[0].report;
    assert_eq!(v3.images, 500);
    assert_eq!(
        v3.variants
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>(),
        ["fp32", "int8"]
    );
    assert!(v3.variants[1].origin.starts_with("embedded"));
    let golden = runs[0].golden.as_ref().expect("photos ran");
    assert_eq!(golden.results.len(), 6, "6 photos");
    assert!(
        check
            .lines
            .iter()
            .filter(|l| l.metric.contains("top-5"))
            .count()
            >= 14,
        "every photo's top-5 is checked for both variants"
    );
}
