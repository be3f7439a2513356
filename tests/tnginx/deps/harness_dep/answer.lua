-- A Lua dependency of tests/tnginx/env/lua-path.t that lies outside its suite: nginx finds it only
-- through LUA_PATH or `harness t --lua-path tests/tnginx/deps`, as prove's nginx would.
local _M = {}

function _M.answer()
    return 42
end

return _M
