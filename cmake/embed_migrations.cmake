# Generates a .cc defining baton::scheduler::known_migrations() from the SQL
# files. Run at build time (cmake -P) with MIGRATIONS (;-list) and OUTPUT.
set(body "")
foreach(path IN LISTS MIGRATIONS)
  get_filename_component(fname "${path}" NAME_WE)
  string(REGEX MATCH "^([0-9]+)_(.*)$" _ "${fname}")
  math(EXPR version "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  file(READ "${path}" sql)
  string(APPEND body "    {${version}, \"${name}\", R\"baton_sql(${sql})baton_sql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp"
"// Generated from schema/migrations by cmake/embed_migrations.cmake. Do not edit.
#include \"store/migrate.h\"
namespace baton::scheduler {
const std::vector<Migration>& known_migrations() {
  static const std::vector<Migration> kMigrations = {
${body}  };
  return kMigrations;
}
}  // namespace baton::scheduler
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
