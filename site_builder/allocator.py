"""The C allocator's settings for a one-shot command (an edge of the program: process-wide).

glibc's malloc hands the top of its heap back to the system as soon as 128 KiB of it is
free, and serves every block over its mmap threshold with a mapping of its own, unmapped
when freed. A build at 10,000 contacts reads and drops hundreds of such blocks (cache
files, pickled maps, dict tables): each time, the next one is new memory that faults in
page by page. An edit took about 155,000 page faults across its processes; with the
freed memory kept, about 132,000, and it took about 0.1 s less (docs/performance.md).

A one-shot command keeps what it freed until it exits, which costs no peak memory (what
is kept is what the process had in use before). A long-running one (`crm serve`, `crm
watch`) keeps glibc's defaults, so that it gives back what a build freed.
"""

from __future__ import annotations

# mallopt's parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

TRIM_THRESHOLD = 256 << 20  # free memory at the heap's top kept before any is given back
TOP_PAD = 64 << 20  # the heap grows by this much more than asked (address space; pages fault in when used)
MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks under it come from the heap, and are reused

_tuned = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse (see the module's docstring);
    False where there is no glibc (another C library, another system), which changes
    nothing else. Calling it again does nothing more."""
    global _tuned
    if _tuned:
        return True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, ImportError, TypeError):  # (TypeError: no CDLL(None) on Windows)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _tuned = all(mallopt(param, value) == 1 for param, value in (
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD), (M_MMAP_THRESHOLD, MMAP_THRESHOLD)))
    return _tuned
