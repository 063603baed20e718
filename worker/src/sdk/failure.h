// Turning exceptions into FailureDetails (user failures are data).
// Thread-safety: free functions, no shared state.
#pragma once

#include <string>

#include "baton/protocol.h"

namespace baton::detail {

// "std::runtime_error" for typeid(std::runtime_error).name(); the input
// unchanged if it cannot be demangled.
std::string demangle(const char* mangled_name);

// Describes the exception being handled. Call only inside a catch block.
//   TaskFailedError        -> the failed task's own FailureDetails
//   InvalidInputError      -> error_type "InvalidInput", non_retryable
//   std::exception e       -> demangled dynamic type of e, e.what()
//   anything else          -> demangled thrown type, empty message
FailureDetails describe_current_exception();

}  // namespace baton::detail
