// Attention for one head in bf16 with online softmax (FlashAttention's form: Dao et al. 2022,
// "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness", Algorithm 1),
// on AVX512-BF16. Why it is written here and what it measured: `NN.attentionFlash` in
// Sources/LumenTensor/NN.swift.
#include "CLumenKernels.h"

#if defined(__x86_64__) && defined(__clang__) && __clang_major__ >= 11
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))
#define INLINE __attribute__((always_inline)) inline

enum {
    /// Head width the kernel is written for (four 16-lane registers).
    HEAD = 64,
    /// Keys per chunk: their fp32 scores (6 rows × 512 × 4 B) and bf16 probabilities stay in L1
    /// between the two products. One head of 1024 queries × 1024 keys on one Zen 5 core (a C
    /// harness): 128 keys 0.74 ms, 256 0.70, 512 0.67, 1024 0.66 (with 4096 keys no better).
    CHUNK = 512,
    /// Query rows per register tile (6 × 4 accumulators of 16 lanes, 4 operand registers).
    ROWS = 6,
};

TARGET void lumen_attention_pack(const float *k, const float *v, long ld, long lk, long paddedKeys,
                                 uint16_t *packedKeys, uint16_t *packedValues) {
    // Keys: per block of 16 keys, per pair of dimensions, the 16 keys' two values side by side
    // (as one 32-bit word, so a block is a 16 × 32 transpose of words).
    uint32_t *keyWords = (uint32_t *)packedKeys;
    for (long key = 0; key < paddedKeys; key++) {
        uint32_t *block = keyWords + (key / 16) * (HEAD / 2) * 16 + key % 16;
        if (key >= lk) {
            for (int dp = 0; dp < HEAD / 2; dp++) block[dp * 16] = 0;
            continue;
        }
        uint32_t words[HEAD / 2];
        const float *row = k + key * ld;
        for (int d = 0; d < HEAD; d += 32) {
            // 32 values rounded to nearest even (`vcvtne2ps2bf16`), in order: 16 words.
            __m512bh pair = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + d + 16), _mm512_loadu_ps(row + d));
            _mm512_storeu_si512((void *)(words + d / 2), (__m512i)pair);
        }
        for (int dp = 0; dp < HEAD / 2; dp++) block[dp * 16] = words[dp];
    }
    // Values: per pair of keys, per dimension, the two keys' values side by side.
    for (long key = 0; key < paddedKeys; key += 2) {
        uint16_t *pair = packedValues + (key / 2) * HEAD * 2;
        for (int d = 0; d < HEAD; d += 16) {
            __m512 first = key < lk ? _mm512_loadu_ps(v + key * ld + d) : _mm512_setzero_ps();
            __m512 second = key + 1 < lk ? _mm512_loadu_ps(v + (key + 1) * ld + d) : _mm512_setzero_ps();
            // Interleave as 32-bit words: word i = (first[i] low half, second[i] high half).
            __m256i a = (__m256i)_mm512_cvtneps_pbh(first), b = (__m256i)_mm512_cvtneps_pbh(second);
            __m512i words = _mm512_or_si512(_mm512_cvtepu16_epi32(a), _mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
            _mm512_storeu_si512((void *)(pair + d * 2), words);
        }
    }
}

