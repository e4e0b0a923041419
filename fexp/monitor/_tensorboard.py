"""TensorBoard summaries from monitored variables, through tensorboardX imported on first use.

Images are gridded with numpy alone (``make_grid``, torchvision's semantics); videos are
encoded as GIFs with Pillow when moviepy is missing.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fexp import _errors

from ._hooks import Hook
from ._specs import Spec

if TYPE_CHECKING:
    from ._monitor import Monitor

KINDS: tuple[str, ...] = (
    "scalar",
    "histogram",
    "image",
    "text",
    "figure",
    "video",
    "pr_curve",
    "mesh",
)
_OPTIONS: dict[str, tuple[str, ...]] = {
    "image": ("nrow", "padding", "normalize", "value_range", "range", "scale_each", "pad_value"),
    "video": (
        "nrow",
        "padding",
        "normalize",
        "value_range",
        "range",
        "scale_each",
        "pad_value",
        "fps",
    ),
    "histogram": ("bins", "max_bins"),
    "pr_curve": ("num_thresholds",),
}


def to_numpy(value: Any) -> Any:
    """A numpy array from numpy input, torch tensors (detached, on CPU) or nested lists."""
    import numpy as np

    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def make_grid(
    images: Any,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: tuple[float, float] | None = None,
    scale_each: bool = False,
    pad_value: float = 0.0,
) -> Any:
    """Tile ``[B, C, H, W]`` (or one ``[C, H, W]``) images into one ``[C, H', W']`` image.

    Follows ``torchvision.utils.make_grid``: ``nrow`` images per row, ``padding`` pixels
    of ``pad_value`` around each, one channel repeated to three, and with ``normalize``
    values shifted to [0, 1] by ``value_range`` (default: min and max, per image with
    ``scale_each``).

    Example:
        >>> import numpy as np
        >>> make_grid(np.zeros((5, 3, 4, 4)), nrow=2).shape
        (3, 20, 14)
    """
    import numpy as np

    x = to_numpy(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be [C, H, W] or [B, C, H, W], got shape {x.shape}")
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    if normalize:
        x = x.astype(np.float32)
        parts = list(x) if scale_each else [x]
        x = (
            np.stack([_normalized(p, value_range) for p in parts])
            if scale_each
            else _normalized(x, value_range)
        )
    batch, channels, height, width = x.shape
    if batch == 1:
        return x[0]
    columns = min(nrow, batch)
    rows = math.ceil(batch / columns)
    cell_h, cell_w = height + padding, width + padding
    grid = np.full(
        (channels, rows * cell_h + padding, columns * cell_w + padding), pad_value, dtype=x.dtype
    )
    for k in range(batch):
        r, c = divmod(k, columns)
        top, left = r * cell_h + padding, c * cell_w + padding
        grid[:, top : top + height, left : left + width] = x[k]
    return grid


def _normalized(x: Any, value_range: tuple[float, float] | None) -> Any:
    import numpy as np

    low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
    return np.clip((x - low) / max(high - low, 1e-5), 0.0, 1.0)


def video_frames(video: Any, **grid: Any) -> Any:
    """``[B, T, C, H, W]`` (or ``[T, C, H, W]``) video -> ``[T, H', W', 3]`` uint8 frames."""
    import numpy as np

    x = to_numpy(video)
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5:
        raise ValueError(f"videos must be [T, C, H, W] or [B, T, C, H, W], got shape {x.shape}")
    frames = np.stack([make_grid(x[:, t], **grid) for t in range(x.shape[1])])
    if frames.dtype != np.uint8:
        frames = (np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)
    return frames.transpose(0, 2, 3, 1)


def encode_gif(frames: Any, fps: float = 4.0) -> bytes:
    """Encode ``[T, H, W, 3]`` uint8 frames as an animated GIF (Pillow)."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(int(1000 / fps), 1),
        loop=0,
    )
    return buffer.getvalue()


