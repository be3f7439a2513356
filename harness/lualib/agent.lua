-- openresty-harness agent: runs inside the OpenResty container, as the container's user (root,
-- with the container's capabilities and nothing more), started by `activate GEN start` before it
-- execs nginx. It does what the harness would otherwise do through the engine (one `docker exec`
-- each, tens of milliseconds): switch the config generation, list the nginx processes, read
-- error.log. It talks over two FIFOs in a read-only bind mount of a host directory
-- (/harness/ctl/in: one command a line; /harness/ctl/out: replies); they are the host user's,
-- mode 0600, so the workers (nobody) can neither send commands nor fake replies.
--
-- Requests are "ID COMMAND [ARGUMENT]"; replies "ID CODE LENGTH TIMINGS\n" then LENGTH bytes of
-- output (the ID lets the host drop a reply meant for a request it gave up on). Commands:
--   reload GEN   compile GEN's Lua files (exit 65 with file:line), make GEN current, HUP the master,
--                wait until new workers run, send the old workers QUIT (without nginx's 100 ms
--                pause) and wait until they exited; the output names them ("retired MASTER PID...").
--                The master's own verdict decides: new workers (accepted) or its error lines
--                (rejected); only a rejection runs `nginx -t`, to explain it (exit 78 with its output).
--   procs        the nginx process table (the format of harness.workers.PROC_LISTING)
--   log SINCE    error.log from byte SINCE (timings "from" and "to": the bytes it holds)
--   size         error.log's length in bytes
--   idle MS      wait (at most MS ms) until every accepting worker sleeps in its event loop (state S at
--                two looks 1 ms apart: what was ready to run, a peer's bytes already sent included,
--                has run and logged); the output says "yes" or "no" (still busy at the deadline)
--
-- usage: luajit agent.lua ROOT NGINX_BIN          (serve)
--        luajit agent.lua ROOT NGINX_BIN check GEN  (compile GEN's Lua files once, exit 65 on error)
--        luajit agent.lua ROOT NGINX_BIN html GEN   (make GEN's html/ the server's, as reload does)
local ffi = require "ffi"

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } harness_timespec;
int clock_gettime(int clk, harness_timespec *ts);
int poll(void *fds, unsigned long nfds, int timeout);
int kill(int pid, int sig);
int getpid(void);
int chown(const char *path, int owner, int group);
long sysconf(int name);
typedef struct { uint64_t d_ino; int64_t d_off; unsigned short d_reclen; unsigned char d_type; char d_name[256]; } harness_dirent;
void *opendir(const char *name);
harness_dirent *readdir(void *dir);
int closedir(void *dir);
int symlink(const char *target, const char *linkpath);
int rename(const char *oldpath, const char *newpath);
int unlink(const char *path);
int mkdir(const char *path, unsigned int mode);
int rmdir(const char *path);
int chmod(const char *path, unsigned int mode);
void (*signal(int sig, void (*handler)(int)))(int);
]]

local C = ffi.C
local ROOT, NGINX = arg[1], arg[2]
local GEN_DIR = ROOT .. "/gen/"
local CONF = ROOT .. "/conf/nginx.conf"
local PID_FILE = ROOT .. "/logs/nginx.pid"
local ERROR_LOG = ROOT .. "/logs/error.log"
local LUA_SYNTAX_EXIT, CONFIG_ERROR_EXIT, RELOAD_STUCK_EXIT, FAILED = 65, 78, 75, 1
local SIGHUP, SIGQUIT = 1, 3
local SELF = C.getpid()

local function now_ms()
    local ts = ffi.new("harness_timespec")
    C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local function sleep_ms(ms)
    C.poll(nil, 0, ms)
end

