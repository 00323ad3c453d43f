# Generates the man page: packaging/man/sockstate_exporter.1.in with its OPTIONS section made
# from `sockstate_exporter --help`, so the page lists exactly the flags of the binary it ships
# with. Run as a script:
#   cmake -DEXE=<binary> -DTEMPLATE=<.1.in> -DOUT=<.1.gz> -DPROJECT_VERSION=<v> -P manpage.cmake
# --help lists each flag as "  --name=VALUE" or "  --name" followed by its help, indented more.
foreach(var EXE TEMPLATE OUT PROJECT_VERSION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "manpage.cmake: -D${var}= is required")
  endif()
endforeach()

# (No leak report at exit in sanitizer builds: it would fail the build over a --help run.)
execute_process(COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0 ${EXE} --help
  OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "manpage.cmake: ${EXE} --help failed (${rc})")
endif()

# roff: a backslash is \e, a hyphen in a flag name is \-, a line must not start with . or '.
function(roff_text in out)
  string(REPLACE "\\" "\\e" t "${in}")
  string(ASCII 59 semicolon)
  string(REPLACE "@SEMI@" "${semicolon}" t "${t}")
  string(REPLACE "@LB@" "[" t "${t}")
  string(REPLACE "@RB@" "]" t "${t}")
  string(REGEX REPLACE "^([.'])" "\\\\&\\1" t "${t}")
  set(${out} "${t}" PARENT_SCOPE)
endfunction()

# One list element per line: protect the characters CMake lists treat specially first.
string(REPLACE ";" "@SEMI@" help "${help}")
string(REPLACE "[" "@LB@" help "${help}")
string(REPLACE "]" "@RB@" help "${help}")
string(REPLACE "\n" ";" lines "${help}")
set(options "")
set(count 0)
set(in_flags OFF)
foreach(line IN LISTS lines)
  if(line MATCHES "^Flags:")
    set(in_flags ON)
  elseif(in_flags AND line MATCHES "^  --([A-Za-z0-9._-]+)(=([A-Z]+))?$")
    string(REPLACE "-" "\\-" name "${CMAKE_MATCH_1}")
    if(CMAKE_MATCH_3)
      string(APPEND options ".TP\n.BI \\-\\-${name} = ${CMAKE_MATCH_3}\n")
    else()
      string(APPEND options ".TP\n.B \\-\\-${name}\n")
    endif()
    math(EXPR count "${count} + 1")
  elseif(in_flags AND line MATCHES "^      +(.*)$")
    roff_text("${CMAKE_MATCH_1}" text)
    string(APPEND options "${text}\n")
  endif()
endforeach()
if(count LESS 5)
  message(FATAL_ERROR "manpage.cmake: found ${count} flags in `${EXE} --help`; its format changed?")
endif()
string(STRIP "${options}" SOCKSTATE_MAN_OPTIONS)
string(TIMESTAMP SOCKSTATE_MAN_DATE "%Y-%m-%d" UTC)  # honours SOURCE_DATE_EPOCH
configure_file(${TEMPLATE} ${OUT}.tmp @ONLY)
execute_process(COMMAND gzip -9n -c ${OUT}.tmp OUTPUT_FILE ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "manpage.cmake: gzip failed (${rc})")
endif()
file(REMOVE ${OUT}.tmp)
