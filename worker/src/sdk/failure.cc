#include "sdk/failure.h"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>

#include "baton/orchestration_context.h"
#include "baton/payload.h"

namespace baton::detail {

std::string demangle(const char* mangled_name) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(mangled_name, nullptr, nullptr, &status), &std::free);
  return (status == 0 && out) ? std::string(out.get()) : std::string(mangled_name);
}

FailureDetails describe_current_exception() {
  FailureDetails f;
  try {
    throw;
  } catch (const TaskFailedError& e) {
    f = e.failure();
  } catch (const InvalidInputError& e) {
    f.error_type = "InvalidInput";
    f.message = e.what();
    f.non_retryable = true;
  } catch (const std::exception& e) {
    f.error_type = demangle(typeid(e).name());
    f.message = e.what();
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    f.error_type = type ? demangle(type->name()) : std::string("unknown");
  }
  return f;
}

// payload.h
[[noreturn]] void throw_payload_error(const std::type_info& type, const char* why) {
  throw PayloadError("cannot decode payload as " + demangle(type.name()) + ": " + why);
}

}  // namespace baton::detail
