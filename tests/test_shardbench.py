"""The sharded benchmark's arithmetic: the workers' latency histograms are added bucket by
bucket before a quantile is read (averaging each worker's p99 would hide a slow one)."""

from __future__ import annotations

from bot.lab.shardbench import ShardResult, merged_latencies, shard_table


def histogram(
    counts: dict[str, float], top: float
) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        "chatwarden_decision_delay_seconds_bucket": [({"le": le}, n) for le, n in counts.items()],
        "chatwarden_decision_delay_max_seconds": [({}, top)],
    }


def test_latency_histograms_of_workers_are_merged_before_the_quantile() -> None:
    fast = histogram({"0.01": 990.0, "0.1": 1000.0, "+Inf": 1000.0}, 0.05)
    slow = histogram({"0.01": 0.0, "0.1": 500.0, "1.0": 1000.0, "+Inf": 1000.0}, 0.9)
    p50, p99, top = merged_latencies([fast, slow])
    assert top == 0.9
    assert 0.01 < p50 <= 0.1  # half of all 2,000 decisions took over 10 ms
    assert 0.1 < p99 <= 0.9  # the slow worker's tail is the merged p99
    alone = merged_latencies([fast])
    assert alone[1] <= 0.1


def test_the_table_shows_rates_and_what_sqlite_has_not() -> None:
    rows = shard_table(
        [
            ShardResult("sqlite", 1, 1000, 100, 100, 2.0, 5.0, 20.0, None, None, 1.5),
            ShardResult("postgresql", 2, 1000, 100, 100, 1.0, 5.0, 20.0, 40.0, 0.5, 3.0),
        ]
    )[1]
    assert rows[0][5] == "50" and rows[0][8] == "-" and rows[0][9] == "-"
    assert rows[1][5] == "100" and rows[1][8] == "40" and rows[1][9] == "0.50 cores"
