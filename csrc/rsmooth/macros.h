// Portability macros for the torch-free math headers shared by the CPU (g++) and CUDA (nvcc) builds.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define RSMOOTH_HD __host__ __device__
#define RSMOOTH_UNROLL _Pragma("unroll")
#define RSMOOTH_INLINE __forceinline__
#else
#define RSMOOTH_HD
#define RSMOOTH_UNROLL
#define RSMOOTH_INLINE inline
#endif

#define RSMOOTH_HDI RSMOOTH_HD RSMOOTH_INLINE
