//! [`PackI8K4`]: the packing of int8 activations for tract's dot-product matrix kernels
//! (x86_64 VNNI, aarch64 SDOT), in place of tract's byte-by-byte packer.
//!
//! tract packs the activation operand of every int8 matrix product into panels of `r`
//! columns where each column holds 4 consecutive `k` values (`I8K4[r]`). Its packer moves
//! one byte per iteration through a strided pointer, on one thread: on Inception-v3 it was a
//! fifth of the int8 inference. These ops write the same bytes sixteen columns at a time with
//! byte shuffles, strip by strip while the strip is in the cache, with the panels split
//! between the threads of the pool when there is one. [`fast_ops`](crate::fast_ops) swaps
//! them in after tract's optimizer, so models and NNEF files are unchanged.

use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::cast::Cast;
use tract_nnef::tract_core::ops::cnn::OptMaxPool;
use tract_nnef::tract_core::ops::matmul::pack::{DynPackedExoticFact, OptMatMulPack};
use tract_nnef::tract_core::tract_linalg::mmm::{
    EagerPackedInput, MMMInputValue, PackedExoticFact, PackedMatrixStorage,
};
use tract_nnef::tract_core::tract_linalg::multithread::par_chunks_mut;
use tract_nnef::tract_core::tract_linalg::pack::PackedI8K4;

use crate::QIm2col;

/// Packs an i8 matrix (one image: every axis but `k_axis` and `mn_axis` has size 1) into
/// tract's `I8K4[r]` panel layout, byte for byte what tract's own packer writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackI8K4 {
    /// The panel format (its `r` columns per panel).
    pub format: PackedI8K4,
    /// The axis summed over by the product.
    pub k_axis: usize,
    /// The axis of the product's rows or columns.
    pub mn_axis: usize,
}

impl PackI8K4 {
    /// The packed panels of `x` (i8, batch axes all of size 1), as an [`EagerPackedInput`].
    pub fn pack(&self, x: &Tensor) -> TractResult<EagerPackedInput> {
        ensure!(
            x.datum_type().unquantized() == i8::datum_type(),
            "PackI8K4: input must be i8, got {:?}",
            x.datum_type()
        );
        ensure!(
            self.k_axis < x.rank() && self.mn_axis < x.rank() && self.k_axis != self.mn_axis,
            "PackI8K4: axes {} and {} do not fit shape {:?}",
            self.k_axis,
            self.mn_axis,
            x.shape()
        );
        ensure!(
            x.shape()
                .iter()
                .enumerate()
                .all(|(ax, &d)| ax == self.k_axis || ax == self.mn_axis || d == 1),
            "PackI8K4: one matrix expected, got shape {:?}",
            x.shape()
        );
        let (k, mn) = (x.shape()[self.k_axis], x.shape()[self.mn_axis]);
        let (ks, ms) = (x.strides()[self.k_axis], x.strides()[self.mn_axis]);
        let (ks, ms) = (ks as usize, ms as usize); // a standard layout: non-negative
        let src = x.try_as_plain_ram()?.as_slice::<i8>()?;
        pack_panels(&self.format, k, mn, |m0, width, strip| {
            for (kk, out) in strip.chunks_exact_mut(width).enumerate() {
                if ms == 1 {
                    out.copy_from_slice(&src[kk * ks + m0..kk * ks + m0 + width]);
                } else {
                    for (m, v) in out.iter_mut().enumerate() {
                        *v = src[kk * ks + (m0 + m) * ms];
                    }
                }
            }
        })
    }
}

/// Bytes of the matrix strip [`pack_panels`] has filled at a time: small enough to stay in
/// a core's L2 cache while it is packed. (Tiny in tests, so that small matrices take many
/// strips.)
#[cfg(not(test))]
const STRIP_BYTES: usize = 256 * 1024;
#[cfg(test)]
const STRIP_BYTES: usize = 48;

