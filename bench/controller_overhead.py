#!/usr/bin/env python3
"""Controller overhead per experiment, ratchet vs the same loop driven by git CLI.

Both loops run N experiments on the toy template with no-op train and
evaluate commands (/bin/true and /bin/echo of a JSON metric), so what is
measured is everything else: proposing, applying, committing, spawning,
recording and reverting. ratchet's per-experiment time is read from its
store (start of experiment i to start of experiment i+1); the peer is a
Python loop that does what issue 2 names and public ratchet scripts
(autoresearch's program.md) do with subprocesses: `git checkout` of the best,
edit, `git commit`, run train and
evaluate with their output to log files, read the metric from the log,
`git reset --hard` on discard, append a results row (SQLite here). Each
round runs both loops in fresh folders, the order alternating between rounds
(a loop's deleted files slow the next one's file creation on ext4).
Usage: bench/controller_overhead.py [--experiments 200] [--rounds 3] [--build build] [--no-sandbox]
"""
import argparse, json, os, random, sqlite3, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def summary(ms):
    ms = sorted(ms)
    q = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))]
    return {"n": len(ms), "median": statistics.median(ms), "p10": q(0.10), "p90": q(0.90)}


def ratchet_loop(bin_dir, work, n, extra):
    spec = json.load(open(os.path.join(ROOT, "specs", "toy.json")))
    spec["template"] = os.path.join(ROOT, "experiments", "toy")
    spec["train"] = {"argv": ["/bin/true"], "timeout_seconds": 60}
    spec["evaluate"] = {"argv": ["/bin/echo", '{{"score": 1.0}}'], "timeout_seconds": 60}
    spec["acceptance"] = {"policy": "strict", "calibration": 1}
    spec["proposer"] = {"kind": "random", "config": "params.json", "seed": 7}
    spec["immutable"] = []
    path = os.path.join(work, "noop.json")
    json.dump(spec, open(path, "w"))
    ws = os.path.join(work, "ws-ratchet")
    start = time.perf_counter()
    subprocess.run([os.path.join(bin_dir, "ratchet"), "run", path, "--workspace", ws,
                    "--max-experiments", str(n)] + extra, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    log = json.loads(subprocess.run([os.path.join(bin_dir, "ratchet"), "log", "--workspace", ws,
                                     "--format", "json"], check=True, capture_output=True).stdout)
    starts = [row["started_at"] for row in log if row["seq"] > 0 and row["status"] != "duplicate"]
    cycle_ms = [(b - a) * 1000 for a, b in zip(starts, starts[1:])]
    child_ms = [(row["train_seconds"] or 0) * 1000 for row in log if row["seq"] > 0]
    return summary(cycle_ms), wall, statistics.median(child_ms)


def git(ws, *args):
    subprocess.run(["git", *args], cwd=ws, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def git_cli_loop(work, n):
    ws = os.path.join(work, "ws-git")
    subprocess.run(["cp", "-r", os.path.join(ROOT, "experiments", "toy"), ws], check=True)
    git(ws, "init", "-q")
    git(ws, "-c", "user.name=b", "-c", "user.email=b@x", "add", "-A")
    git(ws, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "-m", "baseline")
    db = sqlite3.connect(os.path.join(work, "git-loop.db"))
    db.execute("pragma journal_mode=wal")
    db.execute("create table experiments(seq, commit_id, status, metric, description)")
    rng = random.Random(7)
    train_log, eval_log = os.path.join(work, "run.log"), os.path.join(work, "eval.log")
    cycle_ms = []
    for seq in range(1, n + 1):
        start = time.perf_counter()
        git(ws, "checkout", "-q", "HEAD", "--", ".")  # start from the best (issue 2: checkout, commit, reset)
        params = json.load(open(os.path.join(ws, "params.json")))
        params["x"] = round(rng.uniform(-5, 5), 4)
        json.dump(params, open(os.path.join(ws, "params.json"), "w"), indent=2)
        git(ws, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "-am", f"x {seq}")
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ws, check=True,
                                capture_output=True, text=True).stdout.strip()
        with open(train_log, "w") as log:  # train > run.log 2>&1
            subprocess.run(["/bin/true"], check=True, stdout=log, stderr=subprocess.STDOUT)
        with open(eval_log, "w") as log:
            subprocess.run(["/bin/echo", '{"score": 1.0}'], check=True, stdout=log,
                           stderr=subprocess.STDOUT)
        with open(eval_log) as log:  # read in-process: lighter than their `grep`
            metric = json.loads(log.read().strip().splitlines()[-1])["score"]
        git(ws, "reset", "-q", "--hard", "HEAD~1")  # discard
        db.execute("insert into experiments values (?,?,?,?,?)",
                   (seq, commit, "rejected", metric, f"x {seq}"))
        db.commit()
        cycle_ms.append((time.perf_counter() - start) * 1000)
    return summary(cycle_ms)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--no-sandbox", action="store_true",
                        help="ratchet's children without bubblewrap, as the peer's are")
    args = parser.parse_args()
    extra = ["--no-sandbox"] if args.no_sandbox else []
    bin_dir = os.path.join(args.build, "bin")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"{args.experiments} experiments per loop and round; "
          "no-op train (/bin/true) and evaluate (/bin/echo); "
          f"ratchet's children {'without' if args.no_sandbox else 'in'} the sandbox")
    ours_ms, peer_ms = [], []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as work:
            if round_ % 2 == 0:
                ours, wall, child = ratchet_loop(bin_dir, work, args.experiments, extra)
                peer = git_cli_loop(work, args.experiments)
            else:
                peer = git_cli_loop(work, args.experiments)
                ours, wall, child = ratchet_loop(bin_dir, work, args.experiments, extra)
        ours_ms.append(ours["median"])
        peer_ms.append(peer["median"])
        print(f"round {round_ + 1}: ratchet median {ours['median']:.2f} ms "
              f"(p10 {ours['p10']:.2f}, p90 {ours['p90']:.2f}; whole run {wall:.2f} s; "
              f"no-op train child {child:.2f} ms); git CLI median {peer['median']:.2f} ms "
              f"(p10 {peer['p10']:.2f}, p90 {peer['p90']:.2f}); "
              f"ratio {peer['median'] / ours['median']:.1f}x")
    ours_median, peer_median = statistics.median(ours_ms), statistics.median(peer_ms)
    print(f"ratchet  per experiment, median of rounds: {ours_median:.2f} ms")
    print(f"git CLI  per experiment, median of rounds: {peer_median:.2f} ms")
    print(f"ratio git-CLI / ratchet: {peer_median / ours_median:.1f}x "
          f"(per round: {', '.join(f'{p / o:.1f}' for o, p in zip(ours_ms, peer_ms))}); "
          f"load average now {os.getloadavg()[0]:.2f}")
    budget_ms = 300_000
    print(f"share of wall time outside train/evaluate at a 300 s budget: "
          f"{100 * ours_median / (budget_ms + ours_median):.4f}%")


if __name__ == "__main__":
    sys.exit(main())
