"""Lua line coverage of the code under test (``--harness-coverage``): the workers' own line hook
(lualib/coverage.lua), their counts gathered from every container of the run, and LCOV and HTML
reports of them."""
