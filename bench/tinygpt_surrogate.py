#!/usr/bin/python3
"""A tinygpt surrogate for screening proposers in seconds: a tree ensemble
fitted to the val_bpb of 8,952 configurations that bench/search_tinygpt.py
measured (bench/data/tinygpt_measurements.jsonl.gz: every ratchet run of that
bench on 2026-11-30, its 21-knob space, 1-5 measurements each), then the
ratchet proposers (ratchet-bench-search --surrogate: the real proposers and
the real confirm rule, noise N(0, --noise) on every measurement) and Optuna's
TPESampler searching it, as bench/search_tinygpt.py does on real trainings.

    /usr/bin/python3 bench/tinygpt_surrogate.py [--bin build/bin] [--seeds 100] [--optuna-seeds 30]
                                                [--noise 0.018] [--strategies random,evolution,tpe,additive]
                                                [--work DIR]

Needs python3-sklearn and python3-optuna (scripts/install-bench-deps). The
surrogate is a landscape with tinygpt's shape (which choices matter, how
learning rates interact), not tinygpt itself: its held-out error is printed,
and a proposer change it favours still has to show on the real bench.
--noise 0.018 is the measured within-config sd of configs below 2.5 val_bpb.
"""
import argparse, gzip, json, math, os, random, statistics, subprocess, sys, tempfile

import numpy as np

from search_efficiency import median_curve, ratchet_curves
from search_tinygpt import ROOT, SHAPE, SPACE_KEYS, suggest

SPEC_FILE = os.path.join(ROOT, "specs", "tinygpt-tokens.json")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tinygpt_measurements.jsonl.gz")


def space():
    s = json.load(open(SPEC_FILE))["search_space"]
    return {k: s[k] for k in SPACE_KEYS}


def active(p, config):
    return all(config.get(k) in allowed for k, allowed in p.get("when", {}).items())


def features(sp, config):
    """As bench/surrogate_forest.cc: -1 inactive, a choice's index, a number's place in its range."""
    x = []
    for k, p in sp.items():
        v = config.get(k)
        if v is None or not active(p, config):
            x.append(-1.0)
        elif p["type"] == "bool":
            x.append(1.0 if v else 0.0)
        elif p["type"] == "choice":
            x.append(float(p["values"].index(v)))
        elif p.get("log"):
            x.append((math.log(v) - math.log(p["min"])) / (math.log(p["max"]) - math.log(p["min"])))
        else:
            x.append((v - p["min"]) / (p["max"] - p["min"]))
    return x


