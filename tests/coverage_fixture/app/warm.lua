-- init_by_lua_file of the coverage test's second generation: the master runs (and LuaJIT compiles)
-- sum()'s loop where no line hook of the harness is set yet.
require("covme").sum(1000)
