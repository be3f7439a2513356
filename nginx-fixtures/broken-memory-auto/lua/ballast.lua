-- FAULTY ON PURPOSE (with worker_processes auto under a tight memory limit): every worker keeps
-- `mb` megabytes of Lua strings for its whole life, a stand-in for a large in-process cache.
local _M = { held = {} }

local MB = 1024 * 1024

function _M.fill(mb)
    local block = string.rep("x", MB - 8)
    for i = 1, mb do
        -- distinct strings (Lua interns equal ones), each one megabyte, written once
        _M.held[i] = block .. string.format("%08d", i)
    end
end

function _M.size_mb()
    return #_M.held
end

return _M
