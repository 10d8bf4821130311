#ifndef CLUMEN_KERNELS_H
#define CLUMEN_KERNELS_H

#include <stdint.h>

/// Products of at most 16 activation rows by a bf16 weight packed for streaming, on AVX512-BF16
/// dot products (`vdpbf16ps`). See `WeightStreaming.swift` for why this is written by hand.
///
/// `activations`: `kpairs` × 16 × 2 bf16 — for each pair of reduction indices (k, k+1), the 16
/// rows' two values side by side (rows past the real count are zero).
/// `weights`: `blocks` × `kpairs` × 16 × 2 bf16 — per block of 16 outputs, for each pair of
/// reduction indices, the 16 outputs' two values side by side.
/// `out`: (`blocks` · 16) × 16 fp32 — output j's 16 row results at `out + 16 j`.
/// Call only where `lumen_streaming_supported()` is true.
void lumen_stream16_bf16(const uint16_t *activations, const uint16_t *weights, long kpairs, long blocks, float *out);

/// Whether this build has the kernel (an x86-64 compiler that knows AVX512-BF16); the caller also
/// checks that the CPU reports `avx512_bf16`.
int lumen_streaming_supported(void);

#endif
