"""What makes each method that method: IPE's values and frame, DIINN's nearest
latent, SIREN's initialisation, A-LIIF's scores, the papers' layer sizes, and
that training gradients reach every parameter through `model(lr, coord, cell)`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inference import checkpoint, registry
from inference.methods.base import FeatureWindow, nearest_latent
from inference.methods.ipe_liif import integrated_positional_encoding
from inference.methods.liif_siren import SirenMLP

# A small encoder keeps these tests fast; they are about the decoders.
TINY_ENCODER = {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}}
MINE = ["ipe-liif", "diinn", "liif-siren", "a-liif"]


def tiny(name: str, **args) -> torch.nn.Module:
    torch.manual_seed(0)
    return registry.build(name, encoder_spec=TINY_ENCODER, **args).eval()


def prepared_window(model: torch.nn.Module, h: int = 8, w: int = 10, seed: int = 0
                    ) -> tuple[FeatureWindow, torch.Tensor]:
    torch.manual_seed(seed)
    lr = torch.rand(1, 3, h, w) * 2 - 1
    with torch.no_grad():
        feat = model.encode_normalised(lr)
        return FeatureWindow.whole(model.prepare(F.pad(feat, [model.feature_halo] * 4))), feat


def decoder_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("encoder."))


# ---------------------------------------------------------------- IPE-LIIF

def test_ipe_matches_hand_computation() -> None:
    centre = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    radius = torch.tensor([[0.25, 0.1]], dtype=torch.float64)
    got = integrated_positional_encoding(centre, radius, 3)[0].numpy()
    sines, cosines = [], []
    for k in range(3):
        omega = 2.0 ** k  # no factor pi
        for c, r in ((0.3, 0.25), (-0.7, 0.1)):
            damping = math.sin(omega * r) / (omega * r)
            sines.append(math.sin(omega * c) * damping)
            cosines.append(math.cos(omega * c) * damping)
    np.testing.assert_allclose(got, sines + cosines, rtol=1e-12, atol=1e-12)


def test_ipe_becomes_plain_pe_as_the_pixel_shrinks() -> None:
    centre = torch.tensor([[0.4, -0.2]], dtype=torch.float64)
    omega = 2.0 ** torch.arange(10, dtype=torch.float64)
    wc = (centre.unsqueeze(-1) * omega).transpose(-1, -2).flatten(-2)
    plain = torch.cat((torch.sin(wc), torch.cos(wc)), -1)
    previous = math.inf
    # The highest frequency is 2^9 = 512, so sinc(512 r) -> 1 once r << 1/512.
    for r in (1e-3, 1e-4, 1e-5, 1e-6):
        gap = (integrated_positional_encoding(centre, torch.full_like(centre, r), 10) - plain).abs().max().item()
        assert gap < previous
        previous = gap
    assert previous < 1e-6
    exact = integrated_positional_encoding(centre, torch.zeros_like(centre), 10)
    assert torch.isfinite(exact).all()
    torch.testing.assert_close(exact, plain)


@pytest.mark.parametrize(("scale", "cell_yx"), [(3.7, None), (1.6, None), (5.0, (1 / 5.0, 1 / 2.5))])
def test_ipe_is_the_average_of_pe_over_the_output_pixel(scale: float, cell_yx: tuple[float, float] | None) -> None:
    """The radius is one output pixel in LIIF's frame: averaging plain PE over
    the output pixel's footprint (image units -> that latent's [-1, 1] frame)
    gives the encoding the model uses, per axis on an anisotropic lattice."""
    model = tiny("ipe-liif")
    cell = torch.tensor(cell_yx or (1 / scale, 1 / scale), dtype=torch.float64)
    q = torch.tensor([[4.31, 6.62]], dtype=torch.float64)
    iy, ix, rel = nearest_latent(q, 8, 10)
    # Midpoints of the footprint; each PE component depends on one axis, so a
    # diagonal run of samples averages every axis over its full extent.
    u = (torch.arange(20000, dtype=torch.float64) + 0.5) / 20000 - 0.5
    samples = q + u[:, None] * cell
    centre = torch.stack((iy, ix), -1).to(torch.float64) + 0.5
    rel_samples = 2.0 * (samples - centre)
    expected = integrated_positional_encoding(rel_samples, torch.zeros_like(rel_samples), 10).mean(0)
    got = model.encode_query(rel, cell[None])[0]
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_ipe_liif_sees_no_cell_but_is_scale_aware() -> None:
    model = tiny("ipe-liif")
    latent = model.latent_dim
    assert model.layers[0].in_features == latent + 40  # [z, IPE], no coordinate or cell columns
    # Skip connections: every later hidden layer sees [h, z, IPE].
    assert [layer.in_features for layer in model.layers[1:]] == [256 + latent + 40] * 3
    window, _ = prepared_window(model)
    coord = torch.tensor([[[3.3, 4.8]]])
    with torch.no_grad():
        a = model.query(window, coord, torch.full((1, 1, 2), 1 / 2.0))
        b = model.query(window, coord, torch.full((1, 1, 2), 1 / 8.0))
    assert (a - b).abs().max() > 1e-4


# ---------------------------------------------------------------- DIINN

def test_diinn_reads_only_the_latent_the_query_falls_in() -> None:
    model = tiny("diinn")
    window, _ = prepared_window(model)
    iy, ix = 3, 4
    coord = torch.tensor([[[iy + 0.1, ix + 0.2], [iy + 0.5, ix + 0.5], [iy + 0.93, ix + 0.07]]])
    cell = torch.full((1, 3, 2), 0.25)
    with torch.no_grad():
        before = model.query(window, coord, cell)
        # Replace every other LR pixel's prepared values: no change inside (iy, ix).
        scrambled = {}
        for name, t in window.tensors.items():
            noise = torch.randn_like(t) * 5
            noise[..., iy, ix] = t[..., iy, ix]
            scrambled[name] = noise
        after = model.query(FeatureWindow.whole(scrambled), coord, cell)
    torch.testing.assert_close(before, after, atol=0, rtol=0)


def test_diinn_output_depends_on_position_only_through_p() -> None:
    """With the same latent everywhere, queries at the same place inside
    different LR pixels give the same colour: position enters only through the
    local coordinate and 1/s; and a different place in the pixel changes it."""
    model = tiny("diinn")
    window, _ = prepared_window(model)
    uniform = FeatureWindow.whole({n: t[..., 2:3, 3:4].expand_as(t).contiguous() for n, t in window.tensors.items()})
    # Binary fractions: the local coordinates of the first two are bit-equal.
    coord = torch.tensor([[[2.25, 3.75], [6.25, 8.75], [2.625, 3.125]]])
    cell = torch.full((1, 3, 2), 1 / 3.0)
    with torch.no_grad():
        out = model.query(uniform, coord, cell)
        other_scale = model.query(uniform, coord, torch.full((1, 3, 2), 1 / 6.0))
    assert torch.equal(out[0, 0], out[0, 1])
    assert not torch.equal(out[0, 0], out[0, 2])
    assert not torch.equal(out, other_scale)  # the 1/s channel is used


def test_diinn_positional_input_is_local_coordinate_and_inverse_scale() -> None:
    model = tiny("diinn")
    assert model.synthesis[0].in_features == 3
    rel = torch.tensor([[0.5, -0.25]])
    p = model.positional_input(rel, torch.tensor([[1 / 4.0, 1 / 2.0]]))
    torch.testing.assert_close(p, torch.tensor([[0.5, -0.25, 0.375]]))  # mean 1/s over the two axes


# ---------------------------------------------------------------- LIIF-SIREN

@pytest.mark.parametrize("omega0", [30.0, 15.0])
def test_siren_initialisation_ranges(omega0: float) -> None:
    torch.manual_seed(0)
    mlp = SirenMLP(580, [256, 256, 256, 256], 3, omega0)
    for i, layer in enumerate(mlp.layers):
        n = layer.in_features
        bound = 1 / n if i == 0 else math.sqrt(6 / n) / omega0
        w = layer.weight.detach()
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.9 * bound  # fills the range, not a narrower one
        # Uniform on [-b, b]: standard deviation b / sqrt(3).
        assert abs(w.std().item() - bound / math.sqrt(3)) < 0.1 * bound


def test_siren_uses_scaled_sine_activations() -> None:
    torch.manual_seed(0)
    mlp = SirenMLP(5, [7, 6], 3, 30.0)
    x = torch.randn(4, 5)
    h = x
    for layer in mlp.layers[:-1]:
        h = torch.sin(30.0 * (h @ layer.weight.t() + layer.bias))
    expected = h @ mlp.layers[-1].weight.t() + mlp.layers[-1].bias
    torch.testing.assert_close(mlp(x), expected)


def test_liif_siren_keeps_liifs_layout() -> None:
    model = tiny("liif-siren")
    assert [layer.in_features for layer in model.imnet.layers] == [model.latent_dim + 4, 256, 256, 256, 256]
    assert model.imnet.layers[-1].out_features == 3


# ---------------------------------------------------------------- A-LIIF

@pytest.mark.parametrize("mixing", ["weights", "outputs"])
def test_aliif_scores_have_unit_l2_norm(mixing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny("a-liif", mixing=mixing)
    window, _ = prepared_window(model)
    seen: list[torch.Tensor] = []
    original = model.scores

    def recording(first: torch.Tensor) -> torch.Tensor:
        c = original(first)
        seen.append(c)
        return c

    monkeypatch.setattr(model, "scores", recording)
    coord = torch.rand(1, 200, 2) * torch.tensor([8.0, 10.0])
    with torch.no_grad():
        model.query(window, coord, torch.full((1, 200, 2), 0.3))
    assert len(seen) == 4  # one set of scores per ensemble member
    for c in seen:
        assert c.shape == (1, 200, 10)
        torch.testing.assert_close(c.norm(dim=-1), torch.ones(1, 200))
    # L2 normalisation, not a softmax: scores can be negative.
    assert any((c < 0).any() for c in seen)


def test_aliif_prepares_expansion_and_basis_first_layers() -> None:
    model = tiny("a-liif")
    window, _ = prepared_window(model)
    assert window.tensors["e0"].shape[1] == 256
    assert window.tensors["b0"].shape[1] == 10 * 16


def test_aliif_weight_mixing_is_one_mlp_per_query() -> None:
    """Identical bases: weight mixing is that MLP with every layer scaled by
    the sum of the scores, output mixing is the MLP's output times that sum."""
    model = tiny("a-liif")
    with torch.no_grad():
        first = model.basis_first.weight.view(10, 16, -1)
        first.copy_(first[:1].expand_as(first))
        model.basis_first.bias.view(10, 16).copy_(model.basis_first.bias.view(10, 16)[:1].expand(10, 16))
        for w, b in zip(model.basis_weights, model.basis_biases):
            w.copy_(w[:1].expand_as(w))
            b.copy_(b[:1].expand_as(b))
        x = torch.randn(6, model.latent_dim + 4)
        c = F.normalize(torch.randn(6, 10), dim=-1)
        total = c.sum(-1, keepdim=True)
        got = model.mix_bases(c, model.basis_first(x))
        h = x
        layers = [(model.basis_first.weight[:16], model.basis_first.bias[:16])] + \
            [(w[0], b[0]) for w, b in zip(model.basis_weights, model.basis_biases)]
        for i, (w, b) in enumerate(layers):
            h = total * (h @ w.t() + b)
            if i + 1 < len(layers):
                h = torch.relu(h)
        torch.testing.assert_close(got, h, atol=1e-5, rtol=1e-5)
        model.mixing = "outputs"
        single = x
        for i, (w, b) in enumerate(layers):
            single = single @ w.t() + b
            if i + 1 < len(layers):
                single = torch.relu(single)
        torch.testing.assert_close(model.mix_bases(c, model.basis_first(x)), total * single, atol=1e-5, rtol=1e-5)


