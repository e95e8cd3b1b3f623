"""``make bench``: keyrelay against the physical limit and LiteLLM, side by side, interleaved.

Every figure comes from the same run: the targets take turns (the order rotates
each round) so that machine noise falls on all of them alike, and medians over
rounds are reported. Output: a markdown table on stdout and in ``bench/results/``,
the raw numbers as JSON, and a latency-vs-concurrency plot (PNG) when matplotlib
is installed (the benchmark's own environment has it).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from . import clients, dialects, scaling, sessions, sizes, stores, streams, targets, wrk
from .streams import StreamUpstream
from .targets import Target
from .upstream import NginxUpstream

RESULTS = Path(__file__).resolve().parent / "results"
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]


def body(target: Target) -> dict[str, Any]:
    """The request each target gets: the same body, with the model id it knows."""
    return {"model": target.model, "messages": MESSAGES, "max_tokens": 32}


def load(target: Target, connections: int, seconds: float) -> wrk.WrkResult:
    """One wrk run against ``target``, with the CPU its workers spent per request."""
    before = targets.cpu_seconds(target) if target.pids else None
    result = wrk.run(
        target.url, body(target), connections=connections, seconds=seconds, headers=target.headers
    )
    if before is None or not result.requests:
        return result
    spent = targets.cpu_seconds(target) - before
    return replace(result, cpu_us_per_request=spent / result.requests * 1e6)


def machine() -> str:
    """The machine the numbers were taken on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(
        "["
    )[0]
    return f"{cores} cores ({cpu}), Python {platform.python_version()}, {wrk_version.strip()}"


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run every target and return the raw figures."""
    upstream = NginxUpstream()
    started: list[Target] = []
    redis = None
    try:
        started.append(targets.direct(upstream.base_url))
        started.append(targets.keyrelay(upstream.base_url, worker_class="gthread"))
        started.append(targets.keyrelay(upstream.base_url, worker_class="gevent"))
        started.append(
            targets.keyrelay(upstream.base_url, worker_class="gevent", shipped_logging=True)
        )
        started.append(targets.floor(upstream.base_url))
        started.append(targets.floor(upstream.base_url, worker_class="gevent"))
        by_store, redis = stores.start(upstream.base_url)
        started += by_store
        if args.litellm:
            started.append(targets.litellm(upstream.base_url))
        idle = {t.name: targets.worker_rss(t) for t in started if t.pids}
        for target in started:  # warm up: connections, caches, JIT-free but lazy imports
            load(target, 4, min(2.0, args.seconds))
        runs: dict[str, dict[int, list[wrk.WrkResult]]] = defaultdict(lambda: defaultdict(list))
        loaded: dict[str, float] = {}
        for round_ in range(args.rounds):
            for connections in args.concurrency:
                for target in rotated(started, round_):
                    runs[target.name][connections].append(load(target, connections, args.seconds))
                    if connections == max(args.concurrency) and target.pids:
                        loaded[target.name] = max(
                            loaded.get(target.name, 0.0), targets.worker_rss(target)
                        )
        store_waits = stores.waits(started)
        failover = measure_failover(upstream, args)
        scaled = scaling.measure(upstream, args.rounds, args.seconds) if args.scaling else None
        streaming = measure_streaming(args)
        by_dialect = dialects.measure(args.rounds, args.seconds)
        by_session = sessions.measure(args.rounds, args.seconds)
        by_client = clients.measure()
        by_size = sizes.measure_all(args.rounds, min(2.0, args.seconds)) if args.sizes else None
        return {
            "sizes": by_size,
            "clients": by_client,
            "streaming": streaming,
            "dialects": by_dialect,
            "sessions": by_session,
            "scaling": scaled,
            "machine": machine(),
            "seconds": args.seconds,
            "rounds": args.rounds,
            "runs": {
                name: {c: [asdict(r) for r in rs] for c, rs in by_c.items()}
                for name, by_c in runs.items()
            },
            "rss_idle": idle,
            "rss_loaded": loaded,
            "cold_start": {t.name: t.cold_start for t in started if t.name != "direct"},
            "failover": failover,
            "store_waits": store_waits,
        }
    finally:
        for target in started:
            target.stop()
        upstream.stop()
        if redis is not None:
            redis.stop()


def measure_failover(upstream: NginxUpstream, args: argparse.Namespace) -> dict[str, float]:
    """p50 at concurrency 1 when tier 1 answers 429 at once and tier 2 serves, vs tier 1 serving."""
    plain = targets.keyrelay(upstream.base_url, worker_class="gthread", workers=1)
    failing = targets.keyrelay(
        upstream.base_url,
        worker_class="gthread",
        workers=1,
        FAKE_API_BASE=upstream.limited_url,
        PROVIDER_PRIORITY_FAKE="1",
        BACKUP_API_BASE=upstream.base_url,
        BACKUP_API_KEY="sk-bench-backup-key-00000",
        BACKUP_MODELS="fake-model",
        PROVIDER_PRIORITY_BACKUP="2",
    )
    try:
        served, fell_back = [], []
        for _ in range(args.rounds):
            served.append(load(plain, 1, args.seconds).p50_ms)
            fell_back.append(load(failing, 1, args.seconds).p50_ms)
        return {
            "served_p50_ms": statistics.median(served),
            "failover_p50_ms": statistics.median(fell_back),
        }
    finally:
        plain.stop()
        failing.stop()


def rotated(started: list[Target], round_: int) -> list[Target]:
    """The targets in this round's order: the first one changes every round."""
    shift = round_ % len(started)
    return started[shift:] + started[:shift]


