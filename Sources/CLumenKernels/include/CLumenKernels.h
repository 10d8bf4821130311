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
/// Call only where `lumen_bf16_kernels_built()` is true.
void lumen_stream16_bf16(const uint16_t *activations, const uint16_t *weights, long kpairs, long blocks, float *out);

/// Whether this build has the kernels (an x86-64 compiler that knows AVX512-BF16); the caller also
/// checks that the CPU reports `avx512_bf16`.
int lumen_bf16_kernels_built(void);

/// Packs one head's keys and values for `lumen_attention_bf16`, rounding them to bf16: fp32 rows
/// of 64, `ld` apart, `lk` of them, padded with zero keys to `paddedKeys` (a multiple of 64).
/// `packedKeys` (paddedKeys × 64 values): per block of 16 keys, per pair of dimensions, the 16
/// keys' two values side by side; `packedValues` (the same count): per pair of keys, per
/// dimension, the two keys' values side by side.
void lumen_attention_pack(const float *k, const float *v, long ld, long lk, long paddedKeys,
                          uint16_t *packedKeys, uint16_t *packedValues);

/// softmax(scale · q kᵀ) v for `rows` queries (fp32 rows of 64, `ldq` apart; the first is query
/// number `first`) of one head against its `lk` keys and values, packed by `lumen_attention_pack`
/// (to `lk` rounded up to 64); `causal` hides keys after each query's own position. `scale`
/// includes log₂e (the softmax is taken in base 2). Q is rounded to bf16; the products sum in
/// fp32. Writes fp32 rows `ldo` apart. Call only where `lumen_bf16_kernels_built()` is true.
void lumen_attention_bf16(const float *q, long ldq, const uint16_t *packedKeys, const uint16_t *packedValues,
                          long rows, long first, long lk, int causal, float scale, float *out, long ldo);

#endif
