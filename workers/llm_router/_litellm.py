"""The one place that imports litellm, configured for a self-hosted, offline-capable process.

``LITELLM_LOCAL_MODEL_COST_MAP`` must be set *before* the import: otherwise litellm downloads its
price map at import time (and stalls without internet). Debug banners that litellm prints to
stdout on every error are turned off; we log errors ourselves.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402 - must follow the environment setup above

litellm.suppress_debug_info = True

__all__ = ["litellm"]
