/// The CUDA backend's own small kernels (issue 17), compiled at run time by NVRTC for the
/// device's compute capability (`NVRTC.cubin`): what cuDNN and cuBLASLt do not do. One source,
/// so one compile and one cubin in the cache.
///
/// Conventions: `extern "C"` names (no C++ mangling, so `cuModuleGetFunction` finds them by
/// the names below); element counts as `long long`; grid-stride loops, so any grid covers any
/// size; 16-bit values as `unsigned short` bit patterns converted with PTX's `cvt` (round to
/// nearest even), since NVRTC has no `cuda_fp16.h`/`cuda_bf16.h` without the toolkit.
///
/// Each kernel does what the CPU backend's op of the same meaning does; the GPU tests hold
/// them to it (on a GPU). On any machine where NVRTC is found, `CUDALibraryTests` compiles
/// this source for sm_80 and sm_90 and checks every kernel below is in the cubin.
enum CUDAKernels {
    /// No contraction to fused multiply-add: the kernels then round as the CPU backend's Swift
    /// loops do (`sgd_step_f32` equals `SGD.step` bit for bit), which the GPU tests rely on.
    static let options = ["--fmad=false"]

    static let names = [
        "fill_f32", "scale_f32", "add_f32", "add_relu_f32", "multiply_f32",
        "relu_f32", "relu_backward_f32", "relu6_f32", "relu6_backward_f32",
        "f32_to_bf16", "bf16_to_f32", "f32_to_f16", "f16_to_f32", "round_f32_to_bf16", "round_f32_to_f16",
        "sgd_step_f32", "soft_cross_entropy_forward_f32", "soft_cross_entropy_backward_f32", "mixup_f32",
    ]

    static let source = #"""
    #define GRID_STRIDE(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                                   i += (long long)blockDim.x * gridDim.x)

