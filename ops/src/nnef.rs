//! The `inception_edge` NNEF extension: how [`Requant`], [`Dequant`], [`QAdd`], [`QAvgPool`]
//! and [`QIm2col`] are written to and read from NNEF.

use tract_nnef::internal::*;
use tract_nnef::ser::{ints, invocation, logical, numeric};

use crate::{Dequant, QAdd, QAvgPool, QIm2col, QLrn, Requant};

/// The extension's name, as it appears in `graph.nnef` (`extension inception_edge;`).
pub const EXTENSION: &str = "inception_edge";

/// tract's NNEF framework with the `inception_edge` extension registered: what reads and
/// writes inception-edge's int8 models.
pub fn nnef() -> tract_nnef::framework::Nnef {
    tract_nnef::nnef().with_registry(registry())
}

/// The `inception_edge` NNEF registry on its own.
pub fn registry() -> Registry {
    let mut r = Registry::new(EXTENSION)
        .with_doc("Extension `inception_edge`: integer requantization and int8 average pooling.")
        .with_doc("")
        .with_doc("Add `extension inception_edge` to `graph.nnef`");
    r.register_dumper(ser_requant);
    r.register_primitive(
        "inception_edge_requant",
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::Integer.tensor().named("mantissa"),
            TypeName::Integer.tensor().named("shift"),
            TypeName::Integer.named("axis"),
            TypeName::Integer.named("input_zero_point").default(0),
            TypeName::Integer.named("zero_point"),
            TypeName::Integer.named("lo"),
            TypeName::Integer.named("hi"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        de_requant,
    );
    r.register_dumper(ser_dequant);
    r.register_primitive(
        "inception_edge_dequant",
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::Scalar.tensor().named("scale"),
            TypeName::Integer.named("axis"),
            TypeName::Integer.named("zero_point"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        de_dequant,
    );
    r.register_dumper(ser_add);
    r.register_primitive(
        "inception_edge_add",
        &[
            TypeName::Scalar.tensor().named("a"),
            TypeName::Scalar.tensor().named("b"),
            TypeName::Integer.array().named("input_zero_points"),
            TypeName::Integer.array().named("mantissas"),
            TypeName::Integer.array().named("shifts"),
            TypeName::Integer.named("zero_point"),
            TypeName::Integer.named("lo"),
            TypeName::Integer.named("hi"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        de_add,
    );
    r.register_dumper(ser_avgpool);
    r.register_primitive(
        "inception_edge_avgpool",
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::Integer.array().named("kernel"),
            TypeName::Integer.array().named("strides"),
            TypeName::Integer.array().named("pads"),
            TypeName::Logical.named("count_include_pad"),
            TypeName::Integer.named("zero_point").default(0),
        ],
        &[("output", TypeName::Scalar.tensor())],
        de_avgpool,
    );
    r.register_dumper(ser_lrn);
    r.register_primitive(
        "inception_edge_lrn",
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::Integer.named("size"),
            TypeName::Scalar.named("alpha"),
            TypeName::Scalar.named("beta"),
            TypeName::Scalar.named("bias"),
            TypeName::Scalar.named("input_scale"),
            TypeName::Integer.named("input_zero_point"),
            TypeName::Scalar.named("scale"),
            TypeName::Integer.named("zero_point"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        de_lrn,
    );
    r.register_dumper(ser_im2col);
    r.register_primitive(
        "inception_edge_im2col",
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::Integer.array().named("kernel"),
            TypeName::Integer.array().named("strides"),
            TypeName::Integer.array().named("dilations"),
            TypeName::Integer.array().named("pads"),
            TypeName::Integer.named("pad").default(0),
            TypeName::Logical.named("flat").default(false),
        ],
        &[("output", TypeName::Scalar.tensor())],
        de_im2col,
    );
    r
}

fn ser_lrn(ast: &mut IntoAst, node: &TypedNode, op: &QLrn) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    Ok(Some(invocation(
        "inception_edge_lrn",
        &[input],
        &[
            ("size", numeric(op.size)),
            ("alpha", numeric(op.alpha)),
            ("beta", numeric(op.beta)),
            ("bias", numeric(op.bias)),
            ("input_scale", numeric(op.input_scale)),
            ("input_zero_point", numeric(op.input_zero_point)),
            ("scale", numeric(op.scale)),
            ("zero_point", numeric(op.zero_point)),
        ],
    )))
}

fn de_lrn(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let input = inv.named_arg_as(builder, "input")?;
    let size: i64 = inv.named_arg_as(builder, "size")?;
    ensure!(
        (1..=1024).contains(&size),
        "inception_edge_lrn: size {size} outside 1..=1024"
    );
    let op = QLrn {
        size: size as usize,
        alpha: inv.named_arg_as(builder, "alpha")?,
        beta: inv.named_arg_as(builder, "beta")?,
        bias: inv.named_arg_as(builder, "bias")?,
        input_scale: inv.named_arg_as(builder, "input_scale")?,
        input_zero_point: inv.named_arg_as::<i64>(builder, "input_zero_point")? as i32,
        scale: inv.named_arg_as(builder, "scale")?,
        zero_point: inv.named_arg_as::<i64>(builder, "zero_point")? as i32,
        table: Default::default(),
    };
    builder.wire(op, &[input])
}

fn ser_im2col(
    ast: &mut IntoAst,
    node: &TypedNode,
    op: &QIm2col,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    Ok(Some(invocation(
        "inception_edge_im2col",
        &[input],
        &[
            ("kernel", ints(&op.kernel)),
            ("strides", ints(&op.strides)),
            ("dilations", ints(&op.dilations)),
            ("pads", ints(&op.pads)),
            ("pad", numeric(op.pad)),
            ("flat", logical(op.flat)),
        ],
    )))
}

fn de_im2col(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let input = inv.named_arg_as(builder, "input")?;
    let pad: i64 = inv.named_arg_as(builder, "pad")?;
    let op = QIm2col {
        kernel: array_of(inv.named_arg_as(builder, "kernel")?, "kernel")?,
        strides: array_of(inv.named_arg_as(builder, "strides")?, "strides")?,
        dilations: array_of(inv.named_arg_as(builder, "dilations")?, "dilations")?,
        pads: array_of(inv.named_arg_as(builder, "pads")?, "pads")?,
        pad: i8::try_from(pad)
            .map_err(|_| format_err!("inception_edge_im2col: pad {pad} is not an i8"))?,
        flat: inv.named_arg_as(builder, "flat")?,
    };
    builder.wire(op, &[input])
}

fn ser_requant(
    ast: &mut IntoAst,
    node: &TypedNode,
    op: &Requant,
) -> TractResult<Option<Arc<RValue>>> {
    let inputs: TVec<_> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    Ok(Some(invocation(
        "inception_edge_requant",
        &inputs,
        &[
            ("axis", numeric(op.axis)),
            ("input_zero_point", numeric(op.input_zero_point)),
            ("zero_point", numeric(op.zero_point)),
            ("lo", numeric(op.lo)),
            ("hi", numeric(op.hi)),
        ],
    )))
}

fn de_requant(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let input = inv.named_arg_as(builder, "input")?;
    let mantissa = inv.named_arg_as(builder, "mantissa")?;
    let shift = inv.named_arg_as(builder, "shift")?;
    let op = Requant {
        axis: inv.named_arg_as(builder, "axis")?,
        input_zero_point: inv.named_arg_as::<i64>(builder, "input_zero_point")? as i32,
        zero_point: inv.named_arg_as::<i64>(builder, "zero_point")? as i32,
        lo: inv.named_arg_as::<i64>(builder, "lo")? as i32,
        hi: inv.named_arg_as::<i64>(builder, "hi")? as i32,
    };
    builder.wire(op, &[input, mantissa, shift])
}

fn ser_dequant(
    ast: &mut IntoAst,
    node: &TypedNode,
    op: &Dequant,
) -> TractResult<Option<Arc<RValue>>> {
    let inputs: TVec<_> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    Ok(Some(invocation(
        "inception_edge_dequant",
        &inputs,
        &[
            ("axis", numeric(op.axis)),
            ("zero_point", numeric(op.zero_point)),
        ],
    )))
}

fn de_dequant(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let input = inv.named_arg_as(builder, "input")?;
    let scale = inv.named_arg_as(builder, "scale")?;
    let op = Dequant {
        axis: inv.named_arg_as(builder, "axis")?,
        zero_point: inv.named_arg_as::<i64>(builder, "zero_point")? as i32,
    };
    builder.wire(op, &[input, scale])
}

fn ser_avgpool(
    ast: &mut IntoAst,
    node: &TypedNode,
    op: &QAvgPool,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    Ok(Some(invocation(
        "inception_edge_avgpool",
        &[input],
        &[
            ("kernel", ints(&op.kernel)),
            ("strides", ints(&op.strides)),
            ("pads", ints(&op.pads)),
            ("count_include_pad", logical(op.count_include_pad)),
            ("zero_point", numeric(op.zero_point)),
        ],
    )))
}

fn array_of<const N: usize>(v: TVec<usize>, what: &str) -> TractResult<[usize; N]> {
    v.into_vec().try_into().map_err(|v: Vec<usize>| {
        format_err!("inception_edge: {what} needs {N} values, got {}", v.len())
    })
}

fn de_avgpool(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let input = inv.named_arg_as(builder, "input")?;
    let op = QAvgPool {
        kernel: array_of(inv.named_arg_as(builder, "kernel")?, "kernel")?,
        strides: array_of(inv.named_arg_as(builder, "strides")?, "strides")?,
        pads: array_of(inv.named_arg_as(builder, "pads")?, "pads")?,
        count_include_pad: inv.named_arg_as(builder, "count_include_pad")?,
        zero_point: inv.named_arg_as::<i64>(builder, "zero_point")? as i32,
    };
    builder.wire(op, &[input])
}

fn ser_add(ast: &mut IntoAst, node: &TypedNode, op: &QAdd) -> TractResult<Option<Arc<RValue>>> {
    let inputs: TVec<_> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    let ints =
        |v: &[i32; 2]| tract_nnef::ser::array(v.iter().map(|&x| numeric(x)).collect::<Vec<_>>());
    Ok(Some(invocation(
        "inception_edge_add",
        &inputs,
        &[
            ("input_zero_points", ints(&op.input_zero_points)),
            ("mantissas", ints(&op.mantissas)),
            ("shifts", ints(&op.shifts)),
            ("zero_point", numeric(op.zero_point)),
            ("lo", numeric(op.lo)),
            ("hi", numeric(op.hi)),
        ],
    )))
}

fn pair(v: TVec<i64>, what: &str) -> TractResult<[i32; 2]> {
    ensure!(
        v.len() == 2,
        "inception_edge_add: {what} needs 2 values, got {}",
        v.len()
    );
    Ok([v[0] as i32, v[1] as i32])
}

fn de_add(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let a = inv.named_arg_as(builder, "a")?;
    let b = inv.named_arg_as(builder, "b")?;
    let op = QAdd {
        input_zero_points: pair(
            inv.named_arg_as(builder, "input_zero_points")?,
            "input_zero_points",
        )?,
        mantissas: pair(inv.named_arg_as(builder, "mantissas")?, "mantissas")?,
        shifts: pair(inv.named_arg_as(builder, "shifts")?, "shifts")?,
        zero_point: inv.named_arg_as::<i64>(builder, "zero_point")? as i32,
        lo: inv.named_arg_as::<i64>(builder, "lo")? as i32,
        hi: inv.named_arg_as::<i64>(builder, "hi")? as i32,
    };
    builder.wire(op, &[a, b])
}
