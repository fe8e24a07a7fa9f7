//! The inference engine: a tract plan with a fixed batch-1 input, run one frame at a time.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inception_edge_core::QuantParams;
use tract_core::prelude::*;

use crate::error::{tract_reason, Error, Result};

/// What a model takes as input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputKind {
    /// f32 values (an fp32 model).
    F32,
    /// int8 values with these quantization parameters (an int8 model from the compiler).
    I8(QuantParams),
}

/// A loaded, optimized model with one input (f32, or i8 for int8 models) and one f32 output,
/// ready to run.
///
/// The plan's state (its scratch buffers) is kept between calls to [`Engine::run`], so a
/// camera loop allocates only the input and output tensors per frame.
///
/// Cloning is cheap: the optimized plan is shared, only the scratch state is copied, so each
/// thread can run its own clone.
#[derive(Debug, Clone)]
pub struct Engine {
    state: TypedSimpleState,
    input_kind: InputKind,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    quantized: Vec<i8>,
}

/// What a loaded model holds in memory, by tract's plan (see [`Engine::memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes of the plan's constants: weights (packed as the kernels read them), biases,
    /// requantization tables.
    pub constants: usize,
    /// The largest total of values alive at once during one inference, in bytes: every
    /// value from the step that makes it to the last step that reads it.
    pub peak_activations: usize,
}

/// How many operators of one kind an optimized graph has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorCount {
    /// tract's name for the operator.
    pub name: String,
    /// How many nodes.
    pub count: usize,
    /// Whether it produces floating-point values.
    pub float: bool,
}

/// Sets how many threads inference uses from now on, process-wide: `1` runs everything on the
/// calling thread (the default); `n > 1` runs each inference on a pool of `n` threads, where
/// tract's matrix products and inception-edge's int8 operators (patches and packing, pooling,
/// requantization) split their work between the pool's threads. Outputs are bit-identical
/// whatever the count: the work is split, never the order of any sum.
#[cfg(feature = "threads")]
pub fn set_threads(threads: usize) -> Result<()> {
    use tract_linalg::multithread::{set_default_executor, Executor};
    let executor = match threads {
        0 => {
            return Err(Error::Threads {
                threads,
                reason: "at least one is needed".into(),
            })
        }
        1 => Executor::SingleThread,
        n => {
            let pool = rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("incept-mm-{i}"))
                .num_threads(n)
                .build()
                .map_err(|e| Error::Threads {
                    threads,
                    reason: e.to_string(),
                })?;
            Executor::MultiThread(std::sync::Arc::new(pool))
        }
    };
    set_default_executor(executor);
    Ok(())
}

/// Time one kind of operator took in [`Engine::profile`].
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorTime {
    /// tract's name for the operator.
    pub name: String,
    /// How many nodes of the plan run it.
    pub nodes: usize,
    /// Mean time per inference spent in those nodes.
    pub time: Duration,
}

/// The input quantization an int8 model declares in its properties.
fn declared_input_params(model: &TypedModel) -> std::result::Result<QuantParams, String> {
    let scale = model
        .properties
        .get(inception_edge_ops::PROP_INPUT_SCALE)
        .ok_or("the i8 input has no declared scale (not an inception-edge int8 model)")?
        .cast_to_scalar::<f32>()
        .map_err(|e| tract_reason(&e))?;
    let zero_point = match model
        .properties
        .get(inception_edge_ops::PROP_INPUT_ZERO_POINT)
    {
        Some(t) => t.cast_to_scalar::<i32>().map_err(|e| tract_reason(&e))?,
        None => 0,
    };
    QuantParams::new(scale, zero_point)
        .and_then(|q| q.check_for::<i8>())
        .map_err(|e| format!("bad input quantization: {e}"))
}

