"""The writer's workspace (issue #14): work that outlives one page, built on the engines, the compose
functions and the drafts database. Background document jobs live here; no gradio imports."""