thread_local! {
    /// The strip buffer of [`pack_panels`] on this thread.
    static STRIP: std::cell::RefCell<Vec<i8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The `I8K4[r]` panels of a `k`×`mn` matrix, written strip by strip: `fill(m0, width, strip)`
/// writes columns `m0..m0 + width` of all `k` rows into `strip` (row-major, `width` per row),
/// and the strip is packed while it is in the cache. Strips of panels are split between the
/// threads of the pool when there is one.
fn pack_panels(
    format: &PackedI8K4,
    k: usize,
    mn: usize,
    fill: impl Fn(usize, usize, &mut [i8]) + Sync,
) -> TractResult<EagerPackedInput> {
    let r = format.r;
    ensure!(r > 0, "PackI8K4: empty panels");
    let kblocks = k.div_ceil(4);
    let panel_bytes = kblocks * 4 * r;
    let panels = mn.div_ceil(r);
    let layout = std::alloc::Layout::from_size_align(panels * panel_bytes, format.align.max(1))
        .map_err(|e| format_err!("PackI8K4: {e}"))?;
    // SAFETY: `layout` was checked by `Layout::from_size_align`. The allocation is not
    // initialized; every byte of it is written below before anything reads it (each panel's
    // blocks are written whole: 4 bytes per column, then the padding columns), as tract's
    // own packer writes its freshly allocated blob.
    #[allow(unsafe_code)]
    let mut blob = unsafe { Blob::for_layout(layout) };
    let strip_panels = (STRIP_BYTES / (r * k.max(1))).max(1);
    if panel_bytes > 0 {
        par_chunks_mut(blob.as_bytes_mut(), panel_bytes, k * mn, |first, chunk| {
            // on a pool thread, tract's kernels may have left the vector state dirty
            crate::settle_vector_state();
            let job = StripJob {
                k,
                mn,
                r,
                panel_bytes,
                strip_panels,
            };
            // one strip buffer per thread, kept: only its first growth is zeroed; the job
            // compiled for AVX-512 or AVX2, the widest this CPU has (the same bytes)
            STRIP.with_borrow_mut(|strip| {
                crate::simd::widest(
                    #[inline(always)]
                    || job.run(first, chunk, &fill, strip),
                )
            });
            Ok(())
        })?;
    }
    Ok(EagerPackedInput {
        fact: PackedExoticFact {
            format: Box::new(format.clone()),
            mn: mn.to_dim(),
            k,
        },
        packed: blob.into(),
        panel_bytes,
        mn,
    })
}

/// The panels of one thread's chunk, strip by strip (see [`pack_panels`]).
#[derive(Clone, Copy)]
struct StripJob {
    k: usize,
    mn: usize,
    r: usize,
    panel_bytes: usize,
    strip_panels: usize,
}

impl StripJob {
    /// Fills and packs the panels `chunk` (panel `first` on).
    #[inline(always)]
    fn run(
        self,
        first: usize,
        chunk: &mut [u8],
        fill: &impl Fn(usize, usize, &mut [i8]),
        strip: &mut Vec<i8>,
    ) {
        let StripJob {
            k,
            mn,
            r,
            panel_bytes,
            strip_panels,
        } = self;
        let kblocks = k.div_ceil(4);
        let zeros = vec![0i8; r];
        for (s, panels) in chunk.chunks_mut(panel_bytes * strip_panels).enumerate() {
            let m0 = (first + s * strip_panels) * r;
            let width = (panels.len() / panel_bytes * r).min(mn - m0);
            if strip.len() < k * width {
                strip.resize(k * width, 0);
            }
            let strip = &mut strip[..k * width];
            fill(m0, width, strip);
            for kb in 0..kblocks {
                for (p, panel) in panels.chunks_exact_mut(panel_bytes).enumerate() {
                    let (c0, pw) = (p * r, r.min(width - p * r));
                    let row = |j: usize| match kb * 4 + j {
                        kk if kk < k => &strip[kk * width + c0..kk * width + c0 + pw],
                        _ => &zeros[..pw],
                    };
                    let block = &mut panel[kb * 4 * r..(kb + 1) * 4 * r];
                    interleave4(&mut block[..4 * pw], [row(0), row(1), row(2), row(3)]);
                    block[4 * pw..].fill(0);
                }
            }
        }
    }
}

/// Writes `out[4·m + j] = rows[j][m]`: the columns of four rows, 4 bytes each; sixteen
/// columns at a time with byte shuffles on x86_64 (SSE2) and aarch64 (NEON), both part of
/// those targets' baseline.
#[inline]
fn interleave4(out: &mut [u8], rows: [&[i8]; 4]) {
    let (cols, _) = out.as_chunks_mut::<4>();
    let width = cols
        .len()
        .min(rows.iter().map(|r| r.len()).min().unwrap_or(0));
    let done = width / 16 * 16;
    let (groups, _) = out[..4 * done].as_chunks_mut::<64>();
    let [a, b, c, d] = rows.map(|r| r[..done].as_chunks::<16>().0);
    for (i, group) in groups.iter_mut().enumerate() {
        interleave16(group, [&a[i], &b[i], &c[i], &d[i]]);
    }
    let (cols, _) = out.as_chunks_mut::<4>();
    for (m, col) in cols[done..width].iter_mut().enumerate() {
        *col = rows.map(|r| r[done + m] as u8);
    }
}

#[cfg(target_arch = "x86_64")]
fn interleave16(out: &mut [u8; 64], [a, b, c, d]: [&[i8; 16]; 4]) {
    use core::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline. Each load reads the 16 bytes of one
    // `[i8; 16]` and the four stores write the 64 bytes of `out`, all unaligned accesses.
    #[allow(unsafe_code)]
    unsafe {
        let load = |v: &[i8; 16]| _mm_loadu_si128(v.as_ptr() as *const __m128i);
        let (a, b, c, d) = (load(a), load(b), load(c), load(d));
        let (ab_lo, ab_hi) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
        let (cd_lo, cd_hi) = (_mm_unpacklo_epi8(c, d), _mm_unpackhi_epi8(c, d));
        let o = out.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(o, _mm_unpacklo_epi16(ab_lo, cd_lo));
        _mm_storeu_si128(o.add(1), _mm_unpackhi_epi16(ab_lo, cd_lo));
        _mm_storeu_si128(o.add(2), _mm_unpacklo_epi16(ab_hi, cd_hi));
        _mm_storeu_si128(o.add(3), _mm_unpackhi_epi16(ab_hi, cd_hi));
    }
}

#[cfg(target_arch = "aarch64")]
fn interleave16(out: &mut [u8; 64], [a, b, c, d]: [&[i8; 16]; 4]) {
    use core::arch::aarch64::*;
    // SAFETY: NEON is part of the aarch64 baseline. Each load reads the 16 bytes of one
    // `[i8; 16]`; the interleaving store writes the 64 bytes of `out`.
    #[allow(unsafe_code)]
    unsafe {
        let load = |v: &[i8; 16]| vld1q_u8(v.as_ptr() as *const u8);
        vst4q_u8(
            out.as_mut_ptr(),
            uint8x16x4_t(load(a), load(b), load(c), load(d)),
        );
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn interleave16(out: &mut [u8; 64], rows: [&[i8; 16]; 4]) {
    for (m, col) in out.as_chunks_mut::<4>().0.iter_mut().enumerate() {
        *col = rows.map(|r| r[m] as u8);
    }
}

impl Op for PackI8K4 {
    fn name(&self) -> StaticName {
        "PackI8K4".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}. k axis: {}, mn axis: {}",
            self.format, self.k_axis, self.mn_axis
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PackI8K4 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let packed: Box<dyn MMMInputValue> = Box::new(self.pack(&x)?);
        let shape = self.output_shape(x.shape());
        let stores = PackedMatrixStorage::new_batched(&shape, tvec![packed]);
        Ok(tvec!(stores.into_tensor(x.datum_type()).into_tvalue()))
    }
}

impl PackI8K4 {
    fn output_shape<D: Clone>(&self, input: &[D]) -> TVec<D> {
        input
            .iter()
            .enumerate()
            .filter(|(ax, _)| *ax != self.k_axis && *ax != self.mn_axis)
            .map(|(_, d)| d.clone())
            .collect()
    }
}

impl TypedOp for PackI8K4 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(
            x.datum_type.unquantized() == i8::datum_type(),
            "PackI8K4: input must be i8"
        );
        ensure!(self.k_axis < x.rank() && self.mn_axis < x.rank());
        let exotic = DynPackedExoticFact {
            k: x.shape[self.k_axis].clone(),
            mn: x.shape[self.mn_axis].clone(),
            packers: vec![Box::new(self.format.clone())],
        };
        Ok(tvec!(x
            .datum_type
            .fact(self.output_shape(&x.shape))
            .with_exotic_fact(exotic)))
    }
}

