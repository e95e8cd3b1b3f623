"""Reading wrk's report."""

from __future__ import annotations

import pytest

from bench.wrk import parse

OUTPUT = """Running 5s test @ http://127.0.0.1:8000/v1/chat/completions
  2 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.01ms    2.10ms  40.12ms   80.00%
  Latency Distribution
     50%  812.00us
     75%    5.60ms
     90%    7.10ms
     99%    1.20s
  9358 requests in 5.00s, 6.01MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   1871.60
Transfer/sec:      1.20MB
"""


def test_parse_reads_throughput_percentiles_and_errors() -> None:
    result = parse(OUTPUT)
    assert result.requests_per_second == 1871.60
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1200)
    assert result.errors == 7
    assert result.requests == 9358
    assert result.max_ms == pytest.approx(40.12)


def test_parse_without_errors() -> None:
    clean = OUTPUT.replace("  Socket errors: connect 0, read 1, write 0, timeout 2\n", "")
    assert parse(clean.replace("  Non-2xx or 3xx responses: 4\n", "")).errors == 0
