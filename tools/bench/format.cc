#include "format.h"

#include <cmath>
#include <cstdio>

namespace coraft::bench {
namespace {

// Three significant digits of `value`, which is at least 1.
std::string three_digits(double value) {
  const int decimals = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return format_fixed(value, decimals);
}

}  // namespace

std::string format_microseconds(double microseconds) {
  if (microseconds < 1) return format_fixed(microseconds, 2) + " µs";
  if (microseconds < 1e3) return three_digits(microseconds) + " µs";
  if (microseconds < 1e6) return three_digits(microseconds / 1e3) + " ms";
  return three_digits(microseconds / 1e6) + " s";
}

std::string format_count(double value) {
  const std::string digits = format_fixed(std::fabs(value), 0);
  std::string grouped;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return value < 0 ? "-" + grouped : grouped;
}

std::string format_fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace coraft::bench
