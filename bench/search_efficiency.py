#!/usr/bin/python3
"""Search efficiency on the toy objective: ratchet's random, local, evolution,
tpe and additive proposers (driven by ratchet-bench-search, the real proposers and the
real confirm rule) against Optuna's TPESampler on the same objective and the
same noise, starting from the same baseline config.

    /usr/bin/python3 bench/search_efficiency.py [--bin build/bin] [--seeds 10] [--first-seed 1]
                                                [--experiments 50]

Needs Debian's python3-optuna (scripts/install-bench-deps). Prints a Markdown
table: the true (noise-free) objective of the config each method would call
its best after 25 and 50 experiments, median over seeds (0 is the optimum).
For ratchet that is the accepted best (policy confirm, as specs/toy.json;
extra rows for the independent tpe and for tpe under strict); for Optuna
(default TPESampler, and multivariate=True) the trial with the lowest
measured value (what study.best_trial returns). Last line: ratchet tpe's
median over Optuna's, at 25 and at the end.
"""
import argparse, json, math, os, platform, statistics, subprocess, sys, tempfile

PENALTY = {"relu": 0.3, "gelu": 0.1, "swiglu": 0.0, "tanh": 0.6}
BASELINE = {"x": -3.0, "y": 2.0, "lr": 0.1, "depth": 2, "width": 64, "act": "relu"}


def objective(p):  # harness/toy.cc Objective()
    dlr = math.log10(p["lr"]) - math.log10(3e-3)
    dw = math.log2(p["width"]) - 8
    return ((p["x"] - 1.5) ** 2 + 0.5 * (p["y"] + 0.5) ** 2 + dlr * dlr
            + 0.1 * (p["depth"] - 6) ** 2 + 0.25 * dw * dw + PENALTY[p["act"]])


def check_objective(bin_dir):
    """The Python and C++ objectives must equal ratchet-toy's true_score."""
    import random
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as d:
        for i in range(5):
            p = {"x": rng.uniform(-5, 5), "y": rng.uniform(-5, 5), "lr": 10 ** rng.uniform(-5, 0),
                 "depth": rng.randint(1, 16), "width": rng.randint(16, 1024),
                 "act": rng.choice(list(PENALTY))}
            path = os.path.join(d, "p.json")
            json.dump(p, open(path, "w"))
            out = os.path.join(d, "r.json")
            subprocess.run([os.path.join(bin_dir, "ratchet-toy"), "train", "--params", path,
                            "--seed", "1", "--out", out, "--noise", "0"], check=True,
                           stdout=subprocess.DEVNULL)
            toy = json.load(open(out))["true_score"]
            cpp = float(subprocess.run([os.path.join(bin_dir, "ratchet-bench-search"), "objective", path],
                                       check=True, capture_output=True, text=True).stdout)
            if abs(toy - objective(p)) > 1e-9 or abs(toy - cpp) > 1e-9:
                sys.exit(f"objective mismatch on {p}: toy {toy}, python {objective(p)}, c++ {cpp}")


def ratchet_curves(bin_dir, strategy, seeds, first_seed, experiments, policy="confirm", options=(),
                   extra_args=()):
    """extra_args: more ratchet-bench-search flags, e.g. ("--surrogate", FOREST)."""
    argv = [os.path.join(bin_dir, "ratchet-bench-search"), "search", "--strategy", strategy,
            "--seeds", str(seeds), "--first-seed", str(first_seed), "--experiments", str(experiments),
            "--policy", policy, *extra_args]
    for o in options:
        argv += ["--option", o]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    return [r["curve"] for r in rows], [(r["measurements"] - r["calibration"]) / max(1, r["experiments"]) for r in rows]


def optuna_curves(seeds, first_seed, experiments, noise=0.3, multivariate=False):
    import numpy as np
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    curves = []
    for seed in range(first_seed, first_seed + seeds):
        rng = np.random.default_rng(1000 + seed)

        def f(trial):
            p = {"x": trial.suggest_float("x", -5, 5), "y": trial.suggest_float("y", -5, 5),
                 "lr": trial.suggest_float("lr", 1e-5, 1.0, log=True),
                 "depth": trial.suggest_int("depth", 1, 16),
                 "width": trial.suggest_int("width", 16, 1024, log=True),
                 "act": trial.suggest_categorical("act", list(PENALTY))}
            trial.set_user_attr("true", objective(p))
            return objective(p) + rng.normal(0, noise)

        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=multivariate)
        study = optuna.create_study(sampler=sampler)
        study.enqueue_trial(BASELINE)
        study.optimize(f, n_trials=experiments + 1)  # trial 0 is the baseline
        trials = study.trials
        curve, best = [], trials[0]
        for t in trials[1:]:
            if t.value < best.value:
                best = t
            curve.append(best.user_attrs["true"])
        curves.append(curve)
    return curves


def median_curve(curves):
    n = min(len(c) for c in curves)
    return [statistics.median(c[i] for c in curves) for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--experiments", type=int, default=50)
    a = ap.parse_args()
    check_objective(a.bin)
    results = {}
    for s in ["random", "local", "evolution", "tpe", "additive"]:
        curves, cost = ratchet_curves(a.bin, s, a.seeds, a.first_seed, a.experiments)
        results["ratchet " + s] = (curves, statistics.median(cost))
    # tpe is multivariate by default; the independent one is Optuna's default.
    curves, cost = ratchet_curves(a.bin, "tpe", a.seeds, a.first_seed, a.experiments,
                                  options=["multivariate=false"])
    results["ratchet tpe, independent"] = (curves, statistics.median(cost))
    # The same search judged like Optuna judges (best single measurement):
    # separates the strategy from the price of honest acceptance.
    curves, cost = ratchet_curves(a.bin, "tpe", a.seeds, a.first_seed, a.experiments, policy="strict")
    results["ratchet tpe, strict acceptance"] = (curves, statistics.median(cost))
    results["Optuna TPESampler"] = (optuna_curves(a.seeds, a.first_seed, a.experiments), 1.0)
    results["Optuna TPESampler(multivariate=True)"] = (
        optuna_curves(a.seeds, a.first_seed, a.experiments, multivariate=True), 1.0)
    ref = median_curve(results["ratchet random"][0])[-1]
    print(f"toy objective (optimum 0, baseline {objective(BASELINE):.3f}), noise sd 0.3, "
          f"{a.seeds} seeds from {a.first_seed}; {platform.processor() or platform.machine()}")
    print()
    print(f"| method | median best true objective @25 | @50 | experiments until the median reaches "
          f"random's @{a.experiments} ({ref:.3f}) | measurements per experiment |")
    print("|---|---|---|---|---|")
    for name, (curves, cost) in results.items():
        m = median_curve(curves)
        reach = next((i + 1 for i, v in enumerate(m) if v <= ref), None)
        at25 = m[24] if len(m) >= 25 else float("nan")
        print(f"| {name} | {at25:.3f} | {m[-1]:.3f} | {reach if reach else '> ' + str(len(m))} | {cost:.2f} |")
    peer = median_curve(results["Optuna TPESampler"][0])
    print()
    for s in ["tpe", "additive"]:
        ours = median_curve(results["ratchet " + s][0])
        at25 = ours[24] / peer[24] if len(ours) >= 25 else math.nan
        print(f"ratio ratchet {s} (confirm) / Optuna TPESampler, median best true objective: "
              f"@25 {at25:.2f}, @{a.experiments} {ours[-1] / peer[-1]:.2f} (below 1: ratchet better)")


if __name__ == "__main__":
    main()
