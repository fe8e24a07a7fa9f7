//! Scratch diagnostics: logit cosine of fp32 vs fp32-with-fake-quantized weights.
use inception_edge_compiler::*;
use tract_core::internal::*;
use tract_core::ops::cnn::Conv;
use tract_core::ops::konst::Const;
fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap();
    let float = FloatModel::from_onnx_file(&path, None)?;
    let mut fq = float.model.clone();
    let ids: Vec<usize> = fq.nodes.iter().filter(|n| n.op_is::<Conv>()).map(|n| n.inputs[1].node).collect();
    for id in ids {
        let node = &mut fq.nodes[id];
        if let Some(k) = node.op_as::<Const>() {
            let w = k.val().clone();
            let (q, scales) = quantize_weights(&w, true)?;
            let per = w.len() / scales.len();
            let qv = q.try_as_plain_ram()?.as_slice::<i8>()?.to_vec();
            let deq: Vec<f32> = qv.iter().enumerate().map(|(i, &v)| v as f32 * scales[i / per]).collect();
            let t = Tensor::from_shape(w.shape(), &deq)?.into_arc_tensor();
            node.op = Box::new(Const::new(t.clone())?);
            node.outputs[0].fact = TypedFact::try_from(t)?;
        }
    }
    let a = float.model.clone().into_optimized()?.into_runnable()?;
    let b = fq.into_optimized()?.into_runnable()?;
    let n = float.input_len();
    let shape = float.input_shape();
    let mut cos = 0.0;
    for k in 0..5 {
        let x: Vec<f32> = (0..n).map(|i| ((((i / 299) * 7 + (i % 299) * 3 + k * 50) % 255) as f32 / 127.5) - 1.0).collect();
        let t = Tensor::from_shape(&shape, &x)?;
        let ya = a.run(tvec!(t.clone().into_tvalue()))?;
        let yb = b.run(tvec!(t.into_tvalue()))?;
        let c = cosine(ya[0].try_as_plain_ram()?.as_slice::<f32>()?, yb[0].try_as_plain_ram()?.as_slice::<f32>()?);
        println!("cos {c}");
        cos += c;
    }
    println!("mean {}", cos / 5.0);
    Ok(())
}
