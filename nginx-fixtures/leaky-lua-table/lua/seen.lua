-- The unbounded cache of the leaky-lua-table fixture: one table per worker, never emptied.
return {}
