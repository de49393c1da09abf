"""A key/value cache that writes each new token in place, instead of copying the whole cache every step.

transformers' DynamicLayer appends a token with torch.cat: every decode step copies every layer's keys
and values, so a step costs more the longer the context (Qwen3-4B in fp32, as an AVX2 machine runs it:
36 layers x 2 x 8 heads x 128 x 4 bytes = 0.3 MB a cached token, 1.2 GB at 4096 tokens, copied every step). Here
each layer keeps its keys and values in a buffer with room reserved past the end (RESERVE tokens at a
time), writes the new tokens into that room, and hands attention a view of the filled part. A buffer is
copied only when its room runs out, once every RESERVE tokens.

Everything else is DynamicLayer's: `keys`/`values` are the views (so get_seq_length, crop, the prefix
reuse of engines/local.py work unchanged), and a layer whose tensors were replaced by something else
(beam search's reorder, batch selection) simply starts a new buffer from them on its next update.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

RESERVE = 256  # tokens of room a buffer grows by (fp32, Qwen3-4B: 1 MB a layer for keys, as much for values)


class ReservedLayer(DynamicLayer):
    """DynamicLayer with in-place appends into reserved room (see the module docstring)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._key_room: torch.Tensor | None = None  # [batch, kv_heads, capacity, head_dim]
        self._value_room: torch.Tensor | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length, new = self.get_seq_length(), key_states.shape[-2]
        if length and (self.keys.shape[:2] != key_states.shape[:2] or self.keys.shape[-1] != key_states.shape[-1]):
            raise RuntimeError(f"new keys {tuple(key_states.shape)} do not continue the cached "
                               f"{tuple(self.keys.shape)}")
        if not self._fits(key_states, value_states, length + new):
            self._grow(key_states, value_states, length, length + new)
        self._key_room[..., length:length + new, :].copy_(key_states)
        self._value_room[..., length:length + new, :].copy_(value_states)
        self.keys = self._key_room[..., :length + new, :]
        self.values = self._value_room[..., :length + new, :]
        return self.keys, self.values

    def _fits(self, key_states: torch.Tensor, value_states: torch.Tensor, needed: int) -> bool:
        """The buffers have room for `needed` tokens of these states' shape and dtype, and the current views
        are a prefix of them (not tensors put there by someone else)."""
        room, other = self._key_room, self._value_room
        if room is None or other is None or needed > room.shape[-2]:
            return False
        for buffer, state in ((room, key_states), (other, value_states)):
            if (buffer.shape[:2] != state.shape[:2] or buffer.shape[-1] != state.shape[-1]
                    or buffer.dtype != state.dtype):
                return False
        if self.keys.numel() == 0:  # nothing cached (a crop to nothing): the buffers are free
            return True
        return (self.keys.data_ptr() == room.data_ptr() and self.keys.stride() == room.stride()
                and self.values.data_ptr() == other.data_ptr() and self.values.stride() == other.stride())

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, length: int, needed: int) -> None:
        capacity = -(-needed // RESERVE) * RESERVE
        batch, heads = key_states.shape[:2]
        keys = key_states.new_empty((batch, heads, capacity, key_states.shape[-1]))
        values = value_states.new_empty((batch, value_states.shape[1], capacity, value_states.shape[-1]))
        if length:
            keys[..., :length, :].copy_(self.keys)
            values[..., :length, :].copy_(self.values)
        self._key_room, self._value_room = keys, values

    def reset(self) -> None:
        super().reset()
        self._key_room = self._value_room = None


class ReservedCache(DynamicCache):
    """DynamicCache whose full-attention layers are ReservedLayers (sliding-window layers stay as they were)."""

    def __init__(self, config: Any = None):
        super().__init__(config=config)
        self.layers = [ReservedLayer() if type(layer) is DynamicLayer else layer for layer in self.layers]
        if self.layer_class_to_replicate is DynamicLayer:  # a config without layer types: layers made on use
            self.layer_class_to_replicate = ReservedLayer
