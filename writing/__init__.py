"""Writing Studio: a local AI writing studio around one shared Qwen3 instance.

The core (this package minus `writing.ui`) never imports gradio.
"""

__version__ = "0.1.0"
