-- The library under test of a small .t suite of our own; tests/integration/test_coverage.py counts
-- which of its lines `harness t --harness-coverage` reports as run.
local _M = {}

function _M.hello(name)
    return "hello, " .. name
end

function _M.on_log(status)
    return status
end

function _M.at_init()
    return true
end

function _M.unused()
    return "never run"
end

return _M
