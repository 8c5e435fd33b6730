# Project conventions (file names, #pragma once, enum class, clang-format).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME lint COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/lint.py --format)
set_tests_properties(lint PROPERTIES LABELS "lint")
