#include <cblas.h>
// OpenBLAS threading control (declared in openblas_config.h / cblas.h on Debian).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// LAPACK's symmetric eigensolver (OpenBLAS ships LAPACK; Debian installs no lapacke.h for it).
// Fortran calling convention: every argument by reference, then the hidden lengths of the
// character arguments.
#include <stddef.h>
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t jobz_len, size_t uplo_len);
