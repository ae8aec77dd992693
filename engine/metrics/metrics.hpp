#pragma once
// A small Prometheus client: counters, gauges and histograms, alone or in labelled families of
// bounded cardinality, rendered by a Registry in the text exposition format 0.0.4.
//
// Hot-path contract: Counter::inc, Gauge::set and Histogram::observe are a few relaxed atomic
// operations. Family::with() on a child that already exists takes no lock and allocates nothing
// (a lock-free probe of a fixed-capacity table); the reference it returns stays valid for the
// family's lifetime, so a caller may also resolve a child once and keep it.
//
// Cardinality is bounded by construction: every label is either a fixed set of values declared
// up front or capped at a number of distinct values; anything else becomes "other". A family's
// worst-case series count is known at registration and refused when too large.
//
// Registration mistakes (bad names, duplicates, unsorted buckets) throw std::invalid_argument:
// they happen once at start-up and are programming errors, never to be caught.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tyr::engine::metrics {

// The label value every out-of-set or over-cap value is folded into.
inline constexpr std::string_view kOther = "other";

// `[a-zA-Z_:][a-zA-Z0-9_:]*`
bool is_valid_metric_name(std::string_view name);
// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with "__" (reserved by Prometheus).
bool is_valid_label_name(std::string_view name);

class Counter {
 public:
  void inc() { value_.fetch_add(1, std::memory_order_relaxed); }
  void add(uint64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value set directly, or computed by a callback at scrape time (queue depths, memory). When a
// callback is installed it wins over the stored value.
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  void inc() { add(1); }
  void dec() { add(-1); }
  // Seconds since the Unix epoch, now (for "last success" timestamps).
  void set_to_current_time();

  // `fn` runs on the scraping thread while the registry is locked: it must be cheap, thread-safe
  // and must not register metrics. An empty function removes the callback.
  void set_callback(std::function<double()> fn);
  // The stored value, or the callback's result; nullopt when the callback threw.
  std::optional<double> value() const;

 private:
  std::atomic<double> value_{0};
  std::atomic<bool> has_callback_{false};
  mutable std::mutex callback_mutex_;
  std::function<double()> callback_;
};

// Fixed buckets, in seconds for durations. Each observation bumps one per-bucket counter (not a
// cumulative range of them); the renderer sums them into Prometheus's cumulative `le` buckets.
class Histogram {
 public:
  // Upper bounds, finite and strictly increasing; +Inf is implicit. Validated by the Registry.
  explicit Histogram(std::span<const double> bounds);

  void observe(double v);  // NaN is dropped: it would poison _sum forever
  void observe(std::chrono::nanoseconds d) { observe(static_cast<double>(d.count()) * 1e-9); }
  // Seconds since `start` on the monotonic clock.
  void observe_since(std::chrono::steady_clock::time_point start) {
    observe(std::chrono::steady_clock::now() - start);
  }

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1, the last is +Inf
  std::atomic<double> sum_{0};
};

// Observes the time from construction to destruction into a histogram.
class ScopedTimer {
 public:
  explicit ScopedTimer(Histogram& h) : histogram_(h), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() { histogram_.observe_since(start_); }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  Histogram& histogram_;
  std::chrono::steady_clock::time_point start_;
};

// How a label's values are bounded.
struct Label {
  std::string name;
  std::vector<std::string> values;  // fixed: the allowed values (each pre-created at 0)
  size_t cap = 0;                   // capped: distinct values kept before folding into "other"

  static Label fixed(std::string name, std::vector<std::string> values) {
    return {std::move(name), std::move(values), 0};
  }
  static Label capped(std::string name, size_t cap) { return {std::move(name), {}, cap}; }
  bool is_fixed() const { return cap == 0; }
};

enum class MetricType { kCounter, kGauge, kHistogram };

// Anything the Registry renders: one metric family (a name, HELP, TYPE and its samples).
class Collector {
 public:
  virtual ~Collector() = default;
  virtual const std::string& name() const = 0;
  // Series names this family writes (a histogram writes _bucket, _sum and _count).
  virtual std::vector<std::string> series_names() const = 0;
  virtual void render(std::string& out) const = 0;
};

namespace detail {

inline constexpr size_t kMaxLabels = 8;
// Refused at registration: a family that could grow past this many series is a design mistake.
inline constexpr size_t kMaxSeriesPerFamily = 4096;

struct Child {
  virtual ~Child() = default;
  std::vector<std::string> values;  // canonical label values, in label order
};

template <class M>
struct Node final : Child {
  template <class... A>
  explicit Node(A&&... args) : metric(std::forward<A>(args)...) {}
  M metric;
};

class Dimension;

// The type-independent part of a family: label bounding and the lock-free child table.
class FamilyCore : public Collector {
 public:
  FamilyCore(std::string name, std::string help, MetricType type, std::vector<Label> labels);
  ~FamilyCore() override;
  FamilyCore(const FamilyCore&) = delete;
  FamilyCore& operator=(const FamilyCore&) = delete;

  const std::string& name() const override { return name_; }
  std::vector<std::string> series_names() const override;
  void render(std::string& out) const override;
  size_t size() const;  // children created so far
  size_t max_series() const { return max_children_; }

