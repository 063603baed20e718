# Fuzz targets for every decoder of peer or user input (issue 5):
#   wire_decode_fuzz  wire::decode<T> of every message body in baton/protocol.h
#   wire_frames_fuzz  whole ZeroMQ messages through wire::recv, then decode
#   json_codec_fuzz   batonctl's JSON <-> msgpack edge (client/src/json_codec.h)
# Each is an LLVMFuzzerTestOneInput. Seeds come from the protocol itself
# (baton_fuzz_corpus writes them); reproducers of fixed crashes go under
# tests/fuzz/corpus/<target>/ and are replayed on every run.
#
# Default (g++ or clang): each target links fuzz_driver.cc (corpus, then a
# fixed number of seeded random mutations; no coverage feedback) and runs in
# `make test` for a few seconds under the label `fuzz`.
#
# BATON_FUZZ_CLANG=ON: real libFuzzer with AddressSanitizer, in a build dir
# of its own (only the fuzz targets and what they link are needed):
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DBATON_FUZZ_CLANG=ON \
#       -DCMAKE_CXX_FLAGS="-fsanitize=address,fuzzer-no-link"
#   ninja -C build-fuzz baton_fuzz_corpus wire_decode_fuzz wire_frames_fuzz json_codec_fuzz
#   build-fuzz/tests/baton_fuzz_corpus /tmp/corpus
#   build-fuzz/tests/wire_decode_fuzz /tmp/corpus/wire_decode -max_total_time=600
# (CMAKE_CXX_FLAGS instruments the libraries the targets link, too.)
option(BATON_FUZZ_CLANG "Build the fuzz targets for libFuzzer (clang: -fsanitize=fuzzer,address)" OFF)
if(BATON_FUZZ_CLANG AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "BATON_FUZZ_CLANG=ON needs clang (CXX=clang++), not ${CMAKE_CXX_COMPILER_ID}")
endif()

set(BATON_FUZZ_CORPUS ${CMAKE_BINARY_DIR}/fuzz-corpus)
set(BATON_FUZZ_OUT ${CMAKE_BINARY_DIR}/fuzz-out)  # crash inputs land here
file(MAKE_DIRECTORY ${BATON_FUZZ_OUT})

add_executable(baton_fuzz_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/make_corpus.cc)
target_link_libraries(baton_fuzz_corpus PRIVATE baton_common)
target_include_directories(baton_fuzz_corpus PRIVATE ${CMAKE_SOURCE_DIR})
baton_warnings(baton_fuzz_corpus)

add_test(NAME fuzz.corpus COMMAND baton_fuzz_corpus ${BATON_FUZZ_CORPUS})
set_tests_properties(fuzz.corpus PROPERTIES FIXTURES_SETUP baton_fuzz_corpus LABELS fuzz)

# baton_fuzz_target(NAME LIBS... RUNS n): NAME_fuzz from fuzz/NAME_fuzz.cc and a
# ctest fuzz.NAME replaying the corpus and then n mutations (seed 1).
function(baton_fuzz_target name)
  cmake_parse_arguments(F "" "RUNS" "LIBS" ${ARGN})
  set(target ${name}_fuzz)
  add_executable(${target} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${name}_fuzz.cc)
  target_link_libraries(${target} PRIVATE ${F_LIBS})
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR})
  baton_warnings(${target})
  set(corpora ${BATON_FUZZ_CORPUS}/${name})
  if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
    list(APPEND corpora ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
  endif()
  if(BATON_FUZZ_CLANG)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer,address)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer,address)
    add_test(NAME fuzz.${name}
      COMMAND ${target} -runs=${F_RUNS} -seed=1 -max_total_time=10 ${corpora}
      WORKING_DIRECTORY ${BATON_FUZZ_OUT})
  else()
    target_sources(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_driver.cc)
    add_test(NAME fuzz.${name}
      COMMAND ${target} --runs=${F_RUNS} --seed=1 --max-seconds=60 ${corpora}
      WORKING_DIRECTORY ${BATON_FUZZ_OUT})
  endif()
  set_tests_properties(fuzz.${name} PROPERTIES
    FIXTURES_REQUIRED baton_fuzz_corpus LABELS fuzz TIMEOUT 120)
endfunction()

baton_fuzz_target(wire_decode LIBS baton_common RUNS 1500000)
baton_fuzz_target(wire_frames LIBS baton_common RUNS 1000000)
baton_fuzz_target(json_codec LIBS baton_common baton_client_json RUNS 500000)

# Inputs nested 100000 levels deep (JSON a user passes to batonctl, a msgpack
# payload batonctl prints): the JSON edge must reject them, not overflow the stack.
if(BATON_FUZZ_CLANG)
  set(deep_args -runs=0)
else()
  set(deep_args --runs=0)
endif()
add_test(NAME fuzz.json_codec_deep_nesting
  COMMAND json_codec_fuzz ${deep_args} ${BATON_FUZZ_CORPUS}/json_codec_deep
  WORKING_DIRECTORY ${BATON_FUZZ_OUT})
set_tests_properties(fuzz.json_codec_deep_nesting PROPERTIES
  FIXTURES_REQUIRED baton_fuzz_corpus LABELS fuzz TIMEOUT 60)

# The same targets under real libFuzzer + AddressSanitizer (clang, its own
# build dir), each for FUZZ_SECONDS (default 20): scripts/fuzz.sh.
if(NOT BATON_FUZZ_CLANG)
  add_test(NAME fuzz.libfuzzer COMMAND ${CMAKE_SOURCE_DIR}/scripts/fuzz.sh)
  set_tests_properties(fuzz.libfuzzer PROPERTIES LABELS fuzz TIMEOUT 900)
endif()
