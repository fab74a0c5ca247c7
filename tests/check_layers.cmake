# The layering of the code (README, "Architecture"), checked on the sources:
# base/ includes nothing of the project; trainer/ and harness/ include base/
# but nothing of ratchet/; a folder of ratchet/ includes only base/, itself
# and the folders before it in kRatchetOrder. Run as
#   cmake -DROOT=<source dir> -P check_layers.cmake
# and fails naming every offending #include.
set(kRatchetOrder spec git store runner propose loop report serve cli)
set(problems "")

function(check_folder folder allowed_regex)
  file(GLOB_RECURSE sources "${ROOT}/${folder}/*.h" "${ROOT}/${folder}/*.cc")
  foreach(source ${sources})
    file(STRINGS "${source}" includes REGEX "^#include \"(base|ratchet|trainer|harness)/")
    foreach(line ${includes})
      string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" target "${line}")
      if(NOT target MATCHES "${allowed_regex}")
        file(RELATIVE_PATH where "${ROOT}" "${source}")
        set(problems "${problems}\n  ${where} includes ${target}" PARENT_SCOPE)
        set(problems "${problems}\n  ${where} includes ${target}")
      endif()
    endforeach()
  endforeach()
endfunction()

check_folder(base "^base/")
check_folder(trainer "^(base|trainer)/")
check_folder(harness "^(base|trainer|harness)/")
set(earlier "")
foreach(folder ${kRatchetOrder})
  list(APPEND earlier ${folder})
  list(JOIN earlier "|" alternatives)
  check_folder(ratchet/${folder} "^(base/|ratchet/(${alternatives})/)")
endforeach()

if(problems)
  message(FATAL_ERROR "layering broken (see README, \"Architecture\"):${problems}")
endif()
message(STATUS "layering holds: base <- trainer <- harness; base <- ${kRatchetOrder}")
