import torch

from policy.resnet import FrozenBatchNorm2d, ResNet18


def test_resnet18_matches_torchvision_layout():
    net = ResNet18(norm="batch", include_top=True)
    sd = net.state_dict()
    # torchvision.models.resnet18(): 122 state_dict entries, 11,689,512 parameters
    assert len(sd) == 122
    assert sum(p.numel() for p in net.parameters()) == 11_689_512
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.num_batches_tracked", "layer4.1.bn2.bias", "fc.weight"):
        assert key in sd, key
    assert "layer1.0.downsample.0.weight" not in sd


def test_feature_map_and_frozen_norm_loads_batchnorm_weights():
    # seeded: with some draws the two float32 evaluation orders differ by more than 1e-5 absolute
    # after 20 layers; the comparison is about the loaded statistics, not about rounding
    torch.manual_seed(0)
    trained = ResNet18(norm="batch").eval()
    frozen = ResNet18(norm="frozen").eval()
    for m in trained.modules():  # non-trivial statistics, so the check means something
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    frozen.load_state_dict(trained.state_dict())  # num_batches_tracked is dropped by FrozenBatchNorm2d
    x = torch.randn(2, 3, 96, 128)
    out = frozen(x)
    assert out.shape == (2, 512, 3, 4)
    torch.testing.assert_close(out, trained(x), rtol=1e-3, atol=1e-4)
    assert isinstance(frozen.bn1, FrozenBatchNorm2d) and not list(frozen.bn1.parameters())
