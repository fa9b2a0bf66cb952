"""Only the compiled part of the build; everything else is in pyproject.toml.

The processor's hot loops (string and row hashes, duplicate keys, line breaks) are
plain C over the Arrow buffers (processor/pipeline/native/), built by `pip install`:
it needs a C compiler and the Python headers.
"""

from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "processor.pipeline._native",
            sources=sorted(glob("processor/pipeline/native/*.c")),
            depends=sorted(glob("processor/pipeline/native/*.h")),
            extra_compile_args=["-O3", "-std=c11"],
        )
    ]
)
