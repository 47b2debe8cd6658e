"""Imported first by a bench script whose figures are one core's (bench/routing.py, bench/load.py):
numpy's BLAS and OpenMP pools get one thread each, before anything imports numpy, and the serve
processes a script starts inherit that. A variable already set in the environment wins."""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
