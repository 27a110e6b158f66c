import numpy as np
import pytest

from tidyrl.bench.stats import (
    bootstrap_mean_ci,
    interquartile_mean,
    normalized_score,
    stratified_bootstrap_ci,
)


def test_iqm_by_hand():
    # n=4: drop one value at each end
    assert interquartile_mean([4, 1, 3, 2]) == pytest.approx(2.5)
    # n=8: drop two at each end -> mean(3, 4, 5, 6)
    assert interquartile_mean([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)
    # n=5: cut = 1.25 -> weights 0, .75, 1, 1... symmetric: (0.75*2 + 3 + 0.75*4) / 2.5
    assert interquartile_mean([1, 2, 3, 4, 5]) == pytest.approx((1.5 + 3 + 3) / 2.5)
    # robust to one outlier, unlike the mean
    assert interquartile_mean([1, 1, 1, 1, 1e9]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        interquartile_mean([])


def test_normalized_score():
    assert normalized_score(22.0, 22.0, 475.0) == 0.0
    assert normalized_score(475.0, 22.0, 475.0) == 1.0
    assert normalized_score(-200.0, -1200.0, -200.0) == 1.0


def test_bootstrap_intervals_cover_the_point_and_shrink_with_data():
    rng = np.random.default_rng(0)
    small = [rng.normal(1.0, 1.0, 3) for _ in range(2)]
    large = [rng.normal(1.0, 1.0, 300) for _ in range(2)]
    p1, lo1, hi1 = stratified_bootstrap_ci(small, repetitions=500)
    p2, lo2, hi2 = stratified_bootstrap_ci(large, repetitions=500)
    assert lo1 <= p1 <= hi1 and lo2 <= p2 <= hi2
    assert hi2 - lo2 < hi1 - lo1
    assert lo2 < 1.0 < hi2
    mean, low, high = bootstrap_mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and 1.0 <= low < 2.0 < high <= 3.0
    assert bootstrap_mean_ci([5.0]) == (5.0, 5.0, 5.0)
