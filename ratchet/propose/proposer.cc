#include "ratchet/propose/proposer.h"

#include "ratchet/propose/proposer_command.h"
#include "ratchet/propose/proposer_openai.h"
#include "ratchet/propose/search_proposer.h"

namespace ratchet {

std::unique_ptr<Proposer> MakeProposer(const Spec& spec) {
  const std::string& kind = spec.proposer.kind;
  if (kind == "random") return MakeRandomProposer(spec);
  if (kind == "local") return MakeLocalProposer(spec);
  if (kind == "evolution") return MakeEvolutionProposer(spec);
  if (kind == "tpe") return MakeTpeProposer(spec);
  if (kind == "additive") return MakeAdditiveProposer(spec);
  if (kind == "command") return MakeCommandProposer(spec);
  if (kind == "openai") return MakeOpenAiProposer(spec);
  throw Error(spec.path.string() + ": proposer.kind: unknown kind \"" + kind + "\"");
}

uint64_t ProposalSeed(uint64_t base_seed, int64_t seq) {
  // splitmix64 of the pair: neighbouring seqs get unrelated streams.
  uint64_t z =
      base_seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(seq) + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace ratchet
