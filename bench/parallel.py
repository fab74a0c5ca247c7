#!/usr/bin/python3
"""`ratchet run --parallel K`: throughput and search quality, with the real
controller (bench/RESULTS.md, "Parallel experiments").

    /usr/bin/python3 bench/parallel.py throughput [--bin build/bin] [--experiments 24] [--work-ms 1000]
                                                  [--slurm-submit sbatch,srun]
    /usr/bin/python3 bench/parallel.py quality [--bin build/bin] [--seeds 10] [--experiments 30]
                                               [--surrogate] [--only NAME]

throughput: the toy with --work-ms of (sleeping) work per training, local
K = 1 and K = 2, then K = 2 on the local Slurm (scripts/local-slurm, root
only; started and stopped here when it was not running), one run each in one
script, so the ratios compare like with like. Experiments per hour = the
candidates (not the baseline's calibration) over the wall time from the first
candidate's start to the last one's end, read from the store.

quality: per seed (proposer.seed), the same spec at K = 1 and K = 2 for
--experiments candidates; the true (noise-free) objective of the config the
run ends with as its best, median over seeds. The toy (specs/toy.json, noise
0.3, 5 ms of work) and, with --surrogate, the tinygpt surrogate of
bench/tinygpt_surrogate.py (needs python3-sklearn: scripts/install-bench-deps)
as the trainer of a real run (its value plus N(0, 0.018) noise drawn from the
measurement's seed).
"""
import argparse, json, os, shutil, sqlite3, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def toy_spec(work, name, changes):
    spec = json.load(open(os.path.join(ROOT, "specs", "toy.json")))
    spec["name"] = name
    spec["template"] = os.path.join(ROOT, "experiments", "toy")
    for key, value in changes.items():
        spec[key] = value
    path = os.path.join(work, name + ".json")
    json.dump(spec, open(path, "w"), indent=2)
    return path


def run(bin_dir, spec, workspace, experiments, parallel, backend="local", env=None):
    cmd = [os.path.join(bin_dir, "ratchet"), "run", spec, "--workspace", workspace,
           "--max-experiments", str(experiments), "--parallel", str(parallel), "--backend", backend]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {out.stderr[-2000:]}")


def rows(workspace, sql):
    db = sqlite3.connect(os.path.join(workspace, ".ratchet", "store.db"))
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def throughput(workspace):
    """Candidates, their measurements, and the wall seconds they took."""
    (n, first, last), = rows(workspace, "SELECT count(*), min(started_at), max(ended_at) FROM experiments "
                                        "WHERE seq > 0 AND status != 'duplicate'")
    (m,), = rows(workspace, "SELECT count(*) FROM measurements JOIN experiments e ON e.id = experiment_id "
                            "WHERE e.seq > 0")
    return n, m, last - first


def slurm_env():
    env = dict(os.environ, SLURM_CONF=os.environ.get("RATCHET_SLURM_DIR", "/var/lib/ratchet-slurm") + "/slurm.conf")
    return env


