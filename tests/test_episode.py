"""Episode aggregation helpers, on cases worked out by hand."""

import numpy as np

from bench.episode import histogram_quantile


def test_histogram_quantile_by_hand():
    # bins [0,1), [1,2), [2,inf) with 2, 6, 2 values: the 0.5 quantile is 5 values in, i.e.
    # 3 of the 6 in [1,2): 1 + 3/6 = 1.5; the 0.95 quantile (9.5) lies in the open bin: 2.0
    counts = np.array([2.0, 6.0, 2.0])
    assert histogram_quantile(counts, [1.0, 2.0], 0.5) == 1.5
    assert histogram_quantile(counts, [1.0, 2.0], 0.95) == 2.0
    assert histogram_quantile(counts, [1.0, 2.0], 0.1) == 0.5  # 1 of the 2 in [0,1)
    assert histogram_quantile(np.zeros(3), [1.0, 2.0], 0.5, empty=-1.0) == -1.0
