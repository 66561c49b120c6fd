"""How the Predictor groups sentences into forward passes (model/predictor.py: length_buckets)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from stancelens.model.predictor import length_buckets


def test_similar_lengths_share_a_batch_and_outliers_get_their_own():
    lengths = [10, 10, 11, 10, 100, 11]
    batches = list(length_buckets(lengths, max_size=32))
    assert batches == [[0, 1, 3, 2, 5], [4]]


def test_batches_never_exceed_the_size_limit():
    assert [len(b) for b in length_buckets([5] * 70, max_size=32)] == [32, 32, 6]


@given(st.lists(st.integers(1, 128), max_size=200), st.integers(1, 64))
def test_every_index_once_shortest_first_and_padding_bounded(lengths, max_size):
    batches = list(length_buckets(lengths, max_size))
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    for batch in batches:
        real = sum(lengths[i] for i in batch)
        assert len(batch) <= max_size
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 1.1 * real + 1e-9
