// Proposers: given the spec, the run's history and the best state, make one
// mutation in the candidate's worktree and describe it in one line. Kinds:
// `random`, `local`, `evolution`, `tpe` and `additive` (search proposers over
// the spec's search space, see search_proposer.h), `command` (an agent CLI edits the
// worktree, proposer_command.h) and `openai` (an OpenAI-compatible chat
// endpoint answers with parameters, a diff or files, proposer_openai.h). A
// proposer is built once per run (MakeProposer) and asked once per
// experiment; all of its randomness comes from ProposalContext.seed, so the
// same experiment proposes the same mutation after a resume (agents and LLMs
// get the seed too, but may not honour it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "ratchet/runner/sandbox.h"
#include "ratchet/spec/spec.h"

namespace ratchet {

// One past experiment of the run, as the store has it.
struct HistoryEntry {
  int64_t seq;
  std::string status;            // accepted rejected crashed timeout invalid duplicate interrupted
  std::optional<double> metric;  // none unless measured
  nlohmann::json params;         // the config it ran with (search proposers), else null
  std::string description;
  std::string reason;  // why it failed / how it was decided, one line ("" if none)
  // Rejected only because another worker moved the best meanwhile (`--parallel`):
  // its change beat its parent and goes on, merged onto the new best.
  bool carried = false;
};

struct ProposalContext {
  const Spec& spec;
  int64_t seq;
  uint64_t seed;                   // derived by the loop from proposer.seed and seq (ProposalSeed)
  std::filesystem::path worktree;  // candidate worktree, a checkout of the best commit; edit here
  nlohmann::json best_params;      // config of the best commit
  // All experiments of the run so far, oldest first. A reference: copying it
  // per experiment made a night of experiments quadratic.
  const std::vector<HistoryEntry>& history;
  std::optional<double> best_metric;
  // Experiments of earlier runs of the same spec on the same hardware
  // (`ratchet run --warm-start`), oldest first; proposers that learn from
  // measurements (tpe, additive, evolution) use them as extra evidence. Empty
  // otherwise.
  std::vector<HistoryEntry> prior;
  // Candidates being measured now by other workers (`--parallel`), status
  // "pending", no metric. Search proposers never propose one of them again;
  // tpe counts them as bad results (a constant liar) so its next draws go
  // elsewhere; agents see them in the prompt.
  std::vector<HistoryEntry> pending;
  // When set, an agent command runs under bubblewrap with this policy (the
  // loop hides the workspace's store and the data; the proposer adds its
  // worktree, writable, and its prompt, read-only). Null: uncontained.
  const SandboxPolicy* sandbox = nullptr;
};

struct Proposal {
  std::string description;  // one line, e.g. "lr 0.003 -> 0.0045, n_layer 4 -> 6"
  nlohmann::json params;    // the full new config (search proposers), else null
  // Agent and LLM proposers: what was asked and what came back, stored with
  // the experiment so `ratchet show N` can print them. "" for search proposers.
  std::string prompt, reply;
  // Things worth a line in the run's event log (e.g. "local: plateau after 10
  // experiments without an accepted change; step 0.1 -> 0.2").
  std::vector<std::string> notes;
};

// This experiment could not get a mutation (an agent that produced garbage,
// an endpoint that timed out, a search space with nothing left to change).
// The loop records the experiment as `invalid` with this message and goes on;
// any other exception is an infrastructure failure that stops the run.
class ProposalError : public Error {
 public:
  using Error::Error;
  // With the prompt and the (bad) reply, so they are stored with the invalid
  // experiment too.
  ProposalError(const std::string& message, std::string prompt, std::string reply)
      : Error(message), prompt_(std::move(prompt)), reply_(std::move(reply)) {}
  const std::string& prompt() const { return prompt_; }
  const std::string& reply() const { return reply_; }

 private:
  std::string prompt_, reply_;
};

class Proposer {
 public:
  virtual ~Proposer() = default;
  // Edits files in ctx.worktree and describes the change. The files the
  // proposer touched are committed by the loop (path policy applies).
  // Throws ProposalError for a failed proposal, Error when the worktree is
  // unusable (e.g. the config file is missing or not JSON).
  virtual Proposal Propose(const ProposalContext& ctx) = 0;
};

// The proposer of spec.proposer.kind. Throws Error for an unknown kind.
std::unique_ptr<Proposer> MakeProposer(const Spec& spec);

// The seed of experiment `seq`: a fixed mix of the spec's proposer.seed and
// seq (splitmix64), so a resumed run proposes what the killed one would have.
uint64_t ProposalSeed(uint64_t base_seed, int64_t seq);

}  // namespace ratchet
