-- A module of our own whose lines the coverage tests count by hand (tests/integration/test_coverage.py).
local _M = {}

function _M.greet(name)
    if name == "" then
        return "nobody"
    end
    return "hello " .. name
end

function _M.logged(status)
    if status >= 500 then
        ngx.log(ngx.ERR, "a server error was logged")
    end
    return status
end

function _M.add(a, b)
    return a + b
end

function _M.never()
    return "never called"
end

function _M.after_reload()
    return "reloaded"
end

function _M.before_crash()
    return "crashed after this"
end

function _M.sum(n)
    local s = 0
    for i = 1, n do
        s = s + i
    end
    return s
end

return _M
