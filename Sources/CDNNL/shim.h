// oneDNN's C API (Debian's libdnnl-dev 2.6.3, v2), seen only by the CPU backend
// (Sources/Tensors/Backends/OneDNN) and the benchmarks.
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

// omp.h is not on clang's include path here; these two come from libgomp.
int omp_get_max_threads(void);
void omp_set_num_threads(int num_threads);
