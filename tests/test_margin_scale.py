"""The margin-aware scale in the API and on the command line."""

import json

import pytest
import torch

from snnmath import cli, init, theory


def test_snn_normal_with_slope_draws_the_margin_aware_variance():
    weight = torch.empty(4000, 400)
    init.snn_normal_(weight, threshold=1.0, slope=0.5, generator=torch.Generator().manual_seed(0))
    target = float(theory.margin_variance(1.0, 0.5))
    expected = float(theory.weight_variance(400, 1.0, target))
    assert init.snn_variance(400, 1.0, slope=0.5) == pytest.approx(expected, rel=1e-14)
    # sample variance of 1.6e6 normal draws: relative standard error sqrt(2/1.6e6) ≈ 1.1e-3; 6 of them
    assert weight.double().var().item() == pytest.approx(expected, rel=6 * (2 / weight.numel()) ** 0.5)


def test_slope_keeps_unit_variance_where_it_already_has_the_margin():
    assert init.snn_variance(100, 0.5, slope=0.5) == init.snn_variance(100, 0.5)


def test_apply_passes_slope():
    net = torch.nn.Sequential(torch.nn.Linear(100, 50))
    init.apply_(net, "snn", threshold=1.0, slope=0.5, generator=torch.Generator().manual_seed(0))
    assert net[0].weight.var().item() == pytest.approx(init.snn_variance(100, 1.0, slope=0.5), rel=0.1)


@pytest.mark.parametrize("kwargs", [dict(slope=0.0), dict(slope=1.5), dict(slope=float("nan")),
                                    dict(slope=0.5, target_variance=2.0), dict(slope=0.5, beta=0.9, steps=10)])
def test_bad_slope_is_refused(kwargs):
    with pytest.raises(ValueError, match="slope"):
        init.snn_variance(100, 1.0, **kwargs)


def test_cli_scale_and_fixed_points_with_slope(capsys):
    assert cli.main(["scale", "--fan-in", "784", "--threshold", "1", "--slope", "0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["map_slope"] == pytest.approx(0.5, rel=1e-10)
    assert result["variance"] == pytest.approx(init.snn_variance(784, 1.0, slope=0.5), rel=1e-14)
    assert cli.main(["fixed-points", "--threshold", "1", "--slope", "0.5", "--json"]) == 0
    points = json.loads(capsys.readouterr().out)["fixed_points"]
    assert points[-1]["variance"] == pytest.approx(result["target_variance"], rel=1e-9) and points[-1]["stable"]
    assert cli.main(["scale", "--fan-in", "10", "--slope", "2"]) != 0
    assert "--slope" in capsys.readouterr().err
