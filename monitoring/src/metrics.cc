#include "baton/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace baton::metrics {

extern const char kMetricsCatalogJson[];  // generated from monitoring/metrics.json

namespace {

std::vector<MetricDef> parse_catalogue() {
  const auto doc = nlohmann::json::parse(kMetricsCatalogJson);
  std::vector<MetricDef> defs;
  for (const auto& m : doc.at("metrics")) {
    MetricDef d;
    d.name = m.at("name").get<std::string>();
    d.part = m.at("part").get<std::string>();
    d.type = m.at("type").get<std::string>();
    d.help = m.at("help").get<std::string>();
    d.labels = m.at("labels").get<std::vector<std::string>>();
    if (d.type == "histogram") {
      d.buckets = doc.at("buckets").at(m.at("buckets").get<std::string>()).get<std::vector<double>>();
    }
    defs.push_back(std::move(d));
  }
  return defs;
}

bool is_process_metric(const MetricDef& d) { return d.name.rfind("process_", 0) == 0; }

// The process_* metrics every Prometheus client library exports, read from
// /proc/self on each scrape.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const Sample s = sample();
    for (const MetricDef& d : catalogue()) {
      if (!is_process_metric(d)) continue;
      prometheus::MetricFamily f;
      f.name = d.name;
      f.help = d.help;
      prometheus::ClientMetric m;
      double v = 0;
      if (d.name == "process_cpu_seconds_total") v = s.cpu_seconds;
      else if (d.name == "process_resident_memory_bytes") v = s.rss_bytes;
      else if (d.name == "process_virtual_memory_bytes") v = s.vsize_bytes;
      else if (d.name == "process_open_fds") v = s.open_fds;
      else if (d.name == "process_max_fds") v = s.max_fds;
      else if (d.name == "process_start_time_seconds") v = s.start_time_seconds;
      if (d.type == "counter") {
        f.type = prometheus::MetricType::Counter;
        m.counter.value = v;
      } else {
        f.type = prometheus::MetricType::Gauge;
        m.gauge.value = v;
      }
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  struct Sample {
    double cpu_seconds = 0, rss_bytes = 0, vsize_bytes = 0, open_fds = 0, max_fds = 0,
           start_time_seconds = 0;
  };

  static Sample sample() {
    Sample s;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    std::ifstream stat("/proc/self/stat");
    std::string line;
    if (std::getline(stat, line)) {
      // Fields after the parenthesised command name (which may hold spaces).
      const auto close = line.rfind(')');
      std::istringstream rest(close == std::string::npos ? "" : line.substr(close + 2));
      std::vector<std::string> f;
      for (std::string tok; rest >> tok;) f.push_back(tok);
      // f[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
      auto field = [&](int n) { return n - 3 < static_cast<int>(f.size()) ? std::stod(f[n - 3]) : 0.0; };
      s.cpu_seconds = (field(14) + field(15)) / ticks;
      s.vsize_bytes = field(23);
      s.rss_bytes = field(24) * page;
      s.start_time_seconds = boot_time_seconds() + field(22) / ticks;
    }
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      s.open_fds += 1;
    }
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) s.max_fds = static_cast<double>(lim.rlim_cur);
    return s;
  }

  static double boot_time_seconds() {
    std::ifstream in("/proc/stat");
    for (std::string key; in >> key;) {
      if (key == "btime") {
        double v = 0;
        in >> v;
        return v;
      }
      in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return 0;
  }
};

[[noreturn]] void misuse(const std::string& what) { throw std::invalid_argument(what); }

}  // namespace

const std::vector<MetricDef>& catalogue() {
  static const std::vector<MetricDef> kDefs = parse_catalogue();
  return kDefs;
}

struct Metrics::Families {
  struct Entry {
    const MetricDef* def = nullptr;
    prometheus::Family<prometheus::Counter>* counter = nullptr;
    prometheus::Family<prometheus::Gauge>* gauge = nullptr;
    prometheus::Family<prometheus::Histogram>* histogram = nullptr;
  };
  std::unordered_map<std::string_view, Entry> by_name;

  const Entry& find(std::string_view name, const char* type, const Labels& labels,
                    const std::string& part) const {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      misuse("metric '" + std::string(name) + "' is not defined for part '" + part +
             "' in monitoring/metrics.json");
    }
    const MetricDef& d = *it->second.def;
    if (d.type != type) misuse("metric '" + d.name + "' is a " + d.type + ", not a " + type);
    bool same = labels.size() == d.labels.size();
    for (const auto& l : d.labels) same = same && labels.count(l) == 1;
    if (!same) misuse("metric '" + d.name + "' takes other labels than the ones given");
    return it->second;
  }
};

Metrics::Metrics(std::string part)
    : part_(std::move(part)),
      registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<ProcessCollector>()),
      families_(std::make_unique<Families>()) {
  if (part_ != "scheduler" && part_ != "broker" && part_ != "worker") {
    misuse("unknown part '" + part_ + "'");
  }
  for (const MetricDef& d : catalogue()) {
    if ((d.part != part_ && d.part != "all") || is_process_metric(d)) continue;
    Families::Entry e{&d};
    if (d.type == "counter") {
      e.counter = &prometheus::BuildCounter().Name(d.name).Help(d.help).Register(*registry_);
    } else if (d.type == "gauge") {
      e.gauge = &prometheus::BuildGauge().Name(d.name).Help(d.help).Register(*registry_);
    } else if (d.type == "histogram") {
      e.histogram = &prometheus::BuildHistogram().Name(d.name).Help(d.help).Register(*registry_);
    } else {
      misuse("metric '" + d.name + "' has unknown type '" + d.type + "'");
    }
    families_->by_name.emplace(d.name, e);
  }
  gauge("baton_build_info", {{"part", part_}, {"version", BATON_VERSION}}).Set(1);
  gauge("baton_ready").Set(0);
}

Metrics::~Metrics() = default;

prometheus::Counter& Metrics::counter(std::string_view name, const Labels& labels) {
  return families_->find(name, "counter", labels, part_).counter->Add(labels);
}

prometheus::Gauge& Metrics::gauge(std::string_view name, const Labels& labels) {
  return families_->find(name, "gauge", labels, part_).gauge->Add(labels);
}

prometheus::Histogram& Metrics::histogram(std::string_view name, const Labels& labels) {
  const auto& e = families_->find(name, "histogram", labels, part_);
  return e.histogram->Add(labels, prometheus::Histogram::BucketBoundaries(e.def->buckets));
}

void Metrics::set_ready(bool ready, std::string reason) {
  {
    std::lock_guard lock(ready_mu_);
    ready_ = ready;
    not_ready_why_ = ready ? std::string() : std::move(reason);
  }
  gauge("baton_ready").Set(ready ? 1 : 0);
}

bool Metrics::ready(std::string* reason) const {
  std::lock_guard lock(ready_mu_);
  if (reason) *reason = not_ready_why_;
  return ready_;
}

std::vector<std::shared_ptr<prometheus::Collectable>> Metrics::collectables() const {
  return {registry_, process_};
}

std::string Metrics::serialize() const {
  std::vector<prometheus::MetricFamily> all = registry_->Collect();
  for (auto& f : process_->Collect()) all.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(all);
}

}  // namespace baton::metrics
