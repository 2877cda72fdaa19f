"""The graph benchmark's bookkeeping: which frames count, rates, latencies and where frames dropped."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_graph import Arrivals, parse_args, summarise

MS = 1_000_000
SECOND = 1000 * MS


def arrivals_at_10_hz() -> Arrivals:
    """Frames every 100 ms from t = 0 to 1.9 s; descriptors for every third frame (300 ms later),
    a decision for all of those but the frame at 0.9 s (paired nowhere), 100 ms after its
    descriptors, and a grasp with each decision except the one at 1.2 s (refused)."""
    seen = Arrivals()
    for index in range(20):
        stamp = index * 100 * MS
        seen.camera[stamp] = stamp + 5 * MS
        if index % 3 == 0:
            seen.descriptors[stamp] = stamp + 300 * MS
            if index != 9:
                seen.plans[stamp] = stamp + 400 * MS
                if index != 12:
                    seen.grasps[stamp] = stamp + 410 * MS + index * MS
    return seen


def test_only_frames_stamped_in_the_window_count() -> None:
    result = summarise(arrivals_at_10_hz(), 500 * MS, 1500 * MS)  # frames 5..14
    assert result["frames"] == 10 and result["camera_hz"] == pytest.approx(10.0)
    assert result["descriptor_frames"] == 3  # frames 6, 9, 12
    assert result["plans"] == 2 and result["grasps"] == 1  # 6 and 12 decided; 12 refused
    assert result["descriptor_hz"] == pytest.approx(3.0) and result["grasp_hz"] == pytest.approx(1.0)


def test_latencies_are_arrival_minus_stamp() -> None:
    result = summarise(arrivals_at_10_hz(), 0, 2 * SECOND)
    grasp_ms = sorted(410 + index for index in (0, 3, 6, 15, 18))
    assert result["grasp_median_ms"] == pytest.approx(grasp_ms[2])
    assert result["grasp_max_ms"] == pytest.approx(max(grasp_ms))
    assert grasp_ms[-2] < result["grasp_p95_ms"] <= grasp_ms[-1]
    assert result["plan_median_ms"] == pytest.approx(400.0)
    assert result["descriptor_median_ms"] == pytest.approx(300.0)


def test_dropped_frames_are_split_by_where_they_were_lost() -> None:
    result = summarise(arrivals_at_10_hz(), 0, 2 * SECOND)
    assert result["frames"] == 20 and result["plans"] == 6
    assert result["dropped"] == 14 and result["dropped_fraction"] == pytest.approx(0.7)
    assert result["dropped_before_descriptors"] == 13  # the frames the descriptor node skipped
    assert result["dropped_after_descriptors"] == 1  # frame 9: descriptors, but no decision


def test_a_frame_whose_camera_info_the_probe_lost_still_counts() -> None:
    seen = arrivals_at_10_hz()
    del seen.camera[300 * MS]
    assert summarise(seen, 0, 2 * SECOND)["frames"] == 20


def test_an_empty_window_gives_no_latency() -> None:
    result = summarise(Arrivals(), 0, SECOND)
    assert result["frames"] == 0 and result["dropped_fraction"] is None and result["grasp_median_ms"] is None


def test_bad_arguments_are_refused_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--models", str(tmp_path / "missing.pt")])
    assert "no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--duration", "0"])
    assert "--duration" in capsys.readouterr().err
