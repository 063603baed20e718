#include "baton/wire.h"

#include <vector>

namespace baton::wire {

msgpack::unpack_limit body_limits() {
  // array, map, str, bin, ext, depth
  return msgpack::unpack_limit(1u << 20, 1u << 16, kMaxBodyBytes, kMaxBodyBytes, 1u << 10, 64);
}

bool is_known_type(uint8_t t) {
  switch (static_cast<MsgType>(t)) {
    case MsgType::kStartRequest:
    case MsgType::kStartReply:
    case MsgType::kDescribeRequest:
    case MsgType::kWaitRequest:
    case MsgType::kInstanceReply:
    case MsgType::kErrorReply:
    case MsgType::kOkReply:
    case MsgType::kRaiseEventRequest:
    case MsgType::kTerminateRequest:
    case MsgType::kSuspendRequest:
    case MsgType::kResumeRequest:
    case MsgType::kHistoryRequest:
    case MsgType::kHistoryReply:
    case MsgType::kVerifyRequest:
    case MsgType::kVerifyReply:
    case MsgType::kListRequest:
    case MsgType::kListReply:
    case MsgType::kPurgeRequest:
    case MsgType::kPurgeReply:
    case MsgType::kSchedulerHello:
    case MsgType::kDispatchBatch:
    case MsgType::kWorkLost:
    case MsgType::kWorkerReady:
    case MsgType::kCredit:
    case MsgType::kActivityTask:
    case MsgType::kOrchestrationTask:
    case MsgType::kActivityResult:
    case MsgType::kOrchestrationResult:
    case MsgType::kWorkerDisconnect:
    case MsgType::kActivityHeartbeat:
    case MsgType::kResultBatch:
    case MsgType::kHeartbeat:
    case MsgType::kBrokerGoodbye:
      return true;
  }
  return false;
}

const char* msg_type_name(MsgType t) {
  switch (t) {
    case MsgType::kStartRequest: return "StartRequest";
    case MsgType::kStartReply: return "StartReply";
    case MsgType::kDescribeRequest: return "DescribeRequest";
    case MsgType::kWaitRequest: return "WaitRequest";
    case MsgType::kInstanceReply: return "InstanceReply";
    case MsgType::kErrorReply: return "ErrorReply";
    case MsgType::kOkReply: return "OkReply";
    case MsgType::kRaiseEventRequest: return "RaiseEventRequest";
    case MsgType::kTerminateRequest: return "TerminateRequest";
    case MsgType::kSuspendRequest: return "SuspendRequest";
    case MsgType::kResumeRequest: return "ResumeRequest";
    case MsgType::kHistoryRequest: return "HistoryRequest";
    case MsgType::kHistoryReply: return "HistoryReply";
    case MsgType::kVerifyRequest: return "VerifyRequest";
    case MsgType::kVerifyReply: return "VerifyReply";
    case MsgType::kListRequest: return "ListRequest";
    case MsgType::kListReply: return "ListReply";
    case MsgType::kPurgeRequest: return "PurgeRequest";
    case MsgType::kPurgeReply: return "PurgeReply";
    case MsgType::kSchedulerHello: return "SchedulerHello";
    case MsgType::kDispatchBatch: return "DispatchBatch";
    case MsgType::kWorkLost: return "WorkLost";
    case MsgType::kWorkerReady: return "WorkerReady";
    case MsgType::kCredit: return "Credit";
    case MsgType::kActivityTask: return "ActivityTask";
    case MsgType::kOrchestrationTask: return "OrchestrationTask";
    case MsgType::kActivityResult: return "ActivityResult";
    case MsgType::kOrchestrationResult: return "OrchestrationResult";
    case MsgType::kWorkerDisconnect: return "WorkerDisconnect";
    case MsgType::kActivityHeartbeat: return "ActivityHeartbeat";
    case MsgType::kResultBatch: return "ResultBatch";
    case MsgType::kHeartbeat: return "Heartbeat";
    case MsgType::kBrokerGoodbye: return "BrokerGoodbye";
  }
  return "Unknown";
}

Result<Received> recv(zmq::socket_t& socket, bool router, std::string* identity_out) {
  std::vector<zmq::message_t> parts;
  try {
    while (true) {
      zmq::message_t part;
      auto got = socket.recv(part, parts.empty() ? zmq::recv_flags::dontwait : zmq::recv_flags::none);
      if (!got) {
        if (parts.empty()) return unavailable("no message");
        break;
      }
      const bool more = part.more();
      // Keep at most a handful of frames; drain the rest of a hostile message.
      if (parts.size() < 8) parts.push_back(std::move(part));
      if (!more) break;
    }
  } catch (const zmq::error_t& e) {
    return unavailable(std::string("recv failed: ") + e.what());
  }
  std::size_t i = 0;
  Received out;
  if (router) {
    out.identity = parts[0].to_string();
    if (identity_out) *identity_out = out.identity;
    i = 1;
  }
  if (parts.size() != i + 2) {
    return invalid_argument("expected " + std::to_string(i + 2) + " frames, got " +
                            std::to_string(parts.size()));
  }
  const auto& type_frame = parts[i];
  if (type_frame.size() != 2) {
    return invalid_argument("type frame must be 2 bytes, got " + std::to_string(type_frame.size()));
  }
  const auto* tb = static_cast<const uint8_t*>(type_frame.data());
  if (tb[0] != kProtocolVersion) {
    return invalid_argument("protocol version " + std::to_string(tb[0]) + " is not supported (" +
                            std::to_string(kProtocolVersion) + " is)");
  }
  if (!is_known_type(tb[1])) return invalid_argument("unknown message type " + std::to_string(tb[1]));
  out.type = static_cast<MsgType>(tb[1]);
  if (parts[i + 1].size() > kMaxBodyBytes) {
    return invalid_argument("body of " + std::to_string(parts[i + 1].size()) +
                            " bytes exceeds the limit");
  }
  out.body = std::move(parts[i + 1]);
  return out;
}

bool send_raw(zmq::socket_t& socket, std::string_view identity, MsgType type,
              std::string_view body, bool dont_wait) {
  const uint8_t header[2] = {kProtocolVersion, static_cast<uint8_t>(type)};
  const auto last = dont_wait ? zmq::send_flags::dontwait : zmq::send_flags::none;
  const auto more = dont_wait ? (zmq::send_flags::sndmore | zmq::send_flags::dontwait)
                              : zmq::send_flags::sndmore;
  try {
    if (!identity.empty()) {
      if (!socket.send(zmq::buffer(identity.data(), identity.size()), more)) return false;
    }
    if (!socket.send(zmq::buffer(header, 2), more)) return false;
    return socket.send(zmq::buffer(body.data(), body.size()), last).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

}  // namespace baton::wire
