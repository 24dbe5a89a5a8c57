#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Prints the results of scripts/e2e-faults.sh (target/faults-SET.jsonl, one JSON
object per case, written by fault_report.py) as a Markdown table.

  fault_table.py target/faults-short.jsonl [more.jsonl ...]
"""
import json
import sys


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def main():
    rows = []
    for path in sys.argv[1:]:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    print(
        "| case | failover after the fault (s) | relay's verdict | back after the fault "
        "ended (s) | longest pause (ms) | 5 s windows (% of real time) | reconnects | ok |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        fail = r.get("failover_after_fault_s")
        behind = r.get("behind_after_fault_s")
        failover = fmt(fail, "%.3f")
        if behind is not None and fail is not None:
            failover += " (%.2f s after falling 1 s behind at %.2f)" % (fail - behind, behind)
        lo, hi = r.get("min_5s_rate"), r.get("max_5s_rate")
        windows = "-" if lo is None else "%.0f to %.0f" % (lo * 100, hi * 100)
        print(
            "| %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                r.get("case"),
                failover,
                r.get("relay_verdict", "-"),
                fmt(r.get("back_after_fault_end_s"), "%.1f"),
                fmt(r.get("longest_gap_ms"), "%.0f"),
                windows,
                r.get("reconnects", "-"),
                "yes" if r.get("ok") else "NO",
            )
        )


if __name__ == "__main__":
    main()
