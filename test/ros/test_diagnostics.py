"""StreamHealth's verdicts on hand-made event times: rate, stalls, latency, dropped and malformed."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.ros


def stream(expected_rate_hz: float = 0.0, max_latency_s: float = 0.0):
    from dense_descriptor_ros.ros.diagnostics import StreamHealth

    return StreamHealth(100.0, expected_rate_hz, max_latency_s)


def publish(health, start_s: float, rate_hz: float, count: int, latency_s: float = 0.01) -> float:
    """``count`` frames at ``rate_hz`` from ``start_s``, each ``latency_s`` after its stamp; the last time."""
    times = [start_s + i / rate_hz for i in range(count)]
    for t in times:
        health.published(t, t - latency_s)
    return times[-1]


def test_a_stream_at_its_expected_rate_is_ok() -> None:
    from dense_descriptor_ros.ros.diagnostics import OK

    health = stream(expected_rate_hz=10.0, max_latency_s=0.1)
    last = publish(health, 100.0, 10.0, 80, latency_s=0.02)
    verdict = health.status(last + 0.05)
    assert (verdict.level, verdict.message) == (OK, "10.0 Hz")
    values = verdict.values
    assert values["Frequency (Hz)"] == "10.00" and values["Expected frequency (Hz)"] == "10"
    assert values["Mean latency (ms)"] == "20.0" and values["Max latency (ms)"] == "20.0"
    assert values["Latency limit (ms)"] == "100.0" and values["Last frame age (s)"] == "0.05"
    assert values["Published in window"] == "50" and values["Published"] == "80"  # the 5 s window
    assert (values["Dropped"], values["Malformed"]) == ("0", "0")


def test_a_slow_stream_warns_and_a_silent_one_is_an_error() -> None:
    from dense_descriptor_ros.ros.diagnostics import ERROR, OK, WARN

    health = stream(expected_rate_hz=10.0)
    assert health.status(101.0).level == OK  # starting up: not yet silent for the stall time
    assert health.status(102.5).level == ERROR and health.status(102.5).message == "no frame for 2.5 s"
    last = publish(health, 103.0, 7.0, 30)
    verdict = health.status(last + 0.1)
    assert (verdict.level, verdict.message) == (WARN, "7.0 Hz, expected 10 Hz")
    assert publish(health, last + 1 / 8.5, 8.5, 60) and health.status(last + 7.2).level == OK  # within 20 %
    silent = health.status(last + 1 / 8.5 + 59 / 8.5 + 2.1)
    assert silent.level == ERROR and silent.message.startswith("no frame for 2.1 s")


def test_a_slow_camera_gets_a_window_of_ten_frames_and_a_stall_time_of_five() -> None:
    from dense_descriptor_ros.ros.diagnostics import ERROR, OK

    health = stream(expected_rate_hz=0.5)
    last = publish(health, 100.0, 0.5, 12)
    verdict = health.status(last + 1.0)
    assert verdict.level == OK and verdict.values["Window (s)"] == "20"
    assert verdict.values["Published in window"] == "10" and verdict.values["Frequency (Hz)"] == "0.50"
    assert health.status(last + 9.9).level == OK and health.status(last + 10.1).level == ERROR


def test_malformed_and_dropped_frames_warn_while_in_the_window() -> None:
    from dense_descriptor_ros.ros.diagnostics import ERROR, OK, WARN

    health = stream()
    health.malformed(100.0)
    health.malformed(100.1)
    verdict = health.status(100.5)
    assert (verdict.level, verdict.message) == (ERROR, "none of the last 2 frames published; 2 malformed frames")
    last = publish(health, 101.0, 5.0, 10)
    health.dropped(last)
    verdict = health.status(last + 0.1)
    assert (verdict.level, verdict.message) == (WARN, "2 malformed frames; 1 dropped frame")
    assert verdict.values["Malformed in window"] == "2" and verdict.values["Dropped in window"] == "1"
    last = publish(health, last + 0.2, 5.0, 30)
    verdict = health.status(last + 0.1)  # the bad frames have left the 5 s window
    assert (verdict.level, verdict.message) == (OK, "5.0 Hz")
    assert (verdict.values["Malformed"], verdict.values["Dropped"], verdict.values["Published"]) == ("2", "1", "40")


def test_latency_above_the_limit_warns_and_unstamped_frames_have_none() -> None:
    from dense_descriptor_ros.ros.diagnostics import OK, WARN

    health = stream(max_latency_s=0.5)
    last = publish(health, 100.0, 2.0, 6, latency_s=0.8)
    verdict = health.status(last)
    assert (verdict.level, verdict.message) == (WARN, "latency 800 ms above 500 ms")
    unstamped = stream(max_latency_s=0.5)
    unstamped.published(100.0)
    unstamped.published(100.5)
    verdict = unstamped.status(100.6)
    assert (verdict.level, verdict.message, verdict.values["Mean latency (ms)"]) == (OK, "2.0 Hz", "n/a")


def test_on_demand_streams_are_never_judged_on_rate_and_notes_lead() -> None:
    from dense_descriptor_ros.ros.diagnostics import OK

    health = stream()
    verdict = health.status(1000.0)
    assert (verdict.level, verdict.message) == (OK, "no frames in the last 5 s")
    assert verdict.values["Expected frequency (Hz)"] == "on demand" and verdict.values["Last frame age (s)"] == "never"
    health.note = "inactive"
    assert health.status(1000.0).message == "inactive"
    camera = stream(expected_rate_hz=30.0)
    publish(camera, 100.0, 30.0, 30)
    camera.stop_expecting("recording finished")
    verdict = camera.status(200.0)
    assert (verdict.level, verdict.message) == (OK, "recording finished")
