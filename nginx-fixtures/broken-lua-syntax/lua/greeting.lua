-- FAULTY ON PURPOSE: line 4 lacks its `then`; LuaJIT reports it at line 5 ("'then' expected").
local _M = {}
function _M.text()
    if ngx.var.arg_name
        return "hello " .. ngx.var.arg_name
    end
    return "hello"
end
return _M
