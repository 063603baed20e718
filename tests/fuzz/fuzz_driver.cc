// A small stand-in for libFuzzer's main(), so the fuzz targets build and run
// with g++ (which has no -fsanitize=fuzzer) in `make test`.
//
//   <target> [options] PATH...     PATH: a corpus directory or an input file
//     --runs=N         random mutations after the corpus (default 10000)
//     --seed=S         of the mutation PRNG (default 1): a run is reproducible
//     --max-len=N      longest mutated input (default 4096)
//     --max-seconds=T  stop mutating after T seconds (default 0: no limit)
//
// Every corpus input runs first, then N mutations (bit flips, byte sets,
// inserts, erases, duplications, splices, msgpack/JSON-interesting bytes) of
// randomly chosen corpus inputs. A crash aborts the process; the input that
// caused it is written to ./fuzz-crash-input first, so
// `<target> --runs=0 fuzz-crash-input` reproduces it. No coverage feedback:
// this finds shallow bugs and keeps the targets compiling; real fuzzing is
// the clang build (BATON_FUZZ_CLANG=ON, see tests/fuzz/fuzz.cmake).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being run, for the crash handler (async-signal-safe access only).
const uint8_t* g_current = nullptr;
size_t g_current_size = 0;

void on_crash(int sig) {
  const int fd = ::open("fuzz-crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0 && g_current != nullptr) {
    ssize_t ignored = ::write(fd, g_current, g_current_size);
    (void)ignored;
  }
  if (fd >= 0) ::close(fd);
  const char msg[] = "fuzz_driver: crashed; input written to ./fuzz-crash-input\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
  ::raise(sig);  // SA_RESETHAND: the default action now
}

void run(const std::string& input) {
  g_current = reinterpret_cast<const uint8_t*>(input.data());
  g_current_size = input.size();
  LLVMFuzzerTestOneInput(g_current, g_current_size);
  g_current = nullptr;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

class Mutator {
 public:
  Mutator(uint64_t seed, std::size_t max_len) : rng_(seed), max_len_(max_len) {}

  std::string mutate(const std::vector<std::string>& corpus) {
    std::string s = corpus.empty() ? std::string() : corpus[pick(corpus.size())];
    const int steps = 1 + static_cast<int>(pick(4));
    for (int i = 0; i < steps; ++i) step(s, corpus);
    if (s.size() > max_len_) s.resize(max_len_);
    return s;
  }

 private:
  std::size_t pick(std::size_t n) { return n == 0 ? 0 : rng_() % n; }
  char byte() { return static_cast<char>(rng_() & 0xff); }
  char interesting() {
    // msgpack markers (nil, bool, bin/str/array/map headers, ints) and JSON
    // punctuation.
    static constexpr unsigned char kBytes[] = {
        0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5,
        0xc6, 0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0,
        0xff, '"',  '\\', '[',  ']',  '{',  '}',  ',',  ':',  '-',  '0',  '9',  'e',  '.',  'u'};
    return static_cast<char>(kBytes[pick(sizeof kBytes)]);
  }

  void step(std::string& s, const std::vector<std::string>& corpus) {
    switch (pick(9)) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1 << pick(8));
        break;
      case 1:  // set a random byte
        if (!s.empty()) s[pick(s.size())] = byte();
        break;
      case 2:  // set an interesting byte
        if (!s.empty()) s[pick(s.size())] = interesting();
        break;
      case 3: {  // insert bytes
        std::string ins(1 + pick(8), '\0');
        for (auto& c : ins) c = pick(2) ? byte() : interesting();
        s.insert(pick(s.size() + 1), ins);
        break;
      }
      case 4:  // erase a range
        if (!s.empty()) {
          const auto at = pick(s.size());
          s.erase(at, 1 + pick(std::min<std::size_t>(s.size() - at, 16)));
        }
        break;
      case 5:  // duplicate a range
        if (!s.empty() && s.size() < max_len_) {
          const auto at = pick(s.size());
          const auto len = 1 + pick(std::min<std::size_t>(s.size() - at, 64));
          s.insert(pick(s.size() + 1), s.substr(at, len));
        }
        break;
      case 6:  // splice with another corpus input
        if (!corpus.empty()) {
          const std::string& other = corpus[pick(corpus.size())];
          s = s.substr(0, pick(s.size() + 1)) + other.substr(pick(other.size() + 1));
        }
        break;
      case 7:  // truncate
        s.resize(pick(s.size() + 1));
        break;
      default: {  // overwrite up to 8 bytes with a random integer's bytes
        if (s.empty()) break;
        const uint64_t v =
            pick(2) ? rng_() : (pick(2) ? 0xffffffffffffffffull : 0x8000000000000000ull);
        const auto at = pick(s.size());
        const auto len = std::min<std::size_t>(s.size() - at, 1 + pick(8));
        std::memcpy(&s[at], &v, len);
        break;
      }
    }
  }

  std::mt19937_64 rng_;
  std::size_t max_len_;
};

bool flag(const std::string& arg, const char* name, long long& out) {
  const std::string prefix = std::string("--") + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  out = std::atoll(arg.c_str() + prefix.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  long long runs = 10000, seed = 1, max_len = 4096, max_seconds = 0;
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (flag(arg, "runs", runs) || flag(arg, "seed", seed) || flag(arg, "max-len", max_len) ||
        flag(arg, "max-seconds", max_seconds)) {
      continue;
    }
    if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr,
                   "usage: %s [--runs=N] [--seed=S] [--max-len=N] "
                   "[--max-seconds=T] PATH...\n",
                   argv[0]);
      return 2;
    }
    paths.emplace_back(arg);
  }
  // An alternate stack, so the handler also runs after a stack overflow.
  static std::vector<char> alt_stack(1 << 16);
  stack_t ss{};
  ss.ss_sp = alt_stack.data();
  ss.ss_size = alt_stack.size();
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = on_crash;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::sigaction(sig, &sa, nullptr);

  std::vector<std::string> corpus;
  for (const auto& p : paths) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());  // the same order on every machine
    } else if (std::filesystem::is_regular_file(p)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "fuzz_driver: %s: no such file or directory\n", p.c_str());
      return 2;
    }
    for (const auto& f : files) corpus.push_back(read_all(f));
  }

  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& input : corpus) run(input);
  Mutator mutator(static_cast<uint64_t>(seed), static_cast<std::size_t>(max_len));
  long long done = 0;
  for (; done < runs; ++done) {
    if (max_seconds > 0 && (done & 63) == 0 &&
        std::chrono::steady_clock::now() - t0 > std::chrono::seconds(max_seconds)) {
      break;
    }
    run(mutator.mutate(corpus));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "fuzz_driver: %zu corpus inputs, %lld mutations (seed %lld) in "
      "%.1f s: no crash\n",
      corpus.size(), done, seed, secs);
  return 0;
}
