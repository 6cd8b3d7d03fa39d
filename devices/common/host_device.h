// Lets functors and index helpers compile for both the CPU and CUDA: GPU kernels are thin
// launchers over the same __host__ __device__ code that the CPU tests exercise.
#pragma once

#if defined(__CUDACC__)
#define QUIVER_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define QUIVER_HOST_DEVICE inline
#endif
