-- a module of the demo suite, found through lua_package_path "$pwd/lib/?.lua;;"
local _M = {}

function _M.hello(name)
    return "hello, " .. name
end

return _M
