-- A tiny "binary protocol": the byte values of a string, joined by commas.
local _M = {}

function _M.decode(data)
    local out = {}
    for i = 1, #data do
        out[i] = string.byte(data, i)
    end
    return table.concat(out, ",")
end

return _M
