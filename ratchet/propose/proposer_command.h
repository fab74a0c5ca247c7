// `command`: an external agent (a coding agent's CLI, a script, anything)
// makes the mutation. It runs in the candidate's worktree (cwd) with a
// rendered prompt file (prompt.h, "edit the files" flavour), stdin from
// /dev/null, in its own process group, killed at its deadline. Whatever it
// changed in the worktree is the mutation (the loop applies the path policy,
// so an edit outside the mutable paths makes the experiment invalid); the
// last non-empty line of its stdout is the description.
//
// Spec keys (proposer.*): argv (required; placeholders {prompt_file}
// {workspace} {seed} {seq}), timeout_seconds (default 1800), program
// (default "program.md"), history (rows, default 20). The agent also gets
// RATCHET_PROMPT_FILE, RATCHET_WORKSPACE and RATCHET_SEED in its environment.
//
// A failed agent (non-zero exit, killed, past its deadline) is a
// ProposalError with the reason; the prompt and the output tail are kept.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ratchet/propose/proposer.h"
#include "ratchet/runner/runner.h"

namespace ratchet {

// Placeholders the command proposer's argv may use.
extern const std::vector<std::string> kCommandPlaceholders;

// `runner` (not owned; must outlive the proposer) runs the agent; nullptr:
// a PosixProcessRunner of its own.
std::unique_ptr<Proposer> MakeCommandProposer(const Spec& spec, ProcessRunner* runner = nullptr);

}  // namespace ratchet