def start_stream_targets(upstream: StreamUpstream, started: list[Target], *, litellm: bool) -> None:
    """Start direct, keyrelay gthread and gevent (and LiteLLM) into ``started``; warm them up."""
    started.append(Target("direct", upstream.base_url + "/chat/completions", "fake-model", {}))
    started.append(targets.keyrelay(upstream.base_url, worker_class="gthread"))
    started.append(targets.keyrelay(upstream.base_url, worker_class="gevent"))
    if litellm:
        started.append(targets.litellm(upstream.base_url))
    for target in started:  # each worker's first stream builds its session and connection
        streams.run(target.url, target.headers, target.model, streams=8, at_once=4)


def measure_streaming(args: argparse.Namespace) -> dict[str, Any]:
    """First event and inter-event delay per target, then many streams held open with gevent."""
    upstream = StreamUpstream(chunks=10, interval_ms=20)
    started: list[Target] = []
    figures: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    try:
        start_stream_targets(upstream, started, litellm=args.litellm)
        for round_ in range(args.rounds):
            for at_once in (1, 10):
                for target in rotated(started, round_):
                    batch = streams.run(
                        target.url,
                        target.headers,
                        target.model,
                        streams=max(args.streams_per_batch, at_once * 3),
                        at_once=at_once,
                    )
                    figures[target.name][at_once].append(streams.summary(batch))
    finally:
        for target in started:
            target.stop()
        upstream.stop()
    return {
        "per_target": figures,
        "back_to_back": measure_back_to_back(args),
        "held_open": measure_open_streams(args.open_streams),
    }


def measure_back_to_back(args: argparse.Namespace) -> dict[str, float]:
    """First event of one-chunk streams sent one after another, so that no CPU sits idle.

    Set against the first event of the spaced streams above, this separates what
    keyrelay costs from what waking idle CPUs at each process hop costs.
    """
    upstream = StreamUpstream(chunks=1, interval_ms=0)
    started: list[Target] = []
    firsts: dict[str, list[float]] = defaultdict(list)
    try:
        start_stream_targets(upstream, started, litellm=False)
        for round_ in range(args.rounds):
            for target in rotated(started, round_):
                batch = streams.run(
                    target.url,
                    target.headers,
                    target.model,
                    streams=max(30, args.streams_per_batch * 3),
                    at_once=1,
                )
                firsts[target.name].append(streams.summary(batch)["first_event_p50_ms"])
    finally:
        for target in started:
            target.stop()
        upstream.stop()
    return {name: statistics.median(values) for name, values in firsts.items()}


