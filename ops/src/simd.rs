//! The vector-register state tract's assembly kernels leave behind on x86_64.
//!
//! tract's AVX-512 and AVX2 matrix kernels return without `vzeroupper`. Until something clears
//! it, the dirty upper state makes every legacy-SSE instruction that follows (all code compiled
//! for the x86_64 baseline: tract's im2col, these operators, the frame preprocessing) carry a
//! dependency on the upper register halves; measured on an AMD EPYC (Zen 4) host, such code
//! runs up to 1.8× slower (README, "Speed notes").

/// Clears the upper halves of the x86 vector registers (`vzeroupper`) if the CPU has AVX; does
/// nothing elsewhere. Call it after tract's kernels ran and before scalar or SSE work.
#[inline(never)]
pub fn settle_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` (an AVX instruction, present as checked above) zeroes bits 128
        // and up of ymm/zmm0–15 and touches nothing else. All vector registers are
        // caller-saved in the System V and Windows x64 ABIs and this function is never
        // inlined, so no caller holds a live value there across the call.
        #[allow(unsafe_code)]
        unsafe {
            core::arch::asm!("vzeroupper", options(nomem, nostack, preserves_flags));
        }
    }
}

/// The instruction sets the vectorized loops of the pooling operators are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) enum Isa {
    /// The target's baseline (SSE2 on x86_64, NEON on aarch64).
    Baseline,
    /// x86_64 AVX2.
    Avx2,
    /// x86_64 AVX-512 F, BW and VL.
    Avx512,
}

#[cfg(test)]
thread_local! {
    /// The instruction set a test chose for this thread (see [`with_isa`]).
    static FORCED: std::cell::Cell<Option<Isa>> = const { std::cell::Cell::new(None) };
}

/// The widest instruction set this CPU has among [`Isa`]'s (in tests, the one [`with_isa`]
/// chose).
#[cfg_attr(not(any(test, target_arch = "x86_64")), allow(dead_code))]
pub(crate) fn isa() -> Isa {
    #[cfg(test)]
    if let Some(isa) = FORCED.get() {
        return isa;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// Runs `f` compiled for the widest instruction set this CPU has among [`Isa`]'s: `f` is
/// inlined into a wrapper built for AVX-512 or AVX2, and the loops it inlines are vectorized
/// for that set. The same arithmetic, so the same bytes. Mark the closure
/// `#[inline(always)]`, and what it calls too, or the wider build never reaches its loops.
#[inline(always)]
pub(crate) fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        /// `f` compiled for AVX-512 (F, BW, VL).
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        /// `f` compiled for AVX2.
        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        match isa() {
            // SAFETY: `isa()` found these AVX-512 subsets on this CPU.
            #[allow(unsafe_code)]
            Isa::Avx512 => return unsafe { avx512(f) },
            // SAFETY: `isa()` found the AVX2 instructions on this CPU.
            #[allow(unsafe_code)]
            Isa::Avx2 => return unsafe { avx2(f) },
            Isa::Baseline => {}
        }
    }
    f()
}

/// Runs `f` with [`isa`] answering `isa` on this thread, if this CPU has it (`None` if not).
#[cfg(test)]
pub(crate) fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> Option<R> {
    let widest = {
        FORCED.set(None);
        self::isa()
    };
    let has = match isa {
        Isa::Baseline => true,
        Isa::Avx2 => widest != Isa::Baseline,
        Isa::Avx512 => widest == Isa::Avx512,
    };
    has.then(|| {
        FORCED.set(Some(isa));
        let r = f();
        FORCED.set(None);
        r
    })
}