/// [`QIm2col`] (flat) and [`PackI8K4`] in one pass: the patches of a convolution written
/// straight into tract's `I8K4` panels, without the patch matrix in between (on
/// Inception-v3, tens of megabytes written and read again per inference). Same bytes as the
/// two ops one after the other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QIm2colPack {
    /// The patches (`flat` is implied: the packing reads them as `[K, OH·OW]`).
    pub im2col: QIm2col,
    /// The panel format.
    pub format: PackedI8K4,
    /// The type the panels are labelled with: the image's (`None`), or a quantized i8 type
    /// tract's convolution gave its patches (a model compiled in memory). Same bytes.
    pub label: Option<DatumType>,
}

impl QIm2colPack {
    /// The packed patches of `x` (i8, `[1, C, H, W]`).
    pub fn pack(&self, x: &Tensor) -> TractResult<EagerPackedInput> {
        ensure!(
            x.rank() == 4 && x.shape()[0] == 1 && x.datum_type().unquantized() == i8::datum_type(),
            "QIm2colPack: input must be one i8 NCHW image, got {:?} {:?}",
            x.datum_type(),
            x.shape()
        );
        let (c, h, w) = (x.shape()[1], x.shape()[2], x.shape()[3]);
        let [oh, ow] = self.im2col.output_hw(h, w).with_context(|| {
            format!(
                "QIm2colPack: kernel {:?} does not fit {h}x{w}",
                self.im2col.kernel
            )
        })?;
        let (k, mn) = (c * self.im2col.kernel[0] * self.im2col.kernel[1], oh * ow);
        let image = x.try_as_plain_ram()?.as_slice::<i8>()?;
        // Kept out of the strip loop's AVX-512 build: the patch rows built for it measured
        // slower (all packs of a v3 inference 7.4–7.8 ms, against 7.2–7.3 ms for this).
        pack_panels(
            &self.format,
            k,
            mn,
            #[inline(never)]
            |m0, width, strip| {
                // the edge columns of shifted patch rows: one mask per kernel column and strip
                let mut masks = Vec::new();
                let masked = self.im2col.edge_masks([w, ow], m0, width, &mut masks);
                let masks = masked.then_some(&masks[..]);
                for (row, out) in strip.chunks_exact_mut(width).enumerate() {
                    self.im2col
                        .patch_row(image, [h, w], ow, row, m0, out, masks);
                }
            },
        )
    }
}