/// Runs `f`, turning a panic inside tract into a typed model error naming `path`.
fn guarded<T>(path: &Path, f: impl FnOnce() -> TractResult<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Model {
            path: path.to_owned(),
            reason: tract_reason(&e),
        }),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::Model {
                path: path.to_owned(),
                reason: format!("tract panicked: {msg}"),
            })
        }
    }
}

fn concrete(shape: &ShapeFact) -> Option<Vec<usize>> {
    shape.as_concrete().map(|s| s.to_vec())
}

impl Engine {
    /// Wraps a typed model whose single input has a concrete shape and is `f32`, or `i8` with
    /// its quantization declared in the model properties (as the int8 compiler writes it).
    /// The model is optimized here. `origin` names the model in errors.
    pub fn from_typed(model: TypedModel, origin: impl Into<PathBuf>) -> Result<Self> {
        let origin = origin.into();
        let (inputs, outputs) = (model.inputs.len(), model.outputs.len());
        if inputs != 1 || outputs != 1 {
            return Err(Error::Model {
                path: origin,
                reason: format!("expected 1 input and 1 output, found {inputs} and {outputs}"),
            });
        }
        let plan = guarded(&origin, || {
            // requantization inside tract's matrix kernel where the multipliers allow it: found
            // on the model as written, written into the kernels once tract has optimized it
            let fusion = inception_edge_ops::RequantFusion::plan(&model)?;
            let mut model = model.into_optimized()?;
            fusion.apply(&mut model)?;
            // int8 packing and max pooling: our operators (same bytes, several times faster)
            inception_edge_ops::fast_ops(&mut model)?;
            model.into_runnable()
        })?;
        let model = plan.model();
        let in_fact = model.input_fact(0).map_err(|e| Error::Model {
            path: origin.clone(),
            reason: tract_reason(&e),
        })?;
        let input_kind = if in_fact.datum_type == f32::datum_type() {
            InputKind::F32
        } else if in_fact.datum_type.unquantized() == i8::datum_type() {
            let params = declared_input_params(model).map_err(|reason| Error::Model {
                path: origin.clone(),
                reason,
            })?;
            InputKind::I8(params)
        } else {
            return Err(Error::InputShape {
                shape: format!("{in_fact:?}"),
                reason: "the input must be f32, or i8 with declared quantization".into(),
            });
        };
        if model.outputs.len() == 1 {
            let out = model.output_fact(0).map_err(|e| Error::Model {
                path: origin.clone(),
                reason: tract_reason(&e),
            })?;
            if out.datum_type != f32::datum_type() {
                return Err(Error::Model {
                    path: origin.clone(),
                    reason: format!("the output must be f32, got {:?}", out.datum_type),
                });
            }
        }
        let input_shape = concrete(&in_fact.shape).ok_or_else(|| Error::InputShape {
            shape: format!("{:?}", in_fact.shape),
            reason: "the input shape must be concrete".into(),
        })?;
        let out_fact = model.output_fact(0).map_err(|e| Error::Model {
            path: origin.clone(),
            reason: tract_reason(&e),
        })?;
        let output_shape = concrete(&out_fact.shape).ok_or_else(|| Error::Model {
            path: origin.clone(),
            reason: format!("output shape {:?} is not concrete", out_fact.shape),
        })?;
        let state = guarded(&origin, || plan.spawn())?;
        Ok(Engine {
            state,
            input_kind,
            input_shape,
            output_shape,
            quantized: Vec::new(),
        })
    }

