// `ratchet serve` against real runs of the toy: its JSON routes on a
// finished run, its errors, and its page in real headless Chromium following
// a run in progress without a reload.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "background_program.h"
#include "e2e_util.h"
#include "headless_chromium.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class ServeTest : public ::testing::Test {
 protected:
  // A toy run of `experiments` experiments, each training `work_ms`.
  std::vector<std::string> RunArgs(int experiments, int work_ms) {
    std::vector<std::string> train = ToyTrain("0.1");
    train[train.size() - 1] = std::to_string(work_ms);
    fs::path spec = WriteToySpec(temp_.path(), "toy.json", {{"train", {{"argv", train}}}});
    return RatchetArgs({"run", spec.string(), "--workspace", workspace_.string(),
                        "--max-experiments", std::to_string(experiments)});
  }

  // Starts `ratchet serve` on a free port; returns that port.
  int Serve() {
    server_ = std::make_unique<BackgroundProgram>(
        RatchetArgs({"serve", "--workspace", workspace_.string(), "--port", "0"}),
        temp_.path() / "serve.out", temp_.path() / "serve.err");
    std::optional<std::string> port = server_->AwaitOutput("http://127\\.0\\.0\\.1:(\\d+)/", 20);
    if (!port) {
      ADD_FAILURE() << "serve printed no address: "
                    << ReadLogTail(temp_.path() / "serve.err", 4000);
      return 0;
    }
    return std::stoi(*port);
  }

  json Get(int port, const std::string& path, int expected_status = 200) {
    httplib::Client client("127.0.0.1", port);
    auto response = client.Get(path.c_str());
    if (!response) {
      ADD_FAILURE() << "no response to " << path;
      return nullptr;
    }
    EXPECT_EQ(response->status, expected_status) << path << ": " << response->body;
    return json::parse(response->body);
  }

  TempDir temp_;
  fs::path workspace_ = temp_.path() / "ws";
  std::unique_ptr<BackgroundProgram> server_;
};

TEST_F(ServeTest, JsonRoutesShowTheRunAsTheStoreHasIt) {
  CommandOutput run = RunProgram(RunArgs(8, 5), temp_.path());
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  CommandOutput log = RunProgram(
      RatchetArgs({"log", "--workspace", workspace_.string(), "--format", "json"}), temp_.path());
  json logged = json::parse(log.out);
  // The toy prints no loss lines: give experiment 1's first measurement the
  // progress lines a trainer would have printed.
  const fs::path train_out = workspace_ / ".ratchet" / "runs" / "toy" / "1.0" / "train.out";
  WriteFileAtomic(train_out, ReadFile(train_out) +
                                 "{\"step\":10,\"tokens\":2000,\"loss\":5.5}\n"
                                 "{\"step\":20,\"tokens\":4000,\"loss\":4.25}\n");
  const std::string store_before = ReadFile(workspace_ / ".ratchet" / "store.db");
  int port = Serve();
  ASSERT_GT(port, 0);

  json runs = Get(port, "/api/runs");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["tag"], "toy");
  EXPECT_EQ(runs[0]["state"], "stopped");
  EXPECT_EQ(runs[0]["experiments"], 8);

  json view = Get(port, "/api/run?tag=toy");
  ASSERT_EQ(view["experiments"].size(), logged.size());
  for (size_t i = 0; i < logged.size(); ++i) {
    EXPECT_EQ(view["experiments"][i]["seq"], logged[i]["seq"]);
    EXPECT_EQ(view["experiments"][i]["status"], logged[i]["status"]);
    EXPECT_EQ(view["experiments"][i]["metric"], logged[i]["metric"]);
  }
  // The params column: what experiment 1 changed from the baseline, as its
  // description names it.
  const json& changed = view["experiments"][1]["changed"];
  ASSERT_FALSE(changed.empty());
  for (const auto& [key, value] : changed.items()) {
    EXPECT_THAT(view["experiments"][1]["description"].get<std::string>(), HasSubstr(key));
  }
  EXPECT_TRUE(view["experiments"][0]["changed"].empty());
  EXPECT_TRUE(view["inflight"].is_null());  // the run has ended
  // Every search-space parameter the run varied has an effect, strongest first.
  ASSERT_FALSE(view["effects"].empty());
  for (size_t i = 1; i < view["effects"].size(); ++i) {
    EXPECT_GE(view["effects"][i - 1]["strength"].get<double>(),
              view["effects"][i]["strength"].get<double>());
  }

  json experiment = Get(port, "/api/experiment?tag=toy&seq=1");
  EXPECT_EQ(experiment["seq"], 1);
  EXPECT_THAT(experiment["diff"].get<std::string>(), HasSubstr("+++ b/params.json"));
  EXPECT_FALSE(experiment["measurements"].empty());
  EXPECT_TRUE(experiment["logs"].contains("eval.out"));
  ASSERT_EQ(experiment["curves"].size(), 1u);
  EXPECT_EQ(experiment["curves"][0]["repeat"], 0);
  EXPECT_EQ(experiment["curves"][0]["curve"]["x"], "tokens");
  EXPECT_EQ(experiment["curves"][0]["curve"]["points"], json::parse("[[2000, 5.5], [4000, 4.25]]"));

  EXPECT_EQ(Get(port, "/api/experiment?tag=toy&seq=99", 404)["error"],
            "run 'toy' has no experiment 99");
  EXPECT_THAT(Get(port, "/api/run?tag=nope", 404)["error"].get<std::string>(),
              HasSubstr("no run tagged 'nope'"));
  EXPECT_EQ(Get(port, "/api/experiment?tag=toy&seq=1;drop", 404)["error"],
            "seq must be an experiment number, got '1;drop'");

  httplib::Client client("127.0.0.1", port);
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_THAT(page->get_header_value("Content-Type"), HasSubstr("text/html"));
  EXPECT_THAT(page->body, HasSubstr("/api/run?tag="));
  // Read-only: the store is byte for byte what the run left.
  EXPECT_EQ(ReadFile(workspace_ / ".ratchet" / "store.db"), store_before);
  EXPECT_EQ(server_->Stop(SIGINT), 0);  // Ctrl-C ends it cleanly
}