def test_aliif_rejects_unknown_mixing() -> None:
    with pytest.raises(ValueError, match="mixing"):
        registry.build("a-liif", encoder_spec=TINY_ENCODER, mixing="softmax")


# ---------------------------------------------------------------- all four

def test_parameter_counts_follow_the_papers_layer_sizes() -> None:
    """Decoder sizes derived from each paper's layer list (full EDSR-baseline
    encoder, 64 x 9 = 576 latent channels); the encoder is the shared 1.22 M."""
    z = 576
    lin = lambda i, o: i * o + o  # noqa: E731
    expected = {
        # [z, IPE(40)] -> 256; 3 x ([h, z, IPE] -> 256); 256 -> 3
        "ipe-liif": lin(z + 40, 256) + 3 * lin(256 + z + 40, 256) + lin(256, 3),
        # modulation z -> 256, 3 x [s, z] -> 256; synthesis 3 -> 256, 3 x 256 -> 256; 256 -> 3
        "diinn": lin(z, 256) + 3 * lin(256 + z, 256) + lin(3, 256) + 3 * lin(256, 256) + lin(256, 3),
        # LIIF's 580 -> 256 x 4 -> 3
        "liif-siren": lin(z + 4, 256) + 3 * lin(256, 256) + lin(256, 3),
        # expansion 580 -> 256 x 4 -> 10; ten bases 580 -> 16 x 4 -> 3
        "a-liif": lin(z + 4, 256) + 3 * lin(256, 256) + lin(256, 10)
        + 10 * (lin(z + 4, 16) + 3 * lin(16, 16) + lin(16, 3)),
    }
    for name, count in expected.items():
        model = registry.build(name)
        assert decoder_parameters(model) == count, name
        encoder = sum(p.numel() for p in model.encoder.parameters())
        assert 1.1e6 < encoder < 1.3e6
        assert 0.3e6 < count < 1.1e6  # same order as LIIF's 0.35 M decoder


