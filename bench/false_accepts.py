#!/usr/bin/python3
"""False accepts in A/A runs: every mutation changes only a parameter the toy
ignores, so any accepted change is noise. Two parts:

1. Simulated (ratchet-bench-search aa): the real acceptance rule on the toy's
   noise, SEEDS runs of EXPERIMENTS experiments per policy.
2. Real loop: `ratchet run` on an A/A spec (specs/toy.json with a search space
   holding only the ignored key "unused"), one run of EXPERIMENTS experiments
   per policy, counted from the store.

    /usr/bin/python3 bench/false_accepts.py [--bin build/bin] [--seeds 20] [--experiments 100] [--no-loop]
"""
import argparse, json, os, sqlite3, statistics, subprocess, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def simulated(bin_dir, policy, seeds, experiments):
    out = subprocess.run([os.path.join(bin_dir, "ratchet-bench-search"), "aa", "--policy", policy,
                          "--seeds", str(seeds), "--experiments", str(experiments)],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    accepts = [r["accepted"] for r in rows]
    per_exp = [(r["measurements"] - r["calibration"]) / r["experiments"] for r in rows]
    return accepts, per_exp


def real_loop(bin_dir, policy, experiments):
    spec = json.load(open(os.path.join(ROOT, "specs", "toy.json")))
    spec["name"] = "aa-" + policy
    spec["template"] = os.path.join(ROOT, "experiments", "toy")
    spec["acceptance"] = {"policy": policy, "calibration": 3, "repeats": 2, "min_delta": 0.0}
    spec["proposer"] = {"kind": "random", "config": "params.json", "seed": 7}
    spec["search_space"] = {"unused": {"type": "float", "min": 0, "max": 1}}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "aa.json")
        json.dump(spec, open(path, "w"))
        ws = os.path.join(d, "ws")
        subprocess.run([os.path.join(bin_dir, "ratchet"), "run", path, "--workspace", ws,
                        "--max-experiments", str(experiments)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db = sqlite3.connect(os.path.join(ws, ".ratchet", "store.db"))
        accepted = db.execute("select count(*) from experiments where seq > 0 and status = 'accepted'").fetchone()[0]
        measured = db.execute("select count(*) from experiments where seq > 0 and status in "
                              "('accepted', 'rejected')").fetchone()[0]
        n = db.execute("select count(*) from measurements m join experiments e on m.experiment_id = e.id "
                       "where e.seq > 0").fetchone()[0]
        return accepted, measured, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--experiments", type=int, default=100)
    ap.add_argument("--no-loop", action="store_true")
    a = ap.parse_args()
    print(f"A/A on the toy (noise sd 0.3, calibration 3, repeats 2, alpha 0.01), {a.experiments} experiments per run")
    print()
    print("| policy | simulated: accepts per run, median (min-max) over "
          f"{a.seeds} runs | measurements per experiment | real loop: accepts | measurements per experiment |")
    print("|---|---|---|---|---|")
    cost = {}  # policy -> (simulated, real loop) measurements per experiment
    for policy in ["strict", "confirm"]:
        acc, per = simulated(a.bin, policy, a.seeds, a.experiments)
        loop = "-", "-"
        cost[policy] = [statistics.median(per), None]
        if not a.no_loop:
            accepted, measured, n = real_loop(a.bin, policy, a.experiments)
            loop = str(accepted), f"{n / max(1, measured):.3f}"
            cost[policy][1] = n / max(1, measured)
        print(f"| {policy} | {statistics.median(acc):g} ({min(acc)}-{max(acc)}) | "
              f"{statistics.median(per):.3f} | {loop[0]} | {loop[1]} |")
    print()
    # strict is the normal run: one measurement per experiment.
    for i, where in enumerate(["simulated", "real loop"]):
        if cost["confirm"][i] is not None:
            print(f"{where}: confirm / strict measurements per experiment = "
                  f"{cost['confirm'][i] / cost['strict'][i]:.3f} (target <= 1.30)")


if __name__ == "__main__":
    main()