def measure_open_streams(count: int) -> dict[str, Any]:
    """``count`` five-second streams opened at once through keyrelay with the shipped
    defaults (gevent, the state file, the shipped logging); worker memory sampled while
    they are held, against the same workers idle just before."""
    upstream = StreamUpstream(chunks=20, interval_ms=250)
    per_worker = str(max(1000, count))  # gevent's cap on a worker's connections
    target = targets.keyrelay(upstream.base_url, worker_class="gevent", shipped_logging=True,
                              WORKER_CONNECTIONS=per_worker)  # fmt: skip
    try:
        streams.run(target.url, target.headers, target.model, streams=8, at_once=4)  # warm
        idle = targets.worker_rss(target)
        peak = [idle]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                peak.append(targets.worker_rss(target))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.monotonic()
        batch = streams.run(target.url, target.headers, target.model, streams=count, at_once=count)
        seconds = time.monotonic() - began
        done.set()
        sampler.join()
        held = max(peak)
        return {
            "streams": count,
            "completed": batch.completed,
            "failed": batch.failed,
            "seconds": seconds,
            "rss_idle": idle,
            "rss_loaded": held,
            # Two workers hold the streams between them.
            "kb_per_stream": (held - idle) * 1024 * len(target.pids) / max(1, count),
        }
    finally:
        target.stop()
        upstream.stop()


