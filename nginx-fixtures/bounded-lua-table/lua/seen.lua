-- A bounded per-worker cache: lua-resty-lrucache with room for 100 entries.
local lrucache = require "resty.lrucache"

local cache, err = lrucache.new(100)
if not cache then
    error("failed to create the cache: " .. (err or "unknown"))
end

return { cache = cache, count = 0 }
