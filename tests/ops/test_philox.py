"""Philox4x32-10 known-answer vectors (Random123's kat_vectors) and the RNG contract against NumPy."""

import numpy as np
import pytest
import torch
from support import DEVICES

import rsmooth_ext as rs
from rsmooth_ext import reference
from rsmooth_ext._ops import philox4x32_10

# counter[4], key[2] -> output[4], from Random123's tests/kat_vectors (philox4x32, 10 rounds)
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_known_answers_kernel(device, ctr, key, expected):
    out = philox4x32_10(torch.tensor([ctr], dtype=torch.int64, device=device), tuple(key))
    assert out.cpu().tolist() == [expected]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_known_answers_numpy_reference(ctr, key, expected):
    out = reference.philox4x32_10_numpy(np.array([ctr], dtype=np.uint64), tuple(key))
    assert out.tolist() == [expected]


@pytest.mark.parametrize("device", DEVICES)
def test_kernel_equals_numpy_on_random_counters(device):
    rng = np.random.default_rng(0)
    counters = rng.integers(0, 2**32, size=(4096, 4), dtype=np.uint64)
    key = (int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)))
    expected = reference.philox4x32_10_numpy(counters, key).astype(np.int64)
    got = philox4x32_10(torch.from_numpy(counters.astype(np.int64)).to(device), key).cpu().numpy()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1, 2**40 + 12345, 2**63 - 1])
def test_uniform_noise_is_the_contract_stream(device, seed):
    """perturb's element j of sample s of input i is built from word j of Philox(seed; j/4, s, i, phase)."""
    lam, num_samples, offset, phase, numel = 1.5, 3, 7, 2, 4099  # ~1 word in 256 is < 2^24
    input_ids = torch.tensor([5, 123456], device=device)
    x = torch.zeros(2, numel, device=device)
    out = rs.perturb(x, rs.Uniform(lambd=lam), num_samples, seed=seed, offset=offset, input_ids=input_ids,
                     phase=phase).cpu().numpy()
    for row in range(2 * num_samples):
        input_id, sample = int(input_ids[row // num_samples]), offset + row % num_samples
        words = reference.noise_words(seed, input_id, sample, (numel + 3) // 4, phase=phase)[:numel]
        expected = np.float32(lam) * (np.float32(2.0) * reference.u01_float32(words) - np.float32(1.0))
        np.testing.assert_array_equal(out[row], expected)


@pytest.mark.parametrize("device", DEVICES)
def test_masking_keeps_exactly_the_words_below_threshold(device):
    keep, numel = 0.3, 1001
    x = torch.arange(1, numel + 1, dtype=torch.float32, device=device)[None]
    out = rs.perturb(x, rs.Masking(keep=keep), 2, seed=99).cpu().numpy()
    for s in range(2):
        words = reference.noise_words(99, 0, s, (numel + 3) // 4)[:numel]
        kept = words.astype(np.float64) < keep * 2.0**32
        np.testing.assert_array_equal(out[s] != 0, kept)
        np.testing.assert_array_equal(out[s][kept], x.cpu().numpy()[0][kept])
