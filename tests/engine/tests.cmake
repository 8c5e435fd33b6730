# The language cases (tests/fenl/cases/*.test) load their tables with the CSV part; the
# conformance catalog's JSON cases (tests/engine/case_files.h) are read with nlohmann_json.
if(TARGET engine_tests)
  target_link_libraries(engine_tests PRIVATE tl_csv nlohmann_json::nlohmann_json)
endif()
