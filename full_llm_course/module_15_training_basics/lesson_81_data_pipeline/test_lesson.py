"""Graded tests for lesson 81: pack_windows and BatchIterator.order / next_batch (kimik2.training.data)."""

import importlib

import pytest
import torch


def _data(package):
    return importlib.import_module(package.__name__ + ".training.data")


def _stream(length, seed=0, vocab=4352):
    return torch.randint(0, vocab, (length,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("length, seq_len", [(1000, 37), (640, 64), (70, 64), (3 * 4096 + 17, 4096)])
def test_pack_windows_cuts_consecutive_windows_and_drops_the_tail(impl, reference, length, seq_len):
    stream = _stream(length)
    got = _data(impl).pack_windows(stream, seq_len)
    count = length // seq_len
    expected = torch.stack([stream[i * seq_len:(i + 1) * seq_len] for i in range(count)])   # the loop version
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == (count, seq_len), (
        f"pack_windows({length} tokens, seq_len={seq_len}) gave shape "
        f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}; expected ({count}, {seq_len}): "
        "floor(N / seq_len) windows, the tail dropped (teaching.md §Cutting the stream)")
    assert got.dtype == stream.dtype, f"dtype {got.dtype} != {stream.dtype}: keep the token ids as they are"
    assert torch.equal(got, expected), (
        "window i must be stream[i * seq_len:(i + 1) * seq_len]: non-overlapping, in order "
        "(teaching.md §Cutting the stream)")
    assert torch.equal(got, _data(reference).pack_windows(stream, seq_len)), "differs from the answer key"


def test_pack_windows_refuses_a_stream_shorter_than_one_window(impl):
    with pytest.raises(ValueError):
        _data(impl).pack_windows(torch.arange(5), 10)


def test_pack_windows_returns_a_view_of_the_stream(impl):
    stream = _stream(1000)
    windows = _data(impl).pack_windows(stream, 100)
    assert windows.untyped_storage().data_ptr() == stream.untyped_storage().data_ptr(), (
        "the windows should share memory with the stream: slice then .view(count, seq_len), no copy "
        "(teaching.md §Cutting the stream)")


@pytest.mark.parametrize("seed", [0, 5, 123])
def test_order_is_a_permutation_drawn_from_seed_and_epoch(impl, reference, seed):
    windows = _data(reference).pack_windows(torch.arange(1000), 10)                # (100, 10)
    mine = _data(impl).BatchIterator(windows, batch_size=7, seed=seed)
    ref = _data(reference).BatchIterator(windows, batch_size=7, seed=seed)
    before = torch.random.get_rng_state()
    orders = []
    for epoch in range(3):
        mine.epoch = ref.epoch = epoch
        order = mine.order()
        expected = torch.randperm(100, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        assert torch.equal(torch.sort(order).values, torch.arange(100)), \
            f"order() for epoch {epoch} is not a permutation of the 100 window indices"
        assert torch.equal(order, expected) and torch.equal(order, ref.order()), (
            f"order() for seed {seed}, epoch {epoch} differs: use torch.randperm(n, generator=torch.Generator()"
            ".manual_seed(seed * 1_000_003 + epoch)) (teaching.md §The order)")
        assert torch.equal(mine.order(), order), "order() must give the same permutation every time it is called"
        orders.append(order)
    assert not torch.equal(orders[0], orders[1]), "each epoch needs its own permutation"
    assert torch.equal(torch.random.get_rng_state(), before), (
        "order() changed the global RNG: draw from a private torch.Generator (teaching.md §The order)")


def _simulate(n, batch_size, seed, steps):
    """The expected (epoch, window ids, state) of every step, written out independently."""
    epoch, index, out = 0, 0, []
    for _ in range(steps):
        if index + batch_size > n:
            epoch, index = epoch + 1, 0
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        out.append((order[index:index + batch_size], epoch, index + batch_size))
        index += batch_size
    return out


@pytest.mark.parametrize("batch_size", [3, 5])
def test_next_batch_visits_each_window_once_per_epoch(impl, reference, batch_size):
    windows = _data(reference).pack_windows(torch.arange(105), 10)                 # (10, 10): window i starts at 10 i
    mine = _data(impl).BatchIterator(windows, batch_size=batch_size, seed=5)
    ref = _data(reference).BatchIterator(windows, batch_size=batch_size, seed=5)
    per_epoch = {}
    for step, (ids, epoch, index) in enumerate(_simulate(10, batch_size, 5, 9)):
        batch = mine.next_batch()
        assert isinstance(batch, torch.Tensor) and tuple(batch.shape) == (batch_size, 10), (
            f"step {step}: batch shape {tuple(batch.shape) if isinstance(batch, torch.Tensor) else batch!r}; "
            f"expected ({batch_size}, 10)")
        assert torch.equal(batch, windows[ids]), (
            f"step {step}: got windows {(batch[:, 0] // 10).tolist()}, expected {ids.tolist()} (epoch {epoch}): "
            "take order()[index:index + batch_size]; start a new epoch when fewer than batch_size are left "
            "(teaching.md §The order)")
        assert torch.equal(batch, ref.next_batch()), f"step {step}: differs from the answer key"
        assert (mine.epoch, mine.index) == (epoch, index), (
            f"after step {step} the position is (epoch {mine.epoch}, index {mine.index}); expected ({epoch}, {index})")
        per_epoch.setdefault(epoch, []).extend((batch[:, 0] // 10).tolist())
    for epoch, seen in per_epoch.items():
        assert len(seen) == len(set(seen)), f"epoch {epoch} visited a window twice: {seen}"


def test_resuming_from_epoch_and_index_continues_the_same_batches(impl, reference):
    windows = _data(reference).pack_windows(_stream(13 * 16, seed=1), 16)          # 13 windows
    straight = _data(impl).BatchIterator(windows, batch_size=4, seed=2)
    for _ in range(5):                                                             # crosses an epoch boundary
        straight.next_batch()
    state = straight.state_dict()
    assert state == {"epoch": 1, "index": 8, "seed": 2}, f"state after 5 batches of 4 from 13 windows: {state}"
    expected = [straight.next_batch() for _ in range(6)]
    resumed = _data(impl).BatchIterator(windows, batch_size=4, seed=2)
    resumed.load_state_dict(state)
    for step, want in enumerate(expected):
        assert torch.equal(resumed.next_batch(), want), (
            f"batch {step} after resuming differs: next_batch must depend only on (seed, epoch, index) "
            "(teaching.md §The order)")
