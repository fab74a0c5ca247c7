#!/usr/bin/python3
"""Search efficiency on tinygpt with a small token budget: `ratchet run` with
each search proposer (random, local, evolution, tpe, additive; policy confirm,
the real loop, trainer and evaluator) against Optuna's TPESampler driving the same
trainer and evaluator on the same space, from the same baseline.

    /usr/bin/python3 bench/search_tinygpt.py [--bin build/bin] [--seeds 10] [--experiments 50]
                                             [--tokens 150000] [--jobs 2] [--work DIR]
                                             [--methods random,local,evolution,optuna,tpe,additive]

Besides the proposers' names, --methods takes the variants tpe-independent
("multivariate": false), tpe-strict (acceptance policy strict), tpe-noplateau
(no plateau response), tpe-startup20 (20 random configs before the model),
tpe-cand96 and tpe-cand8 (96 or 8 candidates per proposal instead of 24),
tpe-oneround (acceptance extend_above 0: one confirm round, as before
2026-11-30 12:30; runs of `tpe` made before then are that).

The model shape is fixed and small (2 layers, n_embd 64, seq_len 64) and the
space holds every knob that does not change its cost (optimizer and its
rates, schedule, activation, norm, positions, tying, qk-norm, softcap, batch
size): 20 parameters, 2 conditional. Every training runs on one thread,
--jobs of them at a time; results do not depend on load (token budget, fixed
threads: same seed, same bytes).

A method's best after k experiments is what it would hand over: for ratchet
the accepted best, for Optuna the trial with the lowest measured value. Its
"true" val_bpb is a fresh training of that config with seed 777777 (a seed
no measurement uses, so the choice's luck does not carry over), cached per
config. Prints a Markdown table of medians over seeds, like
bench/search_efficiency.py does for the toy. --work keeps the workspaces (and
the cache, so an interrupted bench resumes).
"""
import argparse, concurrent.futures, json, os, platform, shutil, statistics, subprocess, sys, tempfile
import threading

from search_efficiency import median_curve  # the toy bench, next to this file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TRUE_SEED = 777777
SHAPE = {"n_layer": 2, "n_embd": 64, "n_head": 4, "mlp_ratio": 4.0, "seq_len": 64}
SPACE_KEYS = ["activation", "norm", "pos", "rope_base", "tie_embeddings", "qk_norm", "logit_softcap",
              "batch_size", "optimizer", "lr", "embed_lr", "matrix_lr", "weight_decay", "beta1", "beta2",
              "grad_clip", "init_std", "muon_momentum", "schedule", "warmup_frac", "cooldown_frac"]


class Trainer:
    """One training + evaluation of a config, as the spec's commands do it."""

    def __init__(self, bin_dir, data_dir, tokens, work):
        self.bin, self.data, self.tokens, self.work = bin_dir, data_dir, tokens, work
        self.cache_path = os.path.join(work, "true_cache.json")
        self.cache = json.load(open(self.cache_path)) if os.path.exists(self.cache_path) else {}
        self.lock = threading.Lock()

    def val_bpb(self, config, seed):
        with tempfile.TemporaryDirectory(dir=self.work) as d:
            cfg, ckpt = os.path.join(d, "train.json"), os.path.join(d, "model.ckpt")
            json.dump(config, open(cfg, "w"))
            subprocess.run([os.path.join(self.bin, "ratchet-train"), "--config", cfg, "--data", self.data,
                            "--out", ckpt, "--seed", str(seed), "--threads", "1",
                            "--token-budget", str(self.tokens)], check=True, stdout=subprocess.DEVNULL)
            out = subprocess.run([os.path.join(self.bin, "ratchet-eval"), "--checkpoint", ckpt, "--data",
                                  self.data, "--threads", "1", "--max-bytes", "65536"],
                                 check=True, capture_output=True, text=True).stdout
            return json.loads(out.splitlines()[-1])["val_bpb"]

    def true_val_bpb(self, config):
        key = json.dumps(config, sort_keys=True)
        with self.lock:
            if key in self.cache:
                return self.cache[key]
        value = self.val_bpb(config, TRUE_SEED)
        with self.lock:
            self.cache[key] = value
            tmp = self.cache_path + ".tmp"
            json.dump(self.cache, open(tmp, "w"))
            os.replace(tmp, self.cache_path)
        return value


