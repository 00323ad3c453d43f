# The kernel-event programs (exporter/kernel/bpf/*.bpf.c): each compiled for the BPF target with
# the distribution's clang, all statically linked into ONE object (bpftool gen object), turned
# into one skeleton header (bpftool gen skeleton; the object is embedded in it as bytes) that
# kernel/bpf_object.cpp loads with libbpf. A new program is a new *.bpf.c file here: it is
# picked up by the glob and attached with the others (see docs/architecture.md).
# CO-RE: the kernel types the programs read are declared in core_types.h, so the build needs
# neither vmlinux.h nor the build machine's BTF; libbpf relocates against the running kernel.
# Included from exporter/CMakeLists.txt after sockstate_core is defined.
find_program(SOCKSTATE_BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(SOCKSTATE_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)

set(_bpf_src ${CMAKE_CURRENT_SOURCE_DIR}/kernel/bpf)
set(_bpf_out ${CMAKE_CURRENT_BINARY_DIR}/generated)
set(_bpf_arch_inc)
if(CMAKE_LIBRARY_ARCHITECTURE)  # Debian multiarch: <asm/types.h> lives there
  set(_bpf_arch_inc -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
endif()
file(GLOB _bpf_programs CONFIGURE_DEPENDS ${_bpf_src}/*.bpf.c)
file(GLOB _bpf_headers CONFIGURE_DEPENDS ${_bpf_src}/*.h)
set(_bpf_objects)
foreach(_prog ${_bpf_programs})
  get_filename_component(_name ${_prog} NAME_WE)  # connect_failures.bpf.c -> connect_failures
  set(_obj ${_bpf_out}/bpf/${_name}.bpf.o)
  # -mcpu=v3: atomic exchange and compare-and-swap (tracker.bpf.c; kernels 5.12+).
  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_bpf_out}/bpf
    COMMAND ${SOCKSTATE_BPF_CLANG} -target bpf -mcpu=v3 -O2 -g -Wall ${_bpf_arch_inc} -I${_bpf_src}
            -c ${_prog} -o ${_obj}
    DEPENDS ${_prog} ${_bpf_headers}
    COMMENT "BPF: ${_name}.bpf.o"
    VERBATIM)
  list(APPEND _bpf_objects ${_obj})
endforeach()
add_custom_command(
  OUTPUT ${_bpf_out}/sockstate.skel.h
  COMMAND ${SOCKSTATE_BPFTOOL} gen object ${_bpf_out}/sockstate.bpf.o ${_bpf_objects}
  COMMAND sh -c "${SOCKSTATE_BPFTOOL} gen skeleton ${_bpf_out}/sockstate.bpf.o name sockstate_bpf > ${_bpf_out}/sockstate.skel.h.tmp && mv ${_bpf_out}/sockstate.skel.h.tmp ${_bpf_out}/sockstate.skel.h"
  DEPENDS ${_bpf_objects}
  COMMENT "BPF: sockstate.bpf.o (bpftool gen object) and sockstate.skel.h (gen skeleton)"
  VERBATIM)
add_custom_target(sockstate_bpf_skel DEPENDS ${_bpf_out}/sockstate.skel.h)
add_dependencies(sockstate_core sockstate_bpf_skel)
target_link_libraries(sockstate_core PUBLIC PkgConfig::LIBBPF)
