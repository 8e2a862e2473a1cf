"""The statistics of a run: certified accuracy at r, ACR, accuracy, abstention rate, the radius grid."""

import math

import numpy as np

from rsmooth_ext.cli import statistics


def test_conventions_on_a_hand_counted_run():
    correct = np.array([True, False, True, False, True])
    radius = np.array([0.3, 0.0, 0.6, 0.9, 0.5])  # the 0.9 is misclassified: certified at no radius
    prediction = np.array([3, -1, 4, 1, 8])
    np.testing.assert_allclose(statistics.certified_accuracy(correct, radius, [0, 0.25, 0.5, 0.75]),
                               [0.6, 0.6, 0.4, 0.0])
    assert statistics.average_certified_radius(correct, radius) == (0.3 + 0.6 + 0.5) / 5
    assert statistics.accuracy(correct) == 0.6 and statistics.abstention_rate(prediction) == 0.2


def test_nan_radii_of_skipped_examples_count_as_not_certified():
    correct, radius = np.array([True, False]), np.array([0.4, math.nan])
    np.testing.assert_array_equal(statistics.certified_accuracy(correct, radius, [0.0, 0.4]), [0.5, 0.5])
    assert statistics.average_certified_radius(correct, radius) == 0.2


def test_no_examples_give_nan():
    empty = np.zeros(0, dtype=bool)
    assert np.isnan(statistics.certified_accuracy(empty, np.zeros(0), [0.0, 1.0])).all()
    assert math.isnan(statistics.average_certified_radius(empty, np.zeros(0)))
    assert math.isnan(statistics.accuracy(empty)) and math.isnan(statistics.abstention_rate(np.zeros(0)))


def test_default_radius_grid_is_round_and_covers_the_largest_radius():
    assert statistics.default_radius_grid(np.array([0.93])) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2]
    assert statistics.default_radius_grid(np.array([2.7])) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert statistics.default_radius_grid(np.zeros(0)) == statistics.default_radius_grid(np.array([0.0]))
