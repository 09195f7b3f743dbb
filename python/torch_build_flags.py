"""Prints what meson needs to build an extension against the torch of this interpreter:
include directories (';'-separated), the library directory, and the defines that must match
torch's own build (_GLIBCXX_USE_CXX11_ABI and pybind11's three ABI tags). Exits non-zero,
with the reason on stderr, when torch cannot be imported."""
import sys

try:
    import torch
    from torch.utils import cpp_extension
except Exception as e:  # any import failure means: no torch backend
    print(f"cannot import torch: {e}", file=sys.stderr)
    sys.exit(1)

includes = [p for p in cpp_extension.include_paths() if not p.endswith(("TH", "THC"))]
libdir = cpp_extension.library_paths()[0]
defines = [f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}"]
for name in ("COMPILER_TYPE", "STDLIB", "BUILD_ABI"):
    value = getattr(torch._C, f"_PYBIND11_{name}")
    defines.append(f'-DPYBIND11_{name}="{value}"')
defines += ["-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=_C"]
print(";".join(includes))
print(libdir)
print(";".join(defines))
