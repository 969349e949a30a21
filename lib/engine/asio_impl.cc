// Asio's non-template code, compiled once for the whole library and its users
// (every translation unit is built with ASIO_SEPARATE_COMPILATION).
#include <asio/impl/src.hpp>
