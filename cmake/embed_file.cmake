# Generates a .cc defining `extern const char ${SYMBOL}[]` (in ${NAMESPACE})
# holding the bytes of INPUT. Run at build time (cmake -P) with INPUT, OUTPUT,
# NAMESPACE and SYMBOL.
file(READ "${INPUT}" content)
file(WRITE "${OUTPUT}.tmp"
"// Generated from ${INPUT} by cmake/embed_file.cmake. Do not edit.
namespace ${NAMESPACE} {
extern const char ${SYMBOL}[];
const char ${SYMBOL}[] = R\"baton_embed(${content})baton_embed\";
}  // namespace ${NAMESPACE}
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
