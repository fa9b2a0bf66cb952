"""Only the compiled part of the build; everything else is in pyproject.toml.

The processor's hot loops (string and row hashes, duplicate keys, line breaks) are
plain C over the Arrow buffers (processor/pipeline/_native.c), built by `pip install`:
it needs a C compiler and the Python headers.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "processor.pipeline._native",
            sources=["processor/pipeline/_native.c"],
            extra_compile_args=["-O3", "-std=c11"],
        )
    ]
)
