# The language cases (tests/fenl/cases/*.test) load their tables with the CSV part.
if(TARGET engine_tests)
  target_link_libraries(engine_tests PRIVATE tl_csv)
endif()
