"""The benchmark's agreement verdicts, on hand-made score lists."""

from __future__ import annotations

import pytest

from bench.analysis import agreement

# Eleven well separated reference scores: the top-10 is documents 0..9 in order.
REFERENCE = [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.1]


def test_identical_orders_are_the_same():
    shifted = [s + 0.001 for s in REFERENCE]
    worst, verdict, gap = agreement([REFERENCE], [shifted], tolerance=0.05)
    assert worst == pytest.approx(0.001)
    assert (verdict, gap) == ("same", 0.0)


def test_a_swap_of_near_equal_scores_is_a_tie_with_its_gap():
    reference = [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.549, 0.1]
    swapped = list(reference)
    swapped[8], swapped[9] = 0.549, 0.55
    worst, verdict, gap = agreement([reference], [swapped], tolerance=0.05)
    assert worst == pytest.approx(0.001)
    assert verdict == "ties"
    assert gap == pytest.approx(0.001)


def test_a_swap_of_distant_scores_is_a_difference():
    swapped = list(REFERENCE)
    swapped[0], swapped[5] = 0.7, 0.95  # documents 0 and 5 trade places
    worst, verdict, gap = agreement([REFERENCE], [swapped], tolerance=0.05)
    assert worst == pytest.approx(0.25)
    assert verdict == "different"
    # Rank 1 holds document 5 instead of 0, whose reference scores are 0.25 apart.
    assert gap == pytest.approx(0.25)


def test_any_list_that_differs_decides_the_verdict():
    swapped = list(REFERENCE)
    swapped[0], swapped[5] = 0.7, 0.95
    _, verdict, _ = agreement([REFERENCE, REFERENCE], [REFERENCE, swapped], tolerance=0.05)
    assert verdict == "different"
