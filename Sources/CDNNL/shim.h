// oneDNN (Debian's libdnnl-dev, 2.x C API): bf16 matrix products on CPUs with AVX512-BF16.
#include <oneapi/dnnl/dnnl.h>
// oneDNN's CPU runtime is GNU OpenMP here; a thread's team size is lowered for products run
// inside our own parallel tasks (declared by hand: clang does not see GCC's omp.h).
int omp_get_max_threads(void);
void omp_set_num_threads(int num_threads);
// libgomp's entry point for a parallel region (what `#pragma omp parallel` compiles to): runs
// fn(data) on every thread of the calling thread's team, the caller included.
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned int flags);
