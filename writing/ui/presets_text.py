"""UI text of the Presets tab, English and Simplified Chinese (data only: writing/ui/i18n.py merges it)."""

from __future__ import annotations

EN: dict[str, str] = {
    "tab_presets": "Presets",
    "presets_intro": "Sampling presets. **Apply** makes the selected preset the one every tab uses for its next "
                     "run; each tab's *Advanced* panel can still change values for one run. Built-in presets are "
                     "read-only: save a copy under a new name to change one.",
    "presets_apply": "Apply to all tabs",
    "presets_reload": "Reload from disk",
    "presets_name": "Name for a new preset",
    "presets_name_ph": "e.g. My blog voice",
    "presets_description": "Description",
    "presets_save_new": "Save as new preset",
    "presets_update": "Update this user preset",
    "presets_delete": "Delete this user preset",
    "presence_penalty": "Presence penalty",
}

ZH: dict[str, str] = {
    "tab_presets": "预设",
    "presets_intro": "采样预设。点击 **应用** 后，所有页面的下一次生成都使用所选预设；"
                     "各页面的 *高级* 面板仍可为单次运行调整参数。内置预设为只读：如需修改，请以新名称另存一份。",
    "presets_apply": "应用到所有页面",
    "presets_reload": "从磁盘重新加载",
    "presets_name": "新预设名称",
    "presets_name_ph": "例如：我的博客风格",
    "presets_description": "说明",
    "presets_save_new": "另存为新预设",
    "presets_update": "更新此用户预设",
    "presets_delete": "删除此用户预设",
    "presence_penalty": "存在惩罚",
}
