#include "engine/classifier/model_dir.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tyr::engine::classifier {

namespace {

constexpr const char* kModelFile = "model.bin";

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

Result<Model> load_model_dir(const std::filesystem::path& dir, bool missing_ok) {
  const auto file = dir / kModelFile;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (missing_ok) return Model();
    return Error{"TYR_MODEL", file.string() + ": no model here (make one with `tyr learn --model " +
                                  dir.string() + " EVENTS.jsonl`)"};
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in && !in.eof()) return Error{"TYR_MODEL", file.string() + ": cannot read"};
  auto model = Model::deserialize(buf.str());
  if (!model) return Error{"TYR_MODEL", file.string() + ": " + model.error().message};
  return model;
}

Result<void> save_model_dir(const std::filesystem::path& dir, const Model& model) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"TYR_MODEL", dir.string() + ": " + ec.message()};
  const auto tmp = dir / (std::string(kModelFile) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const std::string blob = model.serialize();
    out.write(blob.data(), static_cast<std::streamsize>(blob.size()));
    out.flush();
    if (!out) return Error{"TYR_MODEL", tmp.string() + ": cannot write"};
  }
  std::filesystem::rename(tmp, dir / kModelFile, ec);
  if (ec) return Error{"TYR_MODEL", (dir / kModelFile).string() + ": " + ec.message()};
  return {};
}

int learn_events(const std::filesystem::path& dir, const std::vector<std::string>& files,
                 std::ostream& out, std::ostream& err) {
  auto model = load_model_dir(dir, /*missing_ok=*/true);
  if (!model) {
    err << model.error().message << "\n";
    return 2;
  }
  const auto started = std::chrono::steady_clock::now();
  Tokenizer tokenizer;
  TokenList tokens;
  size_t spam = 0, ham = 0, unlabelled = 0, empty = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      err << file << ":0: cannot open\n";
      return 2;
    }
    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const auto ev = nlohmann::json::parse(line, nullptr, false);
      if (ev.is_discarded() || !ev.is_object()) {
        err << file << ":" << line_no << ": not a JSON object\n";
        return 2;
      }
      const auto label = ev.find("label");
      if (label == ev.end()) {
        ++unlabelled;
        continue;
      }
      if (*label != "spam" && *label != "ham") {
        err << file << ":" << line_no << ": 'label' must be \"spam\" or \"ham\"\n";
        return 2;
      }
      std::string body;
      if (auto c = ev.find("content"); c != ev.end() && c->is_object()) {
        if (auto b = c->find("body"); b != c->end() && b->is_string()) body = b->get<std::string>();
      }
      if (body.empty()) {
        ++empty;
        continue;
      }
      tokenizer.tokenize(body, tokens);
      const bool is_spam = *label == "spam";
      model->learn(tokens.hashes(), is_spam);
      ++(is_spam ? spam : ham);
    }
  }
  if (auto saved = save_model_dir(dir, *model); !saved) {
    err << saved.error().message << "\n";
    return 2;
  }
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  out << "learned " << spam << " spam and " << ham << " ham";
  if (unlabelled + empty > 0)
    out << " (skipped " << unlabelled << " unlabelled, " << empty << " without a body)";
  out << " in " << fixed(s, 2) << " s; " << dir.string() << " now holds " << model->spam_count()
      << " spam, " << model->ham_count() << " ham, " << model->size() << " features\n";
  return 0;
}

int model_stats(const std::filesystem::path& dir, std::ostream& out, std::ostream& err) {
  auto model = load_model_dir(dir);
  if (!model) {
    err << model.error().message << "\n";
    return 2;
  }
  out << "model: " << (dir / kModelFile).string() << "\n"
      << "learned: " << model->spam_count() << " spam, " << model->ham_count() << " ham\n"
      << "features: " << model->size() << " of at most " << model->options().max_features << "\n"
      << "memory: " << fixed(static_cast<double>(model->memory_bytes()) / 1e6, 2) << " MB\n"
      << "tokenizer version: " << kTokenizerVersion << "\n";
  return 0;
}

}  // namespace tyr::engine::classifier