def cmd_throughput(a):
    work = tempfile.mkdtemp(prefix="ratchet-parallel.")
    train = ["{bin_dir}/ratchet-toy", "train", "--params", "{workspace}/params.json", "--seed", "{seed}",
             "--out", "{run_dir}/result.json", "--noise", "0.3", "--work-ms", str(a.work_ms)]
    base = {"train": {"argv": train, "timeout_seconds": 60},
            "acceptance": {"policy": "confirm", "calibration": 2, "repeats": 2}}
    configs = [("local", 1, None), ("local", 2, None)]
    script = os.path.join(ROOT, "scripts", "local-slurm")
    started_slurm = False
    if os.geteuid() == 0 and shutil.which("slurmctld"):
        if subprocess.run([script, "status"], capture_output=True).returncode != 0:
            subprocess.run([script, "start"], check=True, capture_output=True)
            started_slurm = True
        for submit in a.slurm_submit.split(","):
            configs.append(("slurm", 2, submit))
    else:
        print("(no Slurm here: not root or not installed; the Slurm row is left out)")
    results = []
    try:
        for backend, k, submit in configs:
            changes = dict(base)
            if submit:
                changes["backend"] = {"kind": "slurm", "slurm": {"partition": "ratchet", "submit": submit}}
            name = f"{backend}{k}{submit or ''}"
            spec = toy_spec(work, name, changes)
            ws = os.path.join(work, "ws-" + name)
            t0 = time.time()
            run(a.bin, spec, ws, a.experiments, k, backend, slurm_env() if submit else None)
            n, m, seconds = throughput(ws)
            label = f"{backend} K={k}" + (f" ({submit})" if submit else "")
            results.append((label, n, m, seconds, time.time() - t0))
    finally:
        if started_slurm:
            subprocess.run([script, "stop"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"toy, {a.work_ms} ms of work per training, {a.experiments} candidates per run, "
          f"{os.cpu_count()} cores, load {load:.2f} at the end")
    print()
    # Candidates differ in measurements (a winner is confirmed), so runs that
    # decide differently compare best by measurements per hour.
    print("| backend | candidates | measurements | seconds | experiments/h | measurements/h | vs local K=1 "
          "| measurements/h vs local K=2 |")
    print("|---|---|---|---|---|---|---|---|")
    ref = results[0][1] / results[0][3]
    ref_k2 = results[1][2] / results[1][3]
    for label, n, m, seconds, _ in results:
        print(f"| {label} | {n} | {m} | {seconds:.1f} | {3600 * n / seconds:.0f} | {3600 * m / seconds:.0f} | "
              f"{(n / seconds) / ref:.2f}x | {(m / seconds) / ref_k2:.2f}x |")


def best_params(workspace, config):
    """The config of the run's best (the baseline's is recorded empty: its file then)."""
    (params,), = rows(workspace, "SELECT e.params_json FROM runs r JOIN experiments e ON e.run_id = r.id "
                                 "WHERE e.\"commit\" = r.best_commit ORDER BY e.seq DESC LIMIT 1")
    params = json.loads(params)
    return params if params else json.load(open(os.path.join(workspace, config)))


def surrogate_setup(work, bin_dir):
    """A spec whose trainer is the tinygpt surrogate (its forest fitted as tinygpt_surrogate.py does)."""
    import tinygpt_surrogate as ts
    from search_tinygpt import SHAPE
    sp = ts.space()
    baseline = json.load(open(os.path.join(ROOT, "experiments", "tinygpt", "train.json")))
    baseline.update(SHAPE)
    model = ts.fit(sp)
    forest = os.path.join(work, "forest.txt")
    ts.export(model, baseline, forest)
    tmpl = os.path.join(work, "surrogate-template")
    os.makedirs(tmpl)
    json.dump(baseline, open(os.path.join(tmpl, "train.json"), "w"), indent=2)
    # value + N(0, 0.018) from the measurement's seed (awk's srand), so repeats differ and replay.
    train = ("v=$(\"$1\"/ratchet-bench-search objective train.json \"$2\") && "
             "awk -v v=\"$v\" -v s=\"$3\" 'BEGIN {{ srand(s); u1 = rand(); u2 = rand(); "
             "if (u1 < 1e-12) u1 = 1e-12; "
             "printf \"%.6f\\n\", v + 0.018 * sqrt(-2 * log(u1)) * cos(6.283185307 * u2) }}' > \"$4\"/score")
    spec = {
        "name": "surrogate",
        "template": tmpl,
        "mutable": ["train.json"],
        "immutable": [forest],
        "budget": {"kind": "time", "seconds": 1},
        "train": {"argv": ["/bin/sh", "-c", train, "sh", "{bin_dir}", forest, "{seed}", "{run_dir}"],
                  "timeout_seconds": 60},
        "evaluate": {"argv": ["/bin/sh", "-c", "echo \"{{\\\"val_bpb\\\": $(cat score)}}\""]},
        "metric": {"name": "val_bpb", "goal": "minimize"},
        "acceptance": {"policy": "confirm", "calibration": 3, "repeats": 2},
        "proposer": {"kind": "tpe", "config": "train.json", "seed": 1},
        "search_space": sp,
        "limits": {"threads": 1},
        "sandbox": {"enabled": False},
    }
    return spec, lambda params: float(subprocess.run(
        [os.path.join(bin_dir, "ratchet-bench-search"), "objective", write_json(work, params), forest],
        capture_output=True, text=True, check=True).stdout)


def write_json(work, params):
    path = os.path.join(work, "params.json")
    json.dump(params, open(path, "w"))
    return path


def cmd_quality(a):
    from search_efficiency import objective
    work = tempfile.mkdtemp(prefix="ratchet-parallel-quality.")
    try:
        toy = json.load(open(os.path.join(ROOT, "specs", "toy.json")))
        toy["template"] = os.path.join(ROOT, "experiments", "toy")
        toy["train"]["argv"] = [x if x != "20" else "5" for x in toy["train"]["argv"]]  # --work-ms 5
        benches = [("toy (local)", toy, objective), ("toy (tpe)", dict(toy, proposer=dict(toy["proposer"], kind="tpe")),
                                                     objective)]
        if a.surrogate:
            spec, truth = surrogate_setup(work, a.bin)
            benches.append(("tinygpt surrogate (tpe)", spec, truth))
        print(f"median over seeds 1-{a.seeds} of the true objective of the best after {a.experiments} "
              f"candidates (lower is better), load {os.getloadavg()[0]:.2f}")
        print()
        print("| bench | K = 1 | K = 2 | K = 2 vs K = 1 |")
        print("|---|---|---|---|")
        for name, spec, truth in benches:
            if a.only and a.only not in name:
                continue
            ks = [int(k) for k in a.k.split(",")]
            finals = {k: [] for k in ks}
            for seed in range(1, a.seeds + 1):
                for k in ks:
                    s = json.loads(json.dumps(spec))
                    s["name"] = f"q{k}"
                    s["proposer"]["seed"] = seed
                    path = os.path.join(work, f"q{k}.json")
                    json.dump(s, open(path, "w"))
                    ws = os.path.join(work, f"ws-{seed}-{k}")
                    run(a.bin, path, ws, a.experiments, k)
                    finals[k].append(truth(best_params(ws, s["proposer"]["config"])))
                    shutil.rmtree(ws, ignore_errors=True)
            medians = {k: statistics.median(v) for k, v in finals.items()}
            m1, m2 = medians.get(1, float("nan")), medians.get(2, float("nan"))
            print(f"| {name} | {m1:.3f} | {m2:.3f} | {m2 / m1:.2f}x |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    t.add_argument("--experiments", type=int, default=24)
    t.add_argument("--work-ms", type=int, default=1000)
    t.add_argument("--slurm-submit", default="sbatch")
    q = sub.add_parser("quality")
    q.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    q.add_argument("--seeds", type=int, default=10)
    q.add_argument("--experiments", type=int, default=30)
    q.add_argument("--surrogate", action="store_true")
    q.add_argument("--k", default="1,2", help="the K to run (1,2)")
    q.add_argument("--only", default="", help="only the benches whose name contains this")
    a = ap.parse_args()
    cmd_throughput(a) if a.mode == "throughput" else cmd_quality(a)


if __name__ == "__main__":
    main()
