// The only place that sees oneDNN's C API. Debian's libdnnl-dev 2.6.3 (v2 API).
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

// omp.h is not on clang's include path here; these two come from libgomp.
int omp_get_max_threads(void);
void omp_set_num_threads(int num_threads);

// Macros that do not import into Swift.
static inline void *cdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
