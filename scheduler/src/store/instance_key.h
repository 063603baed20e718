// An instance's identity as one map key ("ns\0id") and back. Pure.
#pragma once

#include <string>

#include "store/ops.h"

namespace baton::scheduler {

inline std::string key_of(const std::string& ns, const std::string& id) {
  std::string k;
  k.reserve(ns.size() + id.size() + 1);
  k += ns;
  k.push_back('\0');
  k += id;
  return k;
}

inline LoadOp split_key(const std::string& key) {
  const auto nul = key.find('\0');
  return LoadOp{key.substr(0, nul), key.substr(nul + 1)};
}

}  // namespace baton::scheduler
