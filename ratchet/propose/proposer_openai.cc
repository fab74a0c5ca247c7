#include "ratchet/propose/proposer_openai.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "ratchet/propose/http_client.h"
#include "ratchet/propose/prompt.h"
#include "ratchet/propose/reply_parser.h"

namespace ratchet {
namespace {

constexpr const char* kSystem =
    "You are a careful ML research engineer running one step of an automated "
    "experiment loop. You propose exactly one small, well-motivated change per "
    "request and answer in the exact format asked for.";

std::string Snippet(const std::string& text, size_t max = 200) {
  std::string s = text.substr(0, max);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s + (text.size() > max ? "..." : "");
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

class OpenAiProposer : public Proposer {
 public:
  explicit OpenAiProposer(const Spec& spec)
      : config_(spec.proposer.config), space_(spec.search_space) {
    const nlohmann::json& o = spec.proposer.options;
    base_url_ = o.value("base_url", std::string("http://127.0.0.1:8080/v1"));
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
    model_ = o.value("model", std::string());
    if (model_.empty())
      throw Error(spec.path.string() + ": proposer.model: required for kind openai");
    api_key_env_ = o.value("api_key_env", std::string());
    timeout_ = o.value("timeout_seconds", 300.0);
    retries_ = o.value("retries", 2);
    retry_delay_ = o.value("retry_delay_seconds", 2.0);
    if (o.contains("temperature") && o["temperature"].is_number()) temperature_ = o["temperature"];
    if (o.contains("max_tokens") && o["max_tokens"].is_number_integer())
      max_tokens_ = o["max_tokens"];
    system_ = o.value("system", std::string(kSystem));
    prompt_.program = o.value("program", std::string("program.md"));
    prompt_.history_rows = o.value("history", 20);
    prompt_.answer = PromptOptions::Answer::kReply;
  }

  Proposal Propose(const ProposalContext& ctx) override {
    Proposal proposal;
    proposal.prompt = RenderPrompt(ctx, prompt_);
    try {
      proposal.reply = Ask(ctx, proposal.prompt);
      Apply(ctx, proposal);
    } catch (const ProposalError& e) {
      throw ProposalError(std::string("openai: ") + e.what(), proposal.prompt, proposal.reply);
    } catch (const HttpError& e) {
      throw ProposalError(std::string("openai: ") + e.what(), proposal.prompt, proposal.reply);
    }
    return proposal;
  }

 private:
  // The reply's content. Retries network failures, 429 and 5xx.
  std::string Ask(const ProposalContext& ctx, const std::string& prompt) const {
    nlohmann::json body = {
        {"model", model_},
        {"messages", nlohmann::json::array({{{"role", "system"}, {"content", system_}},
                                            {{"role", "user"}, {"content", prompt}}})},
        {"seed", static_cast<int64_t>(ctx.seed & 0x7fffffffULL)},
        {"stream", false},
    };
    if (temperature_) body["temperature"] = *temperature_;
    if (max_tokens_) body["max_tokens"] = *max_tokens_;
    std::map<std::string, std::string> headers;
    if (!api_key_env_.empty()) {
      const char* key = std::getenv(api_key_env_.c_str());
      if (key == nullptr || *key == '\0') {
        throw ProposalError("environment variable " + api_key_env_ +
                            " (proposer.api_key_env) is not set");
      }
      headers["Authorization"] = std::string("Bearer ") + key;
    }
    const std::string url = base_url_ + "/chat/completions";
    std::string last_failure;
    for (int attempt = 0; attempt <= retries_; ++attempt) {
      if (attempt > 0) {
        std::this_thread::sleep_for(
            std::chrono::duration<double>(retry_delay_ * (1 << (attempt - 1))));
      }
      HttpResponse response;
      try {
        response = PostJson(url, body.dump(), headers, timeout_);
      } catch (const HttpError& e) {
        last_failure = e.what();
        continue;
      }
      if (response.status == 429 || response.status >= 500) {
        last_failure = "POST " + url + ": HTTP " + std::to_string(response.status) + ": " +
                       Snippet(response.body);
        continue;
      }
      if (response.status < 200 || response.status >= 300) {
        throw ProposalError("POST " + url + ": HTTP " + std::to_string(response.status) + ": " +
                            Snippet(response.body));
      }
      nlohmann::json reply = nlohmann::json::parse(response.body, nullptr, false);
      const nlohmann::json* content = nullptr;
      if (!reply.is_discarded() && reply.contains("choices") && reply["choices"].is_array() &&
          !reply["choices"].empty()) {
        const nlohmann::json& choice = reply["choices"][0];
        if (choice.contains("message") && choice["message"].contains("content") &&
            choice["message"]["content"].is_string()) {
          content = &choice["message"]["content"];
        }
      }
      if (content == nullptr) {
        throw ProposalError("POST " + url + ": not a chat completion: " + Snippet(response.body));
      }
      return content->get<std::string>();
    }
    throw ProposalError(last_failure + " (after " + std::to_string(retries_ + 1) + " attempts)");
  }

  void Apply(const ProposalContext& ctx, Proposal& proposal) const {
    ParsedReply parsed = ParseReply(proposal.reply);
    std::string what;
    switch (parsed.kind) {
      case ParsedReply::Kind::kParams:
        what = ApplyParams(ctx.worktree, config_, space_, parsed.params, &proposal.params);
        break;
      case ParsedReply::Kind::kDiff:
        what = "diff of " + Joined(ApplyUnifiedDiff(ctx.worktree, parsed.diff));
        break;
      case ParsedReply::Kind::kFiles: {
        std::vector<std::string> paths;
        for (const FileEdit& f : parsed.files) paths.push_back(f.path);
        WriteFiles(ctx.worktree, parsed.files);
        what = "rewrote " + Joined(paths);
        break;
      }
    }
    proposal.description = parsed.description.empty() ? what : parsed.description;
    if (parsed.kind == ParsedReply::Kind::kParams && !parsed.description.empty()) {
      proposal.description += " (" + what + ")";
    }
    if (proposal.description.size() > 240)
      proposal.description = proposal.description.substr(0, 237) + "...";
  }

  std::string base_url_, model_, api_key_env_, system_;
  double timeout_ = 300, retry_delay_ = 2;
  int retries_ = 2;
  std::optional<double> temperature_;
  std::optional<int64_t> max_tokens_;
  PromptOptions prompt_;
  const std::string config_;
  const SearchSpace space_;
};

}  // namespace

std::unique_ptr<Proposer> MakeOpenAiProposer(const Spec& spec) {
  return std::make_unique<OpenAiProposer>(spec);
}

}  // namespace ratchet
