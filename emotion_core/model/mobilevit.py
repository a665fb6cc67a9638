"""MobileViT XXS / XS / S (Mehta & Rastegari, 2021) in Keras 3, built-in layers only.

Built with the functional API from built-in layers (Conv2D, MultiHeadAttention,
Reshape, Permute, ...), so a saved `.keras` file reloads with plain
`keras.saving.load_model` and no custom_objects.

Architecture (paper, Table 4 / ml-cvnets):
    stem      conv3x3(16), stride s0
    layer1    MV2(c1), stride 1
    layer2    MV2(c2) stride s2, MV2(c2), MV2(c2)
    layer3    MV2(c3) stride 2, MobileViT block(d0, L=2)
    layer4    MV2(c4) stride 2, MobileViT block(d1, L=4)
    layer5    MV2(c5) stride 2, MobileViT block(d2, L=3)
    head      conv1x1(head), global average pool, dense(classes)
(widths c1..c5 and head per variant: `variants.VARIANTS`)

Stride plans (why and how they are chosen: `emotion_core.model.variants`); cheap early layers come first
(training speeds: README, benchmarks/train_throughput.py):

    input  48: (2, 1, 2, 2, 1)  block maps 12, 6, 6
    input  64: (2, 2, 2, 2, 1)  block maps  8, 4, 4
    input  96: (2, 2, 2, 2, 1)  block maps 12, 6, 6
    input 128: (2, 2, 2, 2, 2)  block maps 16, 8, 4   (the paper's plan)
    input 256: (2, 2, 2, 2, 2)  block maps 32, 16, 8  (the paper's plan)

Any multiple of 16 from 48 up has a plan; `strides=` overrides it.
"""

from __future__ import annotations

import keras
from keras import layers

from emotion_core.labels import NUM_CLASSES
from emotion_core.model.variants import NUM_HEADS, PATCH, VARIANTS, Strides, check_strides, plan_strides


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, act: bool = True):
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("swish", name=f"{name}_act")(x) if act else x


def inverted_residual(x, out_channels: int, stride: int, expansion: int, name: str):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project, residual when shapes match."""
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = _conv_bn(y, in_channels * expansion, 1, 1, f"{name}_expand")
    y = layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False, name=f"{name}_dw_conv")(y)
    y = layers.BatchNormalization(momentum=0.9, name=f"{name}_dw_bn")(y)
    y = layers.Activation("swish", name=f"{name}_dw_act")(y)
    y = _conv_bn(y, out_channels, 1, 1, f"{name}_project", act=False)
    if stride == 1 and in_channels == out_channels:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def transformer_layer(x, dim: int, name: str, dropout: float = 0.0):
    """Pre-norm transformer over axis 2 of (B, P, N, dim): attention among patches at each pixel slot."""
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
    y = layers.MultiHeadAttention(NUM_HEADS, dim // NUM_HEADS, attention_axes=(2,), dropout=dropout,
                                  name=f"{name}_mha")(y, y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
    y = layers.Dense(dim * 2, activation="swish", name=f"{name}_mlp1")(y)
    y = layers.Dropout(dropout, name=f"{name}_drop")(y)
    y = layers.Dense(dim, name=f"{name}_mlp2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


def mobilevit_block(x, dim: int, depth: int, name: str, dropout: float = 0.0):
    """Local 3x3 + 1x1 convs, unfold to 2x2 patches, transformers, fold, 1x1 back, fuse with input."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    local = _conv_bn(x, channels, 3, 1, f"{name}_local")
    local = layers.Conv2D(dim, 1, use_bias=False, name=f"{name}_to_dim")(local)
    nh, nw = height // PATCH, width // PATCH
    # Unfold: (B, H, W, d) -> (B, nh, 2, nw, 2, d) -> (B, 2, 2, nh, nw, d) -> (B, P=4, N=nh*nw, d)
    t = layers.Reshape((nh, PATCH, nw, PATCH, dim), name=f"{name}_unfold1")(local)
    t = layers.Permute((2, 4, 1, 3, 5), name=f"{name}_unfold2")(t)
    t = layers.Reshape((PATCH * PATCH, nh * nw, dim), name=f"{name}_unfold3")(t)
    for i in range(depth):
        t = transformer_layer(t, dim, f"{name}_tf{i}", dropout)
    t = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln")(t)
    # Fold: (B, 4, N, d) -> (B, 2, 2, nh, nw, d) -> (B, nh, 2, nw, 2, d) -> (B, H, W, d)
    t = layers.Reshape((PATCH, PATCH, nh, nw, dim), name=f"{name}_fold1")(t)
    t = layers.Permute((3, 1, 4, 2, 5), name=f"{name}_fold2")(t)
    t = layers.Reshape((height, width, dim), name=f"{name}_fold3")(t)
    t = _conv_bn(t, channels, 1, 1, f"{name}_proj")
    fused = layers.Concatenate(name=f"{name}_concat")([x, t])  # (B, H, W, 2C)
    return _conv_bn(fused, channels, 3, 1, f"{name}_fusion")


