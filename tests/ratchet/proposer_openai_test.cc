// The openai proposer against a scripted OpenAI-compatible server on
// 127.0.0.1 (ephemeral port): request format, each reply kind, failures.
#include "ratchet/propose/proposer_openai.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/fs.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Scripted {
  int status = 200;
  std::string content;  // the assistant message (wrapped as a chat completion)
  std::string raw;      // or a raw body
  double delay_seconds = 0;
};

class OpenAiProposerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "openai_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    worktree_ = tmpl;
    std::ofstream(worktree_ / "params.json") << "{\n  \"lr\": 0.003,\n  \"act\": \"relu\"\n}\n";
    std::ofstream(worktree_ / "train.py") << "steps = 100\nlr = 0.003\n";

    server_.Post("/v1/chat/completions", [this](const httplib::Request& req,
                                                httplib::Response& res) {
      Scripted s;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(req.body);
        auth_.push_back(req.get_header_value("Authorization"));
        if (!script_.empty()) {
          s = script_.front();
          script_.pop_front();
        }
      }
      if (s.delay_seconds > 0)
        std::this_thread::sleep_for(std::chrono::duration<double>(s.delay_seconds));
      res.status = s.status;
      std::string body = s.raw;
      if (body.empty()) {
        body =
            json{{"id", "x"},
                 {"object", "chat.completion"},
                 {"choices",
                  {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", s.content}}}}}}}
                .dump();
      }
      res.set_content(body, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

    spec_.name = "llm";
    spec_.mutable_globs = {"params.json", "train.py"};
    spec_.proposer.kind = "openai";
    spec_.proposer.config = "params.json";
    Param lr;
    lr.name = "lr";
    lr.min = 1e-4;
    lr.max = 1e-1;
    lr.log = true;
    Param act;
    act.name = "act";
    act.type = Param::Type::kChoice;
    act.values = {"relu", "gelu"};
    spec_.search_space.params = {lr, act};
    options_ = {{"kind", "openai"},
                {"config", "params.json"},
                {"base_url", "http://127.0.0.1:" + std::to_string(port_) + "/v1/"},
                {"model", "qwen2.5-coder-7b"},
                {"timeout_seconds", 5},
                {"retries", 1},
                {"retry_delay_seconds", 0.01}};
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
    fs::remove_all(worktree_);
    unsetenv("RATCHET_TEST_KEY");
  }

  void Script(std::vector<Scripted> replies) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.assign(replies.begin(), replies.end());
  }
  Proposal Propose() {
    spec_.proposer.options = options_;
    ProposalContext ctx{
        spec_, 3, 12345, worktree_, json(), {{0, "accepted", 2.0, json(), "baseline", ""}}, 2.0};
    return MakeOpenAiProposer(spec_)->Propose(ctx);
  }
  std::string Read(const std::string& rel) { return ReadFile(worktree_ / rel); }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::deque<Scripted> script_;
  std::vector<std::string> requests_, auth_;
  fs::path worktree_;
  Spec spec_;
  json options_;
};

TEST_F(OpenAiProposerTest, SendsAChatCompletionRequestWithModelMessagesAndKey) {
  setenv("RATCHET_TEST_KEY", "sk-local-123", 1);
  options_["api_key_env"] = "RATCHET_TEST_KEY";
  options_["temperature"] = 0.7;
  Script({{200, "{\"lr\": 0.001}"}});
  Propose();
  ASSERT_EQ(requests_.size(), 1u);
  json body = json::parse(requests_[0]);
  EXPECT_EQ(body["model"], "qwen2.5-coder-7b");
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["role"], "user");
  EXPECT_NE(body["messages"][1]["content"].get<std::string>().find("lr = 0.003"), std::string::npos)
      << "the prompt shows the current files";
  EXPECT_EQ(body["temperature"], 0.7);
  EXPECT_FALSE(body.contains("max_tokens"));
  EXPECT_EQ(auth_[0], "Bearer sk-local-123");
}

TEST_F(OpenAiProposerTest, NoKeyHeaderWithoutApiKeyEnv) {
  Script({{200, "{\"lr\": 0.001}"}});
  Propose();
  EXPECT_EQ(auth_.at(0), "");
}

TEST_F(OpenAiProposerTest, AMissingKeyVariableIsAProposalError) {
  options_["api_key_env"] = "RATCHET_TEST_KEY";
  EXPECT_THROW(Propose(), ProposalError);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(OpenAiProposerTest, AJsonReplyChangesParameters) {
  Script({{200, "Lower the learning rate.\n```json\n{\"lr\": 0.001, \"act\": \"gelu\"}\n```"}});
  Proposal p = Propose();
  EXPECT_EQ(json::parse(Read("params.json")), (json{{"lr", 0.001}, {"act", "gelu"}}));
  EXPECT_EQ(p.params["lr"], 0.001);
  EXPECT_NE(p.description.find("Lower the learning rate."), std::string::npos) << p.description;
  EXPECT_NE(p.description.find("lr 0.003 -> 0.001"), std::string::npos) << p.description;
  EXPECT_FALSE(p.prompt.empty());
  EXPECT_NE(p.reply.find("```json"), std::string::npos);
}

TEST_F(OpenAiProposerTest, ADiffReplyIsApplied) {
  Script({{200,
           "Train longer.\n```diff\n--- a/train.py\n+++ b/train.py\n@@ -1,2 +1,2 @@\n-steps = "
           "100\n+steps = 200\n lr = 0.003\n```\n"}});
  Proposal p = Propose();
  EXPECT_EQ(Read("train.py"), "steps = 200\nlr = 0.003\n");
  EXPECT_EQ(p.description, "Train longer.");
}

TEST_F(OpenAiProposerTest, WholeFilesAreWritten) {
  Script({{200, "```python train.py\nsteps = 300\nlr = 0.002\n```\n"}});
  Proposal p = Propose();
  EXPECT_EQ(Read("train.py"), "steps = 300\nlr = 0.002\n");
  EXPECT_EQ(p.description, "rewrote train.py");
}

TEST_F(OpenAiProposerTest, GarbageIsAProposalErrorKeepingPromptAndReply) {
  Script({{200, "I cannot help with that."}});
  try {
    Propose();
    FAIL() << "no error";
  } catch (const ProposalError& e) {
    EXPECT_NE(std::string(e.what()).find("openai:"), std::string::npos) << e.what();
    EXPECT_EQ(e.reply(), "I cannot help with that.");
    EXPECT_FALSE(e.prompt().empty());
  }
}

TEST_F(OpenAiProposerTest, AnUnappliableDiffIsAProposalError) {
  Script({{200,
           "```diff\n--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-epochs = 1\n+epochs = 2\n```"}});
  EXPECT_THROW(Propose(), ProposalError);
  EXPECT_EQ(Read("train.py"), "steps = 100\nlr = 0.003\n");
}

TEST_F(OpenAiProposerTest, Http500IsRetriedThenAProposalError) {
  Script(
      {{500, "", "{\"error\": \"model loading\"}"}, {500, "", "{\"error\": \"model loading\"}"}});
  try {
    Propose();
    FAIL() << "no error";
  } catch (const ProposalError& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 500"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model loading"), std::string::npos) << e.what();
  }
  EXPECT_EQ(requests_.size(), 2u);  // one retry
}

