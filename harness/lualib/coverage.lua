-- openresty-harness line coverage (--harness-coverage). Started from init_worker_by_lua with the
-- Lua patterns of the chunk names to cover ("@/path/file.lua"); counts, per worker, how often each
-- line of those files ran, and writes the counts to DIR/<pid>-<start>.hits: every PERIOD seconds if
-- anything new ran (a crashed worker loses at most that), and when the worker exits (a HUP reload or
-- the harness's QUIT before it removes the container: its timer then runs once more, "premature",
-- and exit_worker_by_lua calls flush() last). Started in init_by_lua too, it counts what the master
-- runs there; the workers inherit those counts and write them once, as master-<pid>-<ms>.hits.
--
-- LuaJIT runs compiled traces without calling line hooks. Traces made before the hook was set (code
-- the master ran unhooked: init_by_lua_file) are flushed at start. Once a line hook is set, the two
-- LuaJITs the harness is tested with enter no new trace (measured; README "Lua line coverage"), and
-- whatever another version does, the first line seen of a covered function turns the JIT off for it
-- and the functions it defines (jit.off(f, true), which also drops its traces).
local _M = {}

local getinfo = debug.getinfo
local sethook = debug.sethook
local find = string.find
local pairs = pairs
local jit_off = jit and jit.off

local PERIOD = 1

local patterns = {}
local hits = {}      -- chunk name -> { [line] = count }
local master = nil   -- what the master counted in init_by_lua (each worker inherits a copy), and its file
local verdict = {}   -- chunk name -> its hits table, or false when not covered
local by_func = setmetatable({}, { __mode = "k" })  -- function -> its file's counts, or false
local dirty = false
local path, tmp_path

-- The harness's own functions are never compiled (see heartbeat.lua) nor counted.
if jit then
    jit.off(true, true)
end

local function covered(source)
    for i = 1, #patterns do
        if find(source, patterns[i]) then
            return true
        end
    end
    return false
end

-- Per line: the running function (getinfo "f": no strings made), then its verdict, cached per
-- function; the first line of a covered function turns its JIT off.
local function hook(_, line)
    local func = getinfo(2, "f").func
    local counts = by_func[func]
    if counts == nil then
        local source = getinfo(func, "S").source
        counts = verdict[source]
        if counts == nil then
            counts = covered(source) and {} or false
            verdict[source] = counts
            if counts then
                hits[source] = counts
            end
        end
        by_func[func] = counts
        if counts and jit_off then
            jit_off(func, true)
        end
    end
    if counts then
        counts[line] = (counts[line] or 0) + 1
        dirty = true
    end
end

-- Writes counts to a whole new file, renamed over the old one: a reader never sees half.
local function write(counted, name, tmp)
    local out = {}
    for source, counts in pairs(counted) do
        out[#out + 1] = source
        for line, count in pairs(counts) do
            out[#out + 1] = line .. " " .. count
        end
    end
    local file, err = io.open(tmp, "w")
    if not file then
        return nil, err
    end
    file:write(table.concat(out, "\n"), "\n")
    file:close()
    return os.rename(tmp, name)
end

function _M.flush()
    if master and not master.written then
        -- every worker of this master writes the same file, with the same counts: counted once
        local ok, err = write(master.hits, master.path, tmp_path)
        if not ok then
            return nil, err
        end
        master.written = true
    end
    if not path or not dirty then
        return true
    end
    local ok, err = write(hits, path, tmp_path)
    if not ok then
        return nil, err
    end
    dirty = false
    return true
end

local function tick()
    -- the flush's own lines are not worth the hook's time
    sethook()
    local ok, err = _M.flush()
    sethook(hook, "l")
    if not ok then
        ngx.log(ngx.ERR, "harness coverage: cannot write ", path, ": ", err)
    end
end

-- dir: where this worker's hits file goes; covered: Lua patterns of chunk names.
local function stamp()
    ngx.update_time()
    return ngx.worker.pid() .. "-" .. string.format("%d", ngx.now() * 1000)
end

-- From init_by_lua (the master, before it forks the workers): count what the master runs there too.
function _M.start_master(dir, covered_patterns)
    package.loaded["harness.coverage"] = _M
    patterns = covered_patterns
    master = { path = dir .. "/master-" .. stamp() .. ".hits" }
    if jit then
        jit.flush()
    end
    sethook(hook, "l")
end

-- From init_worker_by_lua. The instance exit_worker_by_lua flushes is package.loaded["harness.coverage"].
function _M.start(dir, covered_patterns)
    package.loaded["harness.coverage"] = _M
    patterns = covered_patterns
    local name = dir .. "/" .. stamp()
    path, tmp_path = name .. ".hits", name .. ".tmp"
    if master and not master.hits then
        -- what this worker inherited from the master is the master's; the worker counts afresh
        master.hits, hits, verdict = hits, {}, {}
        by_func = setmetatable({}, { __mode = "k" })
        dirty = false
    end
    if jit then
        jit.flush()
    end
    local ok, err = ngx.timer.every(PERIOD, tick)
    if not ok then
        ngx.log(ngx.ERR, "harness coverage timer failed: ", err)
        return
    end
    sethook(hook, "l")
end

return _M
