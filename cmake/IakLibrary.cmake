# iak_library(NAME SOURCES a.cc b.cc [DEPS lib...] [PRIVATE_DEPS lib...])
#
# One library of the tree. Every include is spelled from the repository root
# ("ps/ps_server.h"), so the root is each library's public include path; DEPS
# are the libraries its headers build on (public), PRIVATE_DEPS those only
# its sources use. Add further sources with target_sources where they depend
# on an option (CUDA, Gloo, oneDNN).
function(iak_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "iak_library(${name}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  add_library(${name} ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  if(ARG_PRIVATE_DEPS)
    target_link_libraries(${name} PRIVATE ${ARG_PRIVATE_DEPS})
  endif()
endfunction()