TEST_F(OpenAiProposerTest, ARetryAfter500CanSucceed) {
  Script({{500, "", "{}"}, {200, "{\"act\": \"gelu\"}"}});
  Proposal p = Propose();
  EXPECT_EQ(p.description, "act relu -> gelu");
}

TEST_F(OpenAiProposerTest, Http400IsNotRetried) {
  Script({{400, "", "{\"error\": \"unknown model\"}"}});
  EXPECT_THROW(Propose(), ProposalError);
  EXPECT_EQ(requests_.size(), 1u);
}

TEST_F(OpenAiProposerTest, ASlowReplyPastTheTimeoutIsAProposalError) {
  options_["timeout_seconds"] = 0.3;
  options_["retries"] = 0;
  Script({{200, "{\"lr\": 0.001}", "", 1.5}});
  auto start = std::chrono::steady_clock::now();
  try {
    Propose();
    FAIL() << "no error";
  } catch (const ProposalError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.4);
  EXPECT_EQ(Read("params.json"), "{\n  \"lr\": 0.003,\n  \"act\": \"relu\"\n}\n");
}

TEST_F(OpenAiProposerTest, NoServerIsAProposalError) {
  options_["base_url"] = "http://127.0.0.1:1/v1";
  options_["retries"] = 0;
  EXPECT_THROW(Propose(), ProposalError);
}

TEST_F(OpenAiProposerTest, AResponseThatIsNotAChatCompletionIsAProposalError) {
  Script({{200, "", "{\"object\": \"list\"}"}});
  EXPECT_THROW(Propose(), ProposalError);
}

}  // namespace
}  // namespace ratchet
