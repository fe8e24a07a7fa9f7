//! Folding, at load time, small values that every inference would compute from constants.

use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::dummy::Dummy;
use tract_nnef::tract_core::ops::konst::Const;
use tract_nnef::tract_core::ops::source::TypedSource;

/// The largest value folded: a per-channel vector, never a weight-sized tensor.
const FOLD_MAX_BYTES: i64 = 64 << 10;
/// How many operators back from a folded value its constants may lie.
const FOLD_MAX_DEPTH: usize = 4;

/// Replaces with a constant every value of at most [`FOLD_MAX_BYTES`] that depends on
/// constants only, within [`FOLD_MAX_DEPTH`] operators. tract's optimizer leaves such chains
/// when a large constant has several readers (it does not copy weights to fold them): on
/// Inception-v3, two convolutions cast a 1.7-million-weight matrix to i32 and sum it at every
/// inference for a 384-value correction. The chain is evaluated once here, with the same
/// operators, so the values are the same; a chain that cannot be evaluated out of a plan is
/// left as it is. Returns how many values were folded.
pub(crate) fn fold_constant_chains(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        if node.outputs.len() != 1
            || node.op_is::<Const>()
            || node.op_is::<Dummy>()
            || node.op_is::<TypedSource>()
        {
            continue;
        }
        let fact = &node.outputs[0].fact;
        let small = fact
            .mem_size()
            .as_i64()
            .is_some_and(|b| b <= FOLD_MAX_BYTES);
        if fact.konst.is_some() || fact.exotic_fact().is_some() || !small {
            continue;
        }
        let Some(value) = constant_value(model, OutletId::new(id, 0), FOLD_MAX_DEPTH) else {
            continue;
        };
        let name = node.name.clone();
        let mut patch = TypedModelPatch::default();
        let wire = patch.add_const(name, value.into_arc_tensor())?;
        patch.shunt_outside(model, OutletId::new(id, 0), wire)?;
        patch.apply(model)?;
        folded += 1;
    }
    Ok(folded)
}

/// The value of `outlet` if it follows from constants within `depth` operators.
fn constant_value(model: &TypedModel, outlet: OutletId, depth: usize) -> Option<TValue> {
    let fact = model.outlet_fact(outlet).ok()?;
    if let Some(k) = &fact.konst {
        return Some(k.clone().into_tvalue());
    }
    let node = model.node(outlet.node);
    if depth == 0 || node.inputs.is_empty() || node.op_is::<TypedSource>() || node.op_is::<Dummy>()
    {
        return None;
    }
    let inputs = node
        .inputs
        .iter()
        .map(|&i| constant_value(model, i, depth - 1))
        .collect::<Option<TVec<_>>>()?;
    let mut outputs = node.op.eval_out_of_plan(inputs).ok()??;
    (outlet.slot < outputs.len()).then(|| outputs.swap_remove(outlet.slot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_nnef::tract_core::ops::cast::cast;
    use tract_nnef::tract_core::ops::math::add;
    use tract_nnef::tract_core::ops::nn::{Reduce, Reducer};

    /// `x + Σ_k i32(w[c, k])` with `w` a constant too large to cast at load time (like the
    /// weights tract leaves), and the model's output for `x`.
    fn model_and_output(w_cols: usize) -> (TypedModel, Vec<i32>, Tensor) {
        let mut model = TypedModel::default();
        let x = model.add_source("x", i32::fact([3, 1])).unwrap();
        let w: Vec<i8> = (0..3 * w_cols).map(|i| (i % 251) as i8).collect();
        let w = tract_ndarray::Array2::from_shape_vec((3, w_cols), w).unwrap();
        let expected: Vec<i32> = w
            .rows()
            .into_iter()
            .enumerate()
            .map(|(c, r)| c as i32 + r.iter().map(|&v| v as i32).sum::<i32>())
            .collect();
        let w = model.add_const("w", w.into_tensor()).unwrap();
        let wide = model
            .wire_node("wide", cast(i32::datum_type()), &[w])
            .unwrap();
        let sum = Reduce {
            axes: tvec![1],
            reducer: Reducer::Sum,
        };
        let sum = model.wire_node("sum", sum, &wide).unwrap();
        let y = model.wire_node("y", add(), &[x, sum[0]]).unwrap();
        model.select_output_outlets(&y).unwrap();
        let input = tensor2(&[[0i32], [1], [2]]);
        (model, expected, input)
    }

    fn run(model: TypedModel, input: &Tensor) -> Vec<i32> {
        let out = model
            .into_runnable()
            .unwrap()
            .run(tvec![input.clone().into()])
            .unwrap();
        out[0]
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<i32>()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn a_small_sum_of_a_large_cast_constant_is_folded_and_gives_the_same_values() {
        let (mut model, expected, input) = model_and_output(20_000);
        assert_eq!(fold_constant_chains(&mut model).unwrap(), 1);
        model.compact().unwrap();
        let ops: Vec<String> = model
            .nodes
            .iter()
            .map(|n| n.op.name().to_string())
            .collect();
        assert!(
            !ops.iter().any(|o| o == "Cast" || o.starts_with("Reduce")),
            "{ops:?}"
        );
        assert_eq!(run(model, &input), expected);
    }

    #[test]
    fn values_that_depend_on_the_input_are_left_alone() {
        let (mut model, expected, input) = model_and_output(20_000);
        fold_constant_chains(&mut model).unwrap();
        let y = model.output_outlets().unwrap()[0];
        assert_eq!(model.node(y.node).op.name(), "Add");
        assert_eq!(run(model, &input), expected);
    }
}
