#!/usr/bin/env python3
"""Aggregates compare.sh's results (one JSON object per line) into the
Markdown table of docs/benchmarks.md: medians over rounds, min-max beside
them, Gatehouse's ratio to each of the others.

  report.py row BROKER ROUND SCENARIO OUT.json   print one result line from `mqttbench MODE --broker-pid --json`
  report.py table RESULTS.jsonl META.json DOC.md  rewrite the block between the markers in DOC.md
"""
import json
import statistics
import sys

BEGIN = "<!-- bench-compare:begin -->"
END = "<!-- bench-compare:end -->"
BROKERS = [("mosquitto", "mosquitto"), ("mochi", "bare mochi"), ("gatehouse", "Gatehouse")]


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def values(rows, broker, scenario, key, **match):
    out = []
    for r in rows:
        if r["broker"] == broker and r["scenario"] == scenario and all(r.get(k) == v for k, v in match.items()):
            if r.get(key) is not None:
                out.append(r[key])
    return out


def cell(vals, fmt):
    if not vals:
        return "", None
    med = statistics.median(vals)
    text = fmt.format(med)
    if len(vals) > 1:
        text += " (" + fmt.format(min(vals)) + "-" + fmt.format(max(vals)) + ")"
    return text, med


def ratio(a, b):
    if a is None or b is None or b == 0:
        return ""
    return "{:.2f}x".format(a / b)


def row(label, per_broker, fmt):
    cells, meds = [], {}
    for key, _ in BROKERS:
        text, med = cell(per_broker.get(key, []), fmt)
        cells.append(text)
        meds[key] = med
    g = meds["gatehouse"]
    return "| {} | {} | {} | {} |".format(label, " | ".join(cells), ratio(g, meds["mosquitto"]), ratio(g, meds["mochi"]))


def highest_zero_loss(rows, broker, rates):
    """Per round, the highest offered rate that the generator kept up (95%) with no loss; 0 when none."""
    out = []
    for rnd in sorted({r["round"] for r in rows if r["broker"] == broker}):
        ok = [r["rate"] for r in rows if r["broker"] == broker and r["round"] == rnd and r["scenario"] == "pubsub"
              and r["lost"] == 0 and r["errors"] == 0 and r["sent_per_s"] >= 0.95 * r["rate"]]
        out.append(max(ok) if ok else 0)
    return out


def table(rows, meta):
    lines = []
    lines.append("| metric | " + " | ".join(name for _, name in BROKERS) + " | Gatehouse / mosquitto | Gatehouse / mochi |")
    lines.append("|---|---|---|---|---|---|")
    per = lambda scen, key, **m: {b: values(rows, b, scen, key, **m) for b, _ in BROKERS}
    lines.append(row("broker CPU per full mTLS connect (µs)", per("connect", "cpu_us_per_op"), "{:.0f}"))
    own, _ = cell(per("connect-own", "cpu_us_per_op")["gatehouse"], "{:.0f}")
    if own:
        lines.append("| broker CPU per full mTLS connect, Gatehouse's own two-level chain (µs) | | | {} | | |".format(own))
    lines.append(row("connects/s seen by the generator ({} workers)".format(meta["workers"]),
                     per("connect", "per_s"), "{:.0f}"))
    rates = meta["rates"]
    for rt in rates:
        label = "QoS 0 {}->1, {} B, offered {}/s".format(meta["publishers"], meta["size"], rt)
        lines.append(row(label + ": sent/s the generator achieved", per("pubsub", "sent_per_s", rate=rt), "{:.0f}"))
        lines.append(row(label + ": broker CPU per message (µs)", per("pubsub", "cpu_us_per_op", rate=rt), "{:.2f}"))
        lines.append(row(label + ": lost (%)", per("pubsub", "loss_pct", rate=rt), "{:.2f}"))
        lines.append(row(label + ": latency p99 (ms)", per("pubsub", "p99_ms", rate=rt), "{:.1f}"))
    zl = {b: highest_zero_loss(rows, b, rates) for b, _ in BROKERS}
    lines.append(row("highest offered QoS 0 rate with zero loss, of {} (msg/s)".format(", ".join(map(str, rates))),
                     zl, "{:.0f}"))
    for n in meta["idle"]:
        lines.append(row("RSS per idle mTLS connection at {:,} (KB)".format(n), per("idle", "kb_per_conn", conns=n), "{:.1f}"))
    s = meta["suspend"]
    g = per("suspend", "to_last_eof_ms")
    txt, _ = cell(g["gatehouse"], "{:.1f}")
    cli, _ = cell(per("suspend", "trigger_ms")["gatehouse"], "{:.1f}")
    if txt:
        lines.append("| `cert suspend` -> last of {:,} sessions closed, {:,} others untouched (ms from CLI start) "
                     "| cannot | cannot | {} (CLI itself {}) | | |".format(s[0], s[1], txt, cli))
    return lines


def make_row(broker, rnd, scenario, path):
    with open(path) as f:
        r = json.load(f)
    b = r.get("broker") or {}
    row = {"broker": broker, "round": int(rnd), "scenario": scenario, "errors": r["errors"]["total"],
           "cpu_us_per_op": b.get("cpu_us_per_op")}
    mode = r["mode"]
    if mode == "connect":
        row.update(ops=r["connects"], per_s=r["connects_per_s"], p50_ms=r["connect"]["p50_ms"], p99_ms=r["connect"]["p99_ms"])
    elif mode == "pubsub":
        row.update(rate=int(r["offered_per_s"]), ops=r["sent"], sent=r["sent"], sent_per_s=r["sent_per_s"],
                   lost=r["lost"], loss_pct=r["loss_pct"],
                   per_s=r["received_per_s"], p50_ms=r["latency"]["p50_ms"], p99_ms=r["latency"]["p99_ms"])
    elif mode == "idle":
        row.update(conns=r["conns"], opened=r["opened"], held=r["held"], kb_per_conn=b.get("kb_per_conn"))
    elif mode == "suspend":
        row.update(to_last_eof_ms=r["to_last_eof_ms"], trigger_ms=r.get("trigger_ms"), closed=r["closed"],
                   others_up=r["others_up"], others=r["others"])
    return row


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "row":
        print(json.dumps(make_row(*sys.argv[2:6])))
        return
    if len(sys.argv) != 5 or sys.argv[1] != "table":
        sys.exit("usage: report.py row BROKER ROUND MODE OUT.json | table RESULTS.jsonl META.json DOC.md")
    rows = load(sys.argv[2])
    with open(sys.argv[3]) as f:
        meta = json.load(f)
    block = [BEGIN, "", meta["title"], ""] + ["- " + n for n in meta["notes"]] + [""] + table(rows, meta) + ["", END]
    with open(sys.argv[4]) as f:
        doc = f.read()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        doc = head + "\n".join(block) + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + "\n".join(block) + "\n"
    with open(sys.argv[4], "w") as f:
        f.write(doc)
    print("\n".join(table(rows, meta)))


if __name__ == "__main__":
    main()
