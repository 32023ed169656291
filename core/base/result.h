// Result<T>: the error type used across every kernel-facing layer.
//
// Kernel code never throws: every fallible step returns Result<T> (std::expected<T, Error>).
// Error carries the errno, the operation that failed and a detail, so the top level can print one
// line a user can act on ("veth create nucleus-ab12 failed: File exists").
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace nucleus {

struct Error {
  int code = 0;           // errno value, 0 when the error is not a system error
  std::string operation;  // what was attempted: "mount /proc", "--subnet"
  std::string detail;     // extra context, may be empty

  // "operation: detail: strerror(code)" with empty parts left out.
  [[nodiscard]] std::string message() const;
};

template <typename T>
using Result = std::expected<T, Error>;

// Builds an unexpected Error from errno as it is now.
[[nodiscard]] inline std::unexpected<Error> errno_error(std::string operation,
                                                        std::string detail = {}) {
  return std::unexpected(Error{errno, std::move(operation), std::move(detail)});
}

[[nodiscard]] inline std::unexpected<Error> make_error(int code, std::string operation,
                                                       std::string detail = {}) {
  return std::unexpected(Error{code, std::move(operation), std::move(detail)});
}

// Builds an unexpected Error that is not a system error (validation, protocol).
[[nodiscard]] inline std::unexpected<Error> fail(std::string operation, std::string detail = {}) {
  return std::unexpected(Error{0, std::move(operation), std::move(detail)});
}

inline std::string Error::message() const {
  std::string out = operation;
  if (!detail.empty()) out += (out.empty() ? "" : ": ") + detail;
  if (code != 0) out += (out.empty() ? "" : ": ") + std::string(std::strerror(code));
  return out;
}

}  // namespace nucleus

// TRY(expr): evaluates a Result; on error returns it from the enclosing function.
#define NUCLEUS_CONCAT_INNER(a, b) a##b
#define NUCLEUS_CONCAT(a, b) NUCLEUS_CONCAT_INNER(a, b)
#define TRY(expr)                                                       \
  do {                                                                  \
    auto&& NUCLEUS_CONCAT(try_result_, __LINE__) = (expr);              \
    if (!NUCLEUS_CONCAT(try_result_, __LINE__))                         \
      return std::unexpected(std::move(NUCLEUS_CONCAT(try_result_, __LINE__)).error()); \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): lhs = *expr, or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr)                                            \
  auto&& NUCLEUS_CONCAT(assign_result_, __LINE__) = (expr);                    \
  if (!NUCLEUS_CONCAT(assign_result_, __LINE__))                               \
    return std::unexpected(std::move(NUCLEUS_CONCAT(assign_result_, __LINE__)).error()); \
  lhs = std::move(*NUCLEUS_CONCAT(assign_result_, __LINE__))
