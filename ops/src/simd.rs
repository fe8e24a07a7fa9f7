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