impl Op for QIm2colPack {
    fn name(&self) -> StaticName {
        "QIm2colPack".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let mut info = self.im2col.info()?;
        info.push(format!("packed as {}", self.format));
        Ok(info)
    }

    op_as_typed_op!();
}

impl EvalOp for QIm2colPack {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let packed: Box<dyn MMMInputValue> = Box::new(self.pack(&x)?);
        let stores = PackedMatrixStorage::new_batched(&[1, 1], tvec![packed]);
        let dt = self.label.unwrap_or(x.datum_type());
        Ok(tvec!(stores.into_tensor(dt).into_tvalue()))
    }
}

impl TypedOp for QIm2colPack {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut patches = self.im2col.output_facts(inputs)?.remove(0);
        ensure!(patches.rank() == 4 && patches.shape[0] == 1.to_dim());
        if let Some(dt) = self.label {
            ensure!(
                dt.unquantized() == i8::datum_type(),
                "QIm2colPack: label {dt:?} is not an i8 type"
            );
            patches.datum_type = dt;
        }
        PackI8K4 {
            format: self.format.clone(),
            k_axis: 1,
            mn_axis: 3,
        }
        .output_facts(&[&patches])
    }
}

/// Swaps this crate's int8 runtime operators into a model tract has optimized, where they do
/// the same thing faster; the outputs stay bit for bit the same. Returns how many nodes
/// changed.
///
/// - tract's `OptMatMulPack` of one i8 matrix into `I8K4` panels becomes a [`QIm2colPack`]
///   when the matrix is the flat [`QIm2col`] patches read by nothing else, a [`PackI8K4`]
///   otherwise;
/// - tract's `OptMaxPool` on an i8 NCHW tensor becomes a [`QMaxPool`](crate::QMaxPool);
/// - a value of at most 64 KiB computed from constants alone (tract does not fold it when a
///   large constant has several readers) becomes a constant, evaluated once with the same
///   operators.
///
/// Everything else (f32 products, other layouts, batches) is left to tract.
pub fn fast_ops(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        if let Some(pool) = node.op_as::<OptMaxPool>() {
            let input = model.outlet_fact(node.inputs[0])?;
            let shape = input.shape.as_concrete().map(|s| s.to_vec());
            let op = shape.and_then(|s| crate::QMaxPool::from_tract(pool, &s));
            if let Some(op) = op.filter(|_| input.datum_type.unquantized() == i8::datum_type()) {
                if op.output_facts(&[input])?[0].shape == node.outputs[0].fact.shape {
                    model.node_mut(id).op = Box::new(op);
                    replaced += 1;
                }
            }
            continue;
        }
        let Some(pack) = node.op_as::<OptMatMulPack>() else {
            continue;
        };
        let input = model.outlet_fact(node.inputs[0])?;
        let output = &node.outputs[0].fact;
        let Some(exotic) = output
            .exotic_fact()
            .and_then(|f| f.downcast_ref::<DynPackedExoticFact>())
        else {
            continue;
        };
        let [packer] = &exotic.packers[..] else {
            continue;
        };
        let Some(format) = packer.downcast_ref::<PackedI8K4>() else {
            continue;
        };
        if input.datum_type.unquantized() != i8::datum_type()
            || output.shape.iter().any(|d| d.to_usize().ok() != Some(1))
        {
            continue;
        }
        let mapping = pack.axes_mapping(&[input], &[output])?;
        let (Some(&k_axis), Some(&mn_axis)) = (
            mapping.axis('K')?.inputs[0].first(),
            mapping.axis('M')?.inputs[0].first(),
        ) else {
            continue;
        };
        let op = PackI8K4 {
            format: format.clone(),
            k_axis,
            mn_axis,
        };
        if op.output_facts(&[input])?[0].shape != output.shape {
            continue;
        }
        // a model compiled in memory relabels the patches as tract's QI8 on their way to the
        // packer: a cast that changes no byte, looked through
        let sole = |o: OutletId| {
            model.nodes[o.node].outputs[o.slot].successors.len() == 1 && !model.outputs.contains(&o)
        };
        let mut patches = node.inputs[0];
        if let Some(cast) = model.nodes[patches.node].op_as::<Cast>() {
            let from = model
                .outlet_fact(model.nodes[patches.node].inputs[0])?
                .datum_type;
            if cast.to.unquantized() == from.unquantized() && sole(patches) {
                patches = model.nodes[patches.node].inputs[0];
            }
        }
        let producer = &model.nodes[patches.node];
        let fused = producer
            .op_as::<QIm2col>()
            .filter(|im2col| im2col.flat && (k_axis, mn_axis) == (1, 3) && sole(patches))
            .map(|im2col| QIm2colPack {
                im2col: im2col.clone(),
                format: format.clone(),
                label: (input.datum_type != i8::datum_type()).then_some(input.datum_type),
            });
        match fused {
            Some(fused) => {
                let image = producer.inputs[0];
                let same = fused.output_facts(&[model.outlet_fact(image)?])?;
                if same[0].shape != output.shape {
                    continue;
                }
                let patch = TypedModelPatch::replace_single_op(model, node, &[image], fused)?;
                patch.apply(model)?;
            }
            None => model.node_mut(id).op = Box::new(op),
        }
        replaced += 1;
    }
    replaced += crate::fold::fold_constant_chains(model)?;
    model.compact()?; // drops the patches, packings and casts the new ops made dead
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{with_isa, Isa};
    use proptest::prelude::*;

    fn packed_bytes(v: &EagerPackedInput) -> Vec<u8> {
        v.packed.as_bytes().to_vec()
    }

    proptest! {
        /// Tolerance: exact, padding included.
        #[test]
        fn packing_writes_the_bytes_tracts_packer_writes(
            k in 1usize..40, mn in 1usize..70, r in prop::sample::select(vec![4usize, 8, 16, 32]),
            k_first in any::<bool>(), seed in any::<u64>(),
        ) {
            let values: Vec<i8> = (0..k * mn)
                .map(|i| (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64 * 1442695040888963407) >> 56) as i8)
                .collect();
            // [1, k, 1, mn] (k rows, mn contiguous) or [1, mn, k] (k contiguous)
            let (x, k_axis, mn_axis) = if k_first {
                (Tensor::from_shape(&[1, k, 1, mn], &values).unwrap(), 1, 3)
            } else {
                (Tensor::from_shape(&[1, mn, k], &values).unwrap(), 2, 1)
            };
            let format = PackedI8K4::new(r);
            let theirs = format.pack_view(&x.view(), k_axis, mn_axis).unwrap();
            let theirs = theirs.downcast_ref::<EagerPackedInput>().unwrap();
            // each compilation of the strip loop this CPU can run
            for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
                let pack = || PackI8K4 { format: format.clone(), k_axis, mn_axis }.pack(&x).unwrap();
                let Some(ours) = with_isa(isa, pack) else { continue };
                prop_assert_eq!(ours.panel_bytes, theirs.panel_bytes);
                prop_assert_eq!(ours.mn, theirs.mn);
                prop_assert_eq!(packed_bytes(&ours), packed_bytes(theirs), "{:?}", isa);
            }
        }
    }

    proptest! {
        /// Tolerance: exact, padding included.
        #[test]
        fn fused_patches_pack_to_the_bytes_of_im2col_then_tracts_packer(
            c in 1usize..6, h in 1usize..12, w in 1usize..40,
            kh in 1usize..4, kw in 1usize..4, sy in 1usize..3, sx in 1usize..3,
            dy in 1usize..3, dx in 1usize..3, pads in proptest::array::uniform4(0usize..3),
            pad in any::<i8>(), seed in any::<u64>(), r in prop::sample::select(vec![4usize, 8, 16]),
        ) {
            let im2col = QIm2col { kernel: [kh, kw], strides: [sy, sx], dilations: [dy, dx], pads, pad, flat: true };
            prop_assume!(im2col.output_hw(h, w).is_some());
            let x: Vec<i8> = (0..c * h * w)
                .map(|i| (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64 * 1442695040888963407) >> 56) as i8)
                .collect();
            let x = Tensor::from_shape(&[1, c, h, w], &x).unwrap();
            let format = PackedI8K4::new(r);
            let fused = QIm2colPack { im2col: im2col.clone(), format: format.clone(), label: None };
            let patches = im2col.eval_tensor(&x).unwrap();
            let theirs = format.pack_view(&patches.view(), 1, 3).unwrap();
            let theirs = theirs.downcast_ref::<EagerPackedInput>().unwrap();
            // each compilation of the strip loop this CPU can run
            for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
                let Some(ours) = with_isa(isa, || fused.pack(&x).unwrap()) else { continue };
                prop_assert_eq!(ours.panel_bytes, theirs.panel_bytes);
                prop_assert_eq!(packed_bytes(&ours), packed_bytes(theirs), "{:?}", isa);
            }
            let f = i8::fact([1, c, h, w]);
            prop_assert_eq!(fused.output_facts(&[&f]).unwrap()[0].shape.to_tvec(), tvec![1.to_dim(), 1.to_dim()]);
        }
    }

    #[test]
    fn a_quantized_i8_matrix_packs_to_the_bytes_of_its_plain_i8_twin() {
        // a model compiled in memory carries tract's QI8 type on its activations
        let values: Vec<i8> = (0..7 * 33).map(|i| (i * 37 % 256) as u8 as i8).collect();
        let plain = Tensor::from_shape(&[1, 7, 33], &values).unwrap();
        let qi8 = DatumType::QI8(QParams::ZpScale {
            zero_point: -128,
            scale: 0.5,
        });
        let mut quantized = Tensor::zero_dt(qi8, &[1, 7, 33]).unwrap();
        quantized
            .try_as_plain_ram_mut()
            .unwrap()
            .as_slice_mut::<i8>()
            .unwrap()
            .copy_from_slice(&values);
        assert_eq!(quantized.datum_type(), qi8);
        let op = PackI8K4 {
            format: PackedI8K4::new(16),
            k_axis: 2,
            mn_axis: 1,
        };
        let (a, b) = (op.pack(&plain).unwrap(), op.pack(&quantized).unwrap());
        assert_eq!(packed_bytes(&a), packed_bytes(&b));
        let fact = qi8.fact([1, 7, 33]);
        assert!(op.output_facts(&[&fact]).is_ok());
    }

    #[test]
    fn a_batch_of_matrices_or_a_wrong_type_is_refused() {
        let op = PackI8K4 {
            format: PackedI8K4::new(16),
            k_axis: 1,
            mn_axis: 2,
        };
        let batch = Tensor::from_shape(&[2, 3, 4], &[0i8; 24]).unwrap();
        assert!(op.pack(&batch).is_err());
        let float = Tensor::from_shape(&[1, 3, 4], &[0f32; 12]).unwrap();
        assert!(op.pack(&float).is_err());
        let axes = PackI8K4 {
            k_axis: 5,
            ..op.clone()
        };
        assert!(axes
            .pack(&Tensor::from_shape(&[1, 3, 4], &[0i8; 12]).unwrap())
            .is_err());
        let fused = QIm2colPack {
            im2col: QIm2col {
                kernel: [5, 5],
                strides: [1, 1],
                dilations: [1, 1],
                pads: [0; 4],
                pad: 0,
                flat: true,
            },
            label: None,
            format: PackedI8K4::new(16),
        };
        let small = Tensor::from_shape(&[1, 1, 4, 4], &[0i8; 16]).unwrap();
        assert!(fused.pack(&small).is_err(), "kernel larger than the image");
        let two = Tensor::from_shape(&[2, 1, 8, 8], &[0i8; 128]).unwrap();
        assert!(fused.pack(&two).is_err(), "two images");
    }
}
