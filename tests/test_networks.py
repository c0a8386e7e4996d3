"""Networks: shapes, parameter counts against the reference architectures, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from clustercat.processing import cnn_train
from clustercat.processing.networks import (
    VGG19BN,
    ResNet18,
    UnknownArchitectureError,
    VianaAgeNet,
    build_network,
    choose_device,
    count_parameters,
)


def test_parameter_counts_match_the_reference_architectures() -> None:
    # torchvision resnet18 / vgg19_bn at 3 channels and 1000 classes
    assert count_parameters(ResNet18(3, 1000)) == 11_689_512
    assert count_parameters(VGG19BN(3, 1000)) == 143_678_248
    # ours: 5 bands, 4 classes
    assert count_parameters(ResNet18(5, 4)) == 11_184_836
    assert count_parameters(VGG19BN(5, 4)) == 139_598_788
    # Viana et al. Table 2 (derived in the extract): 39,394,817 at 5 bands, 39,390,209 at 1
    assert count_parameters(VianaAgeNet(5, 112)) == 39_394_817
    assert count_parameters(VianaAgeNet(1, 112)) == 39_390_209


@pytest.mark.parametrize("px", [16, 32])
def test_output_shapes(px: int) -> None:
    torch.set_num_threads(1)
    x = torch.zeros(3, 5, px, px)
    assert ResNet18(width=0.125, small_input=True)(x).shape == (3, 4)
    assert ResNet18(width=0.125)(x).shape == (3, 4)
    if px >= 32:
        assert VGG19BN(width=0.0625, hidden=32)(x).shape == (3, 4)
    else:
        with pytest.raises(ValueError, match="at least 32 px"):
            VGG19BN(width=0.0625, hidden=32)(x)
    if px >= 22:
        assert VianaAgeNet(5, px, width=0.0625)(x).shape == (3,)
    else:
        with pytest.raises(ValueError, match="at least 22 px"):
            VianaAgeNet(5, px)


def test_build_network_and_device() -> None:
    assert isinstance(build_network("ResNet-18", width=0.125), ResNet18)
    assert isinstance(build_network("vgg19_bn", width=0.0625), VGG19BN)
    with pytest.raises(UnknownArchitectureError, match="alexnet"):
        build_network("alexnet")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device().type == expected


def test_cpu_training_is_deterministic_and_learns() -> None:
    """Two runs with one seed give identical weights; the classes (a bright centre vs a
    ring) are learnt; augmentation keeps rotations and flips."""
    rng = np.random.default_rng(0)
    n, px = 64, 12
    yy, xx = np.mgrid[:px, :px]
    r = np.hypot(xx - 5.5, yy - 5.5)
    y = rng.integers(1, 3, n)
    x = np.where((y == 1)[:, None, None], np.exp(-(r**2) / 4), np.exp(-((r - 4) ** 2)))
    x = np.repeat(x[:, None], 5, axis=1) + rng.normal(0, 0.05, (n, 5, px, px))
    s = cnn_train.TrainSettings(epochs=6, patience=6, width=0.125, small_input=True, threads=1,
                                normalisation="none", learning_rate=5e-3)  # fmt: skip
    a = cnn_train.train_classifier(x, y, "resnet18", s)
    b = cnn_train.train_classifier(x, y, "resnet18", s)
    for k in a.state_dict:
        torch.testing.assert_close(a.state_dict[k], b.state_dict[k], rtol=0, atol=0)
    pred = cnn_train.predict_proba(a, x).argmax(axis=1) + 1
    assert (pred == y).mean() > 0.9
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(8, 1, 1, 1)
    out = cnn_train.augment(t, gen)
    for k in range(8):
        variants = [torch.rot90(t[0], r, (1, 2)) for r in range(4)]
        variants += [torch.flip(v, (2,)) for v in variants]
        assert any(torch.equal(out[k], v) for v in variants)


def test_ensemble_vote_mode_fraction_and_ties() -> None:
    p = np.zeros((3, 2, 4))
    p[0, 0, 0] = p[1, 0, 0] = 0.9  # two of three say class 1
    p[2, 0, 1] = 0.9
    p[0, 1, 2], p[1, 1, 3], p[2, 1, 1] = 0.6, 0.9, 0.7  # a three-way tie: largest mean wins
    mode, frac, mean = cnn_train.ensemble_vote(p)
    assert mode.tolist() == [1, 4] and frac.tolist() == pytest.approx([2 / 3, 1 / 3])
    assert mean.shape == (2, 4)
    m = cnn_train.classification_metrics([1, 1, 2, 3, 4, 4], [1, 2, 2, 3, 4, 1])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["1"] == {"precision": 0.5, "recall": 0.5, "n_true": 2,
                                   "n_predicted": 2}  # fmt: skip
    assert m["confusion_matrix"][0] == [1, 1, 0, 0]
    assert m["agreement"]["3"] == pytest.approx(1.0)


def test_too_few_classes_and_band_mismatch_are_refused() -> None:
    x = np.zeros((6, 5, 12, 12), np.float32)
    with pytest.raises(cnn_train.TrainingDataError, match="at least two"):
        cnn_train.train_classifier(x, [1] * 6, "resnet18", cnn_train.TrainSettings(epochs=1))
    s = cnn_train.TrainSettings(epochs=1, width=0.0625, small_input=True, threads=1)
    net = cnn_train.train_classifier(x, [1, 2] * 3, "resnet18", s)
    with pytest.raises(cnn_train.TrainingDataError, match="4 bands but the model takes 5"):
        cnn_train.predict_proba(net, np.zeros((2, 4, 12, 12), np.float32))


def test_age_metrics_follow_viana() -> None:
    true = np.array([6.0, 7.0, 8.0, 9.0])
    pred = true + np.array([0.1, -0.2, 0.3, -0.4])
    assert cnn_train.age_scatter(pred, true) == pytest.approx(1.49 * 0.25)
    m = cnn_train.age_metrics(pred, true, 7.5)
    assert m["null_scatter_dex"] == pytest.approx(1.49 * 1.0)
    assert m["predictive_power_pct"] == pytest.approx(100 * (1.49**2 - 0.3725**2) / 1.49**2)
