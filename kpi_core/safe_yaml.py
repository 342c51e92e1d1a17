"""YAML reading for the catalogue and templates: the safe loader (standard tags only), in its C implementation when
PyYAML was built with libyaml. The pure-Python loader took about 1.4 s of every cold start for the 46 shipped files;
the C one takes about 0.1 s, with the same safety (CSafeLoader constructs exactly what SafeLoader does)."""
from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """Parse one YAML document with the safe loader; raises yaml.YAMLError as yaml.safe_load does."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader, C or Python
