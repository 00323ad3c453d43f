#pragma once
// Counts global operator new calls in a test binary, to prove a code path does not allocate.
// The counting operator new (alloc_count.cpp) is weak: if another object of the binary replaces
// operator new too, that one wins, the count stays flat, and NewCountWorks() says so (tests
// then skip their allocation checks).

#include <cstdint>

namespace sockstate::testing {

/// operator new calls so far. Thread-safe.
uint64_t NewCount();
/// True when the counting operator new is the one in use.
bool NewCountWorks();

}  // namespace sockstate::testing