def build_mobilevit(
    variant: str = "xxs",
    input_size: int = 48,
    input_channels: int = 1,
    num_classes: int = NUM_CLASSES,
    strides: Strides | None = None,
    dropout: float = 0.1,
) -> keras.Model:
    """Build MobileViT for square inputs of raw pixel values in [0, 255].

    The first layer rescales to [0, 1]: the model owns its normalisation, so the
    training pipeline, the live pipeline and the TFLite file cannot disagree.
    """
    try:
        cfg = VARIANTS[variant.lower()]
    except KeyError:
        raise ValueError(f"Unknown variant {variant!r}: choose one of {', '.join(VARIANTS)}.") from None
    strides = tuple(strides) if strides is not None else plan_strides(input_size)
    check_strides(input_size, strides)
    w = cfg.widths
    inputs = keras.Input((input_size, input_size, input_channels), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)  # [0, 255] -> [0, 1]
    x = _conv_bn(x, w.stem, 3, strides[0], "stem")
    x = inverted_residual(x, w.layer1, 1, cfg.expansion, "l1_mv2")
    x = inverted_residual(x, w.layer2, strides[1], cfg.expansion, "l2_mv2a")
    x = inverted_residual(x, w.layer2, 1, cfg.expansion, "l2_mv2b")
    x = inverted_residual(x, w.layer2, 1, cfg.expansion, "l2_mv2c")
    stages = zip((w.layer3, w.layer4, w.layer5), cfg.dims, cfg.depths, strides[2:])
    for stage, (width, dim, depth, stride) in enumerate(stages, start=3):
        x = inverted_residual(x, width, stride, cfg.expansion, f"l{stage}_mv2")
        x = mobilevit_block(x, dim, depth, f"l{stage}_mvit", dropout)
    x = _conv_bn(x, w.head, 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    # float32 probabilities under a mixed-precision policy too (stable softmax and loss)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"mobilevit_{variant.lower()}")


def compile_model(model: keras.Model, learning_rate=1e-3, label_smoothing: float = 0.0, weight_decay: float = 0.0,
                  ema: bool = False, focal_gamma: float = 0.0) -> keras.Model:
    """Adam (AdamW with `weight_decay`, an exponential moving average of the weights with `ema`), categorical
    cross-entropy (focal with `focal_gamma` > 0), accuracy / precision / recall (micro, threshold 0.5)."""
    averaging = {"use_ema": True, "ema_momentum": 0.999} if ema else {}
    optimizer = (keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **averaging) if weight_decay
                 else keras.optimizers.Adam(learning_rate, **averaging))
    loss = (keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=focal_gamma, label_smoothing=label_smoothing)
            if focal_gamma else keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing))
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
        ],
    )
    return model
