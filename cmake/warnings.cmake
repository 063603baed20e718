# baton_warnings(target): the warning set every target of ours compiles with.
function(baton_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
endfunction()
