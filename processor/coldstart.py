"""Imported first by processor/__main__.py. When this process is `python -m processor`
(a pod's command: a cold run), the cycle collector pauses while the modules load, and
`imported()` (main's first call) freezes what they made and resumes it.

Loading pyarrow, numpy, pydantic and the processor makes hundreds of thousands of
objects, and the collector scanned them again and again as they came: ≈ 0.09 s of a
cold run's ≈ 0.4 s of imports in the processor image (issue 14). Frozen, they are
never scanned again, which also spares every later collection of a long run; nothing
made at import is garbage. A process that only imports the processor (the API's fork
server, tests) is left alone.
"""

from __future__ import annotations

import gc
import sys

_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
COLD = _spec is not None and _spec.name == "processor.__main__"
if COLD:
    gc.disable()


def imported() -> None:
    """The imports are done: keep their objects out of later collections, collect again."""
    if COLD and not gc.isenabled():
        gc.freeze()
        gc.enable()
