// oneDNN (Debian's libdnnl-dev, 2.x C API): bf16 matrix products on CPUs with AVX512-BF16.
#include <oneapi/dnnl/dnnl.h>
