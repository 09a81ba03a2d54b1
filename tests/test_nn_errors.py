"""Bad input to polyphase.nn: a ValueError (TypeError for a wrong type) naming the
parameter, wherever PyTorch rejects the same call (checked when it is installed)."""

import numpy as np
import pytest

from polyphase import nn

x1, x2 = np.ones((1, 4, 8)), np.ones((1, 4, 8, 8))
w1, w2 = np.ones((6, 2, 3)), np.ones((6, 2, 3, 3))
wt1 = np.ones((4, 3, 3))

# (function, args, kwargs, exception, pattern in the message)
CASES = {
    "groups-not-dividing-out-channels": ("conv1d", (x1, np.ones((5, 2, 3))), dict(groups=2),
                                         ValueError, "groups"),
    "groups-vs-input-channels": ("conv1d", (np.ones((1, 3, 8)), np.ones((6, 1, 3))),
                                 dict(groups=2), ValueError, "input"),
    "channel-mismatch": ("conv1d", (np.ones((1, 5, 8)), w1), dict(groups=2), ValueError,
                         "channels"),
    "weight-rank-1d": ("conv1d", (x1, np.ones((6, 4))), {}, ValueError, "weight"),
    "weight-rank-2d": ("conv2d", (x2, np.ones((6, 4, 3))), {}, ValueError, "weight"),
    "weight-empty": ("conv1d", (x1, np.ones((6, 2, 0))), dict(groups=2), ValueError, "weight"),
    "input-rank": ("conv1d", (np.ones(8), w1), dict(groups=2), ValueError, "input"),
    "input-rank-2d": ("conv2d", (np.ones((1, 1, 4, 8, 8)), w2), {}, ValueError, "input"),
    "stride-zero": ("conv1d", (x1, w1), dict(stride=0, groups=2), ValueError, "stride"),
    "stride-negative": ("conv2d", (x2, w2), dict(stride=(1, -1), groups=2), ValueError,
                        "stride"),
    "stride-length": ("conv2d", (x2, w2), dict(stride=(1, 2, 3), groups=2), ValueError,
                      "stride"),
    "stride-not-integer": ("conv1d", (x1, w1), dict(stride=1.5, groups=2), ValueError,
                           "stride"),
    "stride-string": ("conv1d", (x1, w1), dict(stride="2", groups=2), TypeError, "stride"),
    "padding-negative": ("conv1d", (x1, w1), dict(padding=-1, groups=2), ValueError,
                         "padding"),
    "padding-same-strided": ("conv1d", (x1, w1), dict(padding="same", stride=2, groups=2),
                             ValueError, "padding"),
    "padding-string": ("conv2d", (x2, w2), dict(padding="full", groups=2), ValueError,
                       "padding"),
    "dilation-zero": ("conv1d", (x1, w1), dict(dilation=0, groups=2), ValueError, "dilation"),
    "groups-zero": ("conv1d", (x1, w1), dict(groups=0), ValueError, "groups"),
    "kernel-larger-than-input": ("conv1d", (x1, np.ones((6, 2, 10))), dict(groups=2),
                                 ValueError, "Kernel size"),
    "dilated-kernel-larger": ("conv2d", (x2, w2), dict(dilation=4, groups=2), ValueError,
                              "Kernel size"),
    "bias-length": ("conv1d", (x1, w1, np.ones(5)), dict(groups=2), ValueError, "bias"),
    "bias-rank": ("conv2d", (x2, w2, np.ones((6, 1))), dict(groups=2), ValueError, "bias"),
    "output-padding-too-large": ("conv_transpose1d", (x1, wt1),
                                 dict(stride=2, output_padding=2), ValueError,
                                 "output_padding"),
    "output-padding-2d": ("conv_transpose2d", (x2, np.ones((4, 3, 3, 3))),
                          dict(stride=(1, 2), output_padding=(0, 2)), ValueError,
                          "output_padding"),
    "output-padding-negative": ("conv_transpose1d", (x1, wt1),
                                dict(stride=2, output_padding=-1), ValueError,
                                "output_padding"),
    "transposed-groups": ("conv_transpose1d", (x1, wt1), dict(groups=3), ValueError, "groups"),
    "transposed-channels": ("conv_transpose1d", (x1, np.ones((5, 3, 3))), {}, ValueError,
                            "input"),
    "transposed-padding-string": ("conv_transpose1d", (x1, wt1), dict(padding="same"),
                                  ValueError, "padding"),
    "transposed-output-too-small": ("conv_transpose1d", (np.ones((1, 4, 1)),
                                                         np.ones((4, 3, 1))),
                                    dict(padding=2), ValueError, "too small"),
    "transposed-bias": ("conv_transpose1d", (x1, wt1, np.ones(4)), {}, ValueError, "bias"),
    "shuffle-channels": ("pixel_shuffle", (np.ones((1, 5, 3, 3)), 2), {}, ValueError,
                         "upscale_factor"),
    "shuffle-factor": ("pixel_shuffle", (np.ones((1, 4, 3, 3)), 0), {}, ValueError,
                       "upscale_factor"),
    "shuffle-rank": ("pixel_shuffle", (np.ones((4, 3)), 2), {}, ValueError, "input"),
    "unshuffle-height": ("pixel_unshuffle", (np.ones((1, 1, 5, 4)), 2), {}, ValueError,
                         "downscale_factor"),
    "unshuffle-width": ("pixel_unshuffle", (np.ones((1, 1, 4, 5)), 2), {}, ValueError,
                        "downscale_factor"),
    "unshuffle-factor": ("pixel_unshuffle", (np.ones((1, 1, 4, 4)), 0), {}, ValueError,
                         "downscale_factor"),
    "interpolate-bilinear-3d": ("interpolate", (np.ones((1, 1, 4)),),
                                dict(scale_factor=2, mode="bilinear"), ValueError, "mode"),
    "interpolate-linear-4d": ("interpolate", (np.ones((1, 1, 4, 4)),),
                              dict(scale_factor=2, mode="linear"), ValueError, "mode"),
    "interpolate-nearest-align": ("interpolate", (np.ones((1, 1, 4, 4)),),
                                  dict(scale_factor=2, align_corners=True), ValueError,
                                  "align_corners"),
    "interpolate-size-and-scale": ("interpolate", (np.ones((1, 1, 4, 4)),),
                                   dict(size=8, scale_factor=2), ValueError, "size"),
    "interpolate-neither": ("interpolate", (np.ones((1, 1, 4, 4)),), {}, ValueError,
                            "scale_factor"),
    "interpolate-mode": ("interpolate", (np.ones((1, 1, 4, 4)),),
                         dict(scale_factor=2, mode="cubic"), ValueError, "mode"),
    "interpolate-scale-length": ("interpolate", (np.ones((1, 1, 4, 4)),),
                                 dict(scale_factor=(2, 2, 2)), ValueError, "scale_factor"),
    "interpolate-scale-zero": ("interpolate", (np.ones((1, 1, 4, 4)),),
                               dict(scale_factor=0), ValueError, "scale_factor"),
    "interpolate-rank": ("interpolate", (np.ones((4, 4)),), dict(scale_factor=2), ValueError,
                         "input"),
    "grad-input-shape": ("grad.conv1d_input", ((1, 4, 8), w1, np.ones((1, 6, 5))),
                         dict(groups=2), ValueError, "grad_output"),
    "grad-weight-shape": ("grad.conv1d_weight", (x1, (6, 2, 3), np.ones((1, 6, 5))),
                          dict(groups=2), ValueError, "grad_output"),
}