TEST_F(ServeTest, ErrorsAreOneLineNamingWhatIsWrong) {
  CommandOutput missing = RunProgram(
      RatchetArgs({"serve", "--workspace", (temp_.path() / "none").string()}), temp_.path());
  EXPECT_EQ(missing.result.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none: not a ratchet workspace"));
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);

  ASSERT_TRUE(RunProgram(RunArgs(1, 5), temp_.path()).result.Succeeded());
  int port = Serve();
  ASSERT_GT(port, 0);
  CommandOutput taken = RunProgram(
      RatchetArgs({"serve", "--workspace", workspace_.string(), "--port", std::to_string(port)}),
      temp_.path());
  EXPECT_EQ(taken.result.exit_code, 1);
  EXPECT_EQ(taken.err, "ratchet: error: ratchet serve: cannot listen on 127.0.0.1:" +
                           std::to_string(port) + " (in use, or not an address of this machine)\n");
}

TEST_F(ServeTest, PageInHeadlessChromiumShowsNewExperimentsWithoutAReload) {
  if (!fs::exists(HeadlessChromium::kPath)) {
    GTEST_SKIP() << HeadlessChromium::kPath << " is absent (Debian package chromium; "
                 << "scripts/install-deps installs it)";
  }
  // Long enough that the page sees the run grow: ~0.3 s per measurement.
  BackgroundProgram run(RunArgs(40, 300), temp_.path() / "run.out", temp_.path() / "run.out");
  ASSERT_TRUE(run.AwaitOutput("(baseline score)", 60))
      << ReadLogTail(temp_.path() / "run.out", 4000);
  int port = Serve();
  ASSERT_GT(port, 0);

  HeadlessChromium browser(temp_.path() / "profile");
  std::string page = browser.Open("http://127.0.0.1:" + std::to_string(port) + "/");
  const std::string rows = "document.querySelectorAll('#experiments tbody tr').length";
  auto await = [&](const std::string& condition, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (browser.Evaluate(page, condition) == true) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  };
  ASSERT_TRUE(await(rows + " >= 1", 30)) << "the table never filled";
  // A mark on the window survives only as long as the page is not reloaded.
  browser.Evaluate(page, "window.loadedOnce = true; window.firstRows = " + rows + "; 1");
  ASSERT_TRUE(await(rows + " > window.firstRows", 60)) << "no new experiment appeared";
  EXPECT_EQ(browser.Evaluate(page, "window.loadedOnce === true"), true);
  EXPECT_EQ(browser.Evaluate(page, "performance.getEntriesByType('navigation').length"), 1);
  // While the run goes on the page names the experiment in flight.
  EXPECT_TRUE(await("/^#\\d+ /.test(document.getElementById('inflight').textContent)", 30));

  // An experiment's page, reached through its row, shows its diff.
  browser.Evaluate(page, "document.querySelector('#experiments tr[data-seq=\"1\"]').click(); 1");
  EXPECT_TRUE(
      await("!!document.getElementById('diff') && "
            "document.getElementById('diff').textContent.includes('params.json')",
            30));
  EXPECT_EQ(browser.Evaluate(page, "window.loadedOnce === true"), true);
  EXPECT_EQ(browser.Evaluate(page, "location.hash"), "#/run/toy/exp/1");
  run.Stop(SIGKILL);
}

}  // namespace
}  // namespace ratchet::testing
