#include "engine/metrics/metrics.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <deque>
#include <stdexcept>

#include "engine/core/log.hpp"
#include "engine/core/utf8.hpp"

namespace tyr::engine::metrics {

namespace {

// Longer values are folded into "other": label values end up in every scrape and every TSDB
// index, and a capped label's values come from config or the homeserver, not from Tyr's code.
constexpr size_t kMaxLabelValueBytes = 128;

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("metrics: " + message);
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const size_t len = decode_utf8(s, i, cp);
    if (cp == kReplacementChar && len == 1) return false;
    i += len;
  }
  return true;
}

bool acceptable_value(std::string_view v) {
  return v.size() <= kMaxLabelValueBytes && is_valid_utf8(v);
}

size_t hash_one(std::string_view v) { return std::hash<std::string_view>{}(v); }

size_t hash_values(std::span<const std::string_view> values) {
  size_t h = 0x9e3779b97f4a7c15ULL;
  for (std::string_view v : values) h ^= hash_one(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

// Open-addressing tables are sized to stay at most half full, so a probe always meets a null.
size_t table_size(size_t max_entries) {
  return std::bit_ceil(std::max<size_t>(2 * max_entries, 2));
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_escaped_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

// `{a="x",b="y"}`, with an optional trailing extra label (a histogram's `le`); nothing when empty.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    append_escaped_label_value(out, values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void append_escaped_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

// ---- Gauge ----

void Gauge::set_to_current_time() {
  using namespace std::chrono;
  set(duration<double>(system_clock::now().time_since_epoch()).count());
}

void Gauge::set_callback(std::function<double()> fn) {
  std::lock_guard lock(callback_mutex_);
  has_callback_.store(static_cast<bool>(fn), std::memory_order_release);
  callback_ = std::move(fn);
}

std::optional<double> Gauge::value() const {
  if (has_callback_.load(std::memory_order_acquire)) {
    std::lock_guard lock(callback_mutex_);
    if (callback_) {
      // A scrape must never take the process down because one source misbehaves.
      try {
        return callback_();
      } catch (const std::exception& e) {
        log::warn("metrics", std::string("gauge callback threw: ") + e.what());
        return std::nullopt;
      } catch (...) {
        log::warn("metrics", "gauge callback threw");
        return std::nullopt;
      }
    }
  }
  return value_.load(std::memory_order_relaxed);
}

// ---- Histogram ----

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  // First bound >= v: Prometheus buckets are `le` (less than or equal).
  const size_t i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  // _count is the +Inf bucket by definition, so derive it rather than keep a third counter
  // that a concurrent scrape could see out of step.
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

namespace detail {

// One label's bounded value set: an append-only, fixed-capacity table read without locks.
// Writers hold the owning family's mutex.
class Dimension {
 public:
  explicit Dimension(const Label& label)
      : cap_(label.is_fixed() ? label.values.size() : label.cap),
        mask_(table_size(cap_) - 1),
        slots_(std::make_unique<std::atomic<const std::string*>[]>(mask_ + 1)) {
    for (const auto& v : label.values) insert(v);
  }

  // How many canonical values this label can take, "other" included.
  size_t bound() const { return find(kOther) ? cap_ : cap_ + 1; }
  const std::deque<std::string>& values() const { return values_; }

  // The canonical value without locking, or nullopt when only the slow path can decide.
  std::optional<std::string_view> resolve_fast(std::string_view v) const {
    // Count first: once it is seen at the cap, every value's slot is visible (release/acquire)
    // and no more are added, so a miss below really means "not in the set".
    const size_t n = count_.load(std::memory_order_acquire);
    if (const std::string* s = find(v)) return std::string_view(*s);
    if (v == kOther || n >= cap_) return kOther;
    return std::nullopt;
  }

  std::string_view resolve_locked(std::string_view v) {
    if (const std::string* s = find(v)) return *s;
    if (v == kOther || count_.load(std::memory_order_relaxed) >= cap_ || !acceptable_value(v)) {
      return kOther;
    }
    return *insert(v);
  }

 private:
  const std::string* find(std::string_view v) const {
    for (size_t i = hash_one(v) & mask_;; i = (i + 1) & mask_) {
      const std::string* s = slots_[i].load(std::memory_order_acquire);
      if (s == nullptr) return nullptr;
      if (*s == v) return s;
    }
  }

  const std::string* insert(std::string_view v) {
    const std::string* s = &values_.emplace_back(v);  // deque: earlier addresses stay valid
    size_t i = hash_one(v) & mask_;
    while (slots_[i].load(std::memory_order_relaxed) != nullptr) i = (i + 1) & mask_;
    slots_[i].store(s, std::memory_order_release);
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return s;
  }

  size_t cap_;
  size_t mask_;
  std::unique_ptr<std::atomic<const std::string*>[]> slots_;
  std::deque<std::string> values_;
  std::atomic<size_t> count_{0};
};

FamilyCore::FamilyCore(std::string name, std::string help, MetricType type,
                       std::vector<Label> labels)
    : name_(std::move(name)), help_(std::move(help)), type_(type) {
  if (!is_valid_metric_name(name_)) fail("invalid metric name '" + name_ + "'");
  if (labels.size() > kMaxLabels) fail(name_ + ": too many labels");
  for (const auto& l : labels) {
    if (!is_valid_label_name(l.name)) fail(name_ + ": invalid label name '" + l.name + "'");
    if (type_ == MetricType::kHistogram && l.name == "le") {
      fail(name_ + ": label 'le' is reserved for histogram buckets");
    }
    if (std::find(label_names_.begin(), label_names_.end(), l.name) != label_names_.end()) {
      fail(name_ + ": duplicate label '" + l.name + "'");
    }
    if (l.is_fixed()) {
      if (l.values.empty()) fail(name_ + ": label '" + l.name + "' has neither values nor a cap");
      for (size_t i = 0; i < l.values.size(); ++i) {
        if (!acceptable_value(l.values[i])) {
          fail(name_ + ": label '" + l.name + "' value is too long or not UTF-8");
        }
        const auto earlier = l.values.begin() + static_cast<std::ptrdiff_t>(i);
        if (std::find(l.values.begin(), earlier, l.values[i]) != earlier) {
          fail(name_ + ": label '" + l.name + "' lists '" + l.values[i] + "' twice");
        }
      }
    }
    label_names_.push_back(l.name);
    dims_.push_back(std::make_unique<Dimension>(l));
    max_children_ *= dims_.back()->bound();
    if (max_children_ > kMaxSeriesPerFamily) {
      fail(name_ + ": up to " + std::to_string(max_children_) +
           "+ series; bound the labels tighter");
    }
  }
  mask_ = table_size(max_children_) - 1;
  slots_ = std::make_unique<std::atomic<Child*>[]>(mask_ + 1);
}

FamilyCore::~FamilyCore() = default;

std::vector<std::string> FamilyCore::series_names() const {
  if (type_ != MetricType::kHistogram) return {name_};
  return {name_, name_ + "_bucket", name_ + "_sum", name_ + "_count"};
}

size_t FamilyCore::size() const {
  std::lock_guard lock(mutex_);
  return owned_.size();
}

Child* FamilyCore::find(std::span<const std::string_view> values, size_t hash) const {
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    Child* c = slots_[i].load(std::memory_order_acquire);
    if (c == nullptr) return nullptr;
    if (std::equal(values.begin(), values.end(), c->values.begin(), c->values.end())) return c;
  }
}

Child& FamilyCore::get(std::span<const std::string_view> values) {
  if (Child* c = find(values, hash_values(values))) return *c;
  // Not a canonical tuple (yet): fold each value, then look the folded tuple up.
  std::array<std::string_view, kMaxLabels> folded;
  for (size_t i = 0; i < dims_.size(); ++i) {
    auto v = dims_[i]->resolve_fast(values[i]);
    if (!v) return get_slow(values);
    folded[i] = *v;
  }
  std::span<const std::string_view> f(folded.data(), dims_.size());
  if (Child* c = find(f, hash_values(f))) return *c;
  return get_slow(values);
}

Child& FamilyCore::get_slow(std::span<const std::string_view> values) {
  std::lock_guard lock(mutex_);
  std::array<std::string_view, kMaxLabels> folded;
  for (size_t i = 0; i < dims_.size(); ++i) folded[i] = dims_[i]->resolve_locked(values[i]);
  std::span<const std::string_view> f(folded.data(), dims_.size());
  const size_t hash = hash_values(f);
  if (Child* c = find(f, hash)) return *c;
  // Every dimension folds into at most bound() values, so this cannot fail; if it did, the
  // table would fill and probes would never end.
  if (owned_.size() >= max_children_) {
    log::error("metrics", name_ + ": series bound exceeded");
    std::abort();
  }
  auto child = make_child();
  child->values.assign(f.begin(), f.end());
  size_t i = hash & mask_;
  while (slots_[i].load(std::memory_order_relaxed) != nullptr) i = (i + 1) & mask_;
  Child* raw = child.get();
  owned_.push_back(std::move(child));
  slots_[i].store(raw, std::memory_order_release);
  return *raw;
}

void FamilyCore::precreate() {
  for (const auto& d : dims_) {
    // Only fixed dimensions have values at construction; a capped one means "nothing yet".
    if (d->values().empty()) return;
  }
  // Odometer over the declared values of every (fixed) dimension.
  std::vector<size_t> idx(dims_.size(), 0);
  std::array<std::string_view, kMaxLabels> v;
  while (true) {
    for (size_t i = 0; i < dims_.size(); ++i) v[i] = dims_[i]->values()[idx[i]];
    get(std::span<const std::string_view>(v.data(), dims_.size()));
    size_t k = 0;
    while (k < dims_.size() && ++idx[k] == dims_[k]->values().size()) idx[k++] = 0;
    if (k == dims_.size()) break;
  }
}

void FamilyCore::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_escaped_help(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
  std::vector<const Child*> children;
  {
    std::lock_guard lock(mutex_);
    children.reserve(owned_.size());
    for (const auto& c : owned_) children.push_back(c.get());
  }
  std::sort(children.begin(), children.end(),
            [](const Child* a, const Child* b) { return a->values < b->values; });
  for (const Child* c : children) render_child(out, *c);
}

void render_samples(std::string& out, const std::string& name,
                    const std::vector<std::string>& label_names, const Child& c, const Counter& m) {
  out += name;
  append_labels(out, label_names, c.values);
  out += ' ';
  append_uint(out, m.value());
  out += '\n';
}

void render_samples(std::string& out, const std::string& name,
                    const std::vector<std::string>& label_names, const Child& c, const Gauge& m) {
  const auto v = m.value();
  if (!v) return;  // a failed callback: no sample beats a made-up one
  out += name;
  append_labels(out, label_names, c.values);
  out += ' ';
  append_double(out, *v);
  out += '\n';
}

void render_samples(std::string& out, const std::string& name,
                    const std::vector<std::string>& label_names, const Child& c,
                    const Histogram& m) {
  const auto s = m.snapshot();
  const auto& bounds = m.bounds();
  std::string le;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    le.clear();
    if (i < bounds.size())
      append_double(le, bounds[i]);
    else
      le = "+Inf";
    out += name;
    out += "_bucket";
    append_labels(out, label_names, c.values, "le", le);
    out += ' ';
    append_uint(out, s.cumulative[i]);
    out += '\n';
  }
  out += name;
  out += "_sum";
  append_labels(out, label_names, c.values);
  out += ' ';
  append_double(out, s.sum);
  out += '\n';
  out += name;
  out += "_count";
  append_labels(out, label_names, c.values);
  out += ' ';
  append_uint(out, s.count);
  out += '\n';
}

}  // namespace detail

// ---- Registry ----

Counter& Registry::counter(std::string name, std::string help) {
  return add(std::make_unique<Family<Counter, 0>>(std::move(name), std::move(help),
                                                  std::vector<Label>{}))
      .with();
}

Gauge& Registry::gauge(std::string name, std::string help) {
  return add(std::make_unique<Family<Gauge, 0>>(std::move(name), std::move(help),
                                                std::vector<Label>{}))
      .with();
}

Histogram& Registry::histogram(std::string name, std::string help, std::vector<double> bounds) {
  check_bounds(bounds);
  return add(std::make_unique<Family<Histogram, 0>>(std::move(name), std::move(help),
                                                    std::vector<Label>{}, std::move(bounds)))
      .with();
}

void Registry::check_bounds(const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) fail("histogram bounds must be finite (+Inf is implicit)");
    if (i > 0 && !(bounds[i - 1] < bounds[i])) fail("histogram bounds must strictly increase");
  }
}

void Registry::add_collector(std::unique_ptr<Collector> collector) {
  std::lock_guard lock(mutex_);
  const auto names = collector->series_names();
  for (const auto& n : names) {
    if (series_names_.count(n) > 0) fail("duplicate metric name '" + n + "'");
  }
  series_names_.insert(names.begin(), names.end());
  std::string key = collector->name();
  collectors_.emplace(std::move(key), std::move(collector));
}

std::string Registry::render() const {
  std::string out;
  render(out);
  return out;
}

void Registry::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, collector] : collectors_) collector->render(out);
}

}  // namespace tyr::engine::metrics