    /// Loads a model from a file: ONNX (`.onnx`, with the `onnx` feature) or NNEF (a
    /// `.nnef.tgz`/`.tar` archive or directory, such as the int8 compiler writes).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        {
            #[cfg(feature = "onnx")]
            return Self::from_onnx_file(path);
            #[cfg(not(feature = "onnx"))]
            return Err(Error::Model {
                path: path.to_owned(),
                reason: "ONNX support is not compiled in (enable the `onnx` feature)".into(),
            });
        }
        Self::from_nnef_file(path)
    }

    /// Loads an NNEF model (archive or directory) with the `inception_edge` extension. An
    /// archive is read as a stream: it is never held in memory whole, only its parsed
    /// tensors are.
    pub fn from_nnef_file(path: impl AsRef<Path>) -> Result<Self> {
        use tract_nnef::prelude::Framework;
        let path = path.as_ref();
        if path.is_dir() {
            let model = guarded(path, || inception_edge_ops::nnef().model_for_path(path))?;
            return Self::from_typed(model, path);
        }
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut reader = std::io::BufReader::new(file);
        let model = guarded(path, || {
            inception_edge_ops::nnef().model_for_read(&mut reader)
        })?;
        Self::from_typed(model, path)
    }

    /// Loads an NNEF archive (tar or gzipped tar) from memory; `origin` names it in errors.
    ///
    /// When `bytes` lies in read-only file-backed memory, such as the model embedded in the
    /// binary or a memory-mapped file, its pages are dropped from the process's resident set
    /// as they are read (Linux, `madvise`): the archive and its parsed tensors are never
    /// resident together. The bytes stay readable; reading them again faults them back in
    /// from the file. Heap memory is never touched.
    pub fn from_nnef_bytes(bytes: &[u8], origin: impl Into<PathBuf>) -> Result<Self> {
        Self::load_nnef_bytes(bytes, origin.into()).map(|(engine, _)| engine)
    }

    /// [`Engine::from_nnef_bytes`], also giving how many bytes of `bytes` were released.
    pub(crate) fn load_nnef_bytes(bytes: &[u8], origin: PathBuf) -> Result<(Self, usize)> {
        use tract_nnef::prelude::Framework;
        let mut reader = crate::pages::ReleasingReader::new(bytes);
        let model = guarded(&origin, || {
            inception_edge_ops::nnef().model_for_read(&mut reader)
        });
        reader.release(true);
        let released = reader.released();
        Ok((Self::from_typed(model?, origin)?, released))
    }

    /// The operators of the optimized graph, counted by name, constants left out; `float`
    /// marks operators producing floating-point values.
    pub fn operators(&self) -> Vec<OperatorCount> {
        let mut counts: Vec<OperatorCount> = Vec::new();
        let model = self.state.model();
        for node in &model.nodes {
            let name = node.op.name().to_string();
            if name == "Const" || name == "Source" {
                continue;
            }
            let float = node.outputs.iter().any(|o| o.fact.datum_type.is_float());
            match counts
                .iter_mut()
                .find(|c| c.name == name && c.float == float)
            {
                Some(c) => c.count += 1,
                None => counts.push(OperatorCount {
                    name,
                    count: 1,
                    float,
                }),
            }
        }
        counts.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
        counts
    }

    /// The model's memory by its plan: constants, and the largest set of values alive at
    /// once (packed patch matrices included), the bound an inference's own allocations
    /// approach. Process overheads (the binary, the allocator, thread stacks) are not in it.
    pub fn memory(&self) -> MemoryUse {
        use tract_core::ops::matmul::optimized::{MatMulOperand, OptMatMul, ProtoFusedSpec};
        let model = self.state.model();
        // packed panels (weights, patches) are described by their exotic fact
        let exotic_bytes = |e: &dyn tract_core::internal::ExoticFact| {
            e.mem_size().as_i64().map_or(0, |b| b.max(0) as usize)
        };
        let fact_bytes = |f: &TypedFact| match f.exotic_fact() {
            Some(e) => exotic_bytes(e),
            None => f
                .shape
                .as_concrete()
                .map_or(0, |s| s.iter().product::<usize>() * f.datum_type.size_of()),
        };
        let mut constants = 0;
        let order = model.eval_order().unwrap_or_default();
        let mut position = vec![usize::MAX; model.nodes.len()];
        for (i, &n) in order.iter().enumerate() {
            position[n] = i;
        }
        // +bytes where a value is made, −bytes after its last reader
        let mut delta = vec![0isize; order.len() + 1];
        for &n in &order {
            let node = &model.nodes[n];
            if let Some(mm) = node.op_as::<OptMatMul>() {
                // tract keeps constant operands (the packed weights) inside the product
                for spec in &mm.micro_ops {
                    if let ProtoFusedSpec::AddMatMul { a, b, .. } = spec {
                        for operand in [a, b] {
                            if let MatMulOperand::Const(v) = operand {
                                constants += exotic_bytes(v.exotic_fact());
                            }
                        }
                    }
                }
            }
            if node.op_is::<tract_core::ops::konst::Const>() {
                constants += fact_bytes(&node.outputs[0].fact);
                continue;
            }
            for (slot, out) in node.outputs.iter().enumerate() {
                let bytes = fact_bytes(&out.fact) as isize;
                let last = if model.outputs.contains(&OutletId::new(n, slot)) {
                    order.len() - 1
                } else {
                    out.successors
                        .iter()
                        .map(|s| position[s.node])
                        .filter(|&p| p != usize::MAX)
                        .max()
                        .unwrap_or(position[n])
                };
                delta[position[n]] += bytes;
                delta[last + 1] -= bytes;
            }
        }
        let (mut live, mut peak) = (0isize, 0isize);
        for d in &delta {
            live += d;
            peak = peak.max(live);
        }
        MemoryUse {
            constants,
            peak_activations: peak as usize,
        }
    }

    /// What the model takes as input.
    pub fn input_kind(&self) -> InputKind {
        self.input_kind
    }

    /// Loads an ONNX model file, fixes its input to batch 1 (a symbolic or unknown first
    /// dimension becomes 1; every other dimension must be known), and optimizes it.
    #[cfg(feature = "onnx")]
    pub fn from_onnx_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::error::read_file(path)?;
        Self::from_onnx_bytes(&bytes, path)
    }

    /// Like [`Engine::from_onnx_file`] from bytes in memory; `origin` names them in errors.
    /// ONNX import is the compiler crate's (the only one linking tract-onnx).
    #[cfg(feature = "onnx")]
    pub fn from_onnx_bytes(bytes: &[u8], origin: impl Into<PathBuf>) -> Result<Self> {
        use inception_edge_compiler::{CompileError, FloatModel};
        let origin: PathBuf = origin.into();
        let shown = origin.display().to_string();
        let float = FloatModel::from_onnx_bytes(bytes, &shown, None).map_err(|e| match e {
            CompileError::Io { path, source } => Error::Io { path, source },
            CompileError::Input { shape, reason } => Error::InputShape { shape, reason },
            CompileError::Model { reason, .. } => Error::Model {
                path: origin.clone(),
                reason,
            },
            other => Error::Model {
                path: origin.clone(),
                reason: other.to_string(),
            },
        })?;
        Self::from_typed(float.model, origin)
    }

    /// The input shape (batch 1).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Number of elements of the input tensor.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// The output shape.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Runs the model on one f32 input tensor (row-major in [`Engine::input_shape`]) and
    /// writes the flattened output into `output` (resized as needed). An int8 model gets the
    /// input quantized with its declared parameters first.
    pub fn run(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<()> {
        self.check_len(input.len())?;
        match self.input_kind {
            InputKind::F32 => {
                let tensor = Tensor::from_shape(&self.input_shape, input).map_err(inference)?;
                self.run_tensor(tensor, output)
            }
            InputKind::I8(q) => {
                let mut quantized = std::mem::take(&mut self.quantized);
                quantized.clear();
                quantized.extend(input.iter().map(|&x| q.quantize::<i8>(x)));
                let result = self.run_i8(&quantized, output);
                self.quantized = quantized;
                result
            }
        }
    }

    /// Runs an int8 model on one already quantized input (see [`InputKind::I8`]), such as
    /// `Preprocess::run_quantized` produces.
    pub fn run_i8(&mut self, input: &[i8], output: &mut Vec<f32>) -> Result<()> {
        self.check_len(input.len())?;
        if self.input_kind == InputKind::F32 {
            return Err(Error::InputShape {
                shape: format!("{:?}", self.input_shape),
                reason: "this model takes f32 input, not i8".into(),
            });
        }
        let tensor = Tensor::from_shape(&self.input_shape, input).map_err(inference)?;
        self.run_tensor(tensor, output)
    }

    /// Runs the model `runs` times on `input` (as [`Engine::run`]) timing every node, and
    /// returns the mean time per inference of each kind of operator, longest first.
    pub fn profile(&mut self, input: &[f32], runs: usize) -> Result<Vec<OperatorTime>> {
        self.check_len(input.len())?;
        let tensor = match self.input_kind {
            InputKind::F32 => Tensor::from_shape(&self.input_shape, input),
            InputKind::I8(q) => {
                let quantized: Vec<i8> = input.iter().map(|&x| q.quantize::<i8>(x)).collect();
                Tensor::from_shape(&self.input_shape, &quantized)
            }
        }
        .map_err(inference)?;
        let runs = runs.max(1);
        let mut times: Vec<OperatorTime> = Vec::new();
        let mut nodes = std::collections::HashSet::new();
        for _ in 0..runs {
            let result = self.state.run_plan_with_eval(
                tvec!(tensor.clone().into_tvalue()),
                |ctx, state, node, inputs| {
                    inception_edge_ops::settle_vector_state();
                    let start = Instant::now();
                    let result = tract_core::plan::eval(ctx, state, node, inputs);
                    let name = node.op.name();
                    let elapsed = start.elapsed();
                    let first = nodes.insert(node.id);
                    match times.iter_mut().find(|t| *t.name == *name) {
                        Some(t) => {
                            t.time += elapsed;
                            t.nodes += usize::from(first);
                        }
                        None => times.push(OperatorTime {
                            name: name.to_string(),
                            nodes: 1,
                            time: elapsed,
                        }),
                    }
                    result
                },
            );
            inception_edge_ops::settle_vector_state();
            result.map_err(inference)?;
        }
        for t in &mut times {
            t.time /= runs as u32;
        }
        times.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.name.cmp(&b.name)));
        Ok(times)
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len != self.input_len() {
            return Err(Error::InputSize {
                got: len,
                expected: self.input_len(),
                shape: self.input_shape.clone(),
            });
        }
        Ok(())
    }

    fn run_tensor(&mut self, tensor: Tensor, output: &mut Vec<f32>) -> Result<()> {
        // With a thread pool (`set_threads`), the whole plan runs on one of its threads: the
        // matrix products split their tiles between that thread and the others, which stay
        // warm between operators, instead of waking the whole pool from outside each time.
        #[cfg(feature = "threads")]
        if let tract_linalg::multithread::Executor::MultiThread(pool) =
            tract_linalg::multithread::current_tract_executor()
        {
            return pool.install(|| self.run_plan(tensor, output));
        }
        self.run_plan(tensor, output)
    }

    fn run_plan(&mut self, tensor: Tensor, output: &mut Vec<f32>) -> Result<()> {
        let outputs = self
            .state
            .run_plan_with_eval(tvec!(tensor.into_tvalue()), |ctx, state, node, inputs| {
                // Every operator starts with clean vector registers, whatever ran before it.
                inception_edge_ops::settle_vector_state();
                tract_core::plan::eval(ctx, state, node, inputs)
            })
            .map_err(inference);
        // Whatever runs next on this thread (preprocessing, the caller's code) must not pay
        // for the vector state tract's kernels leave dirty.
        inception_edge_ops::settle_vector_state();
        let outputs = outputs?;
        let view = outputs[0].to_plain_array_view::<f32>().map_err(inference)?;
        output.clear();
        output.extend(view.iter().copied());
        Ok(())
    }
}

fn inference(e: TractError) -> Error {
    Error::Inference(tract_reason(&e))
}
