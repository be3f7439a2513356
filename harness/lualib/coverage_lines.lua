-- openresty-harness: the executable lines of Lua files, as LuaJIT itself compiles them.
-- luajit coverage_lines.lua FILE... prints, per file, "FILE<TAB>L1,L2,..." (the lines that hold at
-- least one bytecode instruction: exactly the lines a line hook can report), or "FILE<TAB>!ERROR"
-- when the file does not compile.
local util = require("jit.util")

local function walk(proto, lines)
    local info = util.funcinfo(proto)
    for pc = 1, info.bytecodes - 1 do  -- pc 0 is the function header
        local line = util.funcinfo(proto, pc).currentline
        if line and line > 0 then
            lines[line] = true
        end
    end
    if info.children then
        local i = -1
        while true do
            local k = util.funck(proto, i)
            if k == nil then
                break
            end
            if type(k) == "proto" then
                walk(k, lines)
            end
            i = i - 1
        end
    end
end

for _, name in ipairs(arg) do
    local chunk, err = loadfile(name)
    if not chunk then
        io.write(name, "\t!", (tostring(err):gsub("[\r\n]", " ")), "\n")
    else
        local lines = {}
        walk(chunk, lines)
        local sorted = {}
        for line in pairs(lines) do
            sorted[#sorted + 1] = line
        end
        table.sort(sorted)
        io.write(name, "\t", table.concat(sorted, ","), "\n")
    end
end
