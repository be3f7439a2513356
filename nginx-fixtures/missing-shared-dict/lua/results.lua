-- Counts results in a shared dict that the config must declare (lua_shared_dict result_dict).
local result_dict = ngx.shared.result_dict

local _M = {}

function _M.handle()
    local count, err = result_dict:incr("results", 1, 0)
    if not count then
        ngx.log(ngx.ERR, "failed to count: ", err)
        return ngx.exit(500)
    end
    ngx.say(count)
end

return _M
