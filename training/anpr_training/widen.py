"""A wider recogniser that starts out computing what a narrower one computes (Net2WiderNet, Chen et
al. 2016), so a bigger network is fine-tuned from a shipped version instead of trained from nothing
(from scratch took version 1 eight stages and about 3 h 30 min on the 2-core machine).

Every new channel copies an existing one (its filter and its BatchNorm); the layer after it divides
the weights it reads from each copied channel by the number of copies, so the sum it computes is
unchanged. ReLU and max pooling act channel by channel, so copies stay copies. A little noise on the
divided weights breaks the symmetry that would otherwise keep the copies equal through training.
"""

from __future__ import annotations

import torch
from torch import nn

from anpr_training.models import PlateRecogniser


def _layers(model: PlateRecogniser) -> list[tuple[nn.Conv1d | nn.Conv2d, nn.BatchNorm1d | nn.BatchNorm2d | None]]:
    """The recogniser's convolutions in forward order, each with the BatchNorm after it (None for the
    classifier). Each reads exactly the channels the one before writes (pooling keeps channels)."""
    layers: list = []
    modules = list(model.features) + list(model.sequence)
    for k, module in enumerate(modules):
        if isinstance(module, nn.Sequential):  # conv_bn: Conv2d, BatchNorm2d, ReLU
            layers.append((module[0], module[1]))
        elif isinstance(module, nn.Conv1d):
            layers.append((module, modules[k + 1]))
    layers.append((model.classifier, None))
    return layers


def widen_recogniser(narrow: PlateRecogniser, width: float, noise: float = 0.01, seed: int = 0) -> PlateRecogniser:
    """A recogniser of channel scale `width` (>= the narrow one's) equal in function to `narrow`, up to
    `noise` (relative standard deviation on the weights that read copied channels; 0: exactly equal)."""
    wide = PlateRecogniser(width)
    generator = torch.Generator().manual_seed(seed)
    narrow_layers, wide_layers = _layers(narrow), _layers(wide)
    source = torch.arange(1)  # which narrow channel each wide input channel copies (the grey input: itself)
    with torch.no_grad():
        for (conv, norm), (wide_conv, wide_norm) in zip(narrow_layers, wide_layers):
            out_narrow, out_wide = conv.out_channels, wide_conv.out_channels
            if out_wide < out_narrow:
                raise ValueError(f"cannot widen to {width}: a layer would go from {out_narrow} to {out_wide} channels")
            copies = torch.bincount(source, minlength=conv.in_channels).to(conv.weight.dtype)
            weight = conv.weight[:, source] / copies[source].view(1, -1, *([1] * (conv.weight.dim() - 2)))
            if len(source) > conv.in_channels:  # the copied input channels get a little noise
                weight = weight * (1 + noise * torch.randn(weight.shape, generator=generator))
            if wide_norm is None:  # the classifier keeps its classes
                wide_conv.weight.copy_(weight)
                wide_conv.bias.copy_(conv.bias)
                break
            extra = torch.randint(0, out_narrow, (out_wide - out_narrow,), generator=generator)
            target = torch.cat([torch.arange(out_narrow), extra])
            wide_conv.weight.copy_(weight[target])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(wide_norm, name).copy_(getattr(norm, name)[target])
            source = target
    return wide
