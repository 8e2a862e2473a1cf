"""Sound specs through the smoothing API (certify, predict, sample_counts, certify_sequential), and the float
path's unsoundness made visible: a base classifier that reads the low-order bits of its float input votes
differently for two grid-equivalent inputs under the plain float path, never under the sound path."""

import torch

import rsmooth_ext as rs
from rsmooth_ext import grid


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))


def _images(n=4):
    return grid.grid_values(torch.randint(0, 256, (n, 3, 2, 2), generator=torch.Generator().manual_seed(1)), 255,
                            torch.float32)


class LowBits(torch.nn.Module):
    """Class = parity of the sum of the lowest mantissa bits of the input's float32 elements: a function of bits
    no continuous law's certificate speaks about."""

    def forward(self, y):
        bits = (y.float().contiguous().view(torch.int32) & 1).reshape(y.shape[0], -1).sum(dim=1) % 2
        return torch.nn.functional.one_hot(bits.long(), 2).float()


def test_sound_specs_through_the_api():
    x, model = _images(), _model()
    for spec in (rs.SoundGaussian(sigma=0.25), rs.SoundLaplace(sigma=0.25), rs.SoundUniform(sigma=0.25)):
        counts = rs.sample_counts(model, x, spec, 200, seed=1, num_classes=3)
        assert counts.sum(dim=1).tolist() == [200] * 4
        assert rs.predict(model, x, spec, 200, 0.01, seed=1).shape == (4,)
        result = rs.certify(model, x, spec, 20, 200, 0.01, seed=1)
        continuous = rs.certify(model, x, spec.continuous, 20, 200, 0.01, seed=1)
        assert result.radius.shape == continuous.radius.shape == (4,)
        seq = rs.certify_sequential(model, x, spec, 0.01, n_max=400, n0=20, seed=1)
        assert seq.radius.shape == (4,)


def test_sound_certificate_is_the_continuous_one_less_the_table_rounding():
    """The continuous certificate at p_lower - 2 law_error (about 5e-17: what the 64-bit thresholds' floors can
    move): below it, and equal to it to 1e-12 relative away from p = 1/2."""
    spec = rs.SoundGaussian(sigma=0.5)
    p = torch.tensor([0.7, 0.99], dtype=torch.float64)
    ours, continuous = spec.certify(p), rs.Gaussian(sigma=0.5).certify(p)
    assert (ours <= continuous).all()
    torch.testing.assert_close(ours, continuous, rtol=1e-12, atol=0)


def test_low_order_bits_separate_grid_equivalent_inputs_only_on_the_float_path():
    x = _images(1).expand(16, 3, 2, 2).contiguous()
    equivalent = torch.nextafter(x, torch.full_like(x, 2.0))  # one ulp up: the same grid point
    assert torch.equal(grid.quantize(equivalent, 255), x)
    model, n = LowBits(), 4000
    plain = rs.Gaussian(sigma=0.25)
    float_a = rs.sample_counts(model, x, plain, n, seed=7, num_classes=2)
    float_b = rs.sample_counts(model, equivalent, plain, n, seed=7, num_classes=2)
    assert not torch.equal(float_a, float_b)  # the votes moved: the noisy floats carry the input's low bits
    sound = rs.SoundGaussian(sigma=0.25, quantize=True)
    sound_a = rs.sample_counts(model, x, sound, n, seed=7, num_classes=2)
    sound_b = rs.sample_counts(model, equivalent, sound, n, seed=7, num_classes=2)
    assert torch.equal(sound_a, sound_b)  # the same grid point: the same noisy inputs, for any classifier
    assert torch.equal(rs.perturb(x, sound, 50, seed=3), rs.perturb(equivalent, sound, 50, seed=3))
