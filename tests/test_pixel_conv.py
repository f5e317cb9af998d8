"""models/backbones.PixelConv2d: a one-pixel convolution output computed as one matrix product on
the CPU (the AVX2 fast path of the synthetic recipe, docs/scale.md) equals the convolution: output,
input gradient and weight gradient, at every shape where it applies, and it stays out of the way
everywhere else."""

import pytest
import torch
import torch.nn as nn

from zsarbench.models.backbones import PixelConv2d, frame_backbone, pixel_convolutions


def pair(cin, cout, k, s, p, bias, **kw):
    torch.manual_seed(0)
    a = nn.Conv2d(cin, cout, k, s, p, bias=bias, **kw)
    b = pixel_convolutions(nn.Sequential(nn.Conv2d(cin, cout, k, s, p, bias=bias, **kw)))[0]
    b.load_state_dict(a.state_dict())
    return a, b


# (in, out, input size, kernel, stride, padding, bias, applies): ResNet's 1 x 1 and 2 x 2 maps at 32^2 crops
SHAPES = [(8, 6, 1, 3, 1, 1, False, True), (8, 6, 2, 3, 2, 1, True, True), (8, 6, 2, 1, 2, 0, False, True),
          (8, 6, 1, 1, 1, 0, True, True), (5, 4, 3, 3, 1, 1, False, False), (5, 4, 3, 3, 2, 1, False, False),
          (4, 5, 5, 7, 2, 3, True, False), (3, 4, 4, 4, 1, 0, False, True)]


@pytest.mark.parametrize("cin,cout,hw,k,s,p,bias,applies", SHAPES)
def test_pixel_conv_equals_the_convolution(cin, cout, hw, k, s, p, bias, applies):
    a, b = pair(cin, cout, k, s, p, bias)
    x = torch.randn(3, cin, hw, hw).contiguous(memory_format=torch.channels_last).requires_grad_()
    assert (b._one_pixel(x) is not None) == applies
    ya, yb = a(x), b(x)
    assert ya.shape == yb.shape
    ga = torch.autograd.grad(ya.square().sum(), [x, a.weight])
    gb = torch.autograd.grad(yb.square().sum(), [x, b.weight])
    torch.testing.assert_close(yb, ya, rtol=1e-5, atol=1e-5)
    for u, v in zip(gb, ga):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-5)


def test_grouped_dilated_and_strided_maps_take_the_convolution():
    x = torch.randn(2, 4, 1, 1)
    assert pair(4, 4, 3, 1, 1, False, groups=2)[1]._one_pixel(x) is None
    assert pair(4, 4, 3, 1, 2, False, dilation=2)[1]._one_pixel(x) is None


def test_backbones_carry_it_with_their_state_dicts_unchanged():
    net, _ = frame_backbone("resnet18")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(type(m) is PixelConv2d for m in convs)
    plain = nn.Module.state_dict(net)
    ref = __import__("torchvision").models.resnet18(weights=None)
    ref.fc = nn.Identity()
    assert list(plain) == list(ref.state_dict())   # checkpoints load either way
    x = torch.randn(2, 3, 32, 32)
    ref.load_state_dict(plain)
    net.eval(), ref.eval()
    torch.testing.assert_close(net(x), ref(x), rtol=1e-4, atol=1e-4)
