"""Writing Studio: a local AI writing studio around one shared Qwen3 instance.

The core (this package minus `writing.ui`) never imports gradio.
"""

from writing.runtime import pages

pages.enable()  # before any module of the package imports torch: its allocator reads the setting once

__version__ = "0.1.0"
