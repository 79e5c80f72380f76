"""Markdown tables of a confirmed study from its report's frontier.json: the scenario table and every confirmed trial
(search draw beside the mean +- sd over seeds on dev, and the test split), for benchmarks/README.md.

    python benchmarks/confirmed_table.py benchmarks/results/cpu-squad2/frontier.json
"""

from __future__ import annotations

import json
import sys


def pm(stats: dict, name: str) -> str:
    s = stats.get(name)
    if not s:
        return "-"
    return f"{s['mean']:.2f} ± {s['sd']:.2f} ({s['n']})" if s["n"] > 1 else f"{s['mean']:.2f} (1)"


def main(path: str) -> int:
    doc = json.loads(open(path).read())
    metric = doc["objectives"][0]["metric"]
    print(f"| scenario | trial | params | {metric} dev, mean ± sd (n) | {metric} test | calibrated F1 dev | "
          "calibrated F1 test | size change | change (pts) |")
    print("|---|---|---|---|---|---|---|---|---|")
    conf = {c["number"]: c for c in doc.get("confirmed", [])}
    for r in doc["scenarios"]:
        c = conf.get(r["trial"], {"stats": {}})
        size = f"{r['size'] / 1e6:.2f}M" if r.get("size") else "-"
        change = f"{r['size_change_pct']:+.1f}%" if r.get("size_change_pct") is not None else "-"
        pts = f"{r['value_change_pts']:+.2f}" if r.get("value_change_pts") is not None else "-"
        print(f"| {r['scenario']} | {r['trial'] if r['trial'] is not None else '-'} | {size} | "
              f"{pm(c['stats'], metric)} | {pm(c['stats'], 'test_' + metric)} | {pm(c['stats'], 'calibrated_f1')} | "
              f"{pm(c['stats'], 'test_calibrated_f1')} | {change} | {pts} |")
    print()
    print(f"| trial | params | search draw | {metric} dev, mean ± sd (n) | {metric} test | calibrated F1 dev | "
          "calibrated F1 test | answered, test (%) | confirmed |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = sorted(doc.get("confirmed", []), key=lambda c: c["stats"]["num_parameters"]["mean"])
    for c in rows:
        s = c["stats"]
        print(f"| {c['number']}{' (baseline)' if c['is_baseline'] else ''} | {s['num_parameters']['mean'] / 1e6:.2f}M | "
              f"{s[metric]['draw']:.2f} | {pm(s, metric)} | {pm(s, 'test_' + metric)} | {pm(s, 'calibrated_f1')} | "
              f"{pm(s, 'test_calibrated_f1')} | {pm(s, 'test_calibrated_answered_pct')} | {c['mark']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