class TensorboardLogger(Hook):
    """Write matching variables to TensorBoard as one kind of summary.

    Each value goes through ``fn`` first; lists and dicts become one summary per item
    (``name/index`` or ``name/key``, just ``key`` with ``prepend=False``); scalars that are
    arrays are averaged; images are ``[C, H, W]`` or ``[B, C, H, W]`` arrays gridded with
    ``options`` (``nrow padding normalize value_range scale_each pad_value``); videos are
    ``[B, T, C, H, W]`` (``fps``); pr curves are ``(labels, predictions)``; figures are
    matplotlib figures. Summaries use the monitor's step and its folder.

    Args:
        type: one of scalar, histogram, image, text, figure, video, pr_curve, mesh.
        spec: ``"{regex}@{N}{trigger}"``.
        fn: converts each variable first.
        prefix: tags become ``{prefix}/{name}``.
        prepend: dict items are tagged ``{name}/{key}`` (else ``{key}``).
    """

    def __init__(
        self,
        type: str,
        spec: str | Spec | None,
        fn: Callable[[Any], Any] | None = None,
        prefix: str = "",
        prepend: bool = True,
        **options: Any,
    ) -> None:
        if type not in KINDS:
            raise _errors.ConfigError(
                f"unknown TensorBoard summary type {type!r}; expected one of {', '.join(KINDS)}"
            )
        unknown = sorted(set(options) - set(_OPTIONS.get(type, ())))
        if unknown:
            raise _errors.ConfigError(
                f"unknown option(s) {', '.join(unknown)} for {type} summaries; "
                f"expected {', '.join(_OPTIONS.get(type, ())) or 'none'}"
            )
        super().__init__(spec)
        self.type = type
        self.fn = fn
        self.prefix = prefix
        self.prepend = prepend
        self.options = dict(options)
        if "range" in self.options:
            self.options["value_range"] = self.options.pop("range")
        self._tags: dict[str, str] = {}
        self._add = getattr(self, f"_add_{type}")

    def _tag(self, name: str) -> str:
        tag = self._tags.get(name)
        if tag is None:
            tag = self._tags[name] = f"{self.prefix}/{name}" if self.prefix else name
        return tag

    def items(self, name: str, value: Any) -> list[tuple[str, Any]]:
        """``(name, value)`` pairs after ``fn`` and list/dict expansion."""
        if self.fn is not None:
            value = self.fn(value)
        if isinstance(value, list):
            return [(f"{name}/{i}", v) for i, v in enumerate(value)]
        whole = (
            (self.type == "pr_curve" and "labels" in value)
            or (self.type == "mesh" and "vertices" in value)
            if isinstance(value, Mapping)
            else False
        )
        if isinstance(value, Mapping) and not whole:
            return [(f"{name}/{k}" if self.prepend else str(k), v) for k, v in value.items()]
        return [(name, value)]

    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        writer = monitor.summary_writer
        step = monitor.step
        add = self._add
        for name, value in var_dict.items():
            for item, v in self.items(name, value):
                add(writer, self._tag(item), v, step)

    def _add_scalar(self, writer: Any, tag: str, value: Any, step: int) -> None:
        if not isinstance(value, (int, float)):
            value = float(to_numpy(value).mean())
        writer.add_scalar(tag, value, step)

    def _add_histogram(self, writer: Any, tag: str, value: Any, step: int) -> None:
        writer.add_histogram(tag, to_numpy(value), step, **self.options)

    def _add_image(self, writer: Any, tag: str, value: Any, step: int) -> None:
        writer.add_image(tag, make_grid(value, **self.options), step, dataformats="CHW")

    def _add_text(self, writer: Any, tag: str, value: Any, step: int) -> None:
        writer.add_text(tag, str(value), step)

    def _add_figure(self, writer: Any, tag: str, value: Any, step: int) -> None:
        writer.add_figure(tag, value, step, close=True)

    def _add_pr_curve(self, writer: Any, tag: str, value: Any, step: int) -> None:
        labels, predictions = (
            (value["labels"], value["predictions"]) if isinstance(value, Mapping) else value
        )
        writer.add_pr_curve(tag, to_numpy(labels), to_numpy(predictions), step, **self.options)

    def _add_mesh(self, writer: Any, tag: str, value: Any, step: int) -> None:
        """``value``: vertices [B, N, 3], or ``{"vertices": ..., "colors": ..., "faces": ...}``."""
        parts = value if isinstance(value, Mapping) else {"vertices": value}
        extra = {k: to_numpy(parts[k]) for k in ("colors", "faces") if parts.get(k) is not None}
        writer.add_mesh(tag, to_numpy(parts["vertices"]), global_step=step, **extra)

    def _add_video(self, writer: Any, tag: str, value: Any, step: int) -> None:
        from tensorboardX.proto.summary_pb2 import Summary

        options = dict(self.options)
        fps = options.pop("fps", 4)
        frames = video_frames(value, **options)
        _, height, width, channels = frames.shape
        image = Summary.Image(
            height=height,
            width=width,
            colorspace=channels,
            encoded_image_string=encode_gif(frames, fps),
        )
        writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
