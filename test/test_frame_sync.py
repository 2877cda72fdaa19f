"""Stamp matching of colour, depth and descriptors (grasping.frame_sync), at real cameras' rates."""
from __future__ import annotations

import pytest

from dense_descriptor_ros.grasping.frame_sync import DEFAULT_MAX_AGE_NS, FrameSynchronizer

STREAMS = ("descriptors", "image", "depth")
CAMERA_PERIOD_NS = 1_000_000_000 // 30  # 30 Hz colour and depth
SECOND = 1_000_000_000


def test_frames_pair_by_stamp_in_any_order_and_once() -> None:
    sync = FrameSynchronizer(STREAMS, tolerance_ns=1000)
    assert sync.add("image", 10_000, "i1") is None
    assert sync.add("depth", 20_000, "d2") is None
    assert sync.add("depth", 10_500, "d1") is None  # within tolerance of i1
    assert sync.add("image", 20_000, "i2") is None
    assert sync.add("descriptors", 10_000, "f1") == (10_000, {"descriptors": "f1", "image": "i1", "depth": "d1"})
    assert sync.add("descriptors", 10_000, "f1 again") is None  # i1/d1 were used
    assert sync.add("descriptors", 20_000, "f2") == (20_000, {"descriptors": "f2", "image": "i2", "depth": "d2"})
    assert sync.pending() == {"descriptors": 0, "image": 0, "depth": 0}
    with pytest.raises(ValueError, match="unknown stream"):
        sync.add("mask", 1, None)


def test_every_descriptor_of_a_30_hz_camera_finds_its_frame_a_second_later() -> None:
    """The CPU fallback: descriptors at ~1.2 Hz, each published 1 s after its colour frame. The
    frame rate equals the descriptor rate (a count-bounded buffer of 8 had matched none)."""
    sync = FrameSynchronizer(STREAMS)
    described = list(range(0, 300, 25))  # every 25th of 300 frames (10 s): 1.2 Hz
    late = 30  # frames: 1 s
    frames = []
    for k in range(300 + late):
        if k < 300:
            stamp = k * CAMERA_PERIOD_NS
            assert sync.add("image", stamp, f"i{k}") is None
            assert sync.add("depth", stamp, f"d{k}") is None
        if k - late in described:
            done = sync.add("descriptors", (k - late) * CAMERA_PERIOD_NS, f"f{k - late}")
            assert done is not None, f"the descriptors of frame {k - late} found no frame"
            frames.append(done)
    assert [stamp for stamp, _ in frames] == [k * CAMERA_PERIOD_NS for k in described]
    assert [parts for _, parts in frames] == [{"descriptors": f"f{k}", "image": f"i{k}", "depth": f"d{k}"}
                                              for k in described]


def test_buffers_hold_max_age_of_stamp_time_whatever_the_rate() -> None:
    """Memory is bounded by rate x age: no descriptors for 10 s of a 30 Hz camera leaves the
    last 3 s (91 frames, both ends inclusive); at 90 Hz, 271."""
    for hz in (30, 90):
        sync = FrameSynchronizer(STREAMS)
        period = SECOND // hz
        for k in range(10 * hz):
            sync.add("image", k * period, k)
            sync.add("depth", k * period, k)
        assert sync.pending() == {"descriptors": 0, "image": 3 * hz + 1, "depth": 3 * hz + 1}
    assert DEFAULT_MAX_AGE_NS == 3 * SECOND
    late = FrameSynchronizer(STREAMS, max_age_ns=SECOND)  # descriptors later than the age find nothing
    for k in range(60):
        late.add("image", k * CAMERA_PERIOD_NS, k)
        late.add("depth", k * CAMERA_PERIOD_NS, k)
    assert late.add("descriptors", 20 * CAMERA_PERIOD_NS, "f20") is None
    assert late.add("descriptors", 40 * CAMERA_PERIOD_NS, "f40") == (40 * CAMERA_PERIOD_NS,
                                                                     {"descriptors": "f40", "image": 40, "depth": 40})


def test_a_repeated_stamp_replaces_and_a_clock_going_back_starts_the_stream_over() -> None:
    sync = FrameSynchronizer(STREAMS, max_age_ns=SECOND)
    for k in range(100):  # a driver that never sets its stamp
        sync.add("image", 0, f"i{k}")
    assert sync.pending()["image"] == 1
    for k in range(30):
        sync.add("image", 100 * SECOND + k * CAMERA_PERIOD_NS, f"old{k}")
    assert sync.pending()["image"] == 30
    sync.add("image", 5 * SECOND, "new")  # a replay restarted: 95 s back
    sync.add("depth", 5 * SECOND, "d")
    assert sync.pending()["image"] == 1
    assert sync.add("descriptors", 5 * SECOND, "f") == (5 * SECOND, {"descriptors": "f", "image": "new", "depth": "d"})
    with pytest.raises(ValueError, match="max_age_ns > 0"):
        FrameSynchronizer(STREAMS, max_age_ns=0)