/// 2^x for x ≤ 0: 2^x = 2^n · 2^f with n the nearest integer and f in [−½, ½] by a degree-6
/// polynomial (relative error ~2e-7), scaled by `vscalefps`. x is clamped at −150, where the
/// result rounds to exactly 0, so masked keys (−∞) weigh nothing.
TARGET static INLINE __m512 exp2NonPositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-150.0f));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.5353362e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3398874e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6184424e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5503385e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022652e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/// One tile of `rows` (≤ ROWS) queries, the first being query `first`, against the keys. `rows`
/// is a constant at each call site, so the loops over it unroll.
TARGET static INLINE void tile(const int rows, const float *q, long ldq, const uint16_t *packedKeys,
                               const uint16_t *packedValues, long lk, long first, int causal,
                               float scale, float *out, long ldo) {
    float scores[ROWS * CHUNK] __attribute__((aligned(64)));
    uint16_t probabilities[ROWS * CHUNK] __attribute__((aligned(64)));
    uint32_t queries[ROWS][HEAD / 2] __attribute__((aligned(64)));
    __m512 o[ROWS][4];
    float maxima[ROWS], sums[ROWS];
    long limits[ROWS];
    long visible = 0;  // keys any row of the tile sees
    for (int r = 0; r < rows; r++) {
        maxima[r] = -INFINITY;
        sums[r] = 0;
        for (int j = 0; j < 4; j++) o[r][j] = _mm512_setzero_ps();
        for (int d = 0; d < HEAD; d += 32) {
            __m512bh pair = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(q + r * ldq + d + 16), _mm512_loadu_ps(q + r * ldq + d));
            _mm512_store_si512((void *)(queries[r] + d / 2), (__m512i)pair);
        }
        limits[r] = causal && first + r + 1 < lk ? first + r + 1 : lk;
        if (limits[r] > visible) visible = limits[r];
    }
    const long keysSeen = (visible + 63) / 64 * 64;  // within the keys packed (lk rounded up to 64)
    const __m512 scaleV = _mm512_set1_ps(scale);
    const __m512 lanes = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (long k0 = 0; k0 < keysSeen; k0 += CHUNK) {
        const long keys = keysSeen - k0 < CHUNK ? keysSeen - k0 : CHUNK;
        // Scores: lanes are 16 keys, each query's dimension pair broadcast; 64 keys at a time.
        for (long kb = 0; kb < keys; kb += 64) {
            __m512 s[ROWS][4];
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < 4; j++) s[r][j] = _mm512_setzero_ps();
            const uint16_t *kp = packedKeys + ((k0 + kb) / 16) * (HEAD / 2) * 32;
            for (int dp = 0; dp < HEAD / 2; dp++) {
                __m512bh kv[4];
                for (int j = 0; j < 4; j++) kv[j] = (__m512bh)_mm512_loadu_si512((const void *)(kp + j * (HEAD / 2) * 32 + dp * 32));
                for (int r = 0; r < rows; r++) {
                    __m512bh qv = (__m512bh)_mm512_set1_epi32((int)queries[r][dp]);
                    for (int j = 0; j < 4; j++) s[r][j] = _mm512_dpbf16_ps(s[r][j], kv[j], qv);
                }
            }
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < 4; j++) {
                    const long key0 = k0 + kb + j * 16;
                    __m512 x = _mm512_mul_ps(s[r][j], scaleV);
                    if (key0 + 16 > limits[r]) {
                        // Keys past the row's limit (padding, or later keys under a causal mask).
                        __mmask16 hidden = _mm512_cmp_ps_mask(lanes, _mm512_set1_ps((float)(limits[r] - key0)), _CMP_GE_OQ);
                        x = _mm512_mask_mov_ps(x, hidden, _mm512_set1_ps(-INFINITY));
                    }
                    _mm512_store_ps(scores + r * CHUNK + kb + j * 16, x);
                }
        }
        // Online softmax: each row's new maximum, its outputs and sum rescaled, the chunk's
        // numerators in bf16.
        for (int r = 0; r < rows; r++) {
            const float *row = scores + r * CHUNK;
            __m512 mv = _mm512_set1_ps(-INFINITY);
            for (long i = 0; i < keys; i += 16) mv = _mm512_max_ps(mv, _mm512_load_ps(row + i));
            float m = _mm512_reduce_max_ps(mv);
            if (m < maxima[r]) m = maxima[r];
            if (m > maxima[r]) {
                const float alpha = maxima[r] == -INFINITY ? 0.0f : exp2f(maxima[r] - m);
                const __m512 av = _mm512_set1_ps(alpha);
                for (int j = 0; j < 4; j++) o[r][j] = _mm512_mul_ps(o[r][j], av);
                sums[r] *= alpha;
                maxima[r] = m;
            }
            // A row that sees no key of this chunk (causal) keeps −∞ here: its numerators are 0.
            const __m512 mb = _mm512_set1_ps(m == -INFINITY ? 0.0f : m);
            // Two sums, so the additions do not wait on each other (keys come in multiples of 64).
            __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
            for (long i = 0; i < keys; i += 32) {
                __m512 e0 = exp2NonPositive(_mm512_sub_ps(_mm512_load_ps(row + i), mb));
                __m512 e1 = exp2NonPositive(_mm512_sub_ps(_mm512_load_ps(row + i + 16), mb));
                s0 = _mm512_add_ps(s0, e0);
                s1 = _mm512_add_ps(s1, e1);
                _mm256_store_si256((__m256i *)(probabilities + r * CHUNK + i), (__m256i)_mm512_cvtneps_pbh(e0));
                _mm256_store_si256((__m256i *)(probabilities + r * CHUNK + i + 16), (__m256i)_mm512_cvtneps_pbh(e1));
            }
            sums[r] += _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
        }
        // Outputs: lanes are 16 dimensions, each query's probability pair broadcast.
        const uint16_t *vp = packedValues + (k0 / 2) * HEAD * 2;
        for (long kp = 0; kp < keys / 2; kp++) {
            __m512bh vv[4];
            for (int j = 0; j < 4; j++) vv[j] = (__m512bh)_mm512_loadu_si512((const void *)(vp + kp * HEAD * 2 + j * 32));
            for (int r = 0; r < rows; r++) {
                uint32_t pair;
                memcpy(&pair, probabilities + r * CHUNK + kp * 2, 4);
                __m512bh pv = (__m512bh)_mm512_set1_epi32((int)pair);
                for (int j = 0; j < 4; j++) o[r][j] = _mm512_dpbf16_ps(o[r][j], vv[j], pv);
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        const __m512 inv = _mm512_set1_ps(1.0f / sums[r]);
        for (int j = 0; j < 4; j++) _mm512_storeu_ps(out + r * ldo + j * 16, _mm512_mul_ps(o[r][j], inv));
    }
}

TARGET void lumen_attention_bf16(const float *q, long ldq, const uint16_t *packedKeys, const uint16_t *packedValues,
                                 long rows, long first, long lk, int causal, float scale, float *out, long ldo) {
    long r = 0;
#define TILE(n) tile(n, q + r * ldq, ldq, packedKeys, packedValues, lk, first + r, causal, scale, out + r * ldo, ldo)
    for (; r + ROWS <= rows; r += ROWS) TILE(ROWS);
    switch (rows - r) {
    case 5: TILE(5); break;
    case 4: TILE(4); break;
    case 3: TILE(3); break;
    case 2: TILE(2); break;
    case 1: TILE(1); break;
    default: break;
    }
#undef TILE
}

#else

void lumen_attention_pack(const float *k, const float *v, long ld, long lk, long paddedKeys,
                          uint16_t *packedKeys, uint16_t *packedValues) {
    (void)k; (void)v; (void)ld; (void)lk; (void)paddedKeys; (void)packedKeys; (void)packedValues;
}

void lumen_attention_bf16(const float *q, long ldq, const uint16_t *packedKeys, const uint16_t *packedValues,
                          long rows, long first, long lk, int causal, float scale, float *out, long ldo) {
    (void)q; (void)ldq; (void)packedKeys; (void)packedValues; (void)rows; (void)first; (void)lk;
    (void)causal; (void)scale; (void)out; (void)ldo;
}

#endif
