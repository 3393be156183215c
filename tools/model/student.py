"""The cutbox student: MobileNetV2 encoder (ImageNet) + small U-Net decoder, built for int8.

Every op is Edge-TPU friendly (conv, depthwise conv, add, concat, resize-bilinear,
logistic): no transposed convolutions and no TRANSPOSE. The input is uint8-range RGB
(0..255 as float); the normalisation the backbone expects is the model's first layer, so
camera bytes go straight in after int8 conversion.
"""

from __future__ import annotations

import keras
from keras import layers

from tools import SHARED

BACKBONES = SHARED / "backbones"
BACKBONE_FILES = {
    1.0: "mnv2_1.0_tv_kerasapp_notop.weights.h5",
    0.35: "tm_mnv2_0.35_imagenet_notop.weights.h5",
}
# `[model] taps`: where the decoder reads the encoder, skips at stride 2, 4, 8 then the bottom
# (stride 16). "expanded" reads the wide ReLU expansions (96-576 channels); "narrow" reads the
# blocks' 16-96-channel outputs, which makes the 1x1 projections ~50 M MACs cheaper (what
# `context = 4` needs to fit the 0.5 GMAC cap).
TAPS = {
    "expanded": ("block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu"),
    "narrow": ("expanded_conv_project_BN", "block_2_add", "block_5_add", "block_12_add"),
}
# A run's [model] table before a key existed meant its value here.
MODEL_DEFAULTS = {"context": 0, "taps": "expanded"}
# `[model] context`: how many of the encoder's stride-32 blocks (ImageNet's most semantic ones,
# cut off below the bottom tap) feed back into the bottom; 0 = none. Each tap is where that block ends.
CONTEXT_TAPS = {1: "block_13_project_BN", 2: "block_14_add", 3: "block_15_add", 4: "block_16_project_BN"}
BN_MOMENTUM = 0.9  # Keras' 0.99/0.999 leaves inference-mode statistics stale after short runs


def _normaliser(width: float) -> layers.Layer:
    """x in 0..255 -> what the backbone was trained on (torch stats for 1.0, [-1,1] for 0.35)."""
    if width == 1.0:
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        scale = [1.0 / (255.0 * s) for s in std]
        offset = [-m / s for m, s in zip(mean, std)]
        return layers.Rescaling(scale=scale, offset=offset, name="normalise")
    return layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name="normalise")


def _sep_block(x, filters: int, name: str):
    """Depthwise 3x3 + pointwise 1x1, each with BN + ReLU6 (int8-friendly, cheap)."""
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_pw_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_pw_relu")(x)


def _project(x, filters: int, name: str):
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def build_student(
    size: int = 256,
    width: float = 1.0,
    decoder: tuple[int, int, int, int] = (96, 64, 48, 32),
    batch_size: int | None = None,
    pretrained: bool = True,
    context: int = 0,
    taps: str = "expanded",
) -> keras.Model:
    """Return the student; output is a foreground probability map at size/2.

    `batch_size=1` gives the static shapes the int8 converter wants; None is for training.
    `context` > 0 adds the stride-32 blocks as a linear branch (no ReLU, so its gradient flows
    from the start) upsampled and added to the bottom; it starts at zero (BatchNormalization
    gamma 0), so a student without it loads into this one (`load_matching`) and starts from
    the same function.
    """
    inp = keras.Input(shape=(size, size, 3), batch_size=batch_size, name="image")
    x = _normaliser(width)(inp)
    backbone = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=width, include_top=False, weights=None)
    if pretrained:
        backbone.load_weights(BACKBONES / BACKBONE_FILES[width])
    names = TAPS[taps] + ((CONTEXT_TAPS[context],) if context else ())
    encoder = keras.Model(backbone.input, [backbone.get_layer(n).output for n in names], name="encoder")
    for layer in encoder.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    s2, s4, s8, s16, *s32 = encoder(x)

    d = _project(s16, decoder[0], "bottom")
    if context:
        c = layers.Conv2D(decoder[0], 1, use_bias=False, name="context_conv")(s32[0])
        c = layers.BatchNormalization(momentum=BN_MOMENTUM, gamma_initializer="zeros", name="context_bn")(c)
        c = layers.UpSampling2D(2, interpolation="bilinear", name="context_up")(c)
        d = layers.Add(name="context_add")([d, c])
    for i, (skip, filters, skip_ch) in enumerate(((s8, decoder[1], 32), (s4, decoder[2], 24), (s2, decoder[3], 16))):
        d = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{i}")(d)
        d = layers.Concatenate(name=f"cat{i}")([d, _project(skip, skip_ch, f"skip{i}")])
        d = _sep_block(d, filters, f"dec{i}a")
        d = _sep_block(d, filters, f"dec{i}b")
    logits = layers.Conv2D(1, 3, padding="same", name="head")(d)
    prob = layers.Activation("sigmoid", name="prob")(logits)
    return keras.Model(inp, prob, name=f"cutbox_student_mnv2_{width}_{size}")