local function read_file(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local data = f:read("*a")
    f:close()
    return data
end

-- Entries of a directory (no "." or ".."), with d_type (4 directory, 0 unknown).
local function list_dir(path)
    local dir = C.opendir(path)
    if dir == nil then
        return nil
    end
    local out = {}
    while true do
        local entry = C.readdir(dir)
        if entry == nil then
            break
        end
        local name = ffi.string(entry.d_name)
        if name ~= "." and name ~= ".." then
            out[#out + 1] = { name = name, type = entry.d_type }
        end
    end
    C.closedir(dir)
    return out
end

local function lua_files(dir, out)
    for _, entry in ipairs(list_dir(dir) or {}) do
        local path = dir .. "/" .. entry.name
        if entry.type == 4 or (entry.type == 0 and list_dir(path)) then
            lua_files(path, out)
        elseif entry.name:sub(-4) == ".lua" then
            out[#out + 1] = path
        end
    end
    return out
end

-- LuaJIT's own parser (the one nginx's LuaJIT uses) finds syntax errors with file and line. Files
-- of html/ and of __absolute__/ are data the config may load at run time (as under Test::Nginx, a
-- broken one is the test's subject: nginx reports it when it loads it), not the fixture's code.
local DATA_DIRS = { html = true, __absolute__ = true }  -- harness.nginx_conf.ABSOLUTE_FILES

local function compile(gen)
    local files = {}
    local fixture = GEN_DIR .. gen .. "/fixture"
    for _, entry in ipairs(list_dir(fixture) or {}) do
        local path = fixture .. "/" .. entry.name
        if not DATA_DIRS[entry.name] then
            if entry.type == 4 or (entry.type == 0 and list_dir(path)) then
                lua_files(path, files)
            elseif entry.name:sub(-4) == ".lua" then
                files[#files + 1] = path
            end
        end
    end
    table.sort(files)
    for _, path in ipairs(files) do
        local ok, err = loadfile(path)
        if not ok then
            return err
        end
    end
    return nil
end

local function shell(command)
    local p = io.popen(command .. " 2>&1; echo \"__harness_rc=$?\"")
    local out = p:read("*a")
    p:close()
    local rc = tonumber(out:match("__harness_rc=(%d+)%s*$")) or FAILED
    return rc, (out:gsub("__harness_rc=%d+%s*$", ""))
end

-- ---- processes ----------------------------------------------------------------------------------
local function processes()
    local out = {}
    for _, entry in ipairs(list_dir("/proc") or {}) do
        local pid = tonumber(entry.name)
        if pid and pid ~= SELF then
            local stat = read_file("/proc/" .. pid .. "/stat")
            if stat then
                out[#out + 1] = {
                    pid = pid, stat = stat:gsub("\n$", ""),
                    ppid = tonumber(stat:match("%) %S+ (%d+)")),
                    cmdline = (read_file("/proc/" .. pid .. "/cmdline") or ""):gsub("%z", " "),
                }
            end
        end
    end
    return out
end

local function master_pid()
    return tonumber((read_file(PID_FILE) or ""):match("%d+"))
end

-- The master's children's pids, from the kernel's list of them (one read where a scan of /proc reads
-- two files a process); nil where the kernel keeps no such list (CONFIG_PROC_CHILDREN). The master
-- forks from its one thread.
local function child_pids(master)
    local text = read_file("/proc/" .. master .. "/task/" .. master .. "/children")
    if not text then
        return nil
    end
    local out = {}
    for pid in text:gmatch("%d+") do
        out[#out + 1] = tonumber(pid)
    end
    return out
end

local function role(cmdline)
    if cmdline:find("shutting down", 1, true) then
        return "shutting down"
    elseif cmdline:find("worker process", 1, true) then
        return "accepting"
    end
    return "other"
end

-- Children of the master: {pid = "accepting" | "shutting down" | "other"}
local function children(master)
    local out = {}
    local pids = child_pids(master)
    if not pids then
        for _, p in ipairs(processes()) do
            if p.ppid == master then
                out[p.pid] = role(p.cmdline)
            end
        end
        return out
    end
    for _, pid in ipairs(pids) do
        local cmdline = read_file("/proc/" .. pid .. "/cmdline")
        if cmdline then
            out[pid] = role((cmdline:gsub("%z", " ")))
        end
    end
    return out
end

local function alive(pid)
    local stat = read_file("/proc/" .. pid .. "/stat")
    return stat ~= nil and not stat:match("%) Z ")
end

local function pids_where(pids, keep)
    -- the pids of the list `pids` for which keep(pid) is true, in order
    local out = {}
    for _, pid in ipairs(pids) do
        if keep(pid) then
            out[#out + 1] = pid
        end
    end
    return out
end

local function wait_until_none(remaining, deadline)
    -- polls remaining() (a list of pids) every 2 ms until it is empty or the clock passes deadline
    -- (ms); returns the last list (empty: none remained)
    while true do
        local left = remaining()
        if #left == 0 or now_ms() > deadline then
            return left
        end
        sleep_ms(2)
    end
end

local function proc_listing()
    local lines = {}
    local tck = tonumber(C.sysconf(2)) or 100  -- _SC_CLK_TCK
    lines[1] = string.format("clock %s %d", (read_file("/proc/uptime") or "0"):match("^(%S+)"), tck)
    for _, p in ipairs(processes()) do
        if p.cmdline:find("nginx:", 1, true) or p.stat:find("(nginx)", 1, true) then
            local dir = "/proc/" .. p.pid
            local fds = list_dir(dir .. "/fd")
            local limit = (read_file(dir .. "/limits") or ""):match("Max open files%s+(%S+)") or ""
            local sched = (read_file(dir .. "/schedstat") or ""):gsub("\n$", "")
            lines[#lines + 1] = string.format("%d|%s|%s|%d|%s|%s", p.pid, p.stat, p.cmdline,
                fds and #fds or 0, limit, sched)
        end
    end
    return table.concat(lines, "\n") .. "\n"
end

-- ---- reload ---------------------------------------------------------------------------------------
local function file_size(path)
    local f = io.open(path, "rb")
    if not f then
        return 0
    end
    local size = f:seek("end")
    f:close()
    return size
end

-- Lines the master wrote at error level or worse since byte `since` (its reload verdict).
local function master_errors(master, since)
    local f = io.open(ERROR_LOG, "rb")
    if not f then
        return nil
    end
    f:seek("set", since)
    local text = f:read("*a") or ""
    f:close()
    local found = {}
    for line in text:gmatch("[^\n]+") do
        local level, pid = line:match("^%S+ %S+ %[(%a+)%] (%d+)#")
        if pid and tonumber(pid) == master and (level == "error" or level == "crit" or level == "alert"
                or level == "emerg") then
            found[#found + 1] = line
        end
    end
    return #found > 0 and table.concat(found, "\n") or nil
end

-- A fixture's html/ is the server's html directory (ROOT/html: nginx's default root, and where a
-- relative "html/..." or "../html/..." in the config points). Its files are copied out of the
-- read-only generation into the one writable ROOT/srv/html (a test may bind a unix socket or upload a
-- file there, as under Test::Nginx), whose old files go first but for unix sockets: a HUP keeps a
-- listener whose path did not change, and its file must stay. A generation without html/ keeps
-- what is there. Files of __absolute__/ are copied to their absolute paths first.
local DT_DIR, DT_REG, DT_SOCK = 4, 8, 12
local DIR_MODE, FILE_MODE = 511, 438  -- 0777, 0666: what `chmod -R a+rwX` makes of the generation's 0755, 0644

-- `path` (of directory-entry type `kind`) and all under it, removed without a process; false when a
-- type is unknown or a call fails (the shell then does the whole step)
local function remove_tree(path, kind)
    if kind == DT_DIR then
        local entries = list_dir(path)
        if not entries then
            return false
        end
        for _, entry in ipairs(entries) do
            if not remove_tree(path .. "/" .. entry.name, entry.type) then
                return false
            end
        end
        return C.rmdir(path) == 0
    end
    return kind ~= 0 and C.unlink(path) == 0
end

-- the tree `source` (the generation's: directories and plain files) copied into the directory `target`
local function copy_tree(source, target)
    for _, entry in ipairs(list_dir(source) or {}) do
        local from, to = source .. "/" .. entry.name, target .. "/" .. entry.name
        if entry.type == DT_DIR then
            if C.mkdir(to, DIR_MODE) ~= 0 or C.chmod(to, DIR_MODE) ~= 0 or not copy_tree(from, to) then
                return false
            end
        elseif entry.type == DT_REG then
            local data = read_file(from)
            local f = data and io.open(to, "wb")
            if not f then
                return false
            end
            local written = f:write(data)
            if not (f:close() and written and C.chmod(to, FILE_MODE) == 0) then
                return false
            end
        else
            return false
        end
    end
    return true
end

-- The copy without a process (a reload's most expensive step when it forked sh, mkdir, find, cp and
-- chmod): only where the html directory holds no unix socket and every type is known; false: the
-- shell does it (from the start: it removes and copies everything again)
local function copy_html(source, www)
    local entries = list_dir(www)
    if not entries then
        return false
    end
    for _, entry in ipairs(entries) do
        if entry.type == DT_SOCK or entry.type == 0 then
            return false
        end
    end
    for _, entry in ipairs(entries) do
        if not remove_tree(www .. "/" .. entry.name, entry.type) then
            return false
        end
    end
    return C.chmod(www, DIR_MODE) == 0 and copy_tree(source, www)
end

local function link_html(gen)
    local absolute = GEN_DIR .. gen .. "/fixture/__absolute__"
    if list_dir(absolute) and shell("cp -R " .. absolute .. "/. /") ~= 0 then
        return false
    end
    local source = GEN_DIR .. gen .. "/fixture/html"
    if not list_dir(source) then
        return true
    end
    local www = ROOT .. "/srv/html"  -- harness.nginx_conf.WWW: named html, as ngx_lua reports real paths
    if not copy_html(source, www) then
        local rc = shell("mkdir -p " .. www .. " && find " .. www .. " -mindepth 1 -maxdepth 1 ! -type s -exec rm -rf {} +"
                         .. " && cp -R " .. source .. "/. " .. www .. " && chmod -R a+rwX " .. www)
        if rc ~= 0 then
            return false
        end
    end
    local tmp = ROOT .. "/.html." .. SELF
    C.unlink(tmp)
    return C.symlink(www, tmp) == 0 and C.rename(tmp, ROOT .. "/html") == 0
end

-- A rejected reload: nginx -t says why (its exit 78 and output, as when it runs first); the
-- master's own lines about it, from byte `since` to now, are reported so the host can leave them
-- out of the test's error.log view (nginx -t run first would not have logged them).
local function explain(gen, lines, master, since, numbers)
    numbers.log_from, numbers.log_to, numbers.master = since, file_size(ERROR_LOG), master
    -- the config where the master read it, so that relative includes resolve as they did for it
    local rc, out = shell(NGINX .. " -p " .. ROOT .. "/ -c " .. CONF .. " -t")
    if rc ~= 0 then
        return CONFIG_ERROR_EXIT, out
    end
    return CONFIG_ERROR_EXIT, (lines or "the master did not start workers for the new configuration") .. "\n" .. out
end

local function reload(gen, timings)
    local t0 = now_ms()
    local err = compile(gen)
    timings.compile = now_ms() - t0
    if err then
        return LUA_SYNTAX_EXIT, err
    end
    -- A USR1 (log rotation) hands the log files to the workers' user; the master, root without
    -- DAC_OVERRIDE, must own them again to open them on reload (CHOWN it has).
    for _, entry in ipairs(list_dir(ROOT .. "/logs") or {}) do
        if entry.name:sub(-4) == ".log" then
            C.chown(ROOT .. "/logs/" .. entry.name, 0, -1)
        end
    end
    if not link_html(gen) then
        return FAILED, "cannot link " .. ROOT .. "/html to generation " .. gen .. "'s html/"
    end
    local conf = read_file(GEN_DIR .. gen .. "/nginx.conf")
    local f = conf and io.open(CONF, "wb")
    if not f then
        return FAILED, "cannot copy generation " .. gen .. "'s nginx.conf to " .. CONF
    end
    f:write(conf)
    f:close()
    local master = master_pid()
    if not master then
        return FAILED, "no nginx master (no pid in " .. PID_FILE .. ")"
    end
    local before = children(master)
    local old = {}
    for pid, role in pairs(before) do
        if role == "accepting" then
            old[#old + 1] = pid
        end
    end
    local log_from = file_size(ERROR_LOG)
    local t1 = now_ms()
    timings.prepare = t1 - t0 - timings.compile
    if C.kill(master, SIGHUP) ~= 0 then
        return FAILED, "kill -HUP " .. master .. " failed: is the master alive?"
    end
    -- the verdict: new workers (accepted), or the master's error lines and no new workers (rejected)
    local deadline, errors_at = t1 + 10000, nil
    local explained_at = t1 + 1000  -- no verdict after 1 s (a log level that hides errors): nginx -t
    while true do
        local started = false
        local now_pids = child_pids(master)
        if not now_pids then
            now_pids = {}
            for pid in pairs(children(master)) do
                now_pids[#now_pids + 1] = pid
            end
        end
        for _, pid in ipairs(now_pids) do
            if not before[pid] then
                started = true
            end
        end
        if started then
            break
        end
        local now = now_ms()
        local lines = master_errors(master, log_from)
        -- an [emerg] line is the master's refusal (after 50 ms: a non-fatal one is followed by workers
        -- at once); other levels ("[alert] lua_code_cache is off") may precede workers that a loaded
        -- machine starts late: nginx -t decides below, after 1 s
        if lines and lines:find("[emerg]", 1, true) then
            errors_at = errors_at or now
            if now - errors_at > 50 then
                timings.verdict = now - t1
                return explain(gen, lines, master, log_from, timings)
            end
        end
        if now > explained_at then
            explained_at = deadline
            local rc, out = explain(gen, nil, master, log_from, timings)
            if not out:find("the master did not start workers", 1, true) then
                return rc, out
            end
        end
        if now > deadline then
            return RELOAD_STUCK_EXIT, "the master started no workers for generation " .. gen .. " within 10 s"
        end
        sleep_ms(1)
    end
    local t2 = now_ms()
    timings.verdict = t2 - t1
    -- nginx's master waits 100 ms (its signals blocked) before it sends the old workers QUIT, and
    -- until then old and new workers accept. The agent sends that QUIT itself as soon as the new
    -- workers run: the same signal, and the master, once awake, marks the old ones exiting before
    -- it handles their SIGCHLD, so it does not respawn them.
    for _, pid in ipairs(old) do
        C.kill(pid, SIGQUIT)
    end
    local left = wait_until_none(function()
        local now_children = children(master)
        return pids_where(old, function(pid) return now_children[pid] == "accepting" end)
    end, deadline)
    if #left > 0 then
        return RELOAD_STUCK_EXIT, "old workers still accepting 10 s after HUP: " .. table.concat(left, " ")
    end
    local t3 = now_ms()
    timings.retire = t3 - t2
    -- then until they are gone (exited; the master reaps them later), so that none of their lines
    -- reaches the next test's error.log view
    left = wait_until_none(function() return pids_where(old, alive) end, t3 + 2000)
    timings.exit = now_ms() - t3
    -- The master reaps them and logs it ("worker process N exited") once its pause is over; the
    -- host leaves those lines out of later tests' view by these pids.
    local retired = "retired " .. master .. " " .. table.concat(old, " ") .. "\n"
    if #left > 0 then
        return 0, retired .. "old workers still exiting 2 s after they stopped accepting: " .. table.concat(left, " ")
    end
    return 0, retired
end

local function read_log(since, timings, name)
    -- error.log, or another file of the logs directory by its plain name (no path)
    local path = name and (ROOT .. "/logs/" .. name) or ERROR_LOG
    local f = io.open(path, "rb")
    if not f then
        if name then
            timings.from, timings.to = 0, 0
            return 0, ""  -- not written yet: nothing to read
        end
        return FAILED, "cannot open " .. path
    end
    local size = f:seek("end")
    if since > size then
        since = 0  -- shorter than asked: rotated, read from the start
    end
    f:seek("set", since)
    local data = f:read("*a") or ""
    f:close()
    timings.from, timings.to = since, since + #data
    return 0, data
end

local function idle(ms)
    local deadline = now_ms() + ms
    local calm = 0
    while true do
        local busy = false
        for pid, kind in pairs(children(master_pid() or -1)) do
            local stat = kind == "accepting" and read_file("/proc/" .. pid .. "/stat")
            if stat and not stat:match("%) [SZ] ") then
                busy = true
                break
            end
        end
        calm = busy and 0 or calm + 1
        if calm >= 2 then
            return 0, "yes"
        elseif now_ms() >= deadline then
            return 0, "no"
        end
        sleep_ms(1)
    end
end

local function handle(line)
    local command, argument = line:match("^(%S+)%s*(.*)$")
    command = command or ""
    local timings = {}
    if command == "reload" and argument:match("^%d+$") then
        return timings, reload(argument, timings)
    elseif command == "procs" then
        return timings, 0, proc_listing()
    elseif command == "log" and argument:match("^%d+$") then
        return timings, read_log(tonumber(argument), timings)
    elseif command == "log" and argument:match("^%d+ [%w._-]+$") and not argument:match(" %.+$") then
        local since, name = argument:match("^(%d+) (.+)$")  -- a plain name in the logs directory
        return timings, read_log(tonumber(since), timings, name)
    elseif command == "idle" and argument:match("^%d+$") then
        return timings, idle(tonumber(argument))
    elseif command == "size" then
        return timings, 0, tostring(file_size(ERROR_LOG))
    end
    return timings, FAILED, "unknown command: " .. line
end

local function format_timings(timings)
    local parts = {}
    for key, value in pairs(timings) do
        parts[#parts + 1] = string.format(value % 1 == 0 and "%s=%d" or "%s=%.2f", key, value)
    end
    table.sort(parts)
    return #parts > 0 and table.concat(parts, ",") or "-"
end

local function serve(dir)
    C.signal(13, ffi.cast("void (*)(int)", 1))  -- SIGPIPE ignored: a host that went away is an error, not death
    local out
    while true do
        local input = io.open(dir .. "/in", "r")  -- blocks until the host opens it
        if not input then
            io.stderr:write("harness agent: cannot open ", dir, "/in; exiting\n")
            return
        end
        for request in input:lines() do
            local id, line = request:match("^(%d+) (.*)$")
            local ok, timings, code, text = pcall(handle, line or request)
            if not ok then
                timings, code, text = {}, FAILED, "agent error: " .. tostring(timings)
            end
            text = text or ""
            out = out or io.open(dir .. "/out", "w")
            local sent = out and out:write(string.format("%s %d %d %s\n", id or "0", code, #text,
                format_timings(timings)), text)
            if not (sent and out:flush()) then
                if out then
                    pcall(out.close, out)
                end
                out = nil  -- the host closed its end; the next reply opens it again
            end
        end
        input:close()
    end
end

if arg[3] == "html" then  -- activate's own step (start, or a reload through the engine)
    os.exit(link_html(arg[4]) and 0 or FAILED)
end
if arg[3] == "check" then
    local err = compile(arg[4])
    if err then
        io.stderr:write(err, "\n")
        os.exit(LUA_SYNTAX_EXIT)
    end
    os.exit(0)
end
serve(ROOT .. "/ctl")
