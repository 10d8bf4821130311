// Lumen's kernels are Swift except where they need AVX512-BF16's `vdpbf16ps`, which Swift cannot
// emit (no intrinsic, and LLVM does not form it from Swift's SIMD types): this file and
// Attention.c. Why this one exists and what it measured: `Sources/LumenTensor/WeightStreaming.swift`.
#include "CLumenKernels.h"

#if defined(__x86_64__) && defined(__clang__) && __clang_major__ >= 11
#include <immintrin.h>

/// How far ahead (in 64-byte lines of the weight stream) to prefetch. The hardware prefetcher
/// alone reached 25 GB/s on the 2-core Zen 5 EPYC; 128 lines (8 KiB) ahead, 47 GB/s (a
/// throwaway C harness, 29.5 MB weights, two threads, eight weight sets rotated so none stays in
/// L3): 32 lines gave 33 GB/s, 64 gave 42, 256 and 512 no more than 128.
enum { PREFETCH_LINES = 128 };

__attribute__((target("avx512f,avx512bf16")))
void lumen_stream16_bf16(const uint16_t *activations, const uint16_t *weights, long kpairs, long blocks, float *out) {
    const uint32_t *w = (const uint32_t *)weights;
    for (long b = 0; b < blocks; b++) {
        // One accumulator per output of the block, its 16 lanes the 16 rows: each weight pair is
        // broadcast from the stream (an embedded-broadcast operand) and meets all rows at once.
        __m512 acc[16];
        for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
        const uint16_t *a = activations;
        for (long p = 0; p < kpairs; p++) {
            __m512bh rows = (__m512bh)_mm512_loadu_si512((const void *)a);
            _mm_prefetch((const char *)(w + 16 * PREFETCH_LINES), _MM_HINT_T0);
#pragma clang loop unroll(full)
            for (int j = 0; j < 16; j++) acc[j] = _mm512_dpbf16_ps(acc[j], rows, (__m512bh)_mm512_set1_epi32((int)w[j]));
            w += 16;
            a += 32;
        }
        for (int j = 0; j < 16; j++) _mm512_storeu_ps(out + 16 * j, acc[j]);
        out += 256;
    }
}

int lumen_bf16_kernels_built(void) { return 1; }

#else

void lumen_stream16_bf16(const uint16_t *activations, const uint16_t *weights, long kpairs, long blocks, float *out) {
    (void)activations; (void)weights; (void)kpairs; (void)blocks; (void)out;
}

int lumen_bf16_kernels_built(void) { return 0; }

#endif