def bench_spec(tokens, baseline_dir):
    """specs/tinygpt-tokens.json cut down: small budget, one thread, the cost-neutral space."""
    spec = json.load(open(os.path.join(ROOT, "specs", "tinygpt-tokens.json")))
    spec["name"] = "tinygpt-search-bench"
    spec["template"] = baseline_dir
    spec["budget"] = {"kind": "tokens", "tokens": tokens}
    spec["limits"]["threads"] = 1
    spec["evaluate"]["argv"] += ["--max-bytes", "65536"]
    spec["search_space"] = {k: v for k, v in spec["search_space"].items() if k in SPACE_KEYS}
    assert len(spec["search_space"]) == len(SPACE_KEYS)
    return spec


def best_curve(rows, experiments):
    """The accepted best config after each experiment of an exported run."""
    exps = sorted(rows["experiments"], key=lambda e: e["seq"])
    best, curve = exps[0]["params"], []
    for e in exps[1:]:
        if e["status"] in ("duplicate", "interrupted"):
            continue  # not counted by --max-experiments either
        if e["status"] == "accepted":
            best = e["params"]
        curve.append(best)
    return curve[:experiments]


# Method name -> proposer settings beyond the kind, and acceptance settings
# over the spec's ("strict": keep any better single measurement, as Optuna's
# best trial).
VARIANTS = {"tpe-independent": {"kind": "tpe", "multivariate": False},
            "tpe-strict": {"kind": "tpe", "acceptance": {"policy": "strict"}},
            "tpe-noplateau": {"kind": "tpe", "plateau": 1000},
            "tpe-startup20": {"kind": "tpe", "startup": 20},
            "tpe-cand96": {"kind": "tpe", "candidates": 96},
            "tpe-cand8": {"kind": "tpe", "candidates": 8},
            "tpe-oneround": {"kind": "tpe", "acceptance": {"extend_above": 0}}}


def ratchet_job(a, spec, method, seed):
    ws = os.path.join(a.work, "runs", f"{method}-{seed}")
    spec = json.loads(json.dumps(spec))
    spec["proposer"] = {"kind": method, "config": "train.json", "seed": seed, "plateau": 10}
    spec["proposer"].update(VARIANTS.get(method, {}))
    spec["acceptance"].update(spec["proposer"].pop("acceptance", {}))
    spec_path = ws + ".json"
    json.dump(spec, open(spec_path, "w"), indent=1)
    shutil.rmtree(ws, ignore_errors=True)
    with open(ws + ".log", "w") as log:
        subprocess.run([os.path.join(a.bin, "ratchet"), "run", spec_path, "-w", ws, "-n", str(a.experiments)],
                       check=True, stdout=log, stderr=subprocess.STDOUT)
    rows = json.loads(subprocess.run([os.path.join(a.bin, "ratchet"), "export", "-w", ws, "-f", "json"],
                                     check=True, capture_output=True, text=True).stdout)
    return {"curve": best_curve(rows, a.experiments),
            "measurements": sum(len(e["measurements"]) for e in rows["experiments"][1:])}


def suggest(trial, name, p, config):
    """One parameter of a spec search space as an Optuna suggestion (None if inactive)."""
    for key, allowed in p.get("when", {}).items():
        if config.get(key) not in allowed:
            return None
    if p["type"] == "float":
        return trial.suggest_float(name, p["min"], p["max"], log=p.get("log", False))
    if p["type"] == "int":
        return trial.suggest_int(name, p["min"], p["max"], log=p.get("log", False))
    if p["type"] == "bool":
        return trial.suggest_categorical(name, [False, True])
    return trial.suggest_categorical(name, p["values"])


