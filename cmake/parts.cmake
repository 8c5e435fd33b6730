# Each part of the library is a static library built from the .cc files of one source folder,
# so a part and its tests build without the rest of the tree.
#   tideline_part(NAME DIR [DEPS ...])   -> target tl_NAME from src/DIR/*.cc
#   tideline_tests(NAME DIR [DEPS ...])  -> executable NAME_tests from tests/DIR/*_test.cc
function(tideline_part name dir)
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${dir}/*.cc)
  if(srcs)
    add_library(tl_${name} STATIC ${srcs})
    target_include_directories(tl_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(tl_${name} PUBLIC ${ARGN})
  else()
    add_library(tl_${name} INTERFACE)
    target_include_directories(tl_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(tl_${name} INTERFACE ${ARGN})
  endif()
endfunction()

function(tideline_tests name dir)
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${dir}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(${name}_tests ${srcs})
  target_include_directories(${name}_tests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name}_tests PRIVATE ${ARGN} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name}_tests PRIVATE
    TIDELINE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TIDELINE_BINARY="$<TARGET_FILE:tideline>")
  gtest_discover_tests(${name}_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "unit;${name}")
endfunction()