def streaming_report(data: dict[str, Any]) -> list[str]:
    """The streaming part of the report."""
    per_target = data["streaming"]["per_target"]
    lines = [
        "",
        "Streaming (10 chunks, 20 ms apart; first event = request sent to first `data:` received):",
        "",
        "| target | concurrent streams | first event p50 ms | first event p99 ms "
        "| first-event overhead p50 ms | gap p50 ms | gap added p50 ms | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, by_c in per_target.items():
        for at_once in sorted(by_c, key=int):
            rows, direct = by_c[at_once], per_target["direct"][at_once]
            first = median_of(rows, "first_event_p50_ms")
            gap = median_of(rows, "gap_p50_ms")
            over = (
                "" if name == "direct" else f"{first - median_of(direct, 'first_event_p50_ms'):.2f}"
            )
            added = "" if name == "direct" else f"{gap - median_of(direct, 'gap_p50_ms'):.2f}"
            failed = sum(r["failed"] for r in rows)
            lines.append(
                f"| {name} | {at_once} | {first:.2f} | {median_of(rows, 'first_event_p99_ms'):.2f} "
                f"| {over} | {gap:.2f} | {added} | {failed} |"
            )
    back = data["streaming"].get("back_to_back") or {}
    if back:
        parts = [
            f"{name} {ms:.2f} ms" + ("" if name == "direct" else f" (+{ms - back['direct']:.2f})")
            for name, ms in back.items()
        ]
        lines += [
            "",
            "First event p50 with one-chunk streams sent back to back (no CPU ever idle): "
            + ", ".join(parts)
            + ".",
        ]
    held = data["streaming"]["held_open"]
    lines += [
        "",
        f"Held open with gevent (2 workers): {held['streams']} five-second streams opened "
        f"at once: {held['completed']} completed, {held['failed']} failed, "
        f"in {held['seconds']:.1f} s; RSS {held['rss_loaded']:.0f} MB per worker while held "
        f"({held.get('rss_idle', 0):.0f} MB idle): "
        f"{held.get('kb_per_stream', 0):.0f} KB of worker memory per stream.",
    ]
    return lines


def median_of(results: list[dict[str, Any]], field: str) -> float:
    """The median of one figure over rounds."""
    return float(statistics.median(r[field] for r in results))


def report(data: dict[str, Any]) -> str:
    """The markdown report."""
    runs = data["runs"]
    levels = sorted({int(c) for by_c in runs.values() for c in by_c})
    names = list(runs)
    lines = [
        f"Machine: {data['machine']}. {data['rounds']} interleaved rounds of "
        f"{data['seconds']} s per figure; medians.",
        "",
        "| target | concurrency | req/s | p50 ms | p99 ms | overhead p50 ms | overhead p99 ms "
        "| worker CPU µs/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        for c in levels:
            results = runs[name][c]
            direct = runs["direct"][c]
            p50, p99 = median_of(results, "p50_ms"), median_of(results, "p99_ms")
            over50 = "" if name == "direct" else f"{p50 - median_of(direct, 'p50_ms'):.2f}"
            over99 = "" if name == "direct" else f"{p99 - median_of(direct, 'p99_ms'):.2f}"
            errors = sum(r["errors"] for r in results)
            cpu = [r["cpu_us_per_request"] for r in results if r.get("cpu_us_per_request")]
            cpu_text = f"{statistics.median(cpu):,.0f}" if cpu else ""
            lines.append(
                f"| {name} | {c} | {median_of(results, 'requests_per_second'):,.0f} | {p50:.2f} | "
                f"{p99:.2f} | {over50} | {over99} | {cpu_text} | {errors} |"
            )
    top = max(levels)
    lines += [
        "",
        f"| target | throughput at c={top} (req/s) | RSS/worker idle MB "
        "| RSS/worker loaded MB | cold start s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        rps = median_of(runs[name][top], "requests_per_second")
        idle = data["rss_idle"].get(name)
        loaded = data["rss_loaded"].get(name)
        cold = data["cold_start"].get(name)
        lines.append(
            f"| {name} | {rps:,.0f} | {idle:.0f} | {loaded:.0f} | {cold:.2f} |"
            if idle is not None
            else f"| {name} | {rps:,.0f} | | | |"
        )
    if "litellm" in runs:
        ratio = median_of(runs["keyrelay gthread"][top], "requests_per_second") / median_of(
            runs["litellm"][top], "requests_per_second"
        )
        shipped = median_of(
            runs["keyrelay gevent (shipped logging)"][top], "requests_per_second"
        ) / median_of(runs["litellm"][top], "requests_per_second")
        lines += [
            "",
            f"keyrelay (gthread) throughput / LiteLLM throughput at c={top}: **{ratio:.1f}x**; "
            f"with the shipped defaults (gevent, the state file, the shipped logging): "
            f"**{shipped:.1f}x**",
        ]
    if "stack floor" in runs:
        lines += ["", *floor_report(runs, levels)]
    served, fell_back = data["failover"]["served_p50_ms"], data["failover"]["failover_p50_ms"]
    lines += [
        "",
        "Failover cost (c=1, tier 1 answers 429 at once, tier 2 serves): p50 "
        f"{fell_back:.2f} ms vs {served:.2f} ms when tier 1 serves (+{fell_back - served:.2f} ms).",
    ]
    lines += stores.report(runs)
    lines += stores.waits_report(data.get("store_waits"))
    if data.get("scaling"):
        lines += scaling.report(data["scaling"])
    lines += streaming_report(data)
    if data.get("dialects"):
        lines += [
            "",
            "CPU per request by dialect (gevent, the state file, c=10; native: the "
            "upstream speaks the client's dialect):",
            "",
            *dialects.report(data["dialects"]),
        ]
    if data.get("sessions"):
        lines += [
            "",
            "Agent sessions over four keys with per-key prompt caches (10 sessions of 20 turns "
            "at once, gevent, the state file):",
            "",
            *sessions.report(data["sessions"]),
        ]
    if data.get("sizes"):
        lines += ["", "What size costs, per dialect (gevent, the state file, the shipped "
                  "logging; c=1, keyrelay minus direct in the same rounds):",
                  *sizes.report_all(data["sizes"])]  # fmt: skip
    if data.get("clients"):
        lines += [
            "",
            "Client keys: the checks per request, in one process (verify, admit, settle):",
            "",
            *clients.report(data["clients"]),
        ]
    return "\n".join(lines) + "\n"


def floor_report(runs: dict[str, Any], levels: list[int]) -> list[str]:
    """keyrelay against the thinnest proxy on the same stack (Flask + requests + gunicorn)."""

    def cpu(name: str, c: int) -> float | None:
        values = [r["cpu_us_per_request"] for r in runs[name][c] if r.get("cpu_us_per_request")]
        return statistics.median(values) if values else None

    lines = [
        "keyrelay against the stack floor (bench/floor_app.py: Flask + one requests session, "
        "nothing else, same gunicorn settings):",
        "",
        "| concurrency | floor req/s | keyrelay gthread req/s | floor CPU µs/req "
        "| keyrelay CPU µs/req | keyrelay's own CPU µs/req |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for c in levels:
        floor_cpu, own_cpu = cpu("stack floor", c), cpu("keyrelay gthread", c)
        own = f"{own_cpu - floor_cpu:,.0f}" if floor_cpu and own_cpu else ""
        lines.append(
            f"| {c} | {median_of(runs['stack floor'][c], 'requests_per_second'):,.0f} "
            f"| {median_of(runs['keyrelay gthread'][c], 'requests_per_second'):,.0f} "
            f"| {floor_cpu or 0:,.0f} | {own_cpu or 0:,.0f} | {own} |"
        )
    shipped, floor = "keyrelay gevent (shipped logging)", "stack floor gevent"
    if shipped not in runs or floor not in runs:
        return lines
    lines += [
        "",
        "With the shipped defaults (gevent, the state file, the shipped logging) against the "
        "floor under gevent:",
        "",
        "| concurrency | floor req/s | keyrelay req/s | keyrelay / floor | floor CPU µs/req "
        "| keyrelay CPU µs/req | keyrelay's own CPU µs/req |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in levels:
        floor_cpu, own_cpu = cpu(floor, c), cpu(shipped, c)
        own = f"{own_cpu - floor_cpu:,.0f}" if floor_cpu and own_cpu else ""
        floor_rps = median_of(runs[floor][c], "requests_per_second")
        own_rps = median_of(runs[shipped][c], "requests_per_second")
        lines.append(
            f"| {c} | {floor_rps:,.0f} | {own_rps:,.0f} | {own_rps / floor_rps:.0%} "
            f"| {floor_cpu or 0:,.0f} | {own_cpu or 0:,.0f} | {own} |"
        )
    return lines


def plot(data: dict[str, Any], path: Path) -> bool:
    """Latency (p50 and p99) against concurrency per target; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, by_c in data["runs"].items():
        levels = sorted(int(c) for c in by_c)
        for axis, field in zip(axes, ("p50_ms", "p99_ms"), strict=True):
            axis.plot(levels, [median_of(by_c[c], field) for c in levels], marker="o", label=name)
    for axis, title in zip(axes, ("p50 latency", "p99 latency"), strict=True):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("concurrent connections")
        axis.set_ylabel("ms")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per figure")
    parser.add_argument("--concurrency", default="1,10,64", help="comma list of connection counts")
    parser.add_argument("--no-litellm", dest="litellm", action="store_false", help="skip LiteLLM")
    parser.add_argument(
        "--no-scaling", dest="scaling", action="store_false", help="skip the scaling curves"
    )
    parser.add_argument(
        "--no-sizes", dest="sizes", action="store_false", help="skip the size tables per dialect"
    )
    parser.add_argument("--streams-per-batch", type=int, default=10, help="streams per figure")
    parser.add_argument("--open-streams", type=int, default=1000, help="streams held open at once")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.litellm and not targets.litellm_available():
        raise SystemExit("LiteLLM is not installed here: run `make bench` (or pass --no-litellm)")
    data = measure(args)
    text = report(data)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"{stamp}.md").write_text(text)
    (args.out / f"{stamp}.json").write_text(json.dumps(data, indent=2))
    if plot(data, args.out / f"{stamp}.png"):
        print(f"plot: {args.out / f'{stamp}.png'}")


if __name__ == "__main__":
    main()
