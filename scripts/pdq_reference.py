"""PDQ reference hashes for the demo and scan-tree scripts (reference venv only).

Two ways to hash the same RGB8 pixels with the C++ code that pip pdqhash 0.2.8 bundles:

* `pip_dihedral(arr)`: pip pdqhash's public `compute_dihedral`. Its Python wrapper computes the
  luma as `R*0.299 + G*0.587 + B*0.114` in float64 and casts to float32.
* `cpp_dihedral(arr)`: the same library's upstream C++ `fillFloatLumaFromRGB` (float32,
  `0.299f*R + 0.587f*G + 0.114f*B`, as the C++ CLI and vigil compute it), then the same
  `pdqDihedralHash256esFromFloatLuma`, called through ctypes.

The two lumas differ in the last bit for some pixels; on most images the hash and quality are
still the same, on a few (about 1 in 450 of make-scan-tree's tiny images) the quality moves by 1
or the hash by 2 bits. docs/pdq-spec.md section 1.3 describes the difference.

Both return ([8 hex hashes in the order orig, rot90, rot180, rot270, flipx, flipy, flipplus1,
flipminus1], quality).
"""
import ctypes
import glob
import os

import numpy as np
import pdqhash

_SO = glob.glob(os.path.join(os.path.dirname(pdqhash.__file__), "bindings*.so"))
_LIB = ctypes.CDLL(_SO[0]) if _SO else None
_FILL = "_ZN8facebook3pdq7hashing20fillFloatLumaFromRGBEPhS2_S2_iiiiPf"
_DIH = ("_ZN8facebook3pdq7hashing33pdqDihedralHash256esFromFloatLumaEPfS2_iiPA64_fS4_PA16_f"
        "S6_PNS1_7Hash256ES8_S8_S8_S8_S8_S8_S8_Ri")
_Hash256 = ctypes.c_uint16 * 16


def bits_to_hex(bits):
    return "%064x" % int("".join(str(int(b)) for b in bits), 2)


def pip_dihedral(arr):
    hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(arr, dtype=np.uint8))
    return [bits_to_hex(h) for h in hashes], int(quality)


def cpp_dihedral(arr):
    if _LIB is None or not hasattr(_LIB, _FILL) or not hasattr(_LIB, _DIH):
        raise RuntimeError("pdqhash's bindings do not export the C++ luma/hash symbols")
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w, _ = arr.shape
    luma = np.zeros((h, w), np.float32)
    tmp = np.zeros((h, w), np.float32)
    b64 = np.zeros((64, 64), np.float32)
    b16x64 = np.zeros((16, 64), np.float32)
    b16 = np.zeros((16, 16), np.float32)
    b16aux = np.zeros((16, 16), np.float32)
    p = ctypes.c_void_p
    base = arr.ctypes.data
    getattr(_LIB, _FILL)(p(base), p(base + 1), p(base + 2), ctypes.c_int(h), ctypes.c_int(w),
                         ctypes.c_int(3 * w), ctypes.c_int(3), luma.ctypes.data_as(p))
    hashes = [_Hash256() for _ in range(8)]
    quality = ctypes.c_int(0)
    getattr(_LIB, _DIH)(luma.ctypes.data_as(p), tmp.ctypes.data_as(p), ctypes.c_int(h),
                        ctypes.c_int(w), b64.ctypes.data_as(p), b16x64.ctypes.data_as(p),
                        b16.ctypes.data_as(p), b16aux.ctypes.data_as(p),
                        *[ctypes.byref(x) for x in hashes], ctypes.byref(quality))
    # Hash256.w[15] holds bits 255..240: the first four hex digits.
    return ["".join("%04x" % x[i] for i in range(15, -1, -1)) for x in hashes], quality.value


_ONE = "_ZN8facebook3pdq7hashing23pdqHash256FromFloatLumaEPfS2_iiPA64_fS4_PA16_fRNS1_7Hash256ERi"


def pip_hash(arr):
    """pip pdqhash's `compute`: (hex, quality) of the image as it is."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(arr, dtype=np.uint8))
    return bits_to_hex(bits), int(quality)


def cpp_hash(arr):
    """The upstream C++ float32 luma and `pdqHash256FromFloatLuma`: (hex, quality)."""
    if _LIB is None or not hasattr(_LIB, _FILL) or not hasattr(_LIB, _ONE):
        raise RuntimeError("pdqhash's bindings do not export the C++ luma/hash symbols")
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w, _ = arr.shape
    luma = np.zeros((h, w), np.float32)
    tmp = np.zeros((h, w), np.float32)
    b64 = np.zeros((64, 64), np.float32)
    b16x64 = np.zeros((16, 64), np.float32)
    b16 = np.zeros((16, 16), np.float32)
    p = ctypes.c_void_p
    base = arr.ctypes.data
    getattr(_LIB, _FILL)(p(base), p(base + 1), p(base + 2), ctypes.c_int(h), ctypes.c_int(w),
                         ctypes.c_int(3 * w), ctypes.c_int(3), luma.ctypes.data_as(p))
    out = _Hash256()
    quality = ctypes.c_int(0)
    getattr(_LIB, _ONE)(luma.ctypes.data_as(p), tmp.ctypes.data_as(p), ctypes.c_int(h),
                        ctypes.c_int(w), b64.ctypes.data_as(p), b16x64.ctypes.data_as(p),
                        b16.ctypes.data_as(p), ctypes.byref(out), ctypes.byref(quality))
    return "".join("%04x" % out[i] for i in range(15, -1, -1)), quality.value
