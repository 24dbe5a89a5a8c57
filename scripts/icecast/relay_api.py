#!/usr/bin/env python3
"""Checks on the relay's HTTP endpoints for the end-to-end tests.

  relay_api.py metrics URL [EXPECT...]   parse GET URL with prometheus_client's text
                                         parser (a format error fails), check EXPECTs
  relay_api.py status URL [EXPECT...]    GET URL as JSON, check EXPECTs
  relay_api.py get URL PATH              print one value of /status (PATH as below)

EXPECT for metrics: 'name{label=value,...} OP NUMBER' (labels without quotes; OP is
one of = != > >= < <=); 'absent name{...}' for a sample that must not exist.
EXPECT for status: 'PATH OP VALUE' where PATH walks the JSON with dots, a station
by its id ('stations.b.inputs.primary.healthy'), lists of named objects by name;
VALUE is compared as a number when both sides are numbers, else as text.
Exit status 1 with a message on the first failed expectation.
"""
import json
import operator
import re
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

OPS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
       "<": operator.lt, "<=": operator.le}
EXPECT = re.compile(r"^\s*([^\s{]+(?:\{[^}]*\})?)\s*(!=|>=|<=|=|>|<)\s*(.*?)\s*$")


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def parse_metrics(text):
    samples = {}
    families = {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            samples[key] = s.value
    return families, samples


def metric_key(spec):
    m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$", spec)
    if not m:
        raise SystemExit(f"bad metric spec '{spec}'")
    labels = {}
    if m.group(2):
        for kv in m.group(2).split(","):
            k, v = kv.split("=", 1)
            labels[k.strip()] = v.strip().strip('"')
    return (m.group(1), tuple(sorted(labels.items())))


def walk(doc, path):
    cur = doc
    for part in path.split("."):
        if isinstance(cur, list):
            named = [x for x in cur if isinstance(x, dict) and (x.get("id") == part or x.get("name") == part)]
            if named:
                cur = named[0]
                continue
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            if part not in cur:
                raise KeyError(path)
            cur = cur[part]
        else:
            raise KeyError(path)
    return cur


def compare(actual, op, want):
    try:
        return OPS[op](float(actual), float(want))
    except (TypeError, ValueError):
        return OPS[op](str(actual).lower() if isinstance(actual, bool) else str(actual), want)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    cmd, url, expects = sys.argv[1], sys.argv[2], sys.argv[3:]
    text = fetch(url)
    if cmd == "metrics":
        families, samples = parse_metrics(text)
        print(f"metrics: {len(families)} families, {len(samples)} samples parsed")
        for e in expects:
            if e.startswith("absent "):
                key = metric_key(e[len("absent "):].strip())
                if key in samples:
                    raise SystemExit(f"FAIL: {e}: present with {samples[key]}")
                continue
            m = EXPECT.match(e)
            key = metric_key(m.group(1))
            if key not in samples:
                raise SystemExit(f"FAIL: {e}: no such sample")
            if not compare(samples[key], m.group(2), m.group(3)):
                raise SystemExit(f"FAIL: {e}: value {samples[key]}")
    elif cmd == "status":
        doc = json.loads(text)
        for e in expects:
            m = EXPECT.match(e)
            try:
                v = walk(doc, m.group(1))
            except (KeyError, IndexError, ValueError):
                raise SystemExit(f"FAIL: {e}: no {m.group(1)} in /status")
            if not compare(v, m.group(2), m.group(3)):
                raise SystemExit(f"FAIL: {e}: value {v!r}")
    elif cmd == "get":
        v = walk(json.loads(text), expects[0])
        print(json.dumps(v) if isinstance(v, (dict, list)) else v)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