 protected:
  // Lock-free and allocation-free when the child (or its "other" fold) already exists.
  Child& get(std::span<const std::string_view> values);
  // Creates every combination of declared values when all labels are fixed.
  void precreate();
  virtual std::unique_ptr<Child> make_child() const = 0;
  virtual void render_child(std::string& out, const Child& child) const = 0;

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;

 private:
  Child* find(std::span<const std::string_view> values, size_t hash) const;
  Child& get_slow(std::span<const std::string_view> values);

  std::vector<std::unique_ptr<Dimension>> dims_;
  size_t max_children_ = 1;
  size_t mask_ = 0;
  std::unique_ptr<std::atomic<Child*>[]> slots_;  // open addressing, at most half full
  mutable std::mutex mutex_;                      // serialises insertions; readers never take it
  std::vector<std::unique_ptr<Child>> owned_;     // insertion order; guarded by mutex_
};

// Rendering of one child's samples, shared by every family of that metric type.
void render_samples(std::string& out, const std::string& name,
                    const std::vector<std::string>& label_names, const Child& c, const Counter& m);
void render_samples(std::string& out, const std::string& name,
                    const std::vector<std::string>& label_names, const Child& c, const Gauge& m);
void render_samples(std::string& out, const std::string& name,
                    const std::vector<std::string>& label_names, const Child& c,
                    const Histogram& m);

template <class M>
constexpr MetricType type_of() {
  if constexpr (std::is_same_v<M, Counter>)
    return MetricType::kCounter;
  else if constexpr (std::is_same_v<M, Gauge>)
    return MetricType::kGauge;
  else
    return MetricType::kHistogram;
}

}  // namespace detail

// A metric family with N labels. with() takes exactly N values (checked at compile time).
template <class M, size_t N>
class Family final : public detail::FamilyCore {
 public:
  Family(std::string name, std::string help, std::vector<Label> labels,
         std::vector<double> bounds = {})
      : FamilyCore(std::move(name), std::move(help), detail::type_of<M>(), std::move(labels)),
        bounds_(std::move(bounds)) {
    if (label_names_.size() != N) {
      throw std::invalid_argument("metrics: " + name_ + ": label count");
    }
    precreate();
  }

  template <class... V>
  M& with(const V&... values) {
    static_assert(sizeof...(V) == N, "one value per label");
    const std::array<std::string_view, N> v{std::string_view(values)...};
    return static_cast<detail::Node<M>&>(get(v)).metric;
  }

 private:
  std::unique_ptr<detail::Child> make_child() const override {
    if constexpr (std::is_same_v<M, Histogram>) {
      return std::make_unique<detail::Node<M>>(std::span<const double>(bounds_));
    } else {
      return std::make_unique<detail::Node<M>>();
    }
  }
  void render_child(std::string& out, const detail::Child& child) const override {
    detail::render_samples(out, name_, label_names_, child,
                           static_cast<const detail::Node<M>&>(child).metric);
  }

  std::vector<double> bounds_;
};

// Owns every metric and renders them, sorted by name. Registration is thread-safe but meant for
// start-up; rendering may run concurrently with updates from any thread.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& counter(std::string name, std::string help);
  Gauge& gauge(std::string name, std::string help);
  Histogram& histogram(std::string name, std::string help, std::vector<double> bounds);

  template <size_t N>
  Family<Counter, N>& counter_family(std::string name, std::string help, const Label (&labels)[N]) {
    return add(std::make_unique<Family<Counter, N>>(std::move(name), std::move(help),
                                                    std::vector<Label>(labels, labels + N)));
  }
  template <size_t N>
  Family<Gauge, N>& gauge_family(std::string name, std::string help, const Label (&labels)[N]) {
    return add(std::make_unique<Family<Gauge, N>>(std::move(name), std::move(help),
                                                  std::vector<Label>(labels, labels + N)));
  }
  template <size_t N>
  Family<Histogram, N>& histogram_family(std::string name, std::string help,
                                         const Label (&labels)[N], std::vector<double> bounds) {
    check_bounds(bounds);
    return add(std::make_unique<Family<Histogram, N>>(std::move(name), std::move(help),
                                                      std::vector<Label>(labels, labels + N),
                                                      std::move(bounds)));
  }

  // Adds a collector of any kind (the typed helpers above go through here).
  template <class C>
  C& add(std::unique_ptr<C> collector) {
    C& ref = *collector;
    add_collector(std::move(collector));
    return ref;
  }

  std::string render() const;
  void render(std::string& out) const;  // appends

 private:
  static void check_bounds(const std::vector<double>& bounds);
  void add_collector(std::unique_ptr<Collector> collector);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Collector>, std::less<>> collectors_;  // by name
  std::set<std::string, std::less<>> series_names_;  // every name a sample line may carry
};

// Writes `v` as Prometheus expects: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
void append_double(std::string& out, double v);
// Label-value escaping: backslash, double quote and newline.
void append_escaped_label_value(std::string& out, std::string_view v);

}  // namespace tyr::engine::metrics
