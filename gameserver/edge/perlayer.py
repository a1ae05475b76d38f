"""Per-process objects, keyed by channel layer: a process has one layer, each test a fresh one."""

from __future__ import annotations

import weakref
from typing import Any, ClassVar, Self

from channels.layers import BaseChannelLayer


class PerLayer:
    """``cls.of(layer)`` is the one instance for that layer, made on first use."""

    _instances: ClassVar[weakref.WeakKeyDictionary[BaseChannelLayer, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._instances = weakref.WeakKeyDictionary()

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer

    @classmethod
    def of(cls, layer: BaseChannelLayer) -> Self:
        instance = cls._instances.get(layer)
        if instance is None:
            instance = cls._instances[layer] = cls(layer)
        return instance
