-- A busy loop whose cost grows linearly with its iteration count and which LuaJIT cannot drop:
-- every step depends on the one before, and the result is part of the response.
local _M = {}

_M.DEFAULT = tonumber(os.getenv("BUSY_LOOP") or "") or 0

function _M.spin(n)
    local x = 7
    for i = 1, n do
        x = (x * 31 + i) % 1000003
    end
    return x
end

return _M
