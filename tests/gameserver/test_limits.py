import pytest

from gameserver.limits import TokenBucket


def test_a_bucket_allows_its_burst_then_refuses():
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(("elapsed", "allowed"), [(0.05, 0), (0.1, 1), (0.25, 2), (10.0, 3)])
def test_a_bucket_refills_at_its_rate_up_to_its_burst(elapsed, allowed):
    bucket = TokenBucket(rate=10, burst=3)
    for _ in range(3):
        bucket.take(0.0)
    granted = sum(bucket.take(elapsed) for _ in range(5))
    assert granted == allowed
