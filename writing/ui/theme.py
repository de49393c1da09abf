"""Look and feel: a calm writing theme, dark by default, with a light toggle that sticks.

Gradio 6 takes theme/css/js/head in `launch()`. Gradio itself picks dark or light from the
`?__theme=` URL parameter or the OS preference by toggling the `dark` class on <body>; our
`HEAD_JS` runs first on every page load and applies the writer's saved choice (default dark),
and the toggle button flips the class and remembers the choice in localStorage.
"""

from __future__ import annotations

import gradio as gr

THEME_KEY = "writing-studio-theme"


def make_theme() -> gr.themes.Base:
    return gr.themes.Soft(
        primary_hue=gr.themes.colors.indigo,
        secondary_hue=gr.themes.colors.amber,
        neutral_hue=gr.themes.colors.slate,
        font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Noto Sans SC", "sans-serif"],
        font_mono=["JetBrains Mono", "ui-monospace", "SFMono-Regular", "Consolas", "monospace"],
        radius_size=gr.themes.sizes.radius_md,
    ).set(
        body_background_fill_dark="#0f1117",
        block_background_fill_dark="#161a23",
        background_fill_secondary_dark="#12151d",
        block_border_color_dark="#262b38",
        input_background_fill_dark="#1b2030",
    )


# Local font stacks only: the studio must look right offline (no web font downloads).
CSS = """
.gradio-container { width: 100% !important; max-width: 1280px !important; margin: 0 auto !important; }
#studio-header { display: flex; align-items: center; justify-content: space-between; gap: 1rem; }
#studio-header h1 { margin: 0; font-size: 1.6rem; letter-spacing: -0.01em; }
#studio-header p { margin: 0.15rem 0 0; opacity: 0.7; }
#theme-toggle { max-width: 11rem; }
.studio-draft { min-height: 420px; padding: 1.2rem 1.6rem !important; line-height: 1.7;
  font-size: 1.02rem; border-radius: var(--radius-lg); background: var(--block-background-fill);
  border: 1px solid var(--block-border-color); }
.studio-draft h1 { font-size: 1.7rem; margin-top: 0.2rem; }
.studio-meter { font-variant-numeric: tabular-nums; opacity: 0.85; font-size: 0.92rem; }
#studio-status { font-size: 0.85rem; opacity: 0.8; border-top: 1px solid var(--block-border-color);
  padding-top: 0.4rem; font-variant-numeric: tabular-nums; }
.studio-note { font-size: 0.85rem; opacity: 0.75; }
.studio-inline { align-self: flex-end; margin-bottom: 0.6rem; }
footer { opacity: 0.6; }
"""

# Runs in <head> before gradio mounts: a MutationObserver keeps the writer's choice even when
# gradio's own theme handling (OS preference) touches <body> after load.
HEAD = f"""
<script>
(() => {{
  const key = "{THEME_KEY}";
  const wanted = () => (new URL(location.href).searchParams.get("__theme")) || localStorage.getItem(key) || "dark";
  const apply = () => {{
    if (!document.body) return;
    const dark = wanted() === "dark";
    if (document.body.classList.contains("dark") !== dark) document.body.classList.toggle("dark", dark);
  }};
  const start = () => {{
    apply();
    new MutationObserver(apply).observe(document.body, {{attributes: true, attributeFilter: ["class"]}});
  }};
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
}})();
</script>
"""

# The toggle's click handler (client side only; no server round trip).
TOGGLE_JS = f"""
() => {{
  const key = "{THEME_KEY}";
  const next = document.body.classList.contains("dark") ? "light" : "dark";
  const url = new URL(location.href);
  if (url.searchParams.has("__theme")) {{ url.searchParams.delete("__theme"); history.replaceState(null, "", url); }}
  localStorage.setItem(key, next);
  document.body.classList.toggle("dark", next === "dark");
}}
"""
