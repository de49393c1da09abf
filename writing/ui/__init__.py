"""The Gradio layer: the only part of Writing Studio that imports gradio."""
