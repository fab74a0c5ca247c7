// `openai`: asks an OpenAI-compatible chat-completions endpoint (llama.cpp
// server, Ollama, vLLM, MLX, or a hosted API) for the mutation. One POST to
// {base_url}/chat/completions with a system message and the rendered prompt
// (prompt.h); the reply's content is parsed by reply_parser.h (JSON object
// of parameter changes, unified diff, or whole files) and applied to the
// worktree.
//
// Spec keys (proposer.*): model (required), base_url (default
// http://127.0.0.1:8080/v1), api_key_env (the NAME of an environment
// variable holding the key, sent as "Authorization: Bearer ..."; the key
// itself is never in the spec or the store), timeout_seconds (per request,
// default 300), retries (after a network failure, HTTP 429 or 5xx; default
// 2), retry_delay_seconds (first back-off, doubling; default 2),
// temperature, max_tokens (sent only when set), program, history (as for
// `command`).
//
// Every failure (network, HTTP status, a reply that is garbage or does not
// apply) is a ProposalError carrying the prompt and whatever came back, so
// the loop records one `invalid` experiment with the reason and goes on.
#pragma once

#include <memory>

#include "ratchet/propose/proposer.h"

namespace ratchet {

std::unique_ptr<Proposer> MakeOpenAiProposer(const Spec& spec);

}  // namespace ratchet
