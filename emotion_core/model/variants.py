"""MobileViT variants and stride plans as data (no Keras import, so pages can show them cheaply).

Stride plan: five strides (stem, layer2, layer3, layer4, layer5). The paper
uses 2 everywhere (total stride 32), so the maps entering the MobileViT blocks
(input/8, /16, /32) must be divisible by the 2x2 patch: input a multiple of 64.
`plan_strides` takes the first plan of `STRIDE_PLANS` whose three block maps
are even and whose last map is at least 4 pixels (a 2x2 map is a single
patch). See `emotion_core.model.mobilevit` for the table of plans per input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

PATCH = 2  # patch height and width of every MobileViT block
NUM_HEADS = 4

Strides = tuple[int, int, int, int, int]  # stem, layer2, layer3, layer4, layer5

# Candidate plans in order of preference: the paper's first, then plans that
# keep more resolution. plan_strides takes the first whose last map is >= 4.
STRIDE_PLANS: tuple[Strides, ...] = (
    (2, 2, 2, 2, 2),  # paper: total stride 32
    (2, 2, 2, 2, 1),  # total 16, the last two blocks at one size
    (1, 2, 2, 2, 2),  # total 16
    (2, 1, 2, 2, 1),  # total 8, cheap early layers
    (1, 1, 2, 2, 2),  # total 8
)


class Widths(NamedTuple):
    """Output channels of each stage."""

    stem: int
    layer1: int
    layer2: int
    layer3: int
    layer4: int
    layer5: int
    head: int  # the 1x1 conv before pooling


@dataclass(frozen=True)
class VariantConfig:
    """Widths of one MobileViT variant (paper Table 4)."""

    widths: Widths
    dims: tuple[int, int, int]  # transformer width of the three MobileViT blocks
    depths: tuple[int, int, int]  # transformer layers per MobileViT block
    expansion: int  # MV2 expansion ratio


VARIANTS: dict[str, VariantConfig] = {
    "xxs": VariantConfig(Widths(16, 16, 24, 48, 64, 80, 320), (64, 80, 96), (2, 4, 3), 2),
    "xs": VariantConfig(Widths(16, 32, 48, 64, 80, 96, 384), (96, 120, 144), (2, 4, 3), 4),
    "s": VariantConfig(Widths(16, 32, 64, 96, 128, 160, 640), (144, 192, 240), (2, 4, 3), 4),
}


def plan_strides(input_size: int) -> Strides:
    """The stride plan (stem, layer2, layer3, layer4, layer5) for a square input."""
    for strides in STRIDE_PLANS:
        maps = block_maps(input_size, strides)
        if maps is not None and maps[-1] >= 4:
            return strides
    raise ValueError(
        f"Input size {input_size} is not supported: use a multiple of 16 from 48 up "
        f"(every MobileViT block needs a feature map divisible by the {PATCH}x{PATCH} patch)."
    )


def block_maps(input_size: int, strides: Strides) -> tuple[int, int, int] | None:
    """Map sizes entering the three MobileViT blocks, or None if one is not divisible by the patch."""
    maps, size = [], input_size
    for i, stride in enumerate(strides):
        size, rest = divmod(size, stride)
        if rest:
            return None
        if i >= 2:
            if size % PATCH or size < PATCH:
                return None
            maps.append(size)
    return tuple(maps)  # type: ignore[return-value]


def check_strides(input_size: int, strides: Strides) -> None:
    """Raise ValueError unless every MobileViT block gets a map divisible by the patch."""
    if len(strides) != 5 or any(s not in (1, 2) for s in strides):
        raise ValueError(f"Strides must be five values of 1 or 2 (stem, layer2..5), got {tuple(strides)}.")
    if block_maps(input_size, strides) is None:
        raise ValueError(
            f"Strides {tuple(strides)} do not fit input {input_size}: every MobileViT block needs a "
            f"feature map divisible by the {PATCH}x{PATCH} patch."
        )
