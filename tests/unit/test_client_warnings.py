"""The client's self-audit: when a run's send lag, loop lag or loop CPU earns a warning."""


def test_warning_rules():
    from bench.telemetry.client import warnings
    calm = {"send_lag_ms_p99": 0.4, "loop_lag_ms_p99": 1.0, "client_loop_cpu_util": 0.3}
    assert warnings(calm, open_loop=True, scheduled=True) == []
    late = calm | {"send_lag_ms_p99": 3.0}
    assert len(warnings(late, open_loop=True, scheduled=True)) == 1
    assert warnings(late, open_loop=False, scheduled=True) == []        # a cap or closed loop: by design
    busy = calm | {"client_loop_cpu_util": 0.97}
    assert "97% of a core" in warnings(busy, open_loop=False, scheduled=False)[0]
    assert warnings(busy, open_loop=True, scheduled=True) == []         # the busy-wait before sends
    stalled = calm | {"loop_lag_ms_p99": 40.0}
    assert "event-loop lag" in warnings(stalled, open_loop=False, scheduled=False)[0]
