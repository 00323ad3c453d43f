#include "alloc_count.h"

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

namespace {
std::atomic<uint64_t> g_news{0};
}  // namespace

__attribute__((weak)) void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// The nothrow forms (std::stable_sort's temporary buffer) must allocate the same way as the
// replaced plain form: a sanitizer's own nothrow new freed by this delete is a mismatch.
__attribute__((weak)) void* operator new(size_t n, const std::nothrow_t&) noexcept {
  g_news.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
__attribute__((weak)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((weak)) void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
__attribute__((weak)) void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace sockstate::testing {

uint64_t NewCount() { return g_news.load(std::memory_order_relaxed); }

bool NewCountWorks() {
  const uint64_t before = NewCount();
  auto* probe = new std::string(100, 'x');
  const bool works = NewCount() > before;
  delete probe;
  return works;
}

}  // namespace sockstate::testing
