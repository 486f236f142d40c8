import Foundation

/// The CUDA backend's own small kernels (issue 17), compiled at run time by NVRTC for the
/// device's compute capability (`NVRTC.cubin`): what cuDNN and cuBLAS do not do. One source,
/// so one compile and one cubin in the cache.
///
/// Conventions: `extern "C"` names (no C++ mangling, so `cuModuleGetFunction` finds them by
/// the names below); element counts as `long long`; every kernel a grid-stride loop in which
/// each index is computed by one thread alone (no shared memory, no `__syncthreads`), so that
/// any grid covers any size, and so that the same source compiled for the host runs them one
/// thread after another (`CUDAHostEmulation`): that is how the tests check these kernels on
/// machines without a GPU. Per-row reductions (softmax, cross-entropy) take one thread per row:
/// a batch has at most a few thousand rows of at most a thousand classes. 16-bit values are
/// `unsigned short` bit patterns converted with PTX's `cvt` (round to nearest even), since
/// NVRTC has no `cuda_fp16.h`/`cuda_bf16.h` without the toolkit.
package enum CUDAKernels {
    /// No contraction to fused multiply-add: the kernels then round as the CPU backend's Swift
    /// loops do (`sgd_step_f32` equals `SGD.step` bit for bit), which the tests rely on.
    package static let options = ["--fmad=false"]

    /// Every kernel's name, in the order of the source.
    package static var names: [String] { signatures(of: source).map(\.name) }

    /// A `__global__` kernel's name and its parameters' C types, in order.
    package struct Signature: Equatable {
        package let name: String
        package let parameterTypes: [String]
    }

    /// The kernels of a CUDA source, read from their `__global__ void name(...)` lines.
    package static func signatures(of source: String) -> [Signature] {
        // A regex literal: checked when this file compiles, so matching cannot fail at run time.
        source.matches(of: #/__global__\s+void\s+(\w+)\s*\(([^)]*)\)/#).map { match in
            let parameters = match.output.2.split(separator: ",").map {
                // "const float *x" -> "const float *": drop the trailing name.
                let p = $0.trimmingCharacters(in: .whitespacesAndNewlines)
                let end = p.lastIndex { !($0.isLetter || $0.isNumber || $0 == "_") }.map { p.index(after: $0) } ?? p.startIndex
                return String(p[..<end]).trimmingCharacters(in: .whitespaces)
            }
            return Signature(name: String(match.output.1), parameterTypes: parameters)
        }
    }

    package static let source = #"""
    #define GRID_STRIDE(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                                   i += (long long)blockDim.x * gridDim.x)

    #if defined(TRICKS_HOST_EMULATION) || __CUDA_ARCH__ < 800
    // Round to nearest even, as PTX's cvt.rn (NaN stays NaN): for the host, and for GPUs
    // before sm_80, which have no cvt to bf16.
    __device__ __forceinline__ unsigned short to_bf16(float x) {
        unsigned int u = __float_as_uint(x);
        if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
        return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
    #else
    __device__ __forceinline__ unsigned short to_bf16(float x) {
        unsigned short h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x)); return h;
    }
    #endif
    #ifdef TRICKS_HOST_EMULATION
    static inline unsigned short to_f16(float x) { _Float16 h = (_Float16)x; unsigned short b; __builtin_memcpy(&b, &h, 2); return b; }
    static inline float from_f16(unsigned short b) { _Float16 h; __builtin_memcpy(&h, &b, 2); return (float)h; }
    #else
    __device__ __forceinline__ unsigned short to_f16(float x) {
        unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x)); return h;
    }
    __device__ __forceinline__ float from_f16(unsigned short h) {
        float x; asm("cvt.f32.f16 %0, %1;" : "=f"(x) : "h"(h)); return x;
    }
    #endif
    __device__ __forceinline__ float from_bf16(unsigned short h) { return __uint_as_float(((unsigned int)h) << 16); }
    // A Float32 rounded to the values of a 16-bit type: 1 bfloat16, 2 float16, else as is.
    __device__ __forceinline__ float rounded_to(float x, int type) {
        return type == 1 ? from_bf16(to_bf16(x)) : type == 2 ? from_f16(to_f16(x)) : x;
    }

    extern "C" {

    __global__ void fill_f32(float *y, float value, long long n) { GRID_STRIDE(i, n) y[i] = value; }
    __global__ void scale_f32(float *y, const float *x, float a, long long n) { GRID_STRIDE(i, n) y[i] = x[i] * a; }
    __global__ void add_f32(float *y, const float *a, const float *b, long long n) { GRID_STRIDE(i, n) y[i] = a[i] + b[i]; }
    __global__ void add_relu_f32(float *y, const float *a, const float *b, long long n) {
        GRID_STRIDE(i, n) y[i] = fmaxf(a[i] + b[i], 0.0f);
    }
    __global__ void multiply_f32(float *y, const float *a, const float *b, long long n) { GRID_STRIDE(i, n) y[i] = a[i] * b[i]; }

    // Backward passes read the forward's output (ReLU) or input (ReLU6), as the CPU backend's:
    // where the ReLU gave 0, or ReLU6's input was outside (0, 6), the gradient stops.
    __global__ void relu_f32(float *y, const float *x, long long n) { GRID_STRIDE(i, n) y[i] = fmaxf(x[i], 0.0f); }
    __global__ void relu_backward_f32(float *dx, const float *dy, const float *y, long long n) {
        GRID_STRIDE(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
    __global__ void relu6_f32(float *y, const float *x, long long n) { GRID_STRIDE(i, n) y[i] = fminf(fmaxf(x[i], 0.0f), 6.0f); }
    __global__ void relu6_backward_f32(float *dx, const float *dy, const float *x, long long n) {
        GRID_STRIDE(i, n) dx[i] = (x[i] > 0.0f && x[i] < 6.0f) ? dy[i] : 0.0f;
    }

    __global__ void f32_to_bf16(unsigned short *y, const float *x, long long n) { GRID_STRIDE(i, n) y[i] = to_bf16(x[i]); }
    __global__ void bf16_to_f32(float *y, const unsigned short *x, long long n) { GRID_STRIDE(i, n) y[i] = from_bf16(x[i]); }
    __global__ void f32_to_f16(unsigned short *y, const float *x, long long n) { GRID_STRIDE(i, n) y[i] = to_f16(x[i]); }
    __global__ void f16_to_f32(float *y, const unsigned short *x, long long n) { GRID_STRIDE(i, n) y[i] = from_f16(x[i]); }
    // Emulated low precision: Float32 storage rounded in place to a 16-bit type's values.
    __global__ void round_f32(float *x, int type, long long n) { GRID_STRIDE(i, n) x[i] = rounded_to(x[i], type); }

    // PyTorch's SGD (Optim/SGD.swift): d = g * scale + wd * w; buf = d on the first step, else
    // momentum * buf + d; w -= lr * (nesterov ? d + momentum * buf : buf). With a master
    // (low precision), the update goes to the Float32 master and w becomes it rounded to
    // `type` (1 bfloat16, 2 float16); without one, pass w as the master and type 0.
    __global__ void sgd_step_f32(float *w, float *master, float *buf, const float *g, float lr, float momentum,
                                 float wd, float scale, int first, int nesterov, int type, long long n) {
        GRID_STRIDE(i, n) {
            float m = master[i];
            float d = g[i] * scale + wd * m;
            float b = first ? d : momentum * buf[i] + d;
            buf[i] = b;
            m -= lr * (nesterov ? d + momentum * b : b);
            master[i] = m;
            w[i] = rounded_to(m, type);
        }
    }

    // Along the last axis, one thread per row.
    __global__ void log_softmax_f32(float *y, const float *x, long long rows, int classes) {
        GRID_STRIDE(r, rows) {
            const float *xr = x + r * classes;
            float *yr = y + r * classes;
            float m = __int_as_float(0xff800000);  // -infinity (no math.h under NVRTC)
            for (int c = 0; c < classes; c++) m = fmaxf(m, xr[c]);
            float sum = 0.0f;
            for (int c = 0; c < classes; c++) sum += expf(xr[c] - m);
            float lse = m + logf(sum);
            for (int c = 0; c < classes; c++) yr[c] = xr[c] - lse;
        }
    }
    // dx = dy - softmax * sum(dy), per row; y is the forward's output.
    __global__ void log_softmax_backward_f32(float *dx, const float *dy, const float *y, long long rows, int classes) {
        GRID_STRIDE(r, rows) {
            const long long o = r * classes;
            float total = 0.0f;
            for (int c = 0; c < classes; c++) total += dy[o + c];
            for (int c = 0; c < classes; c++) dx[o + c] = dy[o + c] - expf(y[o + c]) * total;
        }
    }

    // Cross-entropy against soft targets (label smoothing, mixup, distillation) from log
    // probabilities: loss[r] = -sum_c t[r,c] * lp[r,c]; the host sums the rows.
    __global__ void soft_cross_entropy_f32(float *loss, const float *lp, const float *t, long long rows, int classes) {
        GRID_STRIDE(r, rows) {
            float total = 0.0f;
            for (int c = 0; c < classes; c++) total -= t[r * classes + c] * lp[r * classes + c];
            loss[r] = total;
        }
    }
    // dz[r,c] = g * (softmax[r,c] * sum_c t[r,c] - t[r,c]), g the upstream gradient over rows.
    __global__ void soft_cross_entropy_backward_f32(float *dz, const float *lp, const float *t, float g, long long rows, int classes) {
        GRID_STRIDE(r, rows) {
            const long long o = r * classes;
            float mass = 0.0f;
            for (int c = 0; c < classes; c++) mass += t[o + c];
            for (int c = 0; c < classes; c++) dz[o + c] = g * (expf(lp[o + c]) * mass - t[o + c]);
        }
    }

    // Mixup (the paper's section 5.4): y[r] = lam * x[r] + (1 - lam) * x[perm[r]], rows of row_size.
    __global__ void mixup_f32(float *y, const float *x, const int *perm, float lam, long long row_size, long long n) {
        GRID_STRIDE(i, n) {
            long long r = i / row_size, k = i - r * row_size;
            y[i] = lam * x[i] + (1.0f - lam) * x[(long long)perm[r] * row_size + k];
        }
    }

    // Per-channel bias of [N, C, inner] (conv: inner = H * W; linear: inner = 1).
    __global__ void add_channel_bias_f32(float *y, const float *bias, int channels, long long inner, long long n) {
        GRID_STRIDE(i, n) y[i] += bias[(i / inner) % channels];
    }
    // Its gradient: the sum over N and inner per channel, one thread per channel.
    __global__ void channel_sum_f32(float *out, const float *x, long long batch, int channels, long long inner) {
        GRID_STRIDE(c, channels) {
            float total = 0.0f;
            for (long long b = 0; b < batch; b++)
                for (long long k = 0; k < inner; k++) total += x[(b * channels + c) * inner + k];
            out[c] = total;
        }
    }

    // Concatenation: each input is `outer` slabs of `slab` elements, placed at `offset` in the
    // output's slabs of `total`; take_slab is the backward pass, the reverse copy.
    __global__ void put_slab_f32(float *y, const float *x, long long slab, long long total, long long offset, long long n) {
        GRID_STRIDE(i, n) { long long o = i / slab; y[o * total + offset + (i - o * slab)] = x[i]; }
    }
    __global__ void take_slab_f32(float *y, const float *x, long long slab, long long total, long long offset, long long n) {
        GRID_STRIDE(i, n) { long long o = i / slab; y[i] = x[o * total + offset + (i - o * slab)]; }
    }

    // Pooling of [planes, h, w] to [planes, oh, ow], as the reference backend: max takes the
    // first largest tap inside the input and records its index; average divides by the window
    // clipped to the padded input (include_pad = 1) or to the input (0). Backward passes
    // scatter with atomicAdd: windows overlap when stride < kernel.
    __global__ void max_pool_f32(float *y, int *argmax, const float *x, int h, int w, int oh, int ow, int kh, int kw,
                                 int sh, int sw, int ph, int pw, int dh, int dw, long long n) {
        GRID_STRIDE(i, n) {
            long long plane = i / ((long long)oh * ow);
            int j = (int)(i % ow), r = (int)(i / ow % oh);
            float best = 0.0f;
            int at = -1;
            for (int u = 0; u < kh; u++) {
                int ih = r * sh - ph + u * dh;
                if (ih < 0 || ih >= h) continue;
                for (int v = 0; v < kw; v++) {
                    int iw = j * sw - pw + v * dw;
                    if (iw < 0 || iw >= w) continue;
                    int k = ih * w + iw;
                    float value = x[plane * h * w + k];
                    if (at < 0 || value > best) { best = value; at = k; }
                }
            }
            y[i] = at < 0 ? __int_as_float(0xff800000) : best;
            argmax[i] = at;
        }
    }
    __global__ void max_pool_backward_f32(float *dx, const float *dy, const int *argmax, int h, int w, int oh, int ow, long long n) {
        GRID_STRIDE(i, n) {
            long long plane = i / ((long long)oh * ow);
            if (argmax[i] >= 0) atomicAdd(dx + plane * h * w + argmax[i], dy[i]);
        }
    }
    __device__ __forceinline__ int pool_divisor(int r, int j, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw,
                                                int dh, int dw, int include_pad) {
        int r0 = r * sh - ph, j0 = j * sw - pw;
        if (include_pad) return (min(r0 + kh, h + ph) - r0) * (min(j0 + kw, w + pw) - j0);
        int taps = 0;
        for (int u = 0; u < kh; u++) {
            int ih = r0 + u * dh;
            if (ih < 0 || ih >= h) continue;
            for (int v = 0; v < kw; v++) { int iw = j0 + v * dw; if (iw >= 0 && iw < w) taps++; }
        }
        return taps;
    }
    __global__ void avg_pool_f32(float *y, const float *x, int h, int w, int oh, int ow, int kh, int kw, int sh, int sw,
                                 int ph, int pw, int dh, int dw, int include_pad, long long n) {
        GRID_STRIDE(i, n) {
            long long plane = i / ((long long)oh * ow);
            int j = (int)(i % ow), r = (int)(i / ow % oh);
            float total = 0.0f;
            for (int u = 0; u < kh; u++) {
                int ih = r * sh - ph + u * dh;
                if (ih < 0 || ih >= h) continue;
                for (int v = 0; v < kw; v++) {
                    int iw = j * sw - pw + v * dw;
                    if (iw >= 0 && iw < w) total += x[plane * h * w + ih * w + iw];
                }
            }
            y[i] = total / (float)pool_divisor(r, j, h, w, kh, kw, sh, sw, ph, pw, dh, dw, include_pad);
        }
    }
    __global__ void avg_pool_backward_f32(float *dx, const float *dy, int h, int w, int oh, int ow, int kh, int kw, int sh, int sw,
                                          int ph, int pw, int dh, int dw, int include_pad, long long n) {
        GRID_STRIDE(i, n) {
            long long plane = i / ((long long)oh * ow);
            int j = (int)(i % ow), r = (int)(i / ow % oh);
            float share = dy[i] / (float)pool_divisor(r, j, h, w, kh, kw, sh, sw, ph, pw, dh, dw, include_pad);
            for (int u = 0; u < kh; u++) {
                int ih = r * sh - ph + u * dh;
                if (ih < 0 || ih >= h) continue;
                for (int v = 0; v < kw; v++) {
                    int iw = j * sw - pw + v * dw;
                    if (iw >= 0 && iw < w) atomicAdd(dx + plane * h * w + ih * w + iw, share);
                }
            }
        }
    }

    }  // extern "C"
    """#
}