@pytest.mark.parametrize("method", MINE)
def test_training_gradients_reach_every_parameter(method: str) -> None:
    torch.manual_seed(1)
    model = tiny(method).train()
    lr = torch.rand(2, 3, 8, 9) * 2 - 1
    coord = torch.rand(2, 64, 2) * torch.tensor([8.0, 9.0])
    cell = torch.full((2, 64, 2), 1 / 3.0)
    loss = (model(lr, coord, cell) - torch.rand(2, 64, 3)).abs().mean()
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not dead, f"no gradient reaches {dead}"


@pytest.mark.parametrize(("method", "args"), [
    ("ipe-liif", {"frequencies": 6, "hidden": [32, 32, 32]}),
    ("diinn", {"width": 32, "depth": 3}),
    ("liif-siren", {"hidden": [32, 32], "omega0": 15.0}),
    ("a-liif", {"expansion_hidden": [32, 32], "bases": 4, "basis_hidden": [8, 8], "mixing": "outputs"}),
])
def test_checkpoint_arguments_rebuild_the_model(method: str, args: dict, tmp_path) -> None:
    model = tiny(method, **args)
    full_args = {"encoder_spec": TINY_ENCODER, **args}
    path = tmp_path / f"{method}.safetensors"
    checkpoint.save(path, model, method, full_args)
    rebuilt = checkpoint.load(path).build().eval()
    window, feat = prepared_window(model)
    coord = torch.rand(1, 50, 2) * torch.tensor([8.0, 10.0])
    cell = torch.full((1, 50, 2), 0.2)
    with torch.no_grad():
        a = model.query(window, coord, cell)
        b = rebuilt.query(FeatureWindow.whole(rebuilt.prepare(F.pad(feat, [1] * 4))), coord, cell)
    torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_siren_decoder_stays_fp32_under_half_precision_autocast() -> None:
    """sin(30 x) would turn bf16/fp16 rounding of x into visible noise."""
    model = tiny("liif-siren")
    _, feat = prepared_window(model)
    coord = torch.rand(1, 100, 2) * torch.tensor([8.0, 10.0])
    cell = torch.full((1, 100, 2), 0.2)
    with torch.no_grad():
        ref = model.query(FeatureWindow.whole(model.prepare(F.pad(feat, [1] * 4))), coord, cell)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            window = FeatureWindow.whole(model.prepare(F.pad(feat.bfloat16().float(), [1] * 4)))
            half = model.query(window, coord, cell)
    assert half.dtype == torch.float32
    # Only the bf16 storage of the features differs; the decoder adds no rounding of its own.
    with torch.no_grad():
        stored = model.query(FeatureWindow.whole(model.prepare(F.pad(feat.bfloat16().float(), [1] * 4))), coord, cell)
    torch.testing.assert_close(half, stored, atol=1e-6, rtol=0)
    assert (ref - stored).abs().max() < 0.05