def model_config(m: dict) -> dict:
    """A run's [model] table with the keys added since it was written filled in."""
    return {**MODEL_DEFAULTS, **m}


def from_config(m: dict, **kw) -> keras.Model:
    """The student a run's [model] table describes."""
    m = model_config(m)
    return build_student(m["size"], m["width"], tuple(m["decoder"]), context=m["context"], taps=m["taps"], **kw)


def _leaves(m: keras.Model):
    """Every layer of `m`, nested models (the encoder) opened up."""
    for layer in m.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        else:
            yield layer


def load_matching(model: keras.Model, source: keras.Model) -> int:
    """Copy every weight of `source` whose layer name and shapes `model` shares (nested models
    included); returns how many layers were copied. For starting a larger student from a smaller."""
    src = {layer.name: layer for layer in _leaves(source) if layer.weights}
    n = 0
    for layer in _leaves(model):
        s = src.get(layer.name)
        if layer.weights and s is not None and [w.shape for w in s.weights] == [w.shape for w in layer.weights]:
            layer.set_weights(s.get_weights())
            n += 1
    return n


def pass_through(bn: layers.BatchNormalization, mean, var, bias) -> None:
    """Make `bn` output its input plus `bias` in both modes, given its input's per-channel
    statistics: inference mode exactly, training mode (batch statistics) about."""
    import numpy as np

    f32 = lambda v: np.asarray(v, np.float32)  # noqa: E731
    bn.set_weights([f32(np.sqrt(var + bn.epsilon)), f32(mean + bias), f32(mean), f32(var)])


def fit_new_projections(
    model: keras.Model, source: keras.Model, images, rows: int = 200_000, seed: int = 0
) -> list[str]:
    """Start the 1x1 projections whose input `model` changed (`taps`, `context`) so that each
    reproduces, by least squares on `images`, the pre-activation of the `source` layer of the
    same name; the rest of the decoder then sees what it was trained on instead of noise.
    Returns the names fitted; their BatchNormalizations pass the fit through (`pass_through`)."""
    import numpy as np

    old = {layer.name: layer for layer in source.layers}
    bn_of = lambda conv: conv.name.removesuffix("_conv") + "_bn"  # noqa: E731
    convs = [
        conv
        for conv in model.layers
        if isinstance(conv, layers.Conv2D)
        and conv.kernel_size == (1, 1)
        and conv.name.endswith("_conv")
        and conv.name in old
        and bn_of(conv) in old
        and old[conv.name].kernel.shape != conv.kernel.shape
    ]
    if not convs:
        return []
    # one pass of each model over the images for every layer's input and target
    xs = keras.Model(model.input, [c.input for c in convs])(images, training=False)
    ys = keras.Model(source.input, [old[bn_of(c)].output for c in convs])(images, training=False)
    rng = np.random.default_rng(seed)
    for conv, x, y in zip(convs, xs, ys, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
        pick = rng.choice(len(x), min(rows, len(x)), replace=False)
        x1 = np.concatenate([x[pick], np.ones((len(pick), 1), x.dtype)], axis=1).astype(np.float64)
        gram = x1.T @ x1 + 1e-3 * len(pick) * np.eye(x1.shape[1])
        wb = np.linalg.solve(gram, x1.T @ y[pick].astype(np.float64))
        w, b = wb[:-1], wb[-1]
        z = x[pick] @ w
        conv.set_weights([w.reshape(conv.kernel.shape).astype("float32")])
        pass_through(model.get_layer(bn_of(conv)), z.mean(0), z.var(0), b)
    return [conv.name for conv in convs]


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of conv/depthwise/dense layers (what the 0.5 GMAC budget counts)."""
    total = 0
    for layer in _leaves(model):
        if isinstance(layer, layers.DepthwiseConv2D):
            oh, ow, oc = layer.output.shape[1:]
            kh, kw = layer.kernel_size
            total += oh * ow * oc * kh * kw
        elif isinstance(layer, layers.Conv2D):
            oh, ow, oc = layer.output.shape[1:]
            kh, kw = layer.kernel_size
            ic = layer.input.shape[-1]
            total += oh * ow * oc * kh * kw * ic
    return int(total)
