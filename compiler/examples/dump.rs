//! Scratch: quantize a model with synthetic calibration and time fp32 vs int8.
use inception_edge_compiler::*;
use tract_core::prelude::*;
fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap();
    let float = FloatModel::from_onnx_file(&path, None)?;
    let mut cal = Calibrator::new(&float)?;
    let n = float.input_len();
    let imgs: Vec<Vec<f32>> = (0..4)
        .map(|k| {
            (0..n)
                .map(|i| (((i * 7919 + k * 31) % 255) as f32 / 127.5) - 1.0)
                .collect()
        })
        .collect();
    for im in &imgs {
        cal.observe(im)?;
    }
    let calib = cal.finish()?;
    let int8 = compile(
        &float,
        &calib,
        &Options {
            method: std::env::var("M")
                .unwrap_or("entropy".into())
                .parse()
                .unwrap(),
            per_channel: std::env::var("PT").is_err(),
        },
    )?;
    let blob = to_nnef_bytes(&int8.model)?;
    println!("blob {} bytes", blob.len());
    let m = from_nnef_bytes(&blob, "blob")?.into_optimized()?;
    let mut counts = std::collections::BTreeMap::new();
    for n in m.eval_order()? {
        *counts
            .entry(format!("{}", m.node(n).op.name()))
            .or_insert(0) += 1;
    }
    println!("{counts:?}");
    if std::env::var("SHOW").is_ok() {
        for n in m.eval_order()?.iter().take(40) {
            let nd = m.node(*n);
            if nd.op.name() != "Const" {
                println!(
                    "{} {} {} <- {:?} :: {:?}",
                    nd.id,
                    nd.name,
                    nd.op.name(),
                    nd.inputs,
                    nd.outputs[0].fact
                );
            }
        }
    }
    let plan = m.into_runnable()?;
    let shape = float.input_shape();
    let x: Vec<i8> = imgs[0]
        .iter()
        .map(|v| (v / int8.input_scale).round().clamp(-128.0, 127.0) as i8)
        .collect();
    let t = Tensor::from_shape(&shape, &x)?;
    let mut st = plan.spawn()?;
    for _ in 0..3 {
        st.run(tvec!(t.clone().into_tvalue()))?;
    }
    let t0 = std::time::Instant::now();
    for _ in 0..10 {
        st.run(tvec!(t.clone().into_tvalue()))?;
    }
    println!("int8 {:?}/run", t0.elapsed() / 10);
    let mut prof: std::collections::BTreeMap<String, std::time::Duration> = Default::default();
    for _ in 0..5 {
        st.run_plan_with_eval(
            tvec!(t.clone().into_tvalue()),
            |ctx, state, node, inputs| {
                let t0 = std::time::Instant::now();
                let r = tract_core::plan::eval(ctx, state, node, inputs);
                *prof.entry(node.op.name().to_string()).or_default() += t0.elapsed() / 5;
                r
            },
        )?;
    }
    let mut v: Vec<_> = prof.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    for (k, d) in v.iter().take(10) {
        println!("  {k:20} {:?}", d);
    }
    let out = st.run(tvec!(t.clone().into_tvalue()))?;
    println!(
        "int8 out {:?}",
        out[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .take(10)
            .collect::<Vec<_>>()
    );
    let fp = float.model.clone().into_optimized()?.into_runnable()?;
    let mut fs = fp.spawn()?;
    let tf = Tensor::from_shape(&shape, &imgs[0])?;
    for _ in 0..2 {
        fs.run(tvec!(tf.clone().into_tvalue()))?;
    }
    let t0 = std::time::Instant::now();
    for _ in 0..5 {
        fs.run(tvec!(tf.clone().into_tvalue()))?;
    }
    println!("fp32 {:?}/run", t0.elapsed() / 5);
    let out = fs.run(tvec!(tf.into_tvalue()))?;
    println!(
        "fp32 out {:?}",
        out[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .take(10)
            .collect::<Vec<_>>()
    );
    Ok(())
}
#[allow(dead_code)]
fn unused() {}
