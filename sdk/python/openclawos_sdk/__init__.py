"""OpenClawOS app SDK for Python (standard library only, Python 3.11+).

An app is a separate process the kernel spawns and supervises; it talks to the kernel over a Unix
socket with JSONL frames (SPEC §4). Most apps subclass ``App`` (or ``ChannelApp`` for a messaging
integration) and call ``run()``; ``KernelClient`` is the lower-level connection. See
docs/SDK-PYTHON.md.
"""

from .app import App, load_manifest, write_file_atomically
from .channel import ChannelApp
from .client import KernelClient, Stream
from .protocol import (DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION, ErrorCode, KernelError,
                       canonical_hook)

__version__ = "0.1.0"

__all__ = ["App", "ChannelApp", "KernelClient", "Stream", "KernelError", "ErrorCode",
           "load_manifest", "write_file_atomically", "canonical_hook", "PROTOCOL_VERSION",
           "DEFAULT_MAX_FRAME_BYTES", "__version__"]
