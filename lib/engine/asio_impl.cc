// Asio's non-template code, compiled once for the whole library and its users
// (every translation unit is built with ASIO_SEPARATE_COMPILATION).
// A standard header first, as in every other file: Asio 1.22 decides whether
// to use aligned allocation from what the standard library defines before its
// config, and both halves of the library must agree.
#include <cstddef>

#include <asio/impl/src.hpp>
