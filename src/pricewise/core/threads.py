"""The numeric libraries' own thread pools: one thread per process."""

from __future__ import annotations


def single_threaded_blas() -> None:
    """OpenBLAS starts a thread per core for every matrix product. The service runs products for
    many requests, and in several processes, at once; there those threads contend and spin. On
    a loaded 2-core machine a (15 x 384) @ (384 x 1536) product took 12 ms with them and 1 ms
    without. Parallelism comes from requests, threads and processes instead."""
    import numpy  # noqa: F401  (loaded first, so that its BLAS is found and limited)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