def optuna_job(a, trainer, spec, baseline, seed):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: v for k, v in baseline.items() if k in spec["search_space"]})
    curve, best = [], None
    for n in range(a.experiments + 1):  # trial 0 is the baseline
        trial = study.ask()
        config = dict(baseline)
        for name, p in spec["search_space"].items():
            value = suggest(trial, name, p, config)
            if value is not None:
                config[name] = value
        value = trainer.val_bpb(config, seed * 100000 + n)
        study.tell(trial, value)
        if best is None or value < best[0]:
            best = (value, config)
        if n > 0:
            curve.append(best[1])
    return {"curve": curve, "measurements": a.experiments}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--experiments", type=int, default=50)
    ap.add_argument("--tokens", type=int, default=150000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--methods", default="random,local,evolution,optuna,tpe,additive")
    ap.add_argument("--work")
    a = ap.parse_args()
    a.work = os.path.abspath(a.work or tempfile.mkdtemp(prefix="search-tinygpt."))
    os.makedirs(os.path.join(a.work, "runs"), exist_ok=True)
    os.makedirs(os.path.join(a.work, "results"), exist_ok=True)
    # Every method trains with the same trainer and evaluator binaries, even
    # when the checkout is rebuilt while the bench runs.
    bin_copy = os.path.join(a.work, "bin")
    if not os.path.isdir(bin_copy):
        os.makedirs(bin_copy)
        for prog in ("ratchet-train", "ratchet-eval", "ratchet-prepare"):
            shutil.copy2(os.path.join(a.bin, prog), bin_copy)
    shutil.copy2(os.path.join(a.bin, "ratchet"), bin_copy)  # the proposers under test
    a.bin = bin_copy

    baseline_dir = os.path.join(a.work, "baseline")
    baseline = json.load(open(os.path.join(ROOT, "experiments", "tinygpt", "train.json")))
    baseline.update(SHAPE)
    os.makedirs(baseline_dir, exist_ok=True)
    json.dump(baseline, open(os.path.join(baseline_dir, "train.json"), "w"), indent=2)
    shutil.copy2(os.path.join(ROOT, "experiments", "tinygpt", "program.md"), baseline_dir)
    spec = bench_spec(a.tokens, baseline_dir)
    data_dir = os.path.expanduser("~/.cache/ratchet/kjv")
    subprocess.run([os.path.join(a.bin, "ratchet-prepare"), "--out", data_dir], check=True,
                   stdout=subprocess.DEVNULL)
    trainer = Trainer(a.bin, data_dir, a.tokens, a.work)

    methods = a.methods.split(",")
    def run(job):
        method, seed = job
        path = os.path.join(a.work, "results", f"{method}-{seed}.json")
        if not os.path.exists(path):
            r = (optuna_job(a, trainer, spec, baseline, seed) if method == "optuna"
                 else ratchet_job(a, spec, method, seed))
            curve = r.pop("curve")
            r["true"] = [trainer.true_val_bpb(c) for c in curve]
            r["best"] = curve[-1]  # the config handed over, for a look at what each seed found
            json.dump(r, open(path, "w"))
            print(f"{method} seed {seed}: best true val_bpb {r['true'][-1]:.4f}", file=sys.stderr, flush=True)
        return job, json.load(open(path))
    jobs = [(m, s) for m in methods for s in range(1, a.seeds + 1)]
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        done = dict(pool.map(run, jobs))

    base_true = trainer.true_val_bpb(baseline)
    names = {"optuna": "Optuna TPESampler", "tpe-independent": "ratchet tpe, independent",
             "tpe-strict": "ratchet tpe, strict acceptance"}
    ref = median_curve([done[("random", s)]["true"] for s in range(1, a.seeds + 1)])[-1] \
        if "random" in methods else None
    print(f"tinygpt {SHAPE}, {a.tokens} training tokens, 1 thread, val_bpb on 64 KiB; baseline "
          f"{base_true:.4f}; {a.seeds} seeds; {platform.processor() or platform.machine()}")
    print()
    print(f"| method | median best true val_bpb @25 | @{a.experiments} | experiments until the median "
          f"reaches random's @{a.experiments} | measurements per experiment |")
    print("|---|---|---|---|---|")
    medians = {}
    for m in methods:
        runs = [done[(m, s)] for s in range(1, a.seeds + 1)]
        curve = medians[m] = median_curve([r["true"] for r in runs])
        cost = statistics.median(r["measurements"] / a.experiments for r in runs)
        reach = next((i + 1 for i, v in enumerate(curve) if ref is not None and v <= ref), None)
        print(f"| {names.get(m, 'ratchet ' + m)} | {curve[min(24, len(curve) - 1)]:.4f} | {curve[-1]:.4f} | "
              f"{reach if reach else '> ' + str(len(curve))} | {cost:.2f} |")
    for ours_name in ("tpe", "additive"):
        if ours_name not in medians or "optuna" not in medians:
            continue
        ours, peer = medians[ours_name], medians["optuna"]
        at25 = min(24, len(ours) - 1, len(peer) - 1)
        print()
        print(f"improvement over the baseline, ratchet {ours_name} / Optuna TPESampler: "
              f"@25 {(base_true - ours[at25]) / (base_true - peer[at25]):.2f}, "
              f"@{a.experiments} {(base_true - ours[-1]) / (base_true - peer[-1]):.2f} (above 1: ratchet better)")


if __name__ == "__main__":
    main()
