#pragma once
// One iteration of a polling loop: tells the core we are spinning (frees pipeline resources
// for the sibling hyperthread, saves power).

namespace banyan {

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace banyan
