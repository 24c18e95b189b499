cmake_minimum_required(VERSION 3.25)
# Fails if a file includes a Shoal header from a folder it must not depend on.
# Usage: cmake -DROOT=<repository> -P check_layering.cmake
#
# The allowed arrows (docs/architecture.md):
#   base    -> (nothing)
#   crdt    -> base
#   ring    -> base crdt
#   storage -> base
#   net     -> base crdt          (net/client/ may also use net/)
#   core    -> base crdt ring storage net
#   resp    -> base crdt net          (the Redis port speaks the native protocol)
#   tools   -> everything; but the user tools (shoal, shoal-chaos, shoal-bench)
#              only what the client library exposes: tools/shoald/ may use
#              core and resp.
set(allowed_base "base")
set(allowed_crdt "base;crdt")
set(allowed_ring "base;crdt;ring")
set(allowed_storage "base;storage")
set(allowed_net "base;crdt;net")
set(allowed_core "base;crdt;ring;storage;net;core")
set(allowed_resp "base;crdt;net;resp")
set(allowed_tools "base;crdt;net;tools")
set(allowed_tools_shoald "base;crdt;ring;storage;net;core;resp;tools")
set(known base crdt ring storage net core resp)

set(violations 0)
foreach(folder base crdt ring storage net core resp tools)
  file(GLOB_RECURSE files "${ROOT}/${folder}/*.hpp" "${ROOT}/${folder}/*.cpp")
  foreach(file ${files})
    file(RELATIVE_PATH rel "${ROOT}" "${file}")
    set(allowed "${allowed_${folder}}")
    if(rel MATCHES "^tools/shoald/")
      set(allowed "${allowed_tools_shoald}")
    endif()
    file(STRINGS "${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"[a-z_]+/")
    foreach(line ${includes})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([a-z_]+)/.*" "\\1" target "${line}")
      if(target IN_LIST known AND NOT target IN_LIST allowed)
        message(SEND_ERROR "layering: ${rel} includes a header of ${target}/, which ${folder}/ must not depend on: ${line}")
        math(EXPR violations "${violations} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations GREATER 0)
  message(FATAL_ERROR "layering: ${violations} forbidden include(s)")
endif()
message(STATUS "layering: every include follows the dependency arrows")
