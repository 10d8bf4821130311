// glibc's allocator tuning (`mallopt`), which Swift's Glibc module does not export. Imported
// only where Glibc is (see LumenTensor/System.swift).
#include <malloc.h>