def _resolve(module, name):
    for part in name.split("."):
        module = getattr(module, part)
    return module


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_names_the_parameter(case):
    fname, args, kwargs, exc, pattern = CASES[case]
    with pytest.raises(exc, match=pattern):
        _resolve(nn, fname)(*args, **kwargs)


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_rejects_the_same_call(case):
    torch = pytest.importorskip("torch")
    fname, args, kwargs, _, _ = CASES[case]
    module = torch.nn.grad if fname.startswith("grad.") else torch.nn.functional
    targs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    if "stride" in kwargs and isinstance(kwargs["stride"], float):
        kwargs = dict(kwargs, stride=1.5)
    with pytest.raises(Exception):
        _resolve(module, fname.split(".")[-1])(*targs, **kwargs)


def test_errors_at_layer_construction():
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(np.ones((1, 1, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(np.ones((3, 1, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="output_size"):
        nn.Conv1d(np.ones((1, 1, 3)))(np.ones((1, 1, 5)), output_size=(3,))
    with pytest.raises(ValueError, match="output_size"):
        nn.ConvTranspose1d(np.ones((1, 1, 3)), stride=2)(np.ones((1, 1, 4)), output_size=(20,))
    with pytest.raises(ValueError, match="output_size"):
        nn.ConvTranspose1d(np.ones((1, 1, 3)))(np.ones((1, 1, 4)), mode="full",
                                               output_size=(6,))
    with pytest.raises(TypeError, match="weight"):
        nn.Conv1d(np.array([["a"]]))


def test_documented_limitations():
    # not an error in torch: non-integer factors outside align_corners=True
    with pytest.raises(ValueError, match="scale_factor"):
        nn.interpolate(np.ones((1, 1, 4, 4)), scale_factor=2.5, mode="bilinear")
    with pytest.raises(ValueError, match="scale_factor"):
        nn.interpolate(np.ones((1, 1, 4)), size=6)
    # torch raises on a dtype mismatch; we compute in the input's dtype
    assert nn.conv1d(np.ones((1, 1, 4), np.float32), np.ones((1, 1, 2))).dtype == np.float32