def fit(sp):
    from sklearn.ensemble import ExtraTreesRegressor
    rows = [json.loads(l) for l in gzip.open(DATA, "rt")]
    X = np.array([features(sp, r["params"]) for r in rows])
    y = np.array([statistics.mean(r["val_bpb"]) for r in rows])
    w = np.array([len(r["val_bpb"]) for r in rows])
    make = lambda: ExtraTreesRegressor(n_estimators=300, min_samples_leaf=2, n_jobs=2, random_state=0)
    idx = np.random.default_rng(0).permutation(len(rows))
    train, test = idx[: len(rows) * 4 // 5], idx[len(rows) * 4 // 5:]
    held = make().fit(X[train], y[train], sample_weight=w[train]).predict(X[test])
    good = y[test] < 2.6
    print(f"surrogate: {len(rows)} measured configs; held-out rmse {np.sqrt(np.mean((held - y[test]) ** 2)):.3f} "
          f"(sd of val_bpb {y[test].std():.3f}), on configs below 2.6: "
          f"{np.sqrt(np.mean((held[good] - y[test][good]) ** 2)):.3f}", flush=True)
    return make().fit(X, y, sample_weight=w)


def export(model, baseline, path):
    with open(path, "w") as f:
        f.write(json.dumps({"spec_file": SPEC_FILE, "keys": SPACE_KEYS, "baseline": baseline}) + "\n")
        f.write(f"{len(model.estimators_)}\n")
        for est in model.estimators_:
            t = est.tree_
            f.write(f"{t.node_count}\n")
            for i in range(t.node_count):
                f.write(f"{t.feature[i]} {t.threshold[i]!r} {t.children_left[i]} {t.children_right[i]} "
                        f"{t.value[i][0][0]!r}\n")


def check(bin_dir, sp, model, baseline, forest, work):
    """ratchet-bench-search must see the same landscape as this script."""
    rng = random.Random(1)
    for i in range(5):
        config = dict(baseline)
        for k, p in sp.items():
            if p["type"] in ("choice", "bool"):
                config[k] = rng.choice(p["values"] if p["type"] == "choice" else [False, True])
            elif p.get("log"):
                config[k] = math.exp(rng.uniform(math.log(p["min"]), math.log(p["max"])))
            else:
                config[k] = rng.uniform(p["min"], p["max"])
        path = os.path.join(work, "check.json")
        json.dump(config, open(path, "w"))
        cpp = float(subprocess.run([os.path.join(bin_dir, "ratchet-bench-search"), "objective", path, forest],
                                   check=True, capture_output=True, text=True).stdout)
        py = model.predict(np.array([features(sp, config)]))[0]
        if abs(cpp - py) > 1e-9:
            sys.exit(f"surrogate mismatch on {config}: c++ {cpp}, python {py}")


def optuna_curves(sp, model, baseline, seeds, noise):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    truth = lambda c: float(model.predict(np.array([features(sp, c)]))[0])
    curves = []
    for seed in range(1, seeds + 1):
        rng = np.random.default_rng(1000 + seed)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.enqueue_trial({k: baseline[k] for k in sp})
        best, curve = None, []
        for n in range(51):  # trial 0 is the baseline
            trial, config = study.ask(), dict(baseline)
            for k, p in sp.items():
                value = suggest(trial, k, p, config)
                if value is not None:
                    config[k] = value
            value = truth(config) + rng.normal(0, noise)
            study.tell(trial, value)
            if best is None or value < best[0]:
                best = (value, config)
            if n > 0:
                curve.append(truth(best[1]))
        curves.append(curve)
    return curves


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--optuna-seeds", type=int, default=30)
    ap.add_argument("--noise", type=float, default=0.018)
    ap.add_argument("--strategies", default="random,evolution,tpe,additive")
    ap.add_argument("--work")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tinygpt-surrogate.")
    os.makedirs(work, exist_ok=True)
    sp = space()
    baseline = json.load(open(os.path.join(ROOT, "experiments", "tinygpt", "train.json")))
    baseline.update(SHAPE)
    model = fit(sp)
    forest = os.path.join(work, "forest.txt")
    export(model, baseline, forest)
    check(a.bin, sp, model, baseline, forest, work)

    results = {}
    for s in a.strategies.split(","):
        name, options = ("tpe, independent", ["multivariate=false"]) if s == "tpe-independent" else (s, [])
        kind = "tpe" if s == "tpe-independent" else s
        curves, cost = ratchet_curves(a.bin, kind, a.seeds, 1, 50, options=options,
                                      extra_args=("--surrogate", forest, "--noise", str(a.noise)))
        results["ratchet " + name] = (curves, statistics.median(cost))
    if a.optuna_seeds > 0:
        results["Optuna TPESampler"] = (optuna_curves(sp, model, baseline, a.optuna_seeds, a.noise), 1.0)
    ref = median_curve(results["ratchet random"][0])[-1] if "ratchet random" in results else None
    print(f"tinygpt surrogate, noise sd {a.noise}, baseline {model.predict(np.array([features(sp, baseline)]))[0]:.3f}; "
          f"ratchet {a.seeds} seeds, Optuna {a.optuna_seeds}")
    print()
    print("| method | median best true val_bpb @25 | @50 | mean @50 | experiments until the median reaches "
          "random's @50 | measurements per experiment |")
    print("|---|---|---|---|---|---|")
    for name, (curves, cost) in results.items():
        m = median_curve(curves)
        reach = next((i + 1 for i, v in enumerate(m) if ref is not None and v <= ref), None)
        print(f"| {name} | {m[24]:.3f} | {m[-1]:.3f} | {statistics.mean(c[-1] for c in curves):.3f} | "
              f"{reach if reach else '> ' + str(len(m))} | {cost:.2f} |")


if __name__ == "__main__":
    main()
