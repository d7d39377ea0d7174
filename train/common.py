"""Small helpers shared by the scripts of train/: file digests and CPU thread settings.

Only the standard library is imported at module level, so a script can import this before it
has set the BLAS thread variables (`limit_threads_env`) that numpy and torch read on import.
"""
import hashlib
import os


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file's bytes (read in 1 MiB chunks), e.g. algorithm "sha256" or "sha1"."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path):
    return file_digest(path, "sha256")


def limit_threads_env(threads):
    """OMP/MKL/OpenBLAS thread counts: call before numpy or torch is imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def set_torch_threads(threads):
    """torch's intra-op threads, and one inter-op thread (when torch still allows setting it)."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
