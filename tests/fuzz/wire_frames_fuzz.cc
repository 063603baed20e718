// Fuzz target: a whole ZeroMQ message as a peer sends it, through
// wire::recv (frame count, type frame, protocol version, size) and then the
// body decoder of the type it names. The frames travel over an inproc PAIR,
// so this is the codec exactly as the scheduler, broker and workers run it.
// Input format: tests/fuzz/messages.h (kFrameSeparator).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "tests/fuzz/messages.h"

namespace {

constexpr std::size_t kMaxFrames = 32;

struct Link {
  zmq::context_t ctx{1};
  zmq::socket_t in{ctx, zmq::socket_type::pair};
  zmq::socket_t out{ctx, zmq::socket_type::pair};
  Link() {
    in.bind("inproc://wire-frames-fuzz");
    out.connect("inproc://wire-frames-fuzz");
  }
};

std::vector<std::string_view> split(std::string_view rest) {
  std::vector<std::string_view> frames;
  while (frames.size() + 1 < kMaxFrames) {
    const auto at = rest.find(baton::fuzz::kFrameSeparator);
    if (at == std::string_view::npos) break;
    frames.push_back(rest.substr(0, at));
    rest.remove_prefix(at + baton::fuzz::kFrameSeparator.size());
  }
  frames.push_back(rest);
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static Link link;
  const bool router = (data[0] & 1) != 0;
  const auto frames = split(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (!link.out.send(zmq::buffer(frames[i].data(), frames[i].size()), flags)) {
      baton::fuzz::fail("frames", "inproc send refused");
    }
  }
  zmq::pollitem_t item{link.in.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, std::chrono::milliseconds(5000)) != 1) {
    baton::fuzz::fail("frames", "the message never arrived");
  }
  std::string identity;
  auto got = baton::wire::recv(link.in, router, &identity);
  if (link.in.get(zmq::sockopt::rcvmore)) baton::fuzz::fail("frames", "recv left frames behind");
  if (router && identity != frames[0]) baton::fuzz::fail("frames", "identity not reported");
  if (!got) {
    if (got.status().code() != baton::StatusCode::kInvalidArgument ||
        got.status().message().empty()) {
      baton::fuzz::fail("frames", "a rejected message needs kInvalidArgument and a reason, got " +
                                      got.status().to_string());
    }
    return 0;
  }
  if (router && got->identity != frames[0]) baton::fuzz::fail("frames", "wrong identity");
  baton::fuzz::check_decode_as(static_cast<uint8_t>(got->type), got->body_view());
  return 0;
}
