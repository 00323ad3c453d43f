# The connect-failures BPF program (docs/connect-failures.md): compiled for the BPF target with
# the distribution's clang, turned into a skeleton header by bpftool (the object is embedded in
# it as bytes), linked with libbpf. CO-RE: no vmlinux.h and no BTF of the build machine needed.
# Included from exporter/CMakeLists.txt after sockstate_core is defined.
find_program(SOCKSTATE_BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(SOCKSTATE_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)

set(_bpf_src ${CMAKE_CURRENT_SOURCE_DIR}/bpf)
set(_bpf_out ${CMAKE_CURRENT_BINARY_DIR}/generated)
set(_bpf_arch_inc)
if(CMAKE_LIBRARY_ARCHITECTURE)  # Debian multiarch: <asm/types.h> lives there
  set(_bpf_arch_inc -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
endif()
add_custom_command(
  OUTPUT ${_bpf_out}/connect_failures.bpf.o
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_bpf_out}
  COMMAND ${SOCKSTATE_BPF_CLANG} -target bpf -O2 -g -Wall ${_bpf_arch_inc} -I${_bpf_src}
          -c ${_bpf_src}/connect_failures.bpf.c -o ${_bpf_out}/connect_failures.bpf.o
  DEPENDS ${_bpf_src}/connect_failures.bpf.c ${_bpf_src}/connect_failures.h
  COMMENT "BPF: connect_failures.bpf.o"
  VERBATIM)
add_custom_command(
  OUTPUT ${_bpf_out}/connect_failures.skel.h
  COMMAND sh -c "${SOCKSTATE_BPFTOOL} gen skeleton ${_bpf_out}/connect_failures.bpf.o name connect_failures_bpf > ${_bpf_out}/connect_failures.skel.h.tmp && mv ${_bpf_out}/connect_failures.skel.h.tmp ${_bpf_out}/connect_failures.skel.h"
  DEPENDS ${_bpf_out}/connect_failures.bpf.o
  COMMENT "BPF: connect_failures.skel.h (bpftool gen skeleton)"
  VERBATIM)
add_custom_target(connect_failures_skel DEPENDS ${_bpf_out}/connect_failures.skel.h)
add_dependencies(sockstate_core connect_failures_skel)
target_link_libraries(sockstate_core PUBLIC PkgConfig::LIBBPF)
