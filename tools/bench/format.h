// Numbers as the report and the progress line print them.
#pragma once

#include <cstdint>
#include <string>

namespace coraft::bench {

// "850 µs", "1.27 ms", "2.40 s": three significant digits, unit by size.
std::string format_microseconds(double microseconds);
// "52,341": digits grouped by thousands.
std::string format_count(double value);
// Fixed decimals, e.g. format_fixed(0.4567, 2) == "0.46".
std::string format_fixed(double value, int decimals);

}  // namespace coraft::bench