    __device__ __forceinline__ unsigned short to_bf16(float x) {
        unsigned short h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x)); return h;
    }
    __device__ __forceinline__ float from_bf16(unsigned short h) { return __uint_as_float(((unsigned int)h) << 16); }
    __device__ __forceinline__ unsigned short to_f16(float x) {
        unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x)); return h;
    }
    __device__ __forceinline__ float from_f16(unsigned short h) {
        float x; asm("cvt.f32.f16 %0, %1;" : "=f"(x) : "h"(h)); return x;
    }

    extern "C" {

    __global__ void fill_f32(float *y, float value, long long n) { GRID_STRIDE(i, n) y[i] = value; }
    __global__ void scale_f32(float *y, const float *x, float a, long long n) { GRID_STRIDE(i, n) y[i] = a * x[i]; }
    __global__ void add_f32(float *y, const float *a, const float *b, long long n) { GRID_STRIDE(i, n) y[i] = a[i] + b[i]; }
    __global__ void add_relu_f32(float *y, const float *a, const float *b, long long n) {
        GRID_STRIDE(i, n) y[i] = fmaxf(a[i] + b[i], 0.0f);
    }
    __global__ void multiply_f32(float *y, const float *a, const float *b, long long n) { GRID_STRIDE(i, n) y[i] = a[i] * b[i]; }

    // Backward passes take the forward's output: where it is 0 (or 6) the gradient stops, as
    // the CPU backend's (PyTorch's threshold_backward on the result).
    __global__ void relu_f32(float *y, const float *x, long long n) { GRID_STRIDE(i, n) y[i] = fmaxf(x[i], 0.0f); }
    __global__ void relu_backward_f32(float *dx, const float *dy, const float *y, long long n) {
        GRID_STRIDE(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
    __global__ void relu6_f32(float *y, const float *x, long long n) { GRID_STRIDE(i, n) y[i] = fminf(fmaxf(x[i], 0.0f), 6.0f); }
    __global__ void relu6_backward_f32(float *dx, const float *dy, const float *y, long long n) {
        GRID_STRIDE(i, n) dx[i] = (y[i] > 0.0f && y[i] < 6.0f) ? dy[i] : 0.0f;
    }

    __global__ void f32_to_bf16(unsigned short *y, const float *x, long long n) { GRID_STRIDE(i, n) y[i] = to_bf16(x[i]); }
    __global__ void bf16_to_f32(float *y, const unsigned short *x, long long n) { GRID_STRIDE(i, n) y[i] = from_bf16(x[i]); }
    __global__ void f32_to_f16(unsigned short *y, const float *x, long long n) { GRID_STRIDE(i, n) y[i] = to_f16(x[i]); }
    __global__ void f16_to_f32(float *y, const unsigned short *x, long long n) { GRID_STRIDE(i, n) y[i] = from_f16(x[i]); }
    // Emulated low precision: Float32 storage rounded in place to the 16-bit type's values.
    __global__ void round_f32_to_bf16(float *x, long long n) { GRID_STRIDE(i, n) x[i] = from_bf16(to_bf16(x[i])); }
    __global__ void round_f32_to_f16(float *x, long long n) { GRID_STRIDE(i, n) x[i] = from_f16(to_f16(x[i])); }

    // PyTorch's SGD (Optim/SGD.swift): d = g * scale + wd * w; buf = d on the first step, else
    // momentum * buf + d; w -= lr * (nesterov ? d + momentum * buf : buf).
    __global__ void sgd_step_f32(float *w, float *buf, const float *g, float lr, float momentum, float wd, float scale,
                                 int first, int nesterov, long long n) {
        GRID_STRIDE(i, n) {
            float d = g[i] * scale + wd * w[i];
            float b = first ? d : momentum * buf[i] + d;
            buf[i] = b;
            w[i] -= lr * (nesterov ? d + momentum * b : b);
        }
    }

    // Cross-entropy against soft targets (label smoothing, mixup, distillation), one block of
    // 256 threads per row: loss[r] = -sum_c t[r,c] * (z[r,c] - logsumexp(z[r])); lse[r] is kept
    // for the backward pass. Launch with grid = rows, block = 256.
    __global__ void soft_cross_entropy_forward_f32(float *loss, float *lse, const float *z, const float *t, int classes) {
        __shared__ float partial[256];
        const float *zr = z + (long long)blockIdx.x * classes, *tr = t + (long long)blockIdx.x * classes;
        float m = __int_as_float(0xff800000);  // -infinity (no math.h under NVRTC)
        for (int c = threadIdx.x; c < classes; c += blockDim.x) m = fmaxf(m, zr[c]);
        partial[threadIdx.x] = m;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) partial[threadIdx.x] = fmaxf(partial[threadIdx.x], partial[threadIdx.x + s]);
            __syncthreads();
        }
        m = partial[0];
        __syncthreads();
        float sum = 0.0f;
        for (int c = threadIdx.x; c < classes; c += blockDim.x) sum += expf(zr[c] - m);
        partial[threadIdx.x] = sum;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
            __syncthreads();
        }
        float logsumexp = m + logf(partial[0]);
        __syncthreads();
        float dot = 0.0f;
        for (int c = threadIdx.x; c < classes; c += blockDim.x) dot += tr[c] * (zr[c] - logsumexp);
        partial[threadIdx.x] = dot;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
            __syncthreads();
        }
        if (threadIdx.x == 0) { loss[blockIdx.x] = -partial[0]; lse[blockIdx.x] = logsumexp; }
    }

    // The mean loss's gradient, times the upstream gradient `g`:
    // dz[r,c] = g / rows * (softmax(z[r])[c] * sum_c t[r,c] - t[r,c]).
    __global__ void soft_cross_entropy_backward_f32(float *dz, const float *z, const float *t, const float *lse,
                                                    const float *target_sums, float g, int rows, int classes) {
        long long n = (long long)rows * classes;
        GRID_STRIDE(i, n) {
            int r = (int)(i / classes);
            dz[i] = g / rows * (expf(z[i] - lse[r]) * target_sums[r] - t[i]);
        }
    }

    // Mixup (the paper's section 5.4): y[r] = lam * x[r] + (1 - lam) * x[perm[r]], rows of row_size.
    __global__ void mixup_f32(float *y, const float *x, const int *perm, float lam, long long row_size, long long n) {
        GRID_STRIDE(i, n) {
            long long r = i / row_size, k = i - r * row_size;
            y[i] = lam * x[i] + (1.0f - lam) * x[(long long)perm[r] * row_size + k];
        }
    }

    }  // extern "C"
    """#
}
